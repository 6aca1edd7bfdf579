"""The `import.customers` and `import.purchase_orders` jobs: a submitted import modal, run and reported.

The modal's submission only enqueues (handlers/imports.py); a worker in any process runs the import and
tells the admin how it went. If the process dies mid-import, the job runs again once its lease expires:
it takes over its own claims (services.shared.links.claim_holder) and finds what it did before (a Forecast client
of the same name is linked, not created again).
"""

from __future__ import annotations

from bot.blocks import imports as blocks
from bot.slack_gateway import SlackGateway
from services.exports.service import ExportService
from services.forecast import ForecastError
from services.imports.common import ImportProblem
from services.imports.customers import CustomerImportService, Decision
from services.imports.customers import Selection as CustomerSelection
from services.imports.purchase_orders import PurchaseOrderImportService
from services.imports.purchase_orders import Selection as OrderSelection
from services.platform.jobs import Job, JobRunner
from services.shared.links import claim_holder

IMPORT_CUSTOMERS = "import.customers"
IMPORT_PURCHASE_ORDERS = "import.purchase_orders"


class ImportJobs:
    def __init__(self, customers: CustomerImportService, orders: PurchaseOrderImportService, exports: ExportService,
                 gateway: SlackGateway):
        self.customers = customers
        self.orders = orders
        self.exports = exports
        self.gateway = gateway

    def register(self, runner: JobRunner) -> None:
        runner.register(IMPORT_CUSTOMERS, self.import_customers, on_give_up=self.gave_up)
        runner.register(IMPORT_PURCHASE_ORDERS, self.import_orders, on_give_up=self.gave_up)

    async def import_customers(self, job: Job) -> None:
        team_id, user_id = job.payload["team_id"], job.payload["user_id"]
        selections = [CustomerSelection(tenant_id, contact_id) for tenant_id, contact_id in job.payload["selections"]]

        decision: Decision = job.payload.get("decision") or "ask"  # "link" / "create": a similar-name choice
        link_to = job.payload.get("link_to")

        async def run() -> dict:
            summary = await self.customers.import_contacts(team_id, user_id, selections, decision=decision,
                                                           link_to=link_to)
            await self.exports.redraw_pending(team_id)  # a newly linked client decides its requests' route
            return blocks.customer_summary(summary)

        await self._report(job, run)

    async def import_orders(self, job: Job) -> None:
        team_id, user_id = job.payload["team_id"], job.payload["user_id"]
        selections = [OrderSelection(tenant_id, order_id) for tenant_id, order_id in job.payload["selections"]]

        async def run() -> dict:
            summary = await self.orders.import_orders(team_id, user_id, int(job.payload["project_id"]), selections)
            return blocks.po_summary(summary)

        await self._report(job, run)

    async def _report(self, job: Job, run) -> None:
        claim_holder.set(job.id)
        try:
            payload = await run()
        except ImportProblem as problem:
            payload = blocks.problem_message(problem)
        except ForecastError as exc:
            payload = blocks.forecast_unreadable(exc)
        await self._tell(job, payload)

    async def gave_up(self, job: Job, error: str) -> None:
        await self._tell(job, blocks.import_gave_up())

    async def _tell(self, job: Job, payload: dict) -> None:
        slack = self.gateway.for_team(job.payload["team_id"])
        await slack.notify_user(job.payload["user_id"], job.payload.get("channel_id"), payload)
