"""Check what we send against the official published contracts (Xero OpenAPI specs, Slack manifest schema).

A helper module for tests, not a test file. The contracts are copied into the repository
(`tests/contracts/`, see its README for origin and licences); CONTRACTS_DIR may point elsewhere. A test that
needs them fails when they are missing: a contract check that silently skips checks nothing.
"""

from __future__ import annotations

import json
import os
import warnings
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
XERO_ACCOUNTING_SERVER = "https://api.xero.com"
XERO_ACCOUNTING_PREFIX = "/api.xro/2.0"
XERO_IDENTITY_SERVER = "https://api.xero.com"
SLACK_SCHEMA_URL_PREFIX = "https://raw.githubusercontent.com/slackapi/manifest-schema/"
REPO_CONTRACTS_DIR = REPO_ROOT / "tests" / "contracts"
CONTRACTS_DIR = Path(os.environ.get("CONTRACTS_DIR") or REPO_CONTRACTS_DIR).expanduser()


def require_contracts() -> Path:
    """The contracts folder; the calling test fails, saying where it looked, when it is missing."""
    if not (CONTRACTS_DIR / "xero" / "xero_accounting.yaml").is_file():
        pytest.fail(f"official API contracts missing: no {CONTRACTS_DIR}/xero/xero_accounting.yaml "
                    "(they are kept in tests/contracts; CONTRACTS_DIR overrides the folder)")
    return CONTRACTS_DIR


# ----------------------------------------------------------------------------- Xero (openapi-core)


@cache
def _openapi(relative_path: str):
    import yaml
    from openapi_core import Config, OpenAPI

    with open(require_contracts() / relative_path, encoding="utf-8") as spec_file:
        spec = yaml.load(spec_file, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    # The published spec has small errors of its own (a boolean default written as a string).
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


def validate_xero_accounting_request(
    method: str, url: str, headers: Any, body: bytes | str | dict | None = None
) -> None:
    """Assert that one request we sent is valid for the Xero Accounting API spec.

    Whatever base URL the request went to (a sandbox, a test host), the part after `/api.xro/2.0`
    is matched against the spec's paths under its server https://api.xero.com/api.xro/2.0.
    """
    parts = urlsplit(str(url))
    if XERO_ACCOUNTING_PREFIX not in parts.path:
        raise AssertionError(f"{url} is not a Xero Accounting API URL (no {XERO_ACCOUNTING_PREFIX} in the path)")
    resource_path = parts.path.split(XERO_ACCOUNTING_PREFIX, 1)[1]
    _validate(
        _openapi("xero/xero_accounting.yaml"), XERO_ACCOUNTING_SERVER, method,
        XERO_ACCOUNTING_PREFIX + resource_path, parts.query, headers, body,
    )


def validate_xero_identity_request(method: str, url: str, headers: Any, body: bytes | str | dict | None = None) -> None:
    """Assert that a request to the Identity API (`/connections`) is valid for its spec.

    Xero serves `/connections` (documented lower-case) while the spec spells `/Connections`;
    Xero's paths are case-insensitive, so only the spelling of that segment is aligned.
    """
    parts = urlsplit(str(url))
    lowered = parts.path.lower()
    if "/connections" not in lowered:
        raise AssertionError(f"{url} is not a Xero Identity connections URL")
    start = lowered.rindex("/connections")
    path = "/Connections" + parts.path[start + len("/connections"):]
    _validate(_openapi("xero/xero-identity.yaml"), XERO_IDENTITY_SERVER, method, path, parts.query, headers, body)


def _validate(openapi, server: str, method: str, path: str, query: str, headers: Any, body: Any) -> None:
    from openapi_core.testing import MockRequest

    header_dict = {str(k): str(v) for k, v in dict(headers or {}).items()}
    _check_bearer_token(header_dict)
    request = MockRequest(
        server, method.lower(), path,
        args=parse_qsl(query, keep_blank_values=True),
        headers=header_dict,
        data=_as_bytes(body),
        content_type=_content_type(header_dict, body),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # openapi-core cannot check oauth2 itself ("Unsupported scheme")
        try:
            openapi.validate_request(request)
        except Exception as exc:  # openapi-core raises a family of ValidationError classes
            raise AssertionError(f"{method.upper()} {path}: {_explain(exc)}") from exc


def _check_bearer_token(headers: dict[str, str]) -> None:
    """The specs require OAuth2 on every operation; openapi-core skips oauth2, so check the header here."""
    authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AssertionError("missing OAuth2 bearer token (Authorization: Bearer <access token>)")


def _as_bytes(body: Any) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode()
    if isinstance(body, str):
        return body.encode()
    return bytes(body)


def _content_type(headers: dict[str, str], body: Any) -> str:
    declared = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    return declared or "application/json"


def _explain(exc: BaseException) -> str:
    """openapi-core keeps the useful part (the schema errors) in the exception's cause."""
    words = [str(exc)]
    cause = exc.__cause__
    for schema_error in getattr(cause, "schema_errors", None) or []:
        location = "/".join(str(p) for p in getattr(schema_error, "absolute_path", []))
        words.append(f"{location or '<body>'}: {getattr(schema_error, 'message', schema_error)}")
    if cause is not None and not getattr(cause, "schema_errors", None):
        words.append(str(cause))
    return " | ".join(words)


@cache
def _xero_webhook_validator():
    import jsonschema
    import yaml

    spec = yaml.safe_load((require_contracts() / "xero" / "xero-webhooks.yaml").read_text(encoding="utf-8"))
    schema = spec["components"]["schemas"]["WebhookEvent"]
    formats = jsonschema.FormatChecker()

    @formats.checks("date-time", raises=ValueError)
    def _xero_date_time(value) -> bool:
        # The spec's own example (and Xero) write eventDateUtc without a zone: 2025-12-02T00:44:09.923
        return not isinstance(value, str) or bool(datetime.fromisoformat(value.replace("Z", "+00:00")))

    return jsonschema.Draft202012Validator(schema, format_checker=formats)


def validate_xero_webhook_payload(payload: dict) -> None:
    """Assert that a webhook body (what the Xero stand-in sends, what tests send) is Xero's WebhookEvent."""
    errors = sorted(_xero_webhook_validator().iter_errors(payload), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise AssertionError("; ".join(f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}"
                                       for e in errors[:5]))


# ----------------------------------------------------------------------------- Slack manifest (jsonschema)


@cache
def _slack_manifest_validator():
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    folder = require_contracts() / "slack-manifest"
    root = json.loads((folder / "manifest.schema.json").read_text(encoding="utf-8"))
    resources = []
    for version_file in sorted((folder / "schemas").glob("manifest.schema.*.json")):
        contents = json.loads(version_file.read_text(encoding="utf-8"))
        resource = Resource.from_contents(contents, default_specification=DRAFT7)
        # The root schema points at versioned raw.githubusercontent URLs; serve those from the local copies.
        for ref in _remote_refs(root):
            if ref.endswith("/" + version_file.name):
                resources.append((ref, resource))

    def refuse_network(uri: str):
        raise AssertionError(f"Slack manifest schema refers to {uri}, which has no local copy")

    registry = Registry(retrieve=refuse_network).with_resources(resources)
    validator_cls = jsonschema.validators.validator_for(root, default=jsonschema.Draft7Validator)
    return validator_cls(root, registry=registry, format_checker=validator_cls.FORMAT_CHECKER)


def _remote_refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(SLACK_SCHEMA_URL_PREFIX):
            found.add(ref)
        for value in node.values():
            found |= _remote_refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= _remote_refs(item)
    return found


def validate_slack_manifest(manifest: dict) -> None:
    """Assert that an app manifest is valid for Slack's published manifest schema."""
    validator = _slack_manifest_validator()
    if validator.is_valid(manifest):
        return
    # The root schema is a oneOf over manifest versions; its own message hides the reason, so explain the
    # failure with the version the manifest asks for.
    version = (manifest.get("_metadata") or {}).get("major_version", 1) if isinstance(manifest, dict) else 1
    version_errors = list(_slack_version_validator(version).iter_errors(manifest)) if version in (1, 2) else []
    errors = version_errors or list(validator.iter_errors(manifest))
    reasons = []
    for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path])[:5]:
        location = "/".join(str(p) for p in error.absolute_path) or "<manifest>"
        reasons.append(f"{location}: {error.message}")
    raise AssertionError(f"Slack manifest (major_version {version}) is invalid: " + "; ".join(reasons))


@cache
def _slack_version_validator(major_version: int):
    import jsonschema

    contents = json.loads(
        (require_contracts() / "slack-manifest" / "schemas" / f"manifest.schema.{major_version}.0.0.json").read_text(
            encoding="utf-8"
        )
    )
    return jsonschema.Draft7Validator(contents, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
