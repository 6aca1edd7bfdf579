"""The one place that bends documents around the embedded server's gaps; stores see one shape.

On MongoDB and Atlas documents are stored as they are: dates as dates, booleans as booleans. On the embedded
server (nx-27017) a datetime written with `$set` reads back as a string and a boolean as 1, so for the fields
a collection declares in `DATE_FIELDS`/`BOOL_FIELDS`, `CodecCollection` stores dates as epoch seconds (in
inserts, filters, `$set`, `$setOnInsert`, `$min` and `$max`) and turns dates and booleans back on the way out
(documents, and `distinct` values). A declared field may also hold a map of names to dates (`posting`).
Every field of a declared collection is encoded the same way, so sorts and
range filters compare epochs with epochs. `bulk_write` and aggregation pass through unchanged: keep declared
fields out of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

DATE_FIELDS: dict[str, frozenset[str]] = {
    "oauth_states": frozenset({"expires_at"}),  # not created_at: only inserted, a real date for the TTL index
    "slash_commands": frozenset({"received_at", "lease_until"}),
    "token_sets": frozenset({"created_at", "updated_at", "expires_at", "lease_until"}),
    "tenants": frozenset({"connected_at", "removed_at", "last_success_at"}),
    "links": frozenset({"linked_at", "unlinked_at", "claim_until"}),
    "workspace_settings": frozenset({"updated_at"}),
    "xero_cache": frozenset({"fetched_at"}),
    "export_jobs": frozenset({"requested_at", "approved_at", "rejected_at", "finished_at", "updated_at",
                              "posting"}),
    "job_events": frozenset({"at"}),
    "jobs": frozenset({"due_at", "lease_until", "created_at", "finished_at"}),
    "xero_events": frozenset({"received_at", "handled_at"}),
    "sync_notices": frozenset({"created_at", "finished_at", "posting_at"}),
    "export_batches": frozenset({"waiting_until", "posting"}),
    "home_viewers": frozenset({"opened_at"}),
    "xero_reference": frozenset({"fetched_at"}),
    "xero_sync": frozenset({"last_scan_at", "scan_requested_at", "requested_at", "answered_at", "checked_at"}),
}
BOOL_FIELDS: dict[str, frozenset[str]] = {}
DATED_OPERATORS = frozenset({"$set", "$setOnInsert", "$min", "$max"})  # update operators whose values are dates
PASSED_THROUGH = frozenset({"name", "full_name", "database", "create_index", "create_indexes", "list_indexes",
                            "index_information", "drop", "drop_index", "bulk_write", "aggregate"})


class Codec:
    def __init__(self, dates: frozenset[str] = frozenset(), bools: frozenset[str] = frozenset()) -> None:
        self.dates = dates
        self.bools = bools

    def encode(self, doc: Any) -> Any:
        """A document or a filter: declared dates (also inside operators, `$in` lists, `$or`) become epochs."""
        if not isinstance(doc, Mapping):
            return doc
        encoded = {}
        for key, value in doc.items():
            if key in ("$or", "$and", "$nor"):
                value = [self.encode(part) for part in value]
            elif key in self.dates:
                value = _epochs(value)
            encoded[key] = value
        return encoded

    def encode_update(self, update: Any) -> Any:
        if not isinstance(update, Mapping):
            return update  # an update pipeline
        return {op: self.encode(fields) if op in DATED_OPERATORS else fields for op, fields in update.items()}

    def decode(self, doc: Any) -> Any:
        if not isinstance(doc, dict):
            return doc
        for key in self.dates & doc.keys():
            if isinstance(doc[key], dict):
                doc[key] = {name: _date(value) for name, value in doc[key].items()}
            else:
                doc[key] = _date(doc[key])
        for key in self.bools & doc.keys():
            doc[key] = bool(doc[key]) if doc[key] is not None else None
        return doc


def _date(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    return value


def _epochs(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, Mapping):
        return {op: _epochs(operand) for op, operand in value.items()}
    if isinstance(value, list):
        return [_epochs(item) for item in value]
    return value


class DecodingCursor:
    def __init__(self, cursor: Any, codec: Codec) -> None:
        self._cursor = cursor
        self._codec = codec

    def sort(self, *args: Any, **kwargs: Any) -> DecodingCursor:
        self._cursor = self._cursor.sort(*args, **kwargs)
        return self

    def limit(self, count: int) -> DecodingCursor:
        self._cursor = self._cursor.limit(count)
        return self

    def skip(self, count: int) -> DecodingCursor:
        self._cursor = self._cursor.skip(count)
        return self

    def __aiter__(self) -> DecodingCursor:
        return self

    async def __anext__(self) -> Any:
        return self._codec.decode(await self._cursor.__anext__())

    async def to_list(self, length: int | None = None) -> list[Any]:
        return [self._codec.decode(doc) for doc in await self._cursor.to_list(length)]


class CodecCollection:
    """An AsyncCollection with the codec applied to what goes in and what comes out; the rest passes through."""

    def __init__(self, collection: Any, codec: Codec) -> None:
        self._collection = collection
        self._codec = codec

    def __getattr__(self, name: str) -> Any:
        if name not in PASSED_THROUGH:  # a document method the codec does not know would skip it silently
            raise AttributeError(f"{name} is not wrapped by the storage codec: add it to storage_codec.py")
        return getattr(self._collection, name)

    async def insert_one(self, document: Any, *args: Any, **kwargs: Any) -> Any:
        return await self._collection.insert_one(self._codec.encode(document), *args, **kwargs)

    async def insert_many(self, documents: Any, *args: Any, **kwargs: Any) -> Any:
        return await self._collection.insert_many([self._codec.encode(d) for d in documents], *args, **kwargs)

    async def find_one(self, filter: Any = None, *args: Any, **kwargs: Any) -> Any:
        return self._codec.decode(await self._collection.find_one(self._codec.encode(filter), *args, **kwargs))

    def find(self, filter: Any = None, *args: Any, **kwargs: Any) -> DecodingCursor:
        return DecodingCursor(self._collection.find(self._codec.encode(filter), *args, **kwargs), self._codec)

    async def find_one_and_update(self, filter: Any, update: Any, *args: Any, **kwargs: Any) -> Any:
        found = await self._collection.find_one_and_update(
            self._codec.encode(filter), self._codec.encode_update(update), *args, **kwargs)
        return self._codec.decode(found)

    async def find_one_and_delete(self, filter: Any, *args: Any, **kwargs: Any) -> Any:
        found = await self._collection.find_one_and_delete(self._codec.encode(filter), *args, **kwargs)
        return self._codec.decode(found)

    async def update_one(self, filter: Any, update: Any, *args: Any, **kwargs: Any) -> Any:
        return await self._collection.update_one(
            self._codec.encode(filter), self._codec.encode_update(update), *args, **kwargs)

    async def update_many(self, filter: Any, update: Any, *args: Any, **kwargs: Any) -> Any:
        return await self._collection.update_many(
            self._codec.encode(filter), self._codec.encode_update(update), *args, **kwargs)

    async def delete_one(self, filter: Any, *args: Any, **kwargs: Any) -> Any:
        return await self._collection.delete_one(self._codec.encode(filter), *args, **kwargs)

    async def delete_many(self, filter: Any, *args: Any, **kwargs: Any) -> Any:
        return await self._collection.delete_many(self._codec.encode(filter), *args, **kwargs)

    async def distinct(self, key: str, filter: Any = None, *args: Any, **kwargs: Any) -> list[Any]:
        values = await self._collection.distinct(key, self._codec.encode(filter), *args, **kwargs)
        if key not in self._codec.dates:
            return list(values)
        return [self._codec.decode({key: value})[key] for value in values]

    async def count_documents(self, filter: Any, *args: Any, **kwargs: Any) -> Any:
        return await self._collection.count_documents(self._codec.encode(filter), *args, **kwargs)
