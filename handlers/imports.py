"""/xero import customers and /xero import purchase-orders: the modals, the search box and the imports."""

from __future__ import annotations

import json
import logging

from slack_bolt.async_app import AsyncApp

from bot.blocks import imports as blocks
from bot.blocks.common import error_message
from bot.blocks.connections import not_admin
from bot.container import Container
from bot.import_jobs import IMPORT_CUSTOMERS, IMPORT_PURCHASE_ORDERS
from handlers.connections import notify_user
from handlers.router import CommandContext, CommandRouter
from services.imports import ImportProblem

log = logging.getLogger(__name__)

NO_CUSTOMERS_PICKED = "Pick at least one customer to import."
NO_ORDERS_PICKED = "Pick at least one purchase order to import."
NO_PROJECT_PICKED = "Pick the Forecast project to import into."


async def open_loading(ctx: CommandContext, view: dict) -> str:
    """Open the modal while the trigger is still valid (3 s); the data follow with views.update."""
    opened = await ctx.container.slack.views_open(trigger_id=ctx.trigger_id, view=view)
    return opened["view"]["id"]


async def update_view(container: Container, view_id: str, view: dict, view_hash: str | None = None) -> None:
    """Closed by the user meanwhile, or changed since (hash_conflict): the gateway logs it and goes on."""
    await container.gateway.update_modal(view_id, view, hash=view_hash)


def _metadata(ctx: CommandContext) -> str:
    return json.dumps({"channel_id": ctx.channel_id})


async def import_customers(ctx: CommandContext) -> None:
    service = ctx.container.customer_import
    try:
        await service.check_ready(ctx.team_id)
    except ImportProblem as problem:
        await ctx.reply(error_message(problem.message, problem.hint))
        return
    view_id = await open_loading(ctx, blocks.loading_view(blocks.CUSTOMERS_TITLE, blocks.CUSTOMERS_CALLBACK,
                                                          "customers"))
    try:
        view = blocks.customers_modal(await service.prepare(ctx.team_id), metadata=_metadata(ctx))
    except ImportProblem as problem:
        view = blocks.problem_view(blocks.CUSTOMERS_TITLE, blocks.CUSTOMERS_CALLBACK, problem.message, problem.hint)
    await update_view(ctx.container, view_id, view)


async def import_purchase_orders(ctx: CommandContext) -> None:
    service = ctx.container.po_import
    try:
        await service.check_ready(ctx.team_id)
    except ImportProblem as problem:
        await ctx.reply(error_message(problem.message, problem.hint))
        return
    view_id = await open_loading(ctx, blocks.loading_view(blocks.PO_TITLE, blocks.PO_CALLBACK, "purchase orders"))
    try:
        listing, projects = await service.prepare(ctx.team_id)
        view = blocks.po_modal(listing, projects, metadata=_metadata(ctx))
    except ImportProblem as problem:
        view = blocks.problem_view(blocks.PO_TITLE, blocks.PO_CALLBACK, problem.message, problem.hint)
    await update_view(ctx.container, view_id, view)


def register(app: AsyncApp, container: Container, router: CommandRouter) -> None:
    router.add("import customers", import_customers, usage="/xero import customers", admin_only=True,
               example="/xero import customers",
               summary="Import customers of every connected organisation as Forecast clients (no duplicates).")
    router.add("import purchase-orders", import_purchase_orders, usage="/xero import purchase-orders",
               admin_only=True, example="/xero import purchase-orders",
               summary="Import Xero purchase orders as expense items of a Forecast project.")

    @app.options(blocks.CUSTOMERS_ACTION)
    async def search_customers(ack, body):
        choices = await container.customer_import.search(body["team"]["id"], body.get("value") or "")
        await ack(**blocks.customer_options(choices))

    @app.view(blocks.CUSTOMERS_CALLBACK)
    async def submit_customers(ack, body, view):
        chosen = blocks.picked(view["state"]["values"], blocks.CUSTOMERS_BLOCK, blocks.CUSTOMERS_ACTION)
        if not chosen:
            await ack(response_action="errors", errors={blocks.CUSTOMERS_BLOCK: NO_CUSTOMERS_PICKED})
            return
        await ack()
        await import_and_report(container, body, view, "/xero import customers", IMPORT_CUSTOMERS,
                                {"selections": [list(pair) for pair in chosen]})

    @app.action(blocks.PO_STATUS_ACTION)
    async def filter_purchase_orders(ack, body, action):
        await ack()
        view = body["view"]
        statuses = [o["value"] for o in action.get("selected_options") or []]
        team_id = body["team"]["id"]
        try:
            listing = await container.po_import.listing(team_id, statuses)
            projects = await container.po_import.projects(team_id)
            new_view = blocks.po_modal(listing, projects, metadata=view.get("private_metadata") or "",
                                       selected_project=blocks.picked_project(view["state"]["values"]))
        except ImportProblem as problem:
            new_view = blocks.problem_view(blocks.PO_TITLE, blocks.PO_CALLBACK, problem.message, problem.hint)
        await update_view(container, view["id"], new_view, view.get("hash"))

    @app.view(blocks.PO_CALLBACK)
    async def submit_purchase_orders(ack, body, view):
        values = view["state"]["values"]
        chosen = blocks.picked(values, blocks.PO_PICK_BLOCK, blocks.PO_PICK_ACTION)
        project_id = blocks.picked_project(values)
        errors = {}
        if not chosen:
            where = blocks.PO_PICK_BLOCK if _has_block(view, blocks.PO_PICK_BLOCK) else blocks.PO_STATUS_BLOCK
            errors[where] = NO_ORDERS_PICKED
        if project_id is None and _has_block(view, blocks.PO_PROJECT_BLOCK):
            errors[blocks.PO_PROJECT_BLOCK] = NO_PROJECT_PICKED
        if errors or project_id is None:
            await ack(response_action="errors", errors=errors or {blocks.PO_STATUS_BLOCK: NO_PROJECT_PICKED})
            return
        await ack()
        await import_and_report(container, body, view, "/xero import purchase-orders", IMPORT_PURCHASE_ORDERS,
                                {"project_id": int(project_id), "selections": [list(pair) for pair in chosen]})


async def import_and_report(container: Container, body: dict, view: dict, usage: str, kind: str,
                            payload: dict) -> None:
    """After a submitted import modal: admins only; the import runs as a job (bot/import_jobs.py), which
    tells the admin how it went, even if this process dies on the way."""
    user_id, team_id = body["user"]["id"], body["team"]["id"]
    channel_id = json.loads(view.get("private_metadata") or "{}").get("channel_id")
    if not await container.permissions.is_admin(user_id):
        await notify_user(container, user_id, channel_id, not_admin(usage))
        return
    await container.jobs.enqueue(kind, {"team_id": team_id, "user_id": user_id, "channel_id": channel_id,
                                        **payload})


def _has_block(view: dict, block_id: str) -> bool:
    return any(block.get("block_id") == block_id for block in view.get("blocks") or [])
