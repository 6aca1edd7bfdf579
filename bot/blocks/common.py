"""Small Block Kit pieces shared by the builders. Pure functions: data in, dicts out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

Block = dict[str, Any]


def escape(text: str) -> str:
    """Text from Xero, Forecast or users must not be read by Slack as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str, emoji: bool = True) -> dict:
    return {"type": "plain_text", "text": text[:3000], "emoji": emoji}


def mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": text[:3000]}


def section(text: str, accessory: dict | None = None, block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if accessory:
        block["accessory"] = accessory
    if block_id:
        block["block_id"] = block_id
    return block


def fields_section(pairs: list[tuple[str, str]]) -> Block:
    return {"type": "section", "fields": [mrkdwn(f"*{label}*\n{value}") for label, value in pairs[:10]]}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text[:150])}


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts]}


def divider() -> Block:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str | None = None, *, style: str | None = None,
           url: str | None = None, confirm: dict | None = None) -> dict:
    element: dict = {"type": "button", "text": plain(text), "action_id": action_id}
    if value is not None:
        element["value"] = value
    if style:
        element["style"] = style
    if url:
        element["url"] = url
    if confirm:
        element["confirm"] = confirm
    return element


def actions(*elements: dict, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements)}
    if block_id:
        block["block_id"] = block_id
    return block


def slack_date(when: datetime) -> str:
    """A date Slack renders in each reader's own time zone."""
    fallback = when.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(when.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


AUTO_REQUESTER_WORDS = "Ledgerline, as Forecast approved or sent it"  # requested_by `forecast`


def user(user_id: str) -> str:
    if user_id == "forecast":  # services.exports.store.AUTO_REQUESTER: the bot asked by itself
        return AUTO_REQUESTER_WORDS
    return f"<@{user_id}>"


def message(text: str, blocks: list[Block]) -> dict:
    """`text` is the notification and screen-reader fallback for `blocks`."""
    return {"text": text, "blocks": blocks}


def error_message(text: str, hint: str | None = None) -> dict:
    blocks = [section(f":warning: {text}")]
    if hint:
        blocks.append(context(hint))
    return message(text, blocks)
