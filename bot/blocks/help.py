"""The /xero help message."""

from __future__ import annotations

from dataclasses import dataclass

from bot.blocks.common import context, divider, header, message, section


@dataclass(frozen=True)
class HelpEntry:
    usage: str
    summary: str
    example: str
    admin_only: bool = False


def help_message(entries: list[HelpEntry], *, unknown: str | None = None, started: str | None = None) -> dict:
    """`started`: the person typed only the first word of these sub-commands (`/xero import`)."""
    blocks = []
    if started:
        blocks.append(section(f":point_right: `/xero {started}` needs one more word. Which one?"))
        blocks += [section(f"`{e.usage}`\n{e.summary}\nExample: `{e.example}`") for e in entries]
        return message(f"/xero {started}: " + ", ".join(e.usage for e in entries), blocks)
    if unknown:
        blocks.append(section(f":thinking_face: I don't know `/xero {unknown}`. Here is what I can do:"))
    blocks.append(header("Ledgerline"))
    for entry in entries:
        badge = "  _(admins)_" if entry.admin_only else ""
        blocks.append(section(f"`{entry.usage}`{badge}\n{entry.summary}\nExample: `{entry.example}`"))
    blocks += [divider(), context("Admins are Slack workspace admins and owners, "
                                  "and the people the bot's operator named as admins.")]
    text = "Ledgerline: " + ", ".join(e.usage for e in entries)
    return message(text, blocks)
