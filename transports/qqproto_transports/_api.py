"""The application API every bot shares, whatever its runtime and channel.

:class:`BotApi` is the runtime-independent half: the handler registry, the REST client
on the bot's token, the passive-reply bookkeeping, and :meth:`BotApi._plan_delivery`,
the one place that decides what runs for an event (the button-tap auto-ACK first, then
the matching handlers with their parsed models).  :class:`AsyncBotApi` (asyncio and
trio, through anyio) and :class:`SyncBotApi` (threads) add the methods that perform
HTTP: ``reply``, ``send``, ``ack_interaction``, ``upload`` and ``call``.

Replies need no bookkeeping from the application: every message or tap that reaches a
handler is noted in the bot's :class:`~qqproto.rest.ReplyContext` on arrival, so its
reply window starts when it arrived and its ``msg_seq`` values never collide
(rest.md §2.4, §2.5); a message the bot never delivered to a handler (read from
``events()``) opens its window at the first reply.

Auto-ACK (``Settings.auto_ack_interactions``, on by default): rest.md §5.5 — until the
bot answers ``PUT /interactions/{id}`` the user sees a spinner; the reference SDK ACKs
with code 0 before running handlers (§5.8).  The ACK is planned first, so it is sent
whatever the handlers do (a handler that raises still stops the spinner).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import anyio

from qqproto import (
    AuditPending,
    ChatScope,
    FileType,
    InteractionResult,
    MessageSent,
    OutgoingMessage,
    Settings,
    UploadedMedia,
    bot_logger,
)
from qqproto.approvals import DEFAULT_CONFIRMATION_TIMEOUT, ApprovalRequest, Audience, Decision
from qqproto.errors import ApiError
from qqproto.events import Dispatch, Event
from qqproto.models import InteractionCreate, MessageEvent, ModelEvent, parse_event
from qqproto.rest import Markdown, ReplyContext, RestCall, RestClient, TokenState, reply_to
from qqproto.upload import MAX_CONCURRENCY, UploadMethod

from ._handlers import Handler, Handlers
from ._httpx import run_call_async, run_call_sync
from ._media_api import AsyncMediaApi, SyncMediaApi
from ._questions import Questions, ask_async, ask_sync, confirmed
from ._stream import AsyncStreamApi, SyncStreamApi
from ._upload_async import upload_file_async
from ._upload_sync import Progress, upload_file_sync

__all__ = [
    "AsyncBotApi",
    "BotApi",
    "Content",
    "Plan",
    "SyncBotApi",
    "interaction_id",
    "seq_of",
]

#: What a reply or a message may be: plain text, or a whole message.
Content = str | OutgoingMessage
#: What runs for one event: ``(handler, argument)`` pairs, in order.
Plan = list[tuple[Handler, Event]]
Sent = list[MessageSent | AuditPending]


def interaction_id(event: Event | str) -> str | None:
    """The id to ACK: ``event`` itself when a string, a tap's ``id`` otherwise."""
    if isinstance(event, str):
        return event or None
    if isinstance(event, InteractionCreate):
        return event.id
    if isinstance(event, Dispatch) and event.type == "INTERACTION_CREATE" \
            and isinstance(event.data, dict):
        value = event.data.get("id")
        return value if isinstance(value, str) and value else None
    return None


def seq_of(which: int | Event | None) -> int | None:
    """The ``seq`` a mark refers to: the number itself, or the event's (raw or parsed)."""
    if which is None or isinstance(which, int):
        return which
    seq = getattr(which, "seq", None)
    return seq if isinstance(seq, int) else None


class BotApi:
    """The runtime-independent half of a bot (see the module docstring)."""

    settings: Settings

    def _init_api(self, settings: Settings, tokens: Callable[[], TokenState]) -> None:
        self.settings = settings
        self.handlers = Handlers()
        #: ``@bot.on(X)``: register a handler (see :mod:`qqproto_transports._handlers`).
        self.on = self.handlers.on
        self._tokens = tokens
        self._rest: RestClient | None = None
        #: Reply windows, caps and ``msg_seq`` counters of what the bot received.
        self.replies = ReplyContext()
        #: Records carry the bot's app id, so side-by-side bots can be told apart.
        self.log = bot_logger("qqproto_transports", settings.app_id)
        #: Open approvals/confirmations and the access gate (qqproto.approvals).
        self.questions = Questions(settings)

    @property
    def rest(self) -> RestClient:
        """The bot's OpenAPI client; its token is the session's (one refresh serves all
        calls of the bot)."""
        if self._rest is None:
            self._rest = RestClient(self._tokens())
        return self._rest

    def _now(self) -> float:
        raise NotImplementedError

    def _nothing_runs(self, event: Event) -> bool:
        """Whether :meth:`_plan_delivery` would plan nothing for ``event``: no handler
        is registered and the gate has nothing to decide (no tap to ACK, no policy)."""
        return not self.handlers.any and not (
            isinstance(event, Dispatch) and self.questions.gate.needs_model(event.type))

    def _plan_delivery(self, event: Event, now: float) -> Plan:
        """What runs for ``event``: the ACK of a tap, then the matching handlers, as the
        core's gate admits it (access policy, open questions, auto-ACK)."""
        admission, parsed = self.questions.admit(event, now)
        calls: Plan = []
        if admission.deliver:
            calls, parsed = self.handlers.route(event, parsed)
            if isinstance(parsed, MessageEvent | InteractionCreate):
                self._note_received(parsed, now)
        if admission.ack is not None:
            ack = self._auto_ack if admission.ack is InteractionResult.SUCCESS \
                else functools.partial(self._auto_ack, result=admission.ack)
            calls.insert(0, (ack, event))
        return calls

    def _note_received(self, event: MessageEvent | InteractionCreate, now: float) -> None:
        if isinstance(event, MessageEvent):
            self.replies.received(event.message.scope, now=now, msg_id=event.message.msg_id)
        elif event.scope is not None and event.event_id:
            self.replies.received(event.scope, now=now, event_id=event.event_id)

    def _reply_calls(self, event: Event, content: Content, now: float,
                     ) -> list[RestCall[MessageSent | AuditPending]]:
        target: Event = parse_event(event) if isinstance(event, Dispatch) else event
        if not isinstance(target, MessageEvent | InteractionCreate):
            kind = target.type if isinstance(target, ModelEvent) else type(target).__name__
            raise TypeError(f"bot.reply() answers a message or a button tap, not {kind}")
        return reply_to(self.rest, self.replies, target, content, now=now)

    def _send_calls(self, scope: ChatScope | str, target_id: str, content: Content,
                    now: float) -> list[RestCall[MessageSent | AuditPending]]:
        message = OutgoingMessage(content=content) if isinstance(content, str) else content
        return self.rest.send_split(scope, target_id, message, now=now)

    def _ack_call(self, event: Event | str, result: InteractionResult) -> RestCall[None]:
        found = interaction_id(event)
        if found is None:
            raise TypeError(f"not a button tap or an interaction id: {event!r}")
        return self.rest.ack_interaction(found, InteractionResult(result))

    def _auto_ack(self, event: Event,
                  result: InteractionResult = InteractionResult.SUCCESS) -> Any:
        raise NotImplementedError

    def _approval(self, request: ApprovalRequest, timeout: float | None) -> Any:
        return lambda audience, now: self.questions.table.ask_approval(
            request, audience, now=now, timeout=timeout)

    def _confirmation(self, text: str | Markdown, timeout: float) -> Any:
        return lambda audience, now: self.questions.table.ask_confirmation(
            text, audience, now=now, timeout=timeout)

    def _ack_failed(self, event: Event, exc: ApiError) -> None:
        self.log.warning("auto-ACK of interaction %s failed: %s", interaction_id(event), exc)


class AsyncBotApi(AsyncStreamApi, AsyncMediaApi, BotApi):
    """``await bot.reply(...)`` and friends on asyncio and trio."""

    http: Any  # httpx.AsyncClient

    async def call(self, call: RestCall[Any]) -> Any:
        """Run any sans-IO REST call (``bot.rest.…``) to its typed result."""
        return await run_call_async(call, self.http, self._now)

    def _now(self) -> float:
        """The runtime's clock (a driver may answer without a running task)."""
        return anyio.current_time()

    async def _run_all(self, calls: Sequence[RestCall[Any]]) -> list[Any]:
        return [await self.call(call) for call in calls]

    async def reply(self, event: Event, content: Content) -> Sent:
        """Answer a message or a button tap passively (``msg_id``/``event_id``, a fresh
        ``msg_seq`` per part, long text split, a keyboard on the last part); the
        results of the messages sent, in order."""
        return await self._run_all(self._reply_calls(event, content, self._now()))

    async def send(self, scope: ChatScope | str, target_id: str, content: Content) -> Sent:
        """An active message to a user, group, channel or guild DM (rest.md §2.4.4)."""
        return await self._run_all(
            self._send_calls(scope, target_id, content, self._now()))

    async def ack_interaction(self, event: Event | str,
                              result: InteractionResult = InteractionResult.SUCCESS) -> None:
        """Answer a button tap (rest.md §5.5–5.6); raises :class:`ApiError` on failure."""
        await self.call(self._ack_call(event, result))

    async def upload(self, path: str | os.PathLike[str], scope: ChatScope | str,
                     target_id: str, file_type: FileType = FileType.FILE, *,
                     file_name: str | None = None, progress: Progress | None = None,
                     method: UploadMethod | None = None,
                     max_parts_in_flight: int = MAX_CONCURRENCY) -> UploadedMedia:
        """Upload a file from disk to a c2c user or a group; send the ``file_info`` with
        ``OutgoingMessage(media=…)`` (msg_type 7)."""
        return await upload_file_async(
            self.rest, self.http, path, scope=scope, target_id=target_id,
            file_type=file_type, file_name=file_name, progress=progress, method=method,
            max_parts_in_flight=max_parts_in_flight)

    async def ask_approval(self, event: Event | Audience, request: ApprovalRequest, *,
                           timeout: float | None = None,
                           approvers: Sequence[str] = ()) -> Decision:
        """Ask the author of ``event`` (a message or a tap; or an :class:`Audience`, by
        an active message) to approve ``request``; wait for their tap or ``timeout``
        seconds (default ``request.timeout``).  Only they, or ``approvers``, decide."""
        return await ask_async(self, event, approvers, self._approval(request, timeout))

    async def ask_confirmation(self, event: Event | Audience, text: str | Markdown, *,
                               timeout: float = DEFAULT_CONFIRMATION_TIMEOUT,
                               approvers: Sequence[str] = ()) -> bool | None:
        """Ask a yes/no question as :meth:`ask_approval` does; ``None`` on timeout."""
        return confirmed(await ask_async(self, event, approvers,
                                         self._confirmation(text, timeout)))

    async def _auto_ack(self, event: Event,
                        result: InteractionResult = InteractionResult.SUCCESS) -> None:
        try:
            await self.ack_interaction(event, result)
        except ApiError as exc:
            self._ack_failed(event, exc)


class SyncBotApi(SyncStreamApi, SyncMediaApi, BotApi):
    """``bot.reply(...)`` and friends for threads: blocking, from any thread."""

    http: Any  # httpx.Client

    def call(self, call: RestCall[Any]) -> Any:
        """Run any sans-IO REST call (``bot.rest.…``) to its typed result, blocking."""
        return run_call_sync(call, self.http, time.monotonic)

    def _now(self) -> float:
        return time.monotonic()

    def reply(self, event: Event, content: Content) -> Sent:
        """Answer a message or a button tap passively (``msg_id``/``event_id``, a fresh
        ``msg_seq`` per part, long text split, a keyboard on the last part), blocking;
        the results of the messages sent, in order."""
        calls = self._reply_calls(event, content, self._now())
        return [self.call(call) for call in calls]

    def send(self, scope: ChatScope | str, target_id: str, content: Content) -> Sent:
        """An active message to a user, group, channel or guild DM (rest.md §2.4.4)."""
        calls = self._send_calls(scope, target_id, content, self._now())
        return [self.call(call) for call in calls]

    def ack_interaction(self, event: Event | str,
                        result: InteractionResult = InteractionResult.SUCCESS) -> None:
        """Answer a button tap (rest.md §5.5–5.6), blocking."""
        self.call(self._ack_call(event, result))

    def upload(self, path: str | os.PathLike[str], scope: ChatScope | str, target_id: str,
               file_type: FileType = FileType.FILE, *, file_name: str | None = None,
               progress: Progress | None = None, method: UploadMethod | None = None,
               max_parts_in_flight: int = MAX_CONCURRENCY) -> UploadedMedia:
        """Upload a file from disk to a c2c user or a group (blocking)."""
        return upload_file_sync(
            self.rest, self.http, path, scope=scope, target_id=target_id,
            file_type=file_type, file_name=file_name, progress=progress, method=method,
            max_parts_in_flight=max_parts_in_flight)

    def ask_approval(self, event: Event | Audience, request: ApprovalRequest, *,
                     timeout: float | None = None,
                     approvers: Sequence[str] = ()) -> Decision:
        """As the asyncio bot's :meth:`AsyncBotApi.ask_approval`, blocking."""
        return ask_sync(self, event, approvers, self._approval(request, timeout))

    def ask_confirmation(self, event: Event | Audience, text: str | Markdown, *,
                         timeout: float = DEFAULT_CONFIRMATION_TIMEOUT,
                         approvers: Sequence[str] = ()) -> bool | None:
        """A yes/no question, blocking; ``None`` on timeout."""
        return confirmed(ask_sync(self, event, approvers, self._confirmation(text, timeout)))

    def _auto_ack(self, event: Event,
                  result: InteractionResult = InteractionResult.SUCCESS) -> None:
        try:
            self.ack_interaction(event, result)
        except ApiError as exc:
            self._ack_failed(event, exc)
