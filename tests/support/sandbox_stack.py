"""The sandbox as `make run` starts it, in-process on free ports: the real bot plus the three stand-ins."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from app import start_site
from bot.config import Settings
from bot.container import Container, build_container
from bot.slack_app import build_web_app
from sandbox.server import STAND_INS, SandboxPlan, create_sandbox_app
from services.platform.crypto import generate_key
from services.platform.storage import Storage, free_port


@dataclass
class SandboxStack:
    plan: SandboxPlan
    container: Container
    sandbox_app: web.Application
    runners: list

    @property
    def slack_state(self):
        from sandbox.slack import SLACK_STATE

        return self.sandbox_app[STAND_INS].slack[SLACK_STATE]

    @property
    def xero_state(self):
        from sandbox.xero import XERO_STATE

        return self.sandbox_app[STAND_INS].xero[XERO_STATE]


async def start_sandbox_stack(storage: Storage) -> SandboxStack:
    plan = SandboxPlan(data_dir=None, bot_port=free_port(), sandbox_port=free_port())
    settings = Settings(_env_file=None, **plan.bot_settings())
    container = build_container(settings, storage, generate_key())
    await container.start()
    sandbox_app = create_sandbox_app(plan)
    runners = [await start_site(build_web_app(container), plan.host, plan.bot_port),
               await start_site(sandbox_app, plan.host, plan.sandbox_port)]
    return SandboxStack(plan, container, sandbox_app, runners)


async def stop_sandbox_stack(stack: SandboxStack) -> None:
    for runner in reversed(stack.runners):
        await runner.cleanup()
    await stack.container.close()
