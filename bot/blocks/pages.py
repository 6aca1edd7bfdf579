"""The small HTML pages a browser sees after Xero's consent screen."""

from __future__ import annotations

from html import escape

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: -apple-system, "Segoe UI", Roboto, sans-serif; background: #f4f5f7; margin: 0; }}
main {{ max-width: 520px; margin: 12vh auto; background: #fff; border-radius: 12px; padding: 32px;
        box-shadow: 0 2px 12px rgba(0,0,0,.08); }}
h1 {{ font-size: 22px; margin-top: 0; }} li {{ margin: 6px 0; }} p.hint {{ color: #616061; }}
</style></head>
<body><main id="{page_id}"><h1>{title}</h1>{body}</main></body></html>"""


def _page(page_id: str, title: str, body: str) -> str:
    return PAGE.format(page_id=page_id, title=escape(title), body=body)


def connected_page(names: list[str]) -> str:
    items = "".join(f"<li>{escape(name)}</li>" for name in names)
    return _page("connected", "Xero is connected",
                 f"<p>These organisations are now connected to Slack:</p><ul>{items}</ul>"
                 "<p class='hint'>You can close this tab and go back to Slack.</p>")


def invalid_state_page() -> str:
    return _page("invalid-state", "This link has expired",
                 "<p>The sign-in link was already used, has expired (links last 10 minutes) or was not made "
                 "by this bot.</p><p class='hint'>Go back to Slack and run <code>/xero connect</code> again.</p>")


def declined_page() -> str:
    return _page("declined", "Access was not granted",
                 "<p>You did not allow access, so nothing was connected.</p>"
                 "<p class='hint'>To try again, run <code>/xero connect</code> in Slack.</p>")


def failed_page(reason: str) -> str:
    return _page("failed", "Connecting to Xero did not work",
                 f"<p>{escape(reason)}</p><p class='hint'>Nothing was saved. Your Slack DM with the bot has the "
                 "details; run <code>/xero connect</code> to try again.</p>")


def front_page() -> str:
    """What a browser sees at the bot's own address: people use the bot in Slack, not here."""
    return _page("bot-home", "Ledgerline is running",
                 "<p>This address is for Slack and Xero: Slack sends its requests to <code>/slack/events</code>, "
                 "Xero returns from its sign-in page to <code>/xero/callback</code>.</p>"
                 "<p class='hint'>Use the bot in Slack: type <code>/xero help</code>. In the sandbox, open the "
                 "workspace page that <code>make run</code> printed after “Open”.</p>")


# Add to Slack --------------------------------------------------------------------------------------------
def add_to_slack_page(authorize_url: str) -> str:
    return _page("add-to-slack", "Add Ledgerline to Slack",
                 "<p>Ledgerline brings your Xero organisations and Forecast into Slack: invoice exports with "
                 "approvals, customer and purchase order imports, and payments flowing back.</p>"
                 f"<p><a id='add-to-slack' href='{escape(authorize_url, quote=True)}'>"
                 "<img alt='Add to Slack' height='40' width='139' "
                 "src='https://platform.slack-edge.com/img/add_to_slack.png'></a></p>"
                 "<p class='hint'>Slack asks you to allow what the bot needs; nothing is stored until you do.</p>")


def installed_page(workspace: str) -> str:
    where = f" in {escape(workspace)}" if workspace else ""
    return _page("installed", "Ledgerline is installed",
                 f"<p>Ledgerline is installed{where}. The bot sent you a DM with how to start: "
                 "<code>/xero connect</code>, then <code>/xero settings</code>.</p>"
                 "<p class='hint'>You can close this tab and go back to Slack.</p>")


def install_declined_page() -> str:
    return _page("install-declined", "Ledgerline was not installed",
                 "<p>You did not allow the installation, so nothing was installed or stored.</p>"
                 "<p class='hint'>To try again, open the Add to Slack page again.</p>")


def install_link_expired_page() -> str:
    return _page("install-expired", "This install link has expired",
                 "<p>The link was already used, has expired (links last 10 minutes) or was opened in another "
                 "browser.</p><p class='hint'>Open the Add to Slack page again to start afresh.</p>")


def install_failed_page() -> str:
    return _page("install-failed", "Installing Ledgerline did not work",
                 "<p>Slack did not confirm the installation, so nothing was stored.</p>"
                 "<p class='hint'>Open the Add to Slack page again; if it keeps failing, tell whoever runs "
                 "this Ledgerline.</p>")
