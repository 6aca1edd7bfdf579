"""/xero import customers and /xero import purchase-orders: the modals, the search box and the imports."""

from __future__ import annotations

import json
import logging
import re

from slack_bolt.async_app import AsyncApp

from bot.blocks import imports as blocks
from bot.blocks import requests as request_blocks
from bot.blocks.connections import not_admin
from bot.container import Container
from bot.outbox.imports import IMPORT_CUSTOMERS, IMPORT_PURCHASE_ORDERS
from bot.requests import BlockAction, BlockSuggestion, State, UnreadablePayload, ViewSubmission
from handlers.connections import answer_click, notify_user
from handlers.router import CommandContext, CommandRouter
from services.imports.common import ImportProblem
from services.imports.customers import Decision

log = logging.getLogger(__name__)


async def open_loading(ctx: CommandContext, view: dict) -> str | None:
    """Open the modal while the trigger is still valid (3 s); the data follow with views.update."""
    await ctx.later()  # Slack's ack first: the modal and its lists come from Slack and Xero
    opened = await ctx.container.gateway.for_team(ctx.team_id).open_modal(ctx.trigger_id, view)
    if opened is None:  # the gateway logged why
        await ctx.reply(request_blocks.unexpected_failure())
        return None
    return opened["id"]


async def update_view(container: Container, team_id: str, view_id: str, view: dict,
                      view_hash: str | None = None) -> None:
    """Closed by the user meanwhile, or changed since (hash_conflict): the gateway logs it and goes on."""
    await container.gateway.for_team(team_id).update_modal(view_id, view, hash=view_hash)


def _metadata(ctx: CommandContext) -> str:
    return json.dumps({"channel_id": ctx.channel_id})


async def import_customers(ctx: CommandContext) -> None:
    service = ctx.container.customer_import
    try:
        await service.check_ready(ctx.team_id)
    except ImportProblem as problem:
        await ctx.reply(blocks.problem_message(problem))
        return
    view_id = await open_loading(ctx, blocks.loading_view(blocks.CUSTOMERS_TITLE, blocks.CUSTOMERS_CALLBACK,
                                                          "customers"))
    if view_id is None:
        return
    try:
        view = blocks.customers_modal(await service.prepare(ctx.team_id), metadata=_metadata(ctx))
    except ImportProblem as problem:
        view = blocks.problem_view(blocks.CUSTOMERS_TITLE, blocks.CUSTOMERS_CALLBACK, problem)
    await update_view(ctx.container, ctx.team_id, view_id, view)


async def import_purchase_orders(ctx: CommandContext) -> None:
    service = ctx.container.po_import
    try:
        await service.check_ready(ctx.team_id)
    except ImportProblem as problem:
        await ctx.reply(blocks.problem_message(problem))
        return
    view_id = await open_loading(ctx, blocks.loading_view(blocks.PO_TITLE, blocks.PO_CALLBACK, "purchase orders"))
    if view_id is None:
        return
    try:
        listing, projects = await service.prepare(ctx.team_id)
        view = blocks.po_modal(listing, projects, metadata=_metadata(ctx))
    except ImportProblem as problem:
        view = blocks.problem_view(blocks.PO_TITLE, blocks.PO_CALLBACK, problem)
    await update_view(ctx.container, ctx.team_id, view_id, view)


def register(app: AsyncApp, container: Container, router: CommandRouter) -> None:
    router.add("import customers", import_customers, usage="/xero import customers", admin_only=True,
               example="/xero import customers",
               summary="Import customers of every connected organisation as Forecast clients (no duplicates).")
    router.add("import purchase-orders", import_purchase_orders, usage="/xero import purchase-orders",
               admin_only=True, example="/xero import purchase-orders",
               summary="Import Xero purchase orders as expense items of a Forecast project.")

    @app.options(blocks.CUSTOMERS_ACTION)
    async def search_customers(ack, context):
        suggestion = BlockSuggestion.of(context)
        if not await container.permissions.is_admin(suggestion.team_id, suggestion.user_id):
            await ack(options=[])  # the import itself is for admins: so is what it offers
            return
        choices = await container.customer_import.search(suggestion.team_id, suggestion.value)
        await ack(**blocks.customer_options(choices))

    @app.view(blocks.CUSTOMERS_CALLBACK)
    async def submit_customers(ack, context):
        submission = ViewSubmission.of(context)
        chosen = picked(submission.view.state, blocks.CUSTOMERS_BLOCK, blocks.CUSTOMERS_ACTION)
        if not chosen:
            await ack(response_action="errors", errors={blocks.CUSTOMERS_BLOCK: blocks.NO_CUSTOMERS_PICKED})
            return
        await ack()
        await import_and_report(container, submission, "/xero import customers", IMPORT_CUSTOMERS,
                                {"selections": [list(pair) for pair in chosen]})

    async def similar_decision(ack, context, respond, decision: Decision) -> None:
        await ack()
        click = BlockAction.of(context)
        if not await container.permissions.is_admin(click.team_id, click.user_id):
            await answer_click(container, click, respond,
                               not_admin("/xero import customers", await container.permissions.admins(click.team_id)))
            return
        choice = blocks.similar_choice_value(click.action.value or "")
        if choice is None:
            raise UnreadablePayload("not a similar-name choice")
        tenant_id, contact_id, client_id = choice
        await container.jobs.enqueue(IMPORT_CUSTOMERS, {
            "team_id": click.team_id, "user_id": click.user_id, "channel_id": click.channel_id,
            "selections": [[tenant_id, contact_id]], "decision": decision, "link_to": client_id})

    @app.action(blocks.SIMILAR_LINK_ACTION)
    async def link_similar(ack, context, respond):
        await similar_decision(ack, context, respond, "link")

    @app.action(blocks.SIMILAR_CREATE_ACTION)
    async def create_despite_similar(ack, context, respond):
        await similar_decision(ack, context, respond, "create")

    @app.action(blocks.PO_STATUS_ACTION)
    async def filter_purchase_orders(ack, context):
        await ack()
        click = BlockAction.of(context)
        view = click.open_view()
        if not await container.permissions.is_admin(click.team_id, click.user_id):
            await notify_user(container, click.team_id, click.user_id, view.metadata.channel_id,
                              not_admin("/xero import purchase-orders",
                                        await container.permissions.admins(click.team_id)))
            return
        statuses = [o.value for o in click.action.selected_options]
        try:
            listing = await container.po_import.listing(click.team_id, statuses)
            projects = await container.po_import.projects(click.team_id)
            new_view = blocks.po_modal(listing, projects, metadata=view.private_metadata,
                                       selected_project=picked_project(view.state))
        except ImportProblem as problem:
            new_view = blocks.problem_view(blocks.PO_TITLE, blocks.PO_CALLBACK, problem)
        await update_view(container, click.team_id, view.id or "", new_view, view.hash)

    @app.view(blocks.PO_CALLBACK)
    async def submit_purchase_orders(ack, context):
        submission = ViewSubmission.of(context)
        view = submission.view
        chosen = picked(view.state, blocks.PO_PICK_BLOCK, blocks.PO_PICK_ACTION)
        project_id = picked_project(view.state)
        errors = {}
        if not chosen:
            where = blocks.PO_PICK_BLOCK if view.has_block(blocks.PO_PICK_BLOCK) else blocks.PO_STATUS_BLOCK
            errors[where] = blocks.NO_ORDERS_PICKED
        if project_id is None and view.has_block(blocks.PO_PROJECT_BLOCK):
            errors[blocks.PO_PROJECT_BLOCK] = blocks.NO_PROJECT_PICKED
        if errors or project_id is None:
            await ack(response_action="errors", errors=errors or {blocks.PO_STATUS_BLOCK: blocks.NO_PROJECT_PICKED})
            return
        await ack()
        await import_and_report(container, submission, "/xero import purchase-orders", IMPORT_PURCHASE_ORDERS,
                                {"project_id": int(project_id), "selections": [list(pair) for pair in chosen]})


async def import_and_report(container: Container, submission: ViewSubmission, usage: str, kind: str,
                            payload: dict) -> None:
    """After a submitted import modal: admins only; the import runs as a job (bot/outbox/imports.py), which
    tells the admin how it went, even if this process dies on the way."""
    user_id, channel_id = submission.user_id, submission.metadata.channel_id
    if not await container.permissions.is_admin(submission.team_id, user_id):
        await notify_user(container, submission.team_id, user_id, channel_id,
                          not_admin(usage, await container.permissions.admins(submission.team_id)))
        return
    await container.jobs.enqueue(kind, {"team_id": submission.team_id, "user_id": user_id,
                                        "channel_id": channel_id, **payload})


def picked(state: State, block_id: str, action_id: str) -> list[tuple[str, str]]:
    """(tenant_id, record_id) of every option picked in a multi-select."""
    return [blocks.split_value(o.value) for o in state.element(block_id, action_id).selected_options]


def picked_project(state: State) -> str | None:
    """The Forecast project id picked, if it is one (project ids are numbers)."""
    selected = state.element(blocks.PO_PROJECT_BLOCK, blocks.PO_PROJECT_ACTION).selected_option
    return selected.value if selected and re.fullmatch(r"[0-9]{1,18}", selected.value) else None
