"""The states of an export request and of a batch, and the only moves between them.

The values are the strings stored in MongoDB since the first version, so old documents read as they are.
A move the tables do not list is a programming mistake, not something a person did: `ExportStore.transition`
and `BatchStore.decide` raise `ForbiddenMove` before touching the database.

    pending -> pending (checked, routed again, organisation chosen) | approved | rejected
    approved -> exporting | failed (the job runner gave up before the attempt started)
    exporting -> exported | failed
    failed -> approved (Retry)

A batch is decided once: pending -> approved | rejected.
"""

from __future__ import annotations

from enum import StrEnum


class ExportState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EXPORTING = "exporting"
    EXPORTED = "exported"
    FAILED = "failed"
    REJECTED = "rejected"


PENDING = ExportState.PENDING
APPROVED = ExportState.APPROVED
EXPORTING = ExportState.EXPORTING
EXPORTED = ExportState.EXPORTED
FAILED = ExportState.FAILED
REJECTED = ExportState.REJECTED
OPEN_STATES = (PENDING, APPROVED, EXPORTING)
# "approved" and "exporting" are true only while an `export.run` or `export.batch` job (services/platform/jobs.py)
# is open for the invoice: its lease, not a timestamp here, says whether someone is working on it.
FINISHED_STATES = (EXPORTED, FAILED, REJECTED)

EXPORT_MOVES: dict[ExportState, frozenset[ExportState]] = {
    PENDING: frozenset({PENDING, APPROVED, REJECTED}),
    APPROVED: frozenset({EXPORTING, FAILED}),
    EXPORTING: frozenset({EXPORTED, FAILED}),
    FAILED: frozenset({APPROVED}),
    EXPORTED: frozenset(),
    REJECTED: frozenset(),
}


class BatchDecision(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


BATCH_MOVES: dict[BatchDecision, frozenset[BatchDecision]] = {
    BatchDecision.PENDING: frozenset({BatchDecision.APPROVED, BatchDecision.REJECTED}),
    BatchDecision.APPROVED: frozenset(),
    BatchDecision.REJECTED: frozenset(),
}


class BatchProgress(StrEnum):
    """Where a batch is, as its message shows it (derived from its decision and its invoices' states)."""

    PENDING = "pending"
    EXPORTING = "exporting"
    WAITING = "waiting"  # for Xero's day budget
    DONE = "done"
    REJECTED = "rejected"


class Outcome(StrEnum):
    """What became of one invoice's export (saved as the request's `outcome`; a batch's line shows it)."""

    CREATED = "created"
    FOUND_IN_XERO = "found_in_xero"  # a single export found the number in Xero and linked it
    LINKED_EXISTING = "linked_existing"  # a batch did the same
    ALREADY_LINKED = "already_linked"  # linked to Xero before: nothing sent
    FAILED = "failed"
    NOT_EXPORTABLE = "not_exportable"  # the pre-flight check stopped it
    WAITING = "waiting"  # shown only: a batch's line waiting for Xero's day budget
    LEFT_OUT = "left_out"  # shown only: "Approve ready only" did not take it (nobody rejected it)


IN_XERO = (Outcome.CREATED, Outcome.FOUND_IN_XERO, Outcome.LINKED_EXISTING, Outcome.ALREADY_LINKED)


class ForbiddenMove(RuntimeError):
    """A transition the state table does not allow: a bug in the caller."""

    def __init__(self, what: str, from_state: str, to_state: str):
        super().__init__(f"{what} cannot move from '{from_state}' to '{to_state}'")
        self.from_state = from_state
        self.to_state = to_state


def check_export_move(from_state: str, to_state: str) -> None:
    if ExportState(to_state) not in EXPORT_MOVES[ExportState(from_state)]:
        raise ForbiddenMove("an export request", from_state, to_state)


def check_batch_move(from_decision: str, to_decision: str) -> None:
    if BatchDecision(to_decision) not in BATCH_MOVES[BatchDecision(from_decision)]:
        raise ForbiddenMove("a batch", from_decision, to_decision)
