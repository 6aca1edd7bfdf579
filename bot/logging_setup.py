"""One line per event, key=value or JSON, with secrets masked whatever the message says."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone

# Token shapes we never want to print even if they slipped into a message.
SECRET_PATTERNS = [
    re.compile(r"xox[abposr]-[A-Za-z0-9-]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r'(?i)("?(?:access_token|refresh_token|id_token|client_secret|code_verifier|api_key)"?\s*[:=]\s*"?)[^"&\s,}]+'),
    # pydantic's validation errors quote what they were given, which may be a key someone typed
    re.compile(r"(input_value=)(?:'[^'\n]*'|\"[^\"\n]*\"|[^\s,]+)"),
]


_plain = logging.Formatter()


def trace(record: logging.LogRecord) -> str | None:
    """The whole stack trace of the record's exception (already redacted by the Redactor)."""
    if not record.exc_info:
        return None
    return record.exc_text or _plain.formatException(record.exc_info)


class Redactor(logging.Filter):
    def __init__(self, secrets: list[str] | None = None):
        super().__init__()
        self.secrets = [s for s in (secrets or []) if len(s) >= 6]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        for pattern in SECRET_PATTERNS:
            text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redact(_plain.formatException(record.exc_info))
        extra = getattr(record, "fields", None)
        if extra:
            record.fields = {k: self.redact(str(v)) for k, v in extra.items()}
        return True


def _quote(value: str) -> str:
    return json.dumps(value) if (" " in value or "=" in value or not value) else value


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        parts = [f"ts={stamp}", f"level={record.levelname.lower()}", f"logger={record.name}",
                 f"event={_quote(record.getMessage())}"]
        parts += [f"{k}={_quote(str(v))}" for k, v in getattr(record, "fields", {}).items()]
        stack = trace(record)
        if stack:  # the last line names the error; the whole trace stays on this one line, escaped
            parts.append(f"error={_quote(stack.splitlines()[-1])}")
            parts.append(f"trace={json.dumps(stack)}")
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        stack = trace(record)
        if stack:
            payload["error"] = stack.splitlines()[-1]
            payload["trace"] = stack
        return json.dumps(payload, default=str)


class MalformedHttpFilter(logging.Filter):
    """aiohttp answers a request it cannot parse with 400 and logs a traceback: one warning line is enough,
    and the rejected bytes (which may hold anything) stay out of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg, record.args = "http.malformed_request", None
            record.fields = {"status": error.code, "error": type(error).__name__}
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_malformed_http() -> None:
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedHttpFilter) for f in server_log.filters):
        server_log.addFilter(MalformedHttpFilter())


def configure_logging(level: str = "INFO", fmt: str = "text", secrets: list[str] | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    handler.addFilter(Redactor(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiohttp.access", "pymongo", "slack_bolt.AsyncApp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
