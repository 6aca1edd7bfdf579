"""Every setting the bot reads from the environment, its default and its meaning."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SCOPES = (
    "openid profile email offline_access accounting.invoices accounting.contacts accounting.settings"
)
# The manifest's bot scopes (manifest.yml), asked for by "Add to Slack" unless SLACK_SCOPES says otherwise.
DEFAULT_SLACK_SCOPES = ("commands,chat:write,users:read,usergroups:read,channels:read,groups:read,"
                        "channels:history,groups:history,im:history,im:write,files:write")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    port: int = Field(3000, description="port the web server listens on")
    host: str = Field("0.0.0.0", description="interface the web server binds")

    slack_signing_secret: SecretStr | None = Field(
        None, description="Slack app > Basic Information > Signing Secret (verifies requests from Slack)"
    )
    slack_bot_token: SecretStr | None = Field(
        None, description="Slack app > OAuth & Permissions > Bot User OAuth Token (xoxb-...)"
    )
    slack_app_token: SecretStr | None = Field(
        None, description="Socket Mode only: Slack app > Basic Information > App-Level Token (xapp-..., "
                          "scope connections:write); set, Slack's requests come over a socket, not POST /slack/events"
    )
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL (trailing slash)")
    slack_client_id: str | None = Field(
        None, description="Slack app > Basic Information > Client ID: set, the bot is installed with Add to Slack "
                          "(any number of workspaces) instead of using SLACK_BOT_TOKEN")
    slack_client_secret: SecretStr | None = Field(
        None, description="Slack app > Basic Information > Client Secret (exchanges an install's code for tokens)")
    slack_scopes: str = Field(DEFAULT_SLACK_SCOPES, description="bot scopes Add to Slack asks for, comma separated")
    slack_redirect_uri: str | None = Field(
        None, description="<your public URL>/slack/oauth_redirect, as registered under OAuth & Permissions")
    slack_authorize_url: str = Field("https://slack.com/oauth/v2/authorize",
                                     description="Slack's consent page (the sandbox points it at its own)")
    data_retention_days: int = Field(
        365, gt=0, description="how long data is kept: an audit trail entry after it is written; a workspace's "
                               "organisations, links and history after it uninstalls (a reinstall finds them)")

    xero_client_id: str | None = Field(None, description="Xero developer portal > your app > Client id")
    xero_client_secret: SecretStr | None = Field(
        None, description="Xero app client secret (sent to the token endpoint when set)"
    )
    xero_redirect_uri: str = Field(
        "http://localhost:3000/xero/callback", description="the redirect URI registered on the Xero app"
    )
    xero_authorize_url: str = "https://login.xero.com/identity/connect/authorize"
    xero_token_url: str = "https://identity.xero.com/connect/token"
    xero_revocation_url: str | None = Field(
        None, description="Xero's token revocation endpoint; unset: /connect/revocation beside XERO_TOKEN_URL"
    )
    xero_api_url: str = Field(
        "https://api.xero.com", description="identity at /connections, accounting at /api.xro/2.0"
    )
    xero_scopes: str = DEFAULT_SCOPES
    xero_web_url: str = Field("https://go.xero.com", description="Xero's web app, for 'Open in Xero' links")
    xero_webhook_key: SecretStr | None = Field(
        None, description="Xero app > Webhooks > Webhooks key (signs POST /xero/webhooks); unset turns webhooks off"
    )
    sync_interval_minutes: float = Field(15, gt=0, description="how often each organisation is read for changes")
    sync_day_reserve: int = Field(
        200, ge=0, description="Xero calls per organisation and day that sync leaves for exports"
    )

    mongodb_uri: str | None = Field(None, description="MongoDB or Atlas URI; unset starts the embedded server")
    mongodb_db: str | None = Field(
        None, description="database name; unset: ledgerline, or xero_slack_bot where only that one exists (before 0.2)"
    )
    token_encryption_key: SecretStr | None = Field(
        None, description="Fernet key encrypting tokens at rest; generated into ./data in embedded mode"
    )
    bot_admins: str = Field("", description="Slack user ids, comma or space separated, who may administer the bot")
    data_dir: Path = Field(Path("data"), description="where the embedded database and generated key live")

    forecast_api_url: str = "https://api.forecast.it/api/v1"
    forecast_api_key: SecretStr | None = Field(None, description="default Forecast API key for every workspace")
    approval_channel: str | None = Field(None, description="default channel id for approval requests")
    notify_channel: str | None = Field(None, description="default channel id for failure notifications")

    job_lease_seconds: float = Field(
        15.0, gt=0, description="a job whose process died is taken over this long after its last heartbeat "
                                "(heartbeats every third of it); tests shorten it")
    import_claim_seconds: float = Field(
        120.0, gt=0, description="an import's claim on a contact or purchase order left by a process that "
                                 "died is taken over after this long")

    forecast_watch_minutes: float = Field(
        5, gt=0, description="how often Forecast's invoices are read for workspaces that ask by themselves")

    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"

    @property
    def bot_admin_ids(self) -> set[str]:
        return {part for part in self.bot_admins.replace(",", " ").split() if part}

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value() and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("an app-level token starts with xapp- (Basic Information > App-Level Tokens)")
        return value if value is not None and value.get_secret_value() else None

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def distributed(self) -> bool:
        """Installed with Add to Slack into any number of workspaces (else one workspace, SLACK_BOT_TOKEN)."""
        return bool(self.slack_client_id)

    @property
    def embedded_database(self) -> bool:
        return not self.mongodb_uri

    def missing(self) -> dict[str, str]:
        """Required variables that are unset, each with what it is for."""
        required = {
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
            **({"SLACK_CLIENT_SECRET": self.slack_client_secret} if self.distributed
               else {"SLACK_BOT_TOKEN": self.slack_bot_token}),
            "XERO_CLIENT_ID": self.xero_client_id,
        }
        if self.socket_mode:  # nothing is signed: the socket is opened with the app-level token
            del required["SLACK_SIGNING_SECRET"]
        if not self.embedded_database:
            required["TOKEN_ENCRYPTION_KEY"] = self.token_encryption_key
        fields = type(self).model_fields
        return {
            name: fields[name.lower()].description or ""
            for name, value in required.items()
            if not (value.get_secret_value() if isinstance(value, SecretStr) else value)
        }

    def secrets(self) -> list[str]:
        """Values that must never reach a log line."""
        values = [self.slack_signing_secret, self.slack_bot_token, self.slack_app_token, self.slack_client_secret,
                  self.xero_client_secret,
                  self.token_encryption_key, self.forecast_api_key, self.xero_webhook_key]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]
