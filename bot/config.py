"""Every setting the bot reads from the environment, its default and its meaning."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SCOPES = (
    "openid profile email offline_access accounting.invoices accounting.contacts accounting.settings"
)


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
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL (trailing slash)")

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

    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"

    @property
    def bot_admin_ids(self) -> set[str]:
        return {part for part in self.bot_admins.replace(",", " ").split() if part}

    @property
    def embedded_database(self) -> bool:
        return not self.mongodb_uri

    def missing(self) -> dict[str, str]:
        """Required variables that are unset, each with what it is for."""
        required = {
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "SLACK_BOT_TOKEN": self.slack_bot_token,
            "XERO_CLIENT_ID": self.xero_client_id,
        }
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
        values = [self.slack_signing_secret, self.slack_bot_token, self.xero_client_secret,
                  self.token_encryption_key, self.forecast_api_key, self.xero_webhook_key]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]
