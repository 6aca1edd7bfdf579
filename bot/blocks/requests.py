"""What a person reads when Slack sent something the bot cannot read, or the bot itself failed."""

from __future__ import annotations

from bot.blocks.common import context, error_message, plain, section

UNREADABLE = "I couldn't read that request from Slack, so nothing was changed."
UNREADABLE_HINT = "Please try again; if it keeps happening, tell an admin."
FAILED = "Something went wrong on our side. Nothing was changed."
FAILED_HINT = "Please try again; if it keeps happening, tell an admin."


def unreadable_request() -> dict:
    return error_message(UNREADABLE, UNREADABLE_HINT)


def unexpected_failure() -> dict:
    return error_message(FAILED, FAILED_HINT)


def command_interrupted(text: str) -> dict:
    """After a restart: the command was received, but the bot stopped before answering it."""
    return error_message(f"I stopped before answering `{text}` (the bot restarted), so you heard nothing back.",
                         "Type it again: it is safe. Nothing it already did is done twice (an export already "
                         "asked for is answered as such).")


def notice_view(text: str, hint: str) -> dict:
    """Replaces a submitted modal when its submission could not be handled."""
    return {
        "type": "modal",
        "title": plain("Xero"),
        "close": plain("Close"),
        "blocks": [section(f":warning: {text}"), context(hint)],
    }


def unreadable_view() -> dict:
    return notice_view(UNREADABLE, "Close this form and run the command again.")


def failed_view() -> dict:
    return notice_view(FAILED, "Close this form and try again; if it keeps happening, tell an admin.")
