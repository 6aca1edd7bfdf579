"""What keeps a submitted /xero settings form from being saved, on the Forecast and Xero side: a Forecast key
Forecast refuses, an account or tax rate the organisation does not offer. (Channels and people are Slack's:
bot/ checks those.) Each answer is a code; bot/blocks/settings.py words it. Quick: Slack waits 3 s."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal

from services.connections.ledger_choices import LedgerChoices, OrganisationChoices
from services.forecast import ForecastApi, ForecastAuthError, ForecastError
from services.shared.settings import WorkspaceSettingsService

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 2.0  # seconds for a check with Xero or Forecast while Slack waits for the form's answer

KeyProblemCode = Literal["key_and_default", "no_key_stored", "key_refused", "key_unchecked"]
LineDefault = Literal["account_code", "tax_type"]


@dataclass(frozen=True)
class KeyProblem:
    code: KeyProblemCode
    error: ForecastError | None = None  # key_unchecked: why Forecast could not be asked


@dataclass(frozen=True)
class LineChoice:
    """An organisation's picked account code and tax type; None: Xero's own default."""

    account_code: str | None
    tax_type: str | None


class SettingsChecks:
    def __init__(self, workspace_settings: WorkspaceSettingsService, forecast: ForecastApi,
                 ledger_choices: LedgerChoices, *, timeout: float = CHECK_TIMEOUT):
        self.workspace_settings = workspace_settings
        self.forecast = forecast
        self.ledger_choices = ledger_choices
        self.timeout = timeout

    async def key_problem(self, team_id: str, key: str | None, use_default: bool) -> KeyProblem | None:
        """A new key must be accepted by Forecast; no key keeps the stored one, if there is one."""
        if key and use_default:
            return KeyProblem("key_and_default")
        if use_default:
            return None
        if not key:
            if (await self.workspace_settings.get(team_id)).has_forecast_key:
                return None
            return KeyProblem("no_key_stored")
        try:
            await self.forecast.check_key(key, timeout=self.timeout)
        except ForecastAuthError:
            return KeyProblem("key_refused")
        except ForecastError as exc:
            return KeyProblem("key_unchecked", exc)
        return None

    async def not_offered(self, team_id: str, picked: dict[str, LineChoice]) -> dict[str, list[LineDefault]]:
        """tenant id -> which picks that organisation does not offer (an active revenue account, an active
        tax rate for sales); an organisation Xero could not be read for offers nothing."""
        problems: dict[str, list[LineDefault]] = {}
        for tenant_id, choice in picked.items():
            choices = await self.ledger_choices.last_read(team_id, tenant_id)
            if choices is None:  # the form was opened by another bot process: ask Xero, briefly
                choices = await self._read_choices(team_id, tenant_id)
            wrong: list[LineDefault] = []
            if choice.account_code and (choices is None or choices.account(choice.account_code) is None):
                wrong.append("account_code")
            if choice.tax_type and (choices is None or choices.tax_rate(choice.tax_type) is None):
                wrong.append("tax_type")
            if wrong:
                problems[tenant_id] = wrong
        return problems

    async def _read_choices(self, team_id: str, tenant_id: str) -> OrganisationChoices | None:
        try:
            await asyncio.wait_for(self.ledger_choices.for_team(team_id), timeout=self.timeout)
        except TimeoutError:
            log.info("settings.choices_check_timed_out team=%s", team_id)
        return await self.ledger_choices.last_read(team_id, tenant_id)
