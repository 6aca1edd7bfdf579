"""What can go wrong talking to Xero, in words a finance admin understands."""

from __future__ import annotations


class XeroError(Exception):
    """Any failure from Xero. `message` is plain words; `details` are Xero's own validation messages."""

    def __init__(self, message: str, *, status: int | None = None, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.details = details or []

    def __str__(self) -> str:
        if self.details:
            return f"{self.message}: " + "; ".join(self.details)
        return self.message


class XeroAuthError(XeroError):
    """The connection is no longer authorised (invalid_grant, revoked consent): reconnect needed."""


class XeroValidationError(XeroError):
    """Xero refused the data (400 with ValidationErrors). Retrying the same data will not help."""


class XeroNotFound(XeroError):
    """The object (or connection) does not exist in Xero."""


class XeroRateLimited(XeroError):
    """429 after retries ran out. `retry_after` seconds and Xero's X-Rate-Limit-Problem."""

    def __init__(self, message: str, *, retry_after: float | None = None, problem: str | None = None, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after
        self.problem = problem


class XeroUnavailable(XeroError):
    """5xx or timeouts after retries ran out."""
