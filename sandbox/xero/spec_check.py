"""Check incoming requests against Xero's published OpenAPI specs (when the contracts folder exists).

A request the real Xero would not understand is answered 400 naming the violation, so a bot bug shows up
in the sandbox instead of in production.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from multidict import CIMultiDict, MultiDict
from openapi_core.datatypes import RequestParameters

log = logging.getLogger("sandbox.xero")

ACCOUNTING_SPEC = "xero_accounting.yaml"
IDENTITY_SPEC = "xero-identity.yaml"
_ZONELESS_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$")


def default_contracts_dir() -> Path | None:
    """$CONTRACTS_DIR/xero, else the copy kept in the repository (tests/contracts/xero); None if neither exists.

    Only the files are read: the sandbox does not import anything from tests/.
    """
    configured = os.environ.get("CONTRACTS_DIR")
    repository = Path(__file__).resolve().parents[2]
    folder = Path(configured) / "xero" if configured else repository / "tests" / "contracts" / "xero"
    return folder if (folder / ACCOUNTING_SPEC).is_file() else None


@dataclass
class _SpecRequest:
    """The minimal openapi-core Request: the sandbox URL mapped onto https://api.xero.com."""

    method: str
    path: str
    parameters: RequestParameters
    body: bytes | None
    content_type: str
    host_url: str = "https://api.xero.com"


@lru_cache(maxsize=4)
def _load_spec(path: str):
    from openapi_core import Config, OpenAPI

    # The published spec has small errors of its own (a boolean default written as a string).
    return OpenAPI.from_file_path(path, config=Config(spec_validator_cls=None))


class SpecChecker:
    def __init__(self, contracts_dir: Path):
        self.accounting = _load_spec(str(contracts_dir / ACCOUNTING_SPEC))
        identity = contracts_dir / IDENTITY_SPEC
        self.identity = _load_spec(str(identity)) if identity.is_file() else None

    def check_accounting(self, method, resource_path, query, headers, body, content_type) -> str | None:
        """`resource_path` like '/Invoices' or '/Contacts/{id}'. Returns the violation, or None."""
        return self._check(self.accounting, method, "/api.xro/2.0" + resource_path, query, headers, body,
                           content_type)

    def check_identity(self, method, path, query, headers) -> str | None:
        if self.identity is None:
            return None
        return self._check(self.identity, method, path, query, headers, None, "application/json")

    @staticmethod
    def _check(spec, method, path, query, headers, body, content_type) -> str | None:
        headers = CIMultiDict(headers)
        since = headers.get("If-Modified-Since")
        if since and _ZONELESS_ISO.match(since):
            # Xero documents If-Modified-Since as a UTC time without a zone; the spec says date-time.
            headers["If-Modified-Since"] = since + "Z"
        request = _SpecRequest(
            method.lower(), path,
            RequestParameters(query=MultiDict(query), header=headers, cookie=MultiDict()),
            body or None, content_type or "application/json",
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Unsupported scheme type" for OAuth2 security
            try:
                spec.validate_request(request)
            except Exception as error:  # openapi-core raises many kinds; all mean "not per spec"
                return _describe(error)
        return None


def _describe(error: Exception) -> str:
    parts = [str(error)]
    cause = error.__cause__
    while cause is not None and len(parts) < 4:
        text = str(cause)
        if text and text not in parts[-1]:
            parts.append(text)
        cause = cause.__cause__
    schema_errors = getattr(error.__cause__, "schema_errors", None) or getattr(error, "schema_errors", None)
    if schema_errors:
        parts.append("; ".join(getattr(e, "message", str(e)) for e in schema_errors))
    return " | ".join(parts)[:1500]
