"""Approval rules: which exports need a named approver, or two different approvers, before they go to Xero.

A rule (services/shared/settings.py ApprovalRule) applies to an export when each condition it gives holds:
the invoice's total above an amount in that currency, its client, the organisation it goes to. Every rule
that applies must be met: at least as many different approvers as the strictest asks, and for each rule that
names approvers, one of them among those who approved. A click that would use up the last approval
without meeting a named rule is refused, so the export always waits for someone who can complete it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from services.exports.store import ExportRequest
from services.shared.settings import ApprovalRule

Verdict = Literal["approve", "record", "already_approved", "needs_named"]


@dataclass(frozen=True)
class Requirement:
    rules: tuple[ApprovalRule, ...]  # the rules that apply, in the settings' order

    @property
    def approvals_needed(self) -> int:
        return 2 if any(rule.two_approvers for rule in self.rules) else 1

    @property
    def named(self) -> frozenset[str]:
        """Everyone a rule names (they may approve even when not among the workspace's approvers)."""
        return frozenset(u for rule in self.rules for u in rule.approvers)

    def unmet(self, approved_by: Sequence[str]) -> list[ApprovalRule]:
        """The rules naming approvers none of whom has approved yet."""
        return [rule for rule in self.rules if rule.approvers and not set(rule.approvers) & set(approved_by)]

    def met(self, approved_by: Sequence[str]) -> bool:
        return len(set(approved_by)) >= self.approvals_needed and not self.unmet(approved_by)

    def decide(self, approved_by: Sequence[str], clicker: str) -> Verdict:
        """What the clicker's Approve does, given who approved so far."""
        if clicker in approved_by:
            return "already_approved"
        after = [*approved_by, clicker]
        if self.met(after):
            return "approve"
        if len(set(after)) >= self.approvals_needed:  # the last approval, and a named rule is still unmet
            return "needs_named"
        return "record"


def applies(rule: ApprovalRule, job: ExportRequest, tenant_id: str | None) -> bool:
    if rule.above is not None:
        if (job.invoice.currency or "").upper() != rule.currency:
            return False
        if Decimal(str(job.invoice.total)) <= rule.above:
            return False
    if rule.client_id is not None and rule.client_id != job.customer.id:
        return False
    if rule.client_id is None and rule.client_name and \
            rule.client_name.strip().casefold() != job.customer.name.strip().casefold():
        return False
    if rule.tenant_id is not None and rule.tenant_id != tenant_id:
        return False
    return True


def requirement(rules: Sequence[ApprovalRule], job: ExportRequest, tenant_id: str | None) -> Requirement:
    """The rules that apply to this export going to `tenant_id` (none: one approver, as before)."""
    return Requirement(tuple(rule for rule in rules if applies(rule, job, tenant_id)))
