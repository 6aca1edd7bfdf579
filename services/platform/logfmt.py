"""Structured log fields: `log.info("export.approved", **fields(team=..., job=...))`."""

from __future__ import annotations

from typing import Any


def fields(**values: Any) -> dict[str, Any]:
    return {"extra": {"fields": {k: v for k, v in values.items() if v is not None}}}
