"""A hook: one named thing that happens, announced by one service and heard by another that it may not import.

Built first (bot/container.py), handed to the announcer and to each listener in their constructors, so
construction order explains itself and no attribute is patched afterwards:
- `needs_reconnect` (token set id): TokenService announces, ConnectionsService (the owner of `tenants`) hears;
- `routing_changed` (team id, batch id, export ids): ExportService announces, BatchExportService hears;
- `installed` (slack_sdk Installation): bot/installations.py's OAuth answer announces, Offboarding (a reinstall
  within the retention period) and the installer's welcome DM hear.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, ParamSpec

P = ParamSpec("P")


class Hook(Generic[P]):
    def __init__(self, name: str):
        self.name = name
        self._listeners: list[Callable[P, Awaitable[object]]] = []

    def listen(self, listener: Callable[P, Awaitable[object]]) -> None:
        self._listeners.append(listener)

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Tells every listener, in the order they listened; a listener's failure reaches the announcer."""
        for listener in self._listeners:
            await listener(*args, **kwargs)
