"""Splitting a list into Xero-sized requests (50 invoices a create, about 50 ids an `IDs=` list)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    """`items` in order, `size` at a time (the last chunk may be shorter); none for no items."""
    return [list(items[i:i + size]) for i in range(0, len(items), size)]
