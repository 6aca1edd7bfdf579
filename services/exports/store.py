"""Export requests in MongoDB: their atomic transitions and the history of every step.

The states and the moves allowed between them are in services/exports/states.py. A transition is one
`find_one_and_update` that names the state it expects and the job's `version`, and writes version + 1: of two
approvers clicking together exactly one wins, the other reads who did. History goes to `job_events` (one
document per transition or attempt), never into the job.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel
from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.exports.states import (
    APPROVED,
    EXPORTED,
    EXPORTING,
    FAILED,
    OPEN_STATES,
    PENDING,
    REJECTED,
    ExportState,
    Outcome,
    check_export_move,
)
from services.forecast import ForecastCustomer, ForecastInvoice
from services.platform.storage import Storage
from services.shared.audit import AuditAction, AuditTrail
from services.shared.settings import ApprovalRule
from services.xero.tokens import utcnow

AUTO_REQUESTER = "forecast"  # requested_by of a request the bot made when Forecast approved or sent the invoice

_TIMESTAMPS = ("requested_at", "approved_at", "rejected_at", "finished_at", "updated_at", "posting")


def open_key(team_id: str, forecast_invoice_id: int) -> str:
    """At most one open (pending, approved or exporting) request per invoice: a unique index on it."""
    return f"{team_id}:{forecast_invoice_id}"


class PostedMessage(BaseModel):
    """A Slack message about the job (a failure notice, a DM to the requester), kept up to date."""

    channel: str
    ts: str
    about: str  # what it was posted for: "failed:2", "exported", "rejected"


class InXero(BaseModel):
    """The exported invoice as sync last read it in Xero (services/sync/invoices.py labels)."""

    label: str  # draft | submitted | authorised | part_paid | paid | voided | deleted | unknown
    currency: str | None = None
    total: Decimal | None = None
    amount_paid: Decimal | None = None
    amount_due: Decimal | None = None
    paid_on: date | None = None
    amount_credited: Decimal | None = None  # credit notes, overpayments, prepayments applied


class Approval(BaseModel):
    """One approver's Approve on a request that needs more than one (services/exports/rules.py)."""

    user: str
    at: datetime


class TenantChoice(BaseModel):
    tenant_id: str
    name: str


class ExportRequest(BaseModel):
    job_id: str
    team_id: str
    state: ExportState = PENDING
    version: int = 1
    reference: str
    forecast_invoice_id: int
    invoice: ForecastInvoice  # what the approver saw and approved is what gets exported
    customer: ForecastCustomer
    project_name: str | None = None  # the invoice's Forecast project, read when a tracking option follows it
    requested_by: str
    requested_in: str | None = None
    requested_at: datetime
    tenant_id: str | None = None
    tenant_name: str | None = None
    tenant_choices: list[TenantChoice] = []
    approval_channel: str | None = None
    approval_ts: str | None = None
    notify_channel: str | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None
    approvals: list[Approval] = []  # who approved so far, when a rule asks for two (the last one is approved_by)
    rules: list[ApprovalRule] = []  # the approval rules that apply, as last decided (shown on the message)
    rejected_by: str | None = None
    rejected_at: datetime | None = None
    reject_reason: str | None = None
    exporting_by: str | None = None
    generation: int = 0
    attempts: int = 0
    xero_invoice_id: str | None = None
    xero_invoice_number: str | None = None
    xero_status: str | None = None
    xero_url: str | None = None
    outcome: Outcome | None = None  # what became of it (services/exports/states.py)
    error_code: str | None = None  # why it failed: bot/blocks/exports.py words it with `error_data`
    error_data: dict[str, Any] = {}
    error_details: list[str] = []  # Xero's own messages
    error: str | None = None  # the failure's words, as stored by versions before `error_code`
    error_hint: str | None = None  # ... and what to do, likewise
    failed_by: str | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = None
    withdrawn: str | None = None  # Slack's reason the approval message could not be posted
    failures: int = 0  # how many times it reached "failed": each failure gets its own notice
    notices: list[PostedMessage] = []  # failure notices in the notify channel (or an approver's DM)
    requester_dms: list[PostedMessage] = []
    approval_copies: list[PostedMessage] = []  # a second approval message (see bot/outbox/exports.py)
    posting: dict[str, datetime] = {}  # message ("notice:failed:1", "dm:exported") -> its last post attempt
    in_xero: InXero | None = None  # set by sync; the approval message shows it instead of `xero_status`
    batch_id: str | None = None  # one of several invoices approved together (services/exports/batches.py)
    allow_duplicate: bool = False  # an admin chose to export it although a removed organisation has it
    left_out: bool = False  # not approved with the rest of its batch ("Approve ready only"): nobody rejected it
    xero_total: str | None = None  # Xero's Total after a batch export
    total_differs: bool = False  # ... and it differs from Forecast's
    check: str | None = None  # the pre-flight result (a preflight code, or "not_checked"); None: unchecked
    check_data: dict[str, Any] = {}  # ... its particulars (the problem's data)
    check_tenant_id: str | None = None  # the organisation it was checked for (picked on the message, if routed none)
    check_tenant_name: str | None = None

    @classmethod
    def from_doc(cls, doc: dict) -> ExportRequest:
        return cls.model_validate({k: v for k, v in doc.items() if k != "_id"})

    def to_doc(self) -> dict:
        return {"_id": self.job_id, **self.stored()}

    def stored(self, include: set[str] | None = None) -> dict[str, Any]:
        """Its fields as saved: JSON values, except its dates, which stay dates (MongoDB stores them so)."""
        dumped = self.model_dump(mode="json", include=include)
        return {**dumped, **{name: getattr(self, name) for name in _TIMESTAMPS if name in dumped}}


class JobEvent(BaseModel):
    job_id: str
    kind: Literal["transition", "attempt_started", "attempt"]
    at: datetime
    by: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    note: str | None = None
    generation: int | None = None
    created_nothing: bool | None = None


class ExportStore:
    def __init__(self, storage: Storage, *, clock=utcnow):
        self.requests = storage.export_jobs
        self.events = storage.job_events
        self.audit = AuditTrail(storage, clock=clock)
        self.clock = clock

    async def create(self, job: ExportRequest, *, by: str) -> ExportRequest | None:
        """None when the invoice has an open request already (whichever process made it)."""
        try:
            await self.requests.insert_one({**job.to_doc(), "open_key": open_key(job.team_id, job.forecast_invoice_id),
                                        "needs_redraw": 1})
        except DuplicateKeyError:
            return None
        await self._event(job, "transition", by=by, from_state=None, to_state=job.state, note="requested")
        if by != AUTO_REQUESTER:  # services/exports/auto_requests.py records why it asked, and who in Forecast
            await self._audit(job, "requested", by, {"batch": job.batch_id})
        return job

    async def ensure_indexes(self) -> None:
        await self.requests.create_index("open_key", unique=True, sparse=True)
        await self.requests.create_index("needs_redraw")
        # Versions before 0.2 called the flag needs_sync.
        await self.requests.update_many({"needs_sync": 1}, {"$set": {"needs_redraw": 1}})
        await self.requests.update_many({"needs_sync": {"$exists": True}}, {"$unset": {"needs_sync": ""}})
        await self.requests.create_index("state")
        await self.requests.create_index("batch_id")  # the invoices of one batch
        # Requests made before open_key existed get it now (a duplicate of an earlier one keeps none).
        async for doc in self.requests.find({"state": {"$in": list(OPEN_STATES)}}):
            if not doc.get("open_key"):
                try:
                    await self.requests.update_one({"_id": doc["_id"]}, {"$set": {
                        "open_key": open_key(doc["team_id"], doc["forecast_invoice_id"])}})
                except DuplicateKeyError:
                    pass

    async def needing_sync(self, limit: int = 100) -> list[ExportRequest]:
        return [ExportRequest.from_doc(doc) async for doc in self.requests.find({"needs_redraw": 1}).limit(limit)]

    async def in_states(self, states: tuple[str, ...], *, team_id: str | None = None,
                        limit: int = 100) -> list[ExportRequest]:
        query: dict[str, Any] = {"state": {"$in": list(states)}}
        if team_id is not None:
            query["team_id"] = team_id
        cursor = self.requests.find(query).limit(limit)
        return [ExportRequest.from_doc(doc) async for doc in cursor]

    async def count_waiting_in(self, team_id: str, tenant_id: str) -> int:
        """Requests waiting for approval that would go to this organisation (routed or picked there)."""
        return await self.requests.count_documents({"team_id": team_id, "state": PENDING, "$or": [
            {"tenant_id": tenant_id}, {"tenant_id": None, "check_tenant_id": tenant_id}]})

    async def redrawn(self, job: ExportRequest) -> None:
        """Slack shows this version of the job (a later change leaves needs_redraw set)."""
        await self.requests.update_one({"_id": job.job_id, "version": job.version}, {"$set": {"needs_redraw": 0}})

    async def set_in_xero(self, job: ExportRequest, in_xero: InXero) -> ExportRequest:
        """What sync read in Xero (not a state change: no version bump); Slack is redrawn from it."""
        await self.requests.update_one({"_id": job.job_id}, {"$set": {"in_xero": in_xero.model_dump(mode="json"),
                                                                 "needs_redraw": 1}})
        return job.model_copy(update={"in_xero": in_xero})

    async def save_check(self, job: ExportRequest, check: dict[str, Any]) -> ExportRequest:
        """The pre-flight result made at request, before its approval message is posted (no version bump)."""
        await self.requests.update_one({"_id": job.job_id}, {"$set": check})
        return job.model_copy(update=check)

    async def save_messages(self, job: ExportRequest, **messages: Any) -> None:
        """Where its messages are (not a state change: no version bump). Only the outbox job writes these."""
        values = {name: [m.model_dump() for m in value] if isinstance(value, list) else value
                  for name, value in messages.items()}
        await self.requests.update_one({"_id": job.job_id}, {"$set": values})

    async def get(self, team_id: str, job_id: str) -> ExportRequest | None:
        doc = await self.requests.find_one({"_id": job_id, "team_id": team_id})
        return ExportRequest.from_doc(doc) if doc else None

    async def current(self, job: ExportRequest) -> ExportRequest:
        """The job as saved now (after someone else moved it); as read, should it be gone."""
        return await self.get(job.team_id, job.job_id) or job

    async def recent(self, team_id: str, *, states: tuple[str, ...] | None = None,
                     requested_by: str | None = None, limit: int = 8) -> list[ExportRequest]:
        """Newest requests first (the App Home lists them)."""
        query: dict[str, Any] = {"team_id": team_id}
        if states is not None:
            query["state"] = {"$in": list(states)}
        if requested_by is not None:
            query["requested_by"] = requested_by
        cursor = self.requests.find(query).sort("requested_at", DESCENDING).limit(limit)
        return [ExportRequest.from_doc(doc) async for doc in cursor]

    async def of_batch(self, team_id: str, batch_id: str) -> list[ExportRequest]:
        found = self.requests.find({"team_id": team_id, "batch_id": batch_id})
        return [ExportRequest.from_doc(doc) async for doc in found]

    async def open_job_for(self, team_id: str, forecast_invoice_id: int) -> ExportRequest | None:
        doc = await self.requests.find_one({"team_id": team_id, "forecast_invoice_id": forecast_invoice_id,
                                        "state": {"$in": list(OPEN_STATES)}})
        return ExportRequest.from_doc(doc) if doc else None

    async def exported_job_for(self, team_id: str, forecast_invoice_id: int) -> ExportRequest | None:
        """The job that exported this invoice (sync replies in its approval message's thread)."""
        doc = await self.requests.find_one({"team_id": team_id, "forecast_invoice_id": forecast_invoice_id,
                                        "state": EXPORTED}, sort=[("updated_at", DESCENDING)])
        return ExportRequest.from_doc(doc) if doc else None

    async def mark_posting(self, job: ExportRequest, key: str) -> None:
        """Saved before the approval message, a failure notice or a DM is posted (`key` names it): a run after
        a crash then looks for that post first. Only the job's outbox writes it, one run at a time."""
        job.posting = {**job.posting, key: self.clock()}
        await self.requests.update_one({"_id": job.job_id}, {"$set": {"posting": job.posting}})

    async def set_message(self, job: ExportRequest, channel: str, ts: str) -> ExportRequest:
        """Where the approval message lives (not a state change: no version bump)."""
        await self.requests.update_one({"_id": job.job_id}, {"$set": {"approval_channel": channel, "approval_ts": ts}})
        return job.model_copy(update={"approval_channel": channel, "approval_ts": ts})

    async def transition(self, job: ExportRequest, to_state: ExportState, *, by: str | None, note: str | None = None,
                         **values: Any) -> ExportRequest | None:
        """Move `job` from the state and version we read to `to_state`; None if someone else moved it first.
        Raises ForbiddenMove (services/exports/states.py) for a move the state table does not allow."""
        to_state = ExportState(to_state)
        check_export_move(job.state, to_state)
        now = self.clock()
        changes = job.model_copy(update={**values, "state": to_state, "version": job.version + 1,
                                         "updated_at": now})
        dumped = changes.stored(include={*values, "state", "version", "updated_at"})
        query = {"_id": job.job_id, "state": job.state, "version": job.version}
        update: dict[str, Any] = {"$set": {**dumped, "needs_redraw": 1}}
        if to_state in OPEN_STATES:
            update["$set"]["open_key"] = open_key(job.team_id, job.forecast_invoice_id)
        else:
            update["$unset"] = {"open_key": ""}
        try:
            doc = await self.requests.find_one_and_update(query, update, return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:  # reopening, while another request of the invoice is open
            return None
        if doc is None:
            return None
        moved = ExportRequest.from_doc(doc)
        await self._event(moved, "transition", by=by, from_state=job.state, to_state=to_state, note=note)
        await self._audit_transition(job, moved, by, note)
        return moved

    async def _audit_transition(self, before: ExportRequest, moved: ExportRequest, by: str | None,
                                note: str | None) -> None:
        """What a person reads in `/xero audit`: decisions and outcomes, not the machinery in between."""
        if moved.state == APPROVED:
            retried = before.state == FAILED or note == "retry"
            await self._audit(moved, "retried" if retried else "approved", by, {})
        elif moved.state == REJECTED and by is None:
            await self._audit(moved, "withdrawn", None, {"reason": moved.withdrawn or note})
        elif moved.state == REJECTED:
            await self._audit(moved, "rejected", by, {"reason": note})
        elif moved.state == EXPORTED:
            await self._audit(moved, "exported", by, {"xero_number": moved.xero_invoice_number,
                                                      "xero_status": moved.xero_status, "outcome": moved.outcome})
        elif moved.state == FAILED:
            await self._audit(moved, "failed", by, {"error": moved.error_code or note})

    async def _audit(self, job: ExportRequest, action: AuditAction, by: str | None, details: dict[str, Any]) -> None:
        await self.audit.record(job.team_id, action, by=by, reference=job.reference,
                                forecast_invoice_id=job.forecast_invoice_id, tenant_id=job.tenant_id,
                                tenant_name=job.tenant_name, details=details)

    # An attempt at Xero, from the export job: begin, then finish as exported or failed ----------------------
    async def begin_attempt(self, job: ExportRequest) -> tuple[ExportRequest, int, bool]:
        """approved -> exporting (one more attempt), else the request as it is. Returns the request as saved
        and, when it is exporting, the attempt's generation and whether that generation is fresh."""
        if job.state == APPROVED:
            by = job.exporting_by or job.approved_by
            moved = await self.transition(job, EXPORTING, by=by, attempts=job.attempts + 1, exporting_by=by)
            job = moved or await self.current(job)
        if job.state != EXPORTING:  # already finished (a crash after the state was saved)
            return job, 0, False
        generation, fresh = await self.start_attempt(job)
        return job, generation, fresh

    async def finish(self, job: ExportRequest, to_state: ExportState, *, generation: int,
                     created_nothing: bool | None, note: str, by: str | None, **values: Any) -> ExportRequest:
        """The attempt's end: recorded (unless `created_nothing` is None: none was made), and the request moved
        to exported or failed. Returns the request as saved, whoever moved it last."""
        if created_nothing is not None:
            await self.finish_attempt(job, generation=generation, created_nothing=created_nothing, note=note)
        moved = await self.transition(job, to_state, by=by, note=note, generation=generation or job.generation,
                                      finished_at=self.clock(), **values)
        return moved or await self.current(job)

    async def start_attempt(self, job: ExportRequest) -> tuple[int, bool]:
        """Record that an attempt begins; returns its generation and whether that generation is fresh."""
        generation, fresh = await self.next_generation(job.team_id, job.tenant_id, job.forecast_invoice_id)
        await self._event(job, "attempt_started", by=job.exporting_by, generation=generation)
        return generation, fresh

    async def finish_attempt(self, job: ExportRequest, *, generation: int, created_nothing: bool, note: str) -> None:
        await self._event(job, "attempt", by=job.exporting_by, generation=generation,
                          created_nothing=created_nothing, note=note)

    async def next_generation(self, team_id: str, tenant_id: str | None,
                              forecast_invoice_id: int) -> tuple[int, bool]:
        """The export attempt generation that goes into the Idempotency-Key, and whether it is fresh
        (no attempt of it has started yet).

        Derived from the last finished attempt for this invoice in this organisation, over every job:
        - no attempt finished yet: generation 1;
        - the last attempt certainly created nothing (Xero answered its create with a definite refusal
          such as a validation error, or it failed before sending the create in a fresh generation):
          generation + 1, so the corrected request is not answered with Xero's remembered refusal;
        - otherwise (the create may have reached Xero: timeout, 5xx, 429s to the end, an unexpected
          error after sending, or it succeeded): the same generation, so Xero replays what it did
          instead of creating a second invoice.
        A crashed attempt leaves only its `attempt_started` event: its generation is kept and is no
        longer fresh, so even a later attempt that fails early cannot move past it.
        The InvoiceNumber look-up before every create is the second guard; the key covers concurrent
        attempts and the moment when Xero's search does not show a just-created invoice yet.
        """
        key = {"team_id": team_id, "tenant_id": tenant_id, "forecast_invoice_id": forecast_invoice_id}
        last = await self.events.find_one({**key, "kind": "attempt"}, sort=[("at", DESCENDING), ("seq", DESCENDING)])
        generation = 1
        if last is not None:
            generation = int(last["generation"]) + (1 if last.get("created_nothing") in (True, 1) else 0)
        started = await self.events.find_one({**key, "kind": "attempt_started", "generation": generation})
        return generation, started is None

    async def history(self, job_id: str) -> list[JobEvent]:
        cursor = self.events.find({"job_id": job_id}).sort([("at", 1), ("seq", 1)])
        return [JobEvent.model_validate(doc) async for doc in cursor]

    async def _event(self, job: ExportRequest, kind: str, **values: Any) -> None:
        await self.events.insert_one({
            "job_id": job.job_id, "team_id": job.team_id, "tenant_id": job.tenant_id,
            "forecast_invoice_id": job.forecast_invoice_id, "kind": kind, "at": self.clock(),
            "seq": uuid.uuid1().time,  # orders events written within the same clock tick
            **values,
        })
