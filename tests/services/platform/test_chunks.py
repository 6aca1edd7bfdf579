"""Xero-sized chunks lose nothing, reorder nothing and never exceed the size."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.platform.chunks import chunks


@given(st.lists(st.text(max_size=3), max_size=200), st.integers(min_value=1, max_value=60))
def test_chunks_keep_every_item_in_order_and_within_the_size(items, size):
    parts = chunks(items, size)
    assert [item for part in parts for item in part] == items
    assert all(0 < len(part) <= size for part in parts)
    assert len(parts) == -(-len(items) // size)
