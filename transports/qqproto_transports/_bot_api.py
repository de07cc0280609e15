"""The REST half of a bot object, shared by the drivers: uploads, interaction ACKs, and
the auto-ACK of button taps.

:class:`AsyncBotApi` serves the asyncio and trio bots (one implementation through
anyio), :class:`SyncBotApi` the threaded bot.  Each is a mixin: the bot class lists it
among its bases and provides ``settings``, ``session`` (for the shared token state),
``http`` (its httpx client, with the bot's proxy routing and bounded keep-alive) and
``handlers``.  Every request of an upload or an ACK uses the bot's own client and the
gateway session's token, so one refresh serves all.

Auto-ACK (``BotSettings.auto_ack_interactions``): rest.md §5.5 — until the bot answers
``PUT /interactions/{id}`` the user sees a spinner; the SDK and its port ACK with code 0
before running handlers (§5.8), botpy and NB leave it to the application.  qqproto
leaves it to the application by default (a handler may want to answer "no permission"
or "too frequent") and ACKs success at delivery when asked.  The driver's delivery path
runs ``for handler in self._delivery_handlers(event)`` instead of
``self.handlers.matching(event)``, so the ACK runs the way the driver runs handlers (a
task, a nursery task, a worker thread) and a failed ACK is logged like a failed handler.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING

import anyio

from qqproto._values import ChatScope, FileType, UploadedMedia
from qqproto.errors import ApiError
from qqproto.events import Dispatch, Event
from qqproto.models._interaction import InteractionCreate
from qqproto.rest._client import RestClient
from qqproto.rest._interactions import InteractionResult
from qqproto.upload._plan import MAX_CONCURRENCY, UploadMethod

from ._shared import Handler, run_call_async, run_call_sync
from ._upload_async import upload_file_async
from ._upload_sync import Progress, upload_file_sync

if TYPE_CHECKING:
    import httpx

    from qqproto.gateway._session import GatewaySession

    from ._shared import BotSettings, Handlers

__all__ = ["AsyncBotApi", "SyncBotApi", "interaction_id"]

log = logging.getLogger("qqproto_transports")


def interaction_id(event: Event) -> str | None:
    """The id to ACK when ``event`` is a button tap (``INTERACTION_CREATE``), else None."""
    if isinstance(event, Dispatch):
        if event.type != "INTERACTION_CREATE" or not isinstance(event.data, dict):
            return None
        value = event.data.get("id")
    elif isinstance(event, InteractionCreate):
        value = event.id
    else:
        return None
    return value if isinstance(value, str) and value else None


class _BotApiBase:
    settings: BotSettings
    session: GatewaySession
    handlers: Handlers

    @property
    def rest(self) -> RestClient:
        """A :class:`~qqproto.rest.RestClient` on the gateway session's token state."""
        client = self.__dict__.get("_qqproto_rest")
        if client is None:
            client = self.__dict__["_qqproto_rest"] = RestClient(self.session.token_state)
        return client

    def _wants_auto_ack(self, event: Event) -> str | None:
        # Checked first: this runs for every event.
        if not self.settings.auto_ack_interactions:
            return None
        return interaction_id(event)


class AsyncBotApi(_BotApiBase):
    """``await bot.upload(...)``, ``await bot.ack_interaction(...)`` on asyncio and trio."""

    http: httpx.AsyncClient

    async def upload(self, path: str | os.PathLike[str], scope: ChatScope | str,
                     target_id: str, file_type: FileType = FileType.FILE, *,
                     file_name: str | None = None, progress: Progress | None = None,
                     method: UploadMethod | None = None,
                     max_parts_in_flight: int = MAX_CONCURRENCY) -> UploadedMedia:
        """Upload a file from disk to a c2c user or a group; send the ``file_info`` with
        ``media=`` (msg_type 7).  See
        :func:`~qqproto_transports._upload_async.upload_file_async`."""
        return await upload_file_async(
            self.rest, self.http, path, scope=scope, target_id=target_id,
            file_type=file_type, file_name=file_name,
            progress=progress, method=method, max_parts_in_flight=max_parts_in_flight)

    async def ack_interaction(self, interaction_id: str,
                              result: InteractionResult = InteractionResult.SUCCESS) -> None:
        """Answer a button tap (rest.md §5.5–5.6); raises :class:`ApiError` on failure."""
        await run_call_async(self.rest.ack_interaction(interaction_id, result), self.http,
                             anyio.current_time)

    def _delivery_handlers(self, event: Event) -> tuple[Handler, ...]:
        """The auto-ACK (when enabled and ``event`` is a tap), then the matching handlers."""
        handlers = self.handlers.matching(event)
        if self._wants_auto_ack(event) is not None:
            return (self._auto_ack, *handlers)
        return handlers

    async def _auto_ack(self, event: Event) -> None:
        found = interaction_id(event)
        assert found is not None
        try:
            await self.ack_interaction(found)
        except ApiError as exc:
            log.warning("auto-ACK of interaction %s failed: %s", found, exc)


class SyncBotApi(_BotApiBase):
    """``bot.upload(...)``, ``bot.ack_interaction(...)`` for the threaded bot (blocking,
    from any thread)."""

    http: httpx.Client

    def upload(self, path: str | os.PathLike[str], scope: ChatScope | str, target_id: str,
               file_type: FileType = FileType.FILE, *, file_name: str | None = None,
               progress: Progress | None = None, method: UploadMethod | None = None,
               max_parts_in_flight: int = MAX_CONCURRENCY) -> UploadedMedia:
        """Upload a file from disk to a c2c user or a group (blocking).  See
        :func:`~qqproto_transports._upload_sync.upload_file_sync`."""
        return upload_file_sync(
            self.rest, self.http, path, scope=scope, target_id=target_id,
            file_type=file_type, file_name=file_name,
            progress=progress, method=method, max_parts_in_flight=max_parts_in_flight)

    def ack_interaction(self, interaction_id: str,
                        result: InteractionResult = InteractionResult.SUCCESS) -> None:
        """Answer a button tap (rest.md §5.5–5.6), blocking."""
        run_call_sync(self.rest.ack_interaction(interaction_id, result), self.http,
                      time.monotonic)

    def _delivery_handlers(self, event: Event) -> tuple[Handler, ...]:
        """The auto-ACK (when enabled and ``event`` is a tap), then the matching handlers."""
        handlers = self.handlers.matching(event)
        if self._wants_auto_ack(event) is not None:
            return (self._auto_ack, *handlers)
        return handlers

    def _auto_ack(self, event: Event) -> None:
        found = interaction_id(event)
        assert found is not None
        try:
            self.ack_interaction(found)
        except ApiError as exc:
            log.warning("auto-ACK of interaction %s failed: %s", found, exc)

