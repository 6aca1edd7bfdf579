"""Reading Xero's query language: `where` filters, paging, and the public shape of stored documents."""

from __future__ import annotations

import math
import re
from typing import Any, Callable

from .dates import iso_no_zone, ms_date, parse_xero_date


class QueryParseError(ValueError):
    """Xero answers these as 400 QueryParseException."""


# Public shape -------------------------------------------------------------------------------
_DATE_FIELDS = ("Date", "DueDate", "DeliveryDate", "ExpectedArrivalDate", "FullyPaidOnDate")


def public(document: dict[str, Any], org: dict[str, Any] | None = None) -> dict[str, Any]:
    """A stored document as Xero sends it: /Date()/ values, their *String twins, no `_` keys."""
    shown = {k: v for k, v in document.items() if not k.startswith("_")}
    for key in _DATE_FIELDS:
        value = shown.get(key)
        if value is None:
            continue
        seconds = value if isinstance(value, (int, float)) else parse_xero_date(value)
        if seconds is not None:
            shown[key] = ms_date(seconds)
            shown[f"{key}String"] = iso_no_zone(seconds)
    if "_updated" in document:
        shown["UpdatedDateUTC"] = ms_date(document["_updated"])
    contact_ref = shown.get("Contact")
    if org is not None and isinstance(contact_ref, dict):
        contact = org["Contacts"].get(contact_ref.get("ContactID"))
        if contact is not None:
            shown["Contact"] = public(contact)
    return shown


def updated_at(document: dict[str, Any]) -> float:
    return float(document.get("_updated", 0))


# Paging --------------------------------------------------------------------------------------
def paginate(items: list[Any], page: int | None, page_size: int) -> tuple[list[Any], dict[str, int] | None]:
    """Xero pages are 1-based; without `page` everything comes back and there is no pagination block."""
    if page is None:
        return items, None
    page = max(page, 1)
    start = (page - 1) * page_size
    pagination = {
        "page": page,
        "pageSize": page_size,
        "pageCount": math.ceil(len(items) / page_size) if items else 0,
        "itemCount": len(items),
    }
    return items[start:start + page_size], pagination


# where ------------------------------------------------------------------------------------------
_VALUE = r'(?P<value>"(?:[^"\\]|\\.)*"|true|false|null|-?\d+(?:\.\d+)?|[Gg]uid\("(?:[^"]*)"\))'
_COMPARISON = re.compile(r'^(?P<path>[A-Za-z][\w.]*)\s*(?P<op>==|!=|>=|<=|>|<)\s*' + _VALUE + r"$")
_METHOD = re.compile(r'^(?P<path>[A-Za-z][\w.]*)\.(?P<method>Contains|StartsWith|EndsWith)\(\s*'
                     r'(?P<value>"(?:[^"\\]|\\.)*")\s*\)$')


def where_filter(expression: str | None) -> Callable[[dict[str, Any]], bool]:
    """`Name=="Acme" AND IsCustomer==true` -> predicate over the public shape. OR binds looser than AND."""
    if not expression or not expression.strip():
        return lambda _doc: True
    alternatives = [
        [_clause(part) for part in _split(branch, ("AND", "&&"))]
        for branch in _split(expression, ("OR", "||"))
    ]
    return lambda doc: any(all(test(doc) for test in clauses) for clauses in alternatives)


def _split(text: str, separators: tuple[str, ...]) -> list[str]:
    """Split on separator words outside double quotes and parentheses."""
    parts, current, depth, quoted, index = [], [], 0, False, 0
    while index < len(text):
        char = text[index]
        if char == '"' and (index == 0 or text[index - 1] != "\\"):
            quoted = not quoted
        elif not quoted and char in "()":
            depth += 1 if char == "(" else -1
        if not quoted and depth == 0:
            match = next((s for s in separators if _separator_at(text, index, s)), None)
            if match:
                parts.append("".join(current))
                current = []
                index += len(match)
                continue
        current.append(char)
        index += 1
    parts.append("".join(current))
    cleaned = [p.strip() for p in parts]
    if any(not p for p in cleaned) or quoted or depth:
        raise QueryParseError(f"Cannot read the where clause: {text}")
    return [_strip_parentheses(p) for p in cleaned]


def _separator_at(text: str, index: int, separator: str) -> bool:
    if text[index:index + len(separator)].upper() != separator:
        return False
    if separator.isalpha():
        before = text[index - 1] if index else " "
        after = text[index + len(separator)] if index + len(separator) < len(text) else " "
        return before.isspace() and after.isspace()
    return True


def _strip_parentheses(part: str) -> str:
    while part.startswith("(") and part.endswith(")") and _balanced(part[1:-1]):
        part = part[1:-1].strip()
    return part


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += 1 if char == "(" else -1 if char == ")" else 0
        if depth < 0:
            return False
    return depth == 0


def _literal(token: str) -> Any:
    if token.startswith('"'):
        return token[1:-1].replace('\\"', '"')
    if token in ("true", "false"):
        return token == "true"
    if token == "null":
        return None
    if token.lower().startswith("guid("):
        return token[6:-2].lower()
    return float(token)


def _resolve(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    return value


def _comparable(value: Any) -> Any:
    if isinstance(value, str):
        seconds = parse_xero_date(value) if value.startswith("/Date(") else None
        return seconds if seconds is not None else value.lower()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value


def _clause(text: str) -> Callable[[dict[str, Any]], bool]:
    method = _METHOD.match(text)
    if method:
        needle = str(_literal(method.group("value"))).lower()
        path, name = method.group("path"), method.group("method")

        def text_test(doc: dict[str, Any]) -> bool:
            haystack = str(_resolve(doc, path) or "").lower()
            return {"Contains": needle in haystack, "StartsWith": haystack.startswith(needle),
                    "EndsWith": haystack.endswith(needle)}[name]

        return text_test
    comparison = _COMPARISON.match(text)
    if not comparison:
        raise QueryParseError(f"Cannot read the where clause: {text}")
    path, op = comparison.group("path"), comparison.group("op")
    expected = _comparable(_literal(comparison.group("value")))

    def compare(doc: dict[str, Any]) -> bool:
        actual = _comparable(_resolve(doc, path))
        if op == "==":
            return actual == expected
        if op == "!=":
            return actual != expected
        try:
            return {">": actual > expected, "<": actual < expected,
                    ">=": actual >= expected, "<=": actual <= expected}[op]
        except TypeError:
            return False

    return compare
