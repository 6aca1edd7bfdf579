"""The /xero command: parse the text, check who may run it, hand over to one sub-command.

Answers that need nothing from outside (help, usage, refusals, what the database holds) go back in the ack
itself; a sub-command that calls Xero, Forecast or Slack first calls `ctx.later()` (see bot/acks.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Awaitable, Callable

from slack_bolt.async_app import AsyncApp

from bot.acks import CommandAnswer, SharedRespond
from bot.blocks.connections import not_admin
from bot.blocks.help import HelpEntry, help_message
from bot.container import Container
from bot.requests import SlashCommand
from services.platform.logfmt import fields

log = logging.getLogger(__name__)


@dataclass
class CommandContext:
    team_id: str
    user_id: str
    channel_id: str
    trigger_id: str
    args: list[str]
    answer: CommandAnswer
    container: Container
    response_url: str = ""  # the command's own, e.g. to redraw its answer once something finished elsewhere

    async def reply(self, payload: dict) -> None:
        """An ephemeral answer to whoever typed the command: in the ack unless `later()` was called."""
        await self.answer(payload)

    async def later(self) -> None:
        """Call before waiting on Xero, Forecast or Slack: Slack gets its ack now, the answer comes after."""
        await self.answer.later()


Runner = Callable[[CommandContext], Awaitable[None]]


@dataclass(frozen=True)
class SubCommand:
    name: str  # one or two words: "list", "import customers"
    help: HelpEntry
    run: Runner


class CommandRouter:
    def __init__(self) -> None:
        self.commands: list[SubCommand] = []
        self._help: dict | None = None  # the plain help, built once: it is the most asked-for answer

    def add(self, name: str, run: Runner, *, usage: str, summary: str, example: str, admin_only: bool = False):
        entry = HelpEntry(usage=usage, summary=summary, example=example, admin_only=admin_only)
        self.commands.append(SubCommand(name, entry, run))
        self._help = None

    def resolve(self, words: list[str]) -> tuple[SubCommand | None, list[str]]:
        lowered = [w.lower() for w in words]
        for size in (2, 1):  # longest match first: "import customers" before "import"
            candidate = " ".join(lowered[:size])
            for command in self.commands:
                if len(lowered) >= size and command.name == candidate:
                    return command, words[size:]
        return None, words

    def family(self, first_word: str) -> list[SubCommand]:
        """The two-word sub-commands that start with `first_word` ("import" -> import customers, ...)."""
        return [c for c in self.commands if " " in c.name and c.name.split()[0] == first_word.lower()]

    def help(self, unknown: str | None = None) -> dict:
        if unknown:
            return help_message([c.help for c in self.commands], unknown=unknown)
        if self._help is None:
            self._help = help_message([c.help for c in self.commands])
        return self._help


def register(app: AsyncApp, container: Container, router: CommandRouter) -> None:
    """Adds `help`; call it after every feature module has added its sub-commands."""

    async def show_help(ctx: CommandContext) -> None:
        await ctx.reply(router.help())

    router.add("help", show_help, usage="/xero help", example="/xero help", summary="Show this list.")


def register_listener(app: AsyncApp, container: Container, router: CommandRouter) -> None:
    """Registers /xero itself, first: bolt tries listeners in order, so every command matches at once."""

    @app.command("/xero")
    async def xero_command(ack, context):
        command = SlashCommand.of(context)
        journal = container.commands.entry(command)  # saved before an ack that leaves the answer for later
        answer = CommandAnswer(ack, SharedRespond(command.response_url, container.http), context,
                               before_late_ack=journal.save)
        try:
            await run_command(command, answer)
        finally:
            await journal.close()
        await answer.finish()

    async def run_command(command: SlashCommand, answer: CommandAnswer) -> None:
        words = command.words
        sub, args = router.resolve(words)
        if log.isEnabledFor(logging.DEBUG):  # one line per command is for debugging, not for every INFO log
            log.debug("command", **fields(team=command.team_id, user=command.user_id,
                                          subcommand=sub.name if sub else ("unknown" if words else "help")))
        if sub is None:
            family = router.family(words[0]) if len(words) == 1 else []
            if family:  # `/xero import` alone: which import?
                await answer(help_message([c.help for c in family], started=words[0]))
                return
            unknown = " ".join(words) if words and words[0].lower() != "help" else None
            await answer(router.help(unknown))
            return
        if sub.help.admin_only and not await container.permissions.is_admin(command.team_id, command.user_id):
            await answer(not_admin(sub.help.usage, await container.permissions.admins(command.team_id)))
            return
        ctx = CommandContext(
            team_id=command.team_id,
            user_id=command.user_id,
            channel_id=command.channel_id or "",
            trigger_id=command.trigger_id or "",
            args=args,
            answer=answer,
            container=container,
            response_url=str(command.response_url),
        )
        await sub.run(ctx)
        await answer.finish()
