"""``@bot.on(...)``: which handler receives which event, and in what form.

A registration names what it wants, and the form a handler receives follows from it:

- a model class from :mod:`qqproto.models` (``C2CMessageCreate``, or a base such as
  ``MessageEvent``): the parsed model, for every dispatch that parses to an instance;
- a dispatch type name (``"GROUP_AT_MESSAGE_CREATE"``): the parsed model of that type
  (a :class:`~qqproto.models.MalformedEvent` if its payload is not the documented one);
- an event class from :mod:`qqproto.events` (``Ready``, ``SessionStopped``,
  ``Dispatch``, ``Event``): the event as the core emitted it;
- nothing: every event as the core emitted it.

Mistakes fail at registration, not silently at delivery: an unknown type name raises
``ValueError`` naming the closest known one, anything else ``TypeError``.  A dispatch is
parsed at most once, however many handlers want it, and only when one does.
"""

from __future__ import annotations

import difflib
import dis
import functools
import inspect
import types
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Final, TypeVar

from qqproto import BotLogger
from qqproto.events import Dispatch, Event
from qqproto.gateway import EVENT_INTENTS
from qqproto.models import EVENT_CLASSES, MalformedEvent, ModelEvent, UnknownEvent, parse_event

__all__ = [
    "KNOWN_DISPATCH_TYPES",
    "Handler",
    "Handlers",
    "Registration",
    "call_handler",
    "call_handler_async",
    "cannot_suspend",
    "handler_failed",
    "settle",
    "start_handler",
]

Handler = Callable[[Any], Any]
H = TypeVar("H", bound=Handler)

#: Every dispatch type a handler may name: the models' table, the intents' table, and
#: the two lifecycle dispatches.
KNOWN_DISPATCH_TYPES: Final = frozenset(EVENT_CLASSES) | frozenset(EVENT_INTENTS) | {
    "READY", "RESUMED"}

_RAW, _MODEL, _NAME = "raw", "model", "name"


class Registration:
    """One ``on(...)`` call: the handler, what it asked for and how it is matched."""

    __slots__ = ("handler", "kind", "target")

    def __init__(self, handler: Handler, kind: str, target: Any) -> None:
        self.handler, self.kind, self.target = handler, kind, target

    def may_take(self, event: Event) -> bool:
        """Whether this registration can receive ``event`` (before any parsing)."""
        if self.kind == _RAW:
            return self.target is None or isinstance(event, self.target)
        if not isinstance(event, Dispatch):
            return False
        if self.kind == _NAME:
            return bool(event.type == self.target)
        return _may_parse_to(event.type, self.target)

    def takes(self, parsed: Event) -> bool:
        """Whether the parsed model (for a model registration) is of the wanted class."""
        return self.kind != _MODEL or isinstance(parsed, self.target)


def _may_parse_to(event_type: str, wanted: type[ModelEvent]) -> bool:
    known = EVENT_CLASSES.get(event_type)
    if known is None:
        return issubclass(UnknownEvent, wanted)
    return issubclass(known, wanted) or issubclass(MalformedEvent, wanted)


def _validate(what: object) -> tuple[str, Any]:
    if what is None:
        return _RAW, None
    if isinstance(what, str):
        if what not in KNOWN_DISPATCH_TYPES:
            close = difflib.get_close_matches(what, KNOWN_DISPATCH_TYPES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown dispatch type {what!r}{hint}")
        return _NAME, what
    if isinstance(what, type):
        if issubclass(what, ModelEvent):
            return _MODEL, what
        if issubclass(what, Event):
            return _RAW, what
    raise TypeError(
        f"bot.on() takes a model class from qqproto.models, an event class from "
        f"qqproto.events, a dispatch type name or nothing, not {what!r}")


class Handlers:
    """The handler registry of one bot (shared by its gateway and webhook channels)."""

    def __init__(self) -> None:
        self._registrations: list[Registration] = []
        self._cache: dict[tuple[type, str | None], tuple[Registration, ...]] = {}
        #: Whether any handler is registered (read once per event: a plain attribute).
        self.any = False

    def on(self, what: type | str | None = None) -> Callable[[H], H]:
        """Register the decorated function for ``what`` (see the module docstring)."""
        kind, target = _validate(what)

        def register(handler: H) -> H:
            if not callable(handler):
                raise TypeError(f"a handler must be callable, not {handler!r}")
            self._registrations.append(Registration(handler, kind, target))
            self._cache.clear()
            self.any = True
            return handler

        return register

    def __bool__(self) -> bool:
        return bool(self._registrations)

    def candidates(self, event: Event) -> tuple[Registration, ...]:
        """The registrations that may take ``event``, in registration order (cached
        per event class and dispatch type)."""
        key = (type(event), event.type if isinstance(event, Dispatch) else None)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = tuple(r for r in self._registrations
                                              if r.may_take(event))
        return found

    def route(self, event: Event, parsed: Event | None = None,
              ) -> tuple[list[tuple[Handler, Event]], Event | None]:
        """``([(handler, argument)…], parsed)``: what to call with what, and the parsed
        model when ``event`` had to be parsed for a handler (``None`` otherwise);
        ``parsed`` is the model when the caller parsed it already."""
        key = (type(event), event.type if isinstance(event, Dispatch) else None)
        registrations = self._cache.get(key)
        if registrations is None:
            registrations = self.candidates(event)
        calls: list[tuple[Handler, Event]] = []
        for registration in registrations:
            kind = registration.kind
            if kind == _RAW:
                calls.append((registration.handler, event))
                continue
            if parsed is None:
                parsed = parse_event(event)  # type: ignore[arg-type]  # may_take: a Dispatch
            if kind != _MODEL or isinstance(parsed, registration.target):
                calls.append((registration.handler, parsed))
        return calls, parsed

    def __iter__(self) -> Iterator[Registration]:
        return iter(self._registrations)


# -- running handlers: a failure is logged with the bot's app id, never fatal --------------


def call_handler(handler: Handler, argument: Any, log: BotLogger) -> bool:
    """Run a plain handler; False (and a log record) when it raised."""
    try:
        handler(argument)
    except Exception:
        log.exception("handler %s failed on %s", _name(handler), _what(argument))
        return False
    return True


def start_handler(handler: Handler, argument: Any, log: BotLogger) -> Awaitable[Any] | None:
    """Run ``handler(argument)`` on the spot: a plain function completes here (a failure
    is logged); so does a coroutine function that cannot suspend (:func:`cannot_suspend`);
    any other coroutine function's awaitable comes back for the driver to schedule, so no
    task is created per event unless a handler needs one."""
    outcome = begin_handler(handler, argument, log)
    return None if type(outcome) is bool else outcome


def begin_handler(handler: Handler, argument: Any, log: BotLogger) -> bool | Awaitable[Any]:
    """:func:`start_handler` that also says how a handler that finished here ended:
    ``True``, ``False`` (it raised; logged), or the awaitable still to run (the webhook
    answers op 12 ``d = 1`` for a failed handler, so it needs to know)."""
    try:
        result = handler(argument)
        if type(result) is types.CoroutineType and cannot_suspend(handler):
            try:
                result.send(None)
            except StopIteration:
                return True
            result.close()  # pragma: no cover - no await in its code, yet it suspended
            raise RuntimeError("a coroutine with no await suspended")
    except Exception:
        log.exception("handler %s failed on %s", _name(handler), _what(argument))
        return False
    if result is not None and inspect.isawaitable(result):
        return result
    return True


#: Every way a coroutine gives control back (await, async for, async with) goes through
#: these opcodes; code without them runs to its end in one step.
_SUSPENDING: Final = frozenset(
    dis.opmap[name] for name in ("YIELD_VALUE", "SEND", "GET_AWAITABLE", "GET_AITER",
                                 "GET_ANEXT", "BEFORE_ASYNC_WITH") if name in dis.opmap)


def cannot_suspend(handler: Handler) -> bool:
    """Whether ``handler`` is a coroutine function with no ``await``, ``async for`` or
    ``async with`` in its body: its coroutine finishes in its first step, so it runs at
    delivery like a plain function, with no task (on every driver)."""
    code = getattr(handler, "__code__", None)
    return type(code) is types.CodeType and _code_cannot_suspend(code)


@functools.lru_cache(maxsize=256)
def _code_cannot_suspend(code: types.CodeType) -> bool:
    return bool(code.co_flags & inspect.CO_COROUTINE) and not any(
        instruction.opcode in _SUSPENDING for instruction in dis.get_instructions(code))


def handler_failed(handler: Handler, argument: Any, exc: BaseException,
                   log: BotLogger) -> None:
    """Log a handler's exception as :func:`call_handler` does (the bot goes on)."""
    log.error("handler %s failed on %s", _name(handler), _what(argument), exc_info=exc)


async def settle(handler: Handler, awaitable: Awaitable[Any], argument: Any,
                 log: BotLogger) -> bool:
    """Await what :func:`start_handler` (or :func:`begin_handler`) left to run; False (and
    a log record) on failure."""
    try:
        await awaitable
    except Exception:
        log.exception("handler %s failed on %s", _name(handler), _what(argument))
        return False
    return True


async def call_handler_async(handler: Handler, argument: Any, log: BotLogger) -> bool:
    """Run a handler that may be a coroutine function; False when it raised."""
    try:
        result = handler(argument)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("handler %s failed on %s", _name(handler), _what(argument))
        return False
    return True


def _name(handler: Handler) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)


def _what(argument: Any) -> str:
    kind = getattr(argument, "type", None)
    return kind if isinstance(kind, str) else type(argument).__name__
