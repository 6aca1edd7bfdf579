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


def help_message(entries: list[HelpEntry], *, unknown: str | None = None) -> dict:
    blocks = []
    if unknown:
        blocks.append(section(f":thinking_face: I don't know `/xero {unknown}`. Here is what I can do:"))
    blocks.append(header("Ledgerline"))
    for entry in entries:
        badge = "  _(admins)_" if entry.admin_only else ""
        blocks.append(section(f"*`{entry.usage}`*{badge}\n{entry.summary}\nExample: `{entry.example}`"))
    blocks += [divider(), context("Admins are Slack workspace admins and owners, and anyone listed in BOT_ADMINS.")]
    text = "Ledgerline: " + ", ".join(e.usage for e in entries)
    return message(text, blocks)
