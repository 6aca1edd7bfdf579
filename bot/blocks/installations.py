"""What a person reads about installing Ledgerline in their workspace."""

from __future__ import annotations


def welcome() -> dict:
    """The DM to whoever clicked "Add to Slack": how to start."""
    text = ("Ledgerline is installed. To start: *1.* `/xero connect` links your Xero organisations. "
            "*2.* `/xero settings` picks the approval and notification channels and your Forecast API key. "
            "*3.* `/xero export INV-123` sends a Forecast invoice to Xero for approval. `/xero help` lists the rest.")
    return {"text": "Ledgerline is installed: start with /xero connect, then /xero settings.",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def not_installed() -> str:
    """Slack reached us for a workspace with no installation (uninstalled, or installed from the app's page)."""
    return ("Ledgerline is not installed in this workspace any more. An admin can add it again from the "
            "Add to Slack page; organisations connected before are found again for a while.")
