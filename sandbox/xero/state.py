"""Everything the Xero stand-in remembers, and the control surface tests use to steer it.

Organisations hold Xero-shaped dicts (internal bookkeeping keys start with `_` and are never sent).
Grants are consent events (Xero's authEventId); each connection ties one grant to one tenant.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Callable

from .demo_data import build_organisations

log = logging.getLogger("sandbox.xero")

Clock = Callable[[], float]

ACCESS_TOKEN_SECONDS = 1800
REFRESH_TOKEN_SECONDS = 60 * 86400
AUTH_CODE_SECONDS = 300
STATE_FILE_NAME = "xero.json"


class FaultKind(StrEnum):
    UNAVAILABLE = "unavailable"  # 503 Service Unavailable
    RATE_LIMITED = "rate_limited"  # 429 with Retry-After and X-Rate-Limit-Problem
    VALIDATION = "validation"  # 400 ValidationException naming the submitted element
    DISCONNECT = "disconnect"  # the tenant's connections are removed; the call answers 403


@dataclass
class Fault:
    """Answer the next `remaining` matching accounting calls with `kind` instead of the real answer."""

    kind: FaultKind
    remaining: int = 1
    resource: str | None = None  # "Invoices", "Contacts", ...; None matches every resource
    method: str | None = None  # "PUT", "GET", ... or "CREATE" (PUT or POST); None matches every method
    tenant_id: str | None = None
    retry_after: int = 60
    problem: str = "minute"
    message: str = "Sandbox: this call was made to fail on purpose."

    def matches(self, method: str, resource: str, tenant_id: str) -> bool:
        return (
            self.remaining > 0
            and (self.resource is None or self.resource.lower() == resource.lower())
            and (self.method is None or self.method.upper() == method.upper()
                 or (self.method.upper() == "CREATE" and method.upper() in ("PUT", "POST")))
            and (self.tenant_id is None or self.tenant_id == tenant_id)
        )


@dataclass
class RateDecision:
    allowed: bool
    minute_remaining: int
    day_remaining: int
    problem: str | None = None
    retry_after: float = 0


class RateLimiter:
    """Xero's per-tenant limits: `concurrent` in flight, `per_minute` in any 60 s, `per_day` per 24 h.

    `time_scale` shrinks Xero's minute and day (60: a minute lasts one second) so a bench can meet the real
    limits quickly; Retry-After is then given in (fractional) real seconds."""

    def __init__(self, clock: Clock, *, per_minute: int = 60, concurrent: int = 5, per_day: int = 5000,
                 time_scale: float = 1.0):
        self.clock = clock
        self.per_minute = per_minute
        self.concurrent = concurrent
        self.per_day = per_day
        self.time_scale = time_scale
        self.minute = 60 / time_scale
        self.day = 86400 / time_scale
        self.refused: Counter[str] = Counter()  # problem -> how many 429s were answered
        self.in_flight: Counter[str] = Counter()
        self._minute: dict[str, deque[float]] = {}
        self._day: dict[str, deque[float]] = {}

    def acquire(self, tenant_id: str) -> RateDecision:
        now = self.clock()
        minute = self._window(self._minute, tenant_id, now - self.minute)
        day = self._window(self._day, tenant_id, now - self.day)
        if len(day) >= self.per_day:
            return self._refuse(minute, day, "day", day[0] + self.day - now)
        if len(minute) >= self.per_minute:
            return self._refuse(minute, day, "minute", minute[0] + self.minute - now)
        if self.in_flight[tenant_id] >= self.concurrent:
            return self._refuse(minute, day, "concurrent", 1)
        minute.append(now)
        day.append(now)
        self.in_flight[tenant_id] += 1
        return RateDecision(True, self.per_minute - len(minute), self.per_day - len(day))

    def release(self, tenant_id: str) -> None:
        if self.in_flight[tenant_id] > 0:
            self.in_flight[tenant_id] -= 1

    def _refuse(self, minute, day, problem: str, wait: float) -> RateDecision:
        self.refused[problem] += 1
        retry_after = max(1, math.ceil(wait)) if self.time_scale == 1 else round(max(wait, 0.001), 3)
        return RateDecision(
            False, max(0, self.per_minute - len(minute)), max(0, self.per_day - len(day)),
            problem, retry_after,
        )

    @staticmethod
    def _window(windows: dict[str, deque[float]], tenant_id: str, since: float) -> deque[float]:
        stamps = windows.setdefault(tenant_id, deque())
        while stamps and stamps[0] <= since:
            stamps.popleft()
        return stamps


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str | None
    auth_event_id: str
    expires_at: float
    used: bool = False


@dataclass
class ApiCall:
    at: float
    method: str
    path: str
    tenant_id: str | None
    status: int


@dataclass
class XeroState:
    """The stand-in's memory. Persisted to `data_file` (JSON) when one is given."""

    data_file: Path | None
    clock: Clock
    client_id: str
    client_secret: str
    redirect_uris: list[str] | None = None
    require_pkce: bool = True
    organisations: dict[str, dict[str, Any]] = field(default_factory=dict)
    grants: dict[str, dict[str, Any]] = field(default_factory=dict)
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    access_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency: dict[str, dict[str, Any]] = field(default_factory=dict)
    auth_codes: dict[str, AuthCode] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    token_endpoint_calls: Counter[str] = field(default_factory=Counter)
    api_calls: deque[ApiCall] = field(default_factory=lambda: deque(maxlen=200))
    call_counts: Counter[tuple[str | None, int]] = field(default_factory=Counter)  # (tenant, status) -> calls
    spec_violations: list[str] = field(default_factory=list)
    rate_limiter: RateLimiter = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.rate_limiter is None:
            self.rate_limiter = RateLimiter(self.clock)

    # Loading and saving ------------------------------------------------------------
    @classmethod
    def open(
        cls,
        data_dir: Path | None,
        *,
        client_id: str,
        client_secret: str,
        clock: Clock | None = None,
        many_contacts: int = 0,
        redirect_uris: list[str] | None = None,
        require_pkce: bool = True,
    ) -> XeroState:
        data_file = Path(data_dir) / STATE_FILE_NAME if data_dir is not None else None
        state = cls(
            data_file, clock or time.time, client_id, client_secret, redirect_uris, require_pkce,
        )
        if data_file is not None and data_file.exists():
            state._load(json.loads(data_file.read_text(encoding="utf-8")))
        else:
            state.organisations = build_organisations(state.clock(), many_contacts=many_contacts)
            state.save()
        return state

    def _load(self, saved: dict[str, Any]) -> None:
        self.organisations = saved["organisations"]
        self.grants = saved.get("grants", {})
        self.connections = saved.get("connections", {})
        self.access_tokens = saved.get("access_tokens", {})
        self.refresh_tokens = saved.get("refresh_tokens", {})
        self.idempotency = saved.get("idempotency", {})

    def save(self) -> None:
        if self.data_file is None:
            return
        self.data_file.parent.mkdir(parents=True, exist_ok=True)
        snapshot = {
            "version": 1,
            "organisations": self.organisations,
            "grants": self.grants,
            "connections": self.connections,
            "access_tokens": self.access_tokens,
            "refresh_tokens": self.refresh_tokens,
            "idempotency": self.idempotency,
        }
        temporary = self.data_file.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(snapshot, indent=1), encoding="utf-8")
        os.replace(temporary, self.data_file)

    # Organisations ------------------------------------------------------------------
    def org(self, tenant_id: str) -> dict[str, Any]:
        return self.organisations[tenant_id]

    def org_by_name(self, name: str) -> dict[str, Any]:
        return next(org for org in self.organisations.values() if org["Name"] == name)

    def tenant_id(self, name: str) -> str:
        return self.org_by_name(name)["TenantID"]

    def invoices(self, tenant_id: str) -> list[dict[str, Any]]:
        return list(self.org(tenant_id)["Invoices"].values())

    def invoice_by_number(self, tenant_id: str, number: str) -> dict[str, Any] | None:
        return next((i for i in self.invoices(tenant_id) if i.get("InvoiceNumber") == number), None)

    def contacts(self, tenant_id: str) -> list[dict[str, Any]]:
        return list(self.org(tenant_id)["Contacts"].values())

    def contact_by_name(self, tenant_id: str, name: str) -> dict[str, Any] | None:
        return next((c for c in self.contacts(tenant_id) if c["Name"].lower() == name.lower()), None)

    def purchase_orders(self, tenant_id: str) -> list[dict[str, Any]]:
        return list(self.org(tenant_id)["PurchaseOrders"].values())

    # Consent, codes and tokens ---------------------------------------------------------
    def record_consent(self, scope: str, tenant_ids: list[str]) -> str:
        """A person allowed access to `tenant_ids`: a new auth event with one connection per tenant."""
        now = self.clock()
        auth_event_id = str(uuid.uuid4())
        self.grants[auth_event_id] = {"scope": scope, "created": now, "revoked": False}
        for tenant_id in tenant_ids:
            connection_id = str(uuid.uuid4())
            self.connections[connection_id] = {
                "id": connection_id, "authEventId": auth_event_id, "tenantId": tenant_id,
                "created": now, "updated": now,
            }
        self.save()
        return auth_event_id

    def issue_code(self, client_id, redirect_uri, code_challenge, code_challenge_method, auth_event_id) -> str:
        code = secrets.token_urlsafe(24)
        self.auth_codes[code] = AuthCode(
            client_id, redirect_uri, code_challenge, code_challenge_method, auth_event_id,
            self.clock() + AUTH_CODE_SECONDS,
        )
        return code

    def issue_tokens(self, auth_event_id: str) -> dict[str, Any]:
        """A fresh access token (and refresh token with offline_access), shaped like Xero's answer."""
        now = self.clock()
        scope = self.grants[auth_event_id]["scope"]
        access_token = "sbx-at-" + secrets.token_urlsafe(32)
        self.access_tokens[access_token] = {"authEventId": auth_event_id, "expires_at": now + ACCESS_TOKEN_SECONDS}
        answer: dict[str, Any] = {
            "access_token": access_token,
            "expires_in": ACCESS_TOKEN_SECONDS,
            "token_type": "Bearer",
            "scope": scope,
        }
        if "offline_access" in scope.split():
            refresh_token = "sbx-rt-" + secrets.token_urlsafe(32)
            self.refresh_tokens[refresh_token] = {
                "authEventId": auth_event_id, "expires_at": now + REFRESH_TOKEN_SECONDS, "used": False,
            }
            answer["refresh_token"] = refresh_token
        self.save()
        return answer

    def grant_for_access_token(self, access_token: str) -> str | None:
        """The auth event behind a live access token, or None (unknown, expired, revoked)."""
        record = self.access_tokens.get(access_token)
        if record is None or record["expires_at"] <= self.clock():
            return None
        grant = self.grants.get(record["authEventId"])
        if grant is None or grant["revoked"]:
            return None
        return record["authEventId"]

    def connections_for(self, auth_event_id: str) -> list[dict[str, Any]]:
        return [c for c in self.connections.values() if c["authEventId"] == auth_event_id]

    def reachable_tenants(self, auth_event_id: str) -> set[str]:
        return {c["tenantId"] for c in self.connections_for(auth_event_id)}

    def scope_of(self, auth_event_id: str) -> set[str]:
        return set(self.grants[auth_event_id]["scope"].split())

    # Control surface for tests and the browse page ----------------------------------------
    def inject_fault(self, kind: FaultKind | str, count: int = 1, **options: Any) -> Fault:
        """Make the next `count` matching accounting calls fail. Options: see `Fault`."""
        fault = Fault(FaultKind(kind), count, **options)
        self.faults.append(fault)
        log.warning("Xero sandbox: next %d call(s) will fail with %s", count, fault.kind.value)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def take_fault(self, method: str, resource: str, tenant_id: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, resource, tenant_id):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def disconnect_tenant(self, tenant_id: str) -> int:
        """The organisation's admin removed the app: every connection to the tenant goes."""
        gone = [cid for cid, c in self.connections.items() if c["tenantId"] == tenant_id]
        for connection_id in gone:
            del self.connections[connection_id]
        self.save()
        return len(gone)

    def revoke_app_access(self) -> None:
        """The user revoked the app: access tokens answer 401 and refresh tokens invalid_grant."""
        for grant in self.grants.values():
            grant["revoked"] = True
        self.save()

    def expire_access_tokens(self) -> None:
        """Jump every access token past its 30 minutes, so the bot has to refresh."""
        for record in self.access_tokens.values():
            record["expires_at"] = self.clock() - 1
        self.save()

    @property
    def token_calls(self) -> int:
        return sum(self.token_endpoint_calls.values())
