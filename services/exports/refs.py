"""What `/xero export` was asked for: references, ranges, or every unexported invoice (of one client).

    /xero export INV-101 INV-102, INV-110
    /xero export INV-101..INV-130          (same prefix, numeric suffix; INV-099..INV-101 keeps the zeros)
    /xero export unexported [client name]

Never raises: whatever cannot be read comes back as a problem with a code and the text it was about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

MAX_BATCH = 500  # a month-end in one batch, typed or `unexported` (Xero's 50 a request is handled per organisation)
UNEXPORTED = "unexported"
RANGE_MARKS = ("..", "…")

ProblemCode = Literal["bad_range", "reversed_range", "range_too_long", "too_many"]

_SEPARATORS = re.compile(r"[\s,]+")
_NUMBERED = re.compile(r"^(.*?)(\d+)$")


@dataclass(frozen=True)
class RefProblem:
    code: ProblemCode
    text: str  # the token it is about; for too_many, the references left out (space-separated)
    count: int = 0  # for range_too_long and too_many: how many references that was


@dataclass(frozen=True)
class ExportRequestArgs:
    references: tuple[str, ...] = ()
    unexported: bool = False
    client_name: str | None = None  # only with `unexported`
    problems: tuple[RefProblem, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not self.references and not self.unexported and not self.problems


def parse_export_args(text: str) -> ExportRequestArgs:
    """`text` is what follows `/xero export`."""
    text = (text or "").strip()
    first, _, rest = text.partition(" ")
    if first.strip(",").casefold() == UNEXPORTED:
        client = " ".join(rest.replace(",", " ").split())
        return ExportRequestArgs(unexported=True, client_name=client or None)

    references: list[str] = []
    problems: list[RefProblem] = []
    for token in _tokens(text):
        if _is_range(token):
            expanded, problem = expand_range(token)
            references.extend(expanded)
            if problem:
                problems.append(problem)
        else:
            references.append(token)
    unique = _first_of_each(references)
    if len(unique) > MAX_BATCH:
        left_out = unique[MAX_BATCH:]
        problems.append(RefProblem("too_many", " ".join(left_out), count=len(left_out)))
        unique = unique[:MAX_BATCH]
    return ExportRequestArgs(references=tuple(unique), problems=tuple(problems))


def expand_range(token: str) -> tuple[list[str], RefProblem | None]:
    """`INV-101..INV-130` -> the 30 references, or a problem (and no references)."""
    start, end = _split_range(token)
    start_match, end_match = _NUMBERED.match(start), _NUMBERED.match(end)
    if not start_match or not end_match or start_match.group(1).casefold() != end_match.group(1).casefold():
        return [], RefProblem("bad_range", token)
    prefix, first_digits = start_match.groups()
    last_digits = end_match.group(2)
    first, last = int(first_digits), int(last_digits)
    if first > last:
        return [], RefProblem("reversed_range", token)
    count = last - first + 1
    if count > MAX_BATCH:
        return [], RefProblem("range_too_long", token, count=count)
    width = len(first_digits) if first_digits.startswith("0") or len(first_digits) == len(last_digits) else 0
    return [f"{prefix}{number:0{width}d}" for number in range(first, last + 1)], None


def _first_of_each(references: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for ref in references:
        seen.setdefault(ref.casefold(), ref)
    return list(seen.values())


def _tokens(text: str) -> list[str]:
    """Split on spaces and commas, and glue `A .. B` (spaces around the mark) back into one range."""
    raw = [t for t in _SEPARATORS.split(text) if t]
    tokens: list[str] = []
    for token in raw:
        if tokens and (token in RANGE_MARKS or _ends_with_mark(tokens[-1]) or _starts_with_mark(token)):
            tokens[-1] += token
        else:
            tokens.append(token)
    return tokens


def _is_range(token: str) -> bool:
    return any(mark in token for mark in RANGE_MARKS)


def _split_range(token: str) -> tuple[str, str]:
    for mark in RANGE_MARKS:
        if mark in token:
            start, _, end = token.partition(mark)
            return start, end.lstrip(".…")
    return token, token


def _ends_with_mark(token: str) -> bool:
    return token.endswith(RANGE_MARKS)


def _starts_with_mark(token: str) -> bool:
    return token.startswith(RANGE_MARKS)
