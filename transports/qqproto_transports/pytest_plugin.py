"""The ``qq_simulator`` pytest fixture: a QQ simulator on 127.0.0.1 for each test.

Installed with ``pip install 'qqproto[test]'`` (the ``pytest11`` entry point loads it).
A test builds its bot with ``qq_simulator.settings``, plays the users
(``send_c2c``, ``send_group_at``, ``tap``, ``send_voice``), breaks things
(``fault("drop" | "reconnect" | 4009)``) and reads what the bot sent with
``wait_replies(n)``.  The simulator runs on a thread of its own, so the same fixture
serves plain tests of a threaded bot and async tests on asyncio or trio (anyio's plugin);
in an async test, ``await`` the waits.  See docs/first-bot.rst, "Testing the bot".

``@pytest.mark.qq_simulator(heartbeat_interval_ms=1000, …)`` passes options to the
:class:`~qqproto.simulator.Simulator`.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from qqproto import Settings
from qqproto.simulator import SentMessage, SimEvent, Simulator, WebhookPusher, voice_attachment

from .simulator import SimulatorThread, WebhookPushThread

__all__ = ["QQSimulator", "Reply", "qq_simulator"]

T = TypeVar("T")
#: A few bytes that start like QQ's own SILK (rest.md §9.2): enough for a voice message.
_SILK_STUB = b"\x02#!SILK_V3" + b"\x00" * 32


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """One message the bot sent, as a test looks at it.

    ``content`` is the text a user reads: the message's ``content``, else its markdown
    source (``""`` for pure media); ``keyboard`` the keyboard JSON as sent, or ``None``.
    """

    content: str
    msg_id: str | None
    msg_seq: int | None
    keyboard: dict[str, Any] | None
    markdown: str | None
    event_id: str | None
    scope: str
    target: str
    body: dict[str, Any] = field(repr=False)

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """``(label, data)`` of every button, row after row."""
        rows = ((self.keyboard or {}).get("content") or {}).get("rows") or []
        return [(b["render_data"]["label"], b["action"].get("data", ""))
                for row in rows for b in row.get("buttons", [])]

    @classmethod
    def from_sent(cls, sent: SentMessage) -> Reply:
        body = sent.body
        markdown = body.get("markdown")
        source = markdown.get("content") if isinstance(markdown, dict) else None
        text = sent.content if isinstance(sent.content, str) else (source or "")
        keyboard = body.get("keyboard")
        return cls(content=text, msg_id=sent.msg_id, msg_seq=sent.msg_seq,
                   keyboard=keyboard if isinstance(keyboard, dict) else None,
                   markdown=source if isinstance(source, str) else None,
                   event_id=sent.event_id, scope=sent.scope, target=sent.target, body=body)


def _in_async_context() -> bool:
    """True inside a running asyncio loop or trio run (the waits must then be awaited)."""
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        pass
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
            return True
        except RuntimeError:
            pass
    return False


class _Running:
    """``with``/``async with qq_simulator.running(bot)``: the bot runs for the block."""

    def __init__(self, owner: QQSimulator, bot: Any, wait: bool) -> None:
        self._owner, self._bot, self._wait = owner, bot, wait
        self._group: Any = None

    def __enter__(self) -> Any:
        self._bot.start()
        if self._wait:
            self._owner._wait_sync(self._owner._connected, 10.0, "the bot to connect")
        return self._bot

    def __exit__(self, *exc_info: object) -> None:
        self._bot.close()

    async def __aenter__(self) -> Any:
        import anyio

        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(functools.partial(self._bot.run, handle_signals=False))
        if self._wait:
            await self._owner._wait_async(self._owner._connected, 10.0, "the bot to connect")
        return self._bot

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        self._bot.close()
        result: bool | None = await self._group.__aexit__(*exc_info)
        return result


class QQSimulator:
    """What the ``qq_simulator`` fixture hands a test (see the module docstring)."""

    def __init__(self, server: SimulatorThread) -> None:
        #: The running simulator: every method of ``SimulatorThread`` for what the
        #: shortcuts here do not cover (``server.call(fn)`` reaches the whole simulator).
        self.server = server
        self._taken = 0
        self._identifies = 0
        self._pushers: list[WebhookPushThread] = []

    @property
    def settings(self) -> Settings:
        """A :class:`~qqproto.Settings` that points a bot at this simulator."""
        return Settings.from_env(self.server.env())

    def env(self) -> dict[str, str]:
        """The ``QQBOT_*`` variables, for a bot run as a script."""
        return self.server.env()

    # -- the users ----------------------------------------------------------------------

    def send_c2c(self, user_openid: str, text: str) -> SimEvent:
        """``user_openid`` writes to the bot privately (C2C_MESSAGE_CREATE)."""
        return self.server.inject_c2c_message(user_openid, text)

    def send_group_at(self, group_openid: str, member_openid: str, text: str) -> SimEvent:
        """A group member @-mentions the bot (GROUP_AT_MESSAGE_CREATE)."""
        return self.server.inject_group_at_message(group_openid, member_openid, text)

    def tap(self, user_openid: str, data: str, *, group_openid: str | None = None,
            button_id: str = "") -> SimEvent:
        """A button tap (INTERACTION_CREATE) in a private chat, or by member
        ``user_openid`` in ``group_openid``."""
        if group_openid is None:
            return self.server.inject_interaction("c2c", user_openid=user_openid,
                                                  button_data=data, button_id=button_id)
        return self.server.inject_interaction("group", group_openid=group_openid,
                                              member_openid=user_openid, button_data=data,
                                              button_id=button_id)

    def send_voice(self, user_openid: str, *, asr_text: str | None = None,
                   silk: bytes = _SILK_STUB, group_openid: str | None = None) -> SimEvent:
        """A voice message (rest.md §9.1): its SILK served by the simulator's CDN, and
        QQ's own transcript when ``asr_text`` is given."""
        def inject(sim: Simulator, now: float) -> SimEvent:
            item = voice_attachment(sim, silk, now=now, asr_text=asr_text)
            if group_openid is None:
                return sim.inject_c2c_message(user_openid, "", now=now, attachments=[item])
            return sim.inject_group_at_message(group_openid, user_openid, "", now=now,
                                               attachments=[item])
        return self.server.call(inject)

    def push_webhook(self, url: str) -> WebhookPushThread:
        """From now on, also push every event to the webhook ``url``, signed with the
        bot's secret (validated with op 13 first), as the platform does."""
        sim = self.server.sim
        pusher = WebhookPushThread(WebhookPusher(callback_url=url, secret=sim.secret,
                                                 app_id=sim.app_id, retry_delay=0.05))
        self._pushers.append(pusher.start())
        pusher.attach(self.server)
        return pusher

    # -- faults ---------------------------------------------------------------------------

    def fault(self, kind: str | int) -> int:
        """Break every gateway connection: ``"drop"`` (a TCP reset), ``"reconnect"``
        (op 7, also ``7``), or a close code such as ``4009``.  Returns how many."""
        if kind == "drop":
            return self.server.drop_connections()
        if kind in ("reconnect", "op7", 7):
            return self.server.send_reconnect()
        if isinstance(kind, int) and not isinstance(kind, bool) and 1000 <= kind <= 4999:
            return self.server.close_connections(kind, "fault injected by the test")
        raise ValueError(f"unknown fault {kind!r}: 'drop', 'reconnect' or a close code")

    # -- what the bot did ---------------------------------------------------------------------

    def replies(self) -> list[Reply]:
        """Every message the bot sent so far."""
        return [Reply.from_sent(m) for m in self.server.sent_messages()]

    def acks(self) -> list[tuple[str, int]]:
        """The interaction ACKs the bot sent: ``(interaction id, code)``."""
        return self.server.call(
            lambda s, now: [(a.interaction_id, a.code) for a in s.interaction_acks])

    def wait_replies(self, n: int = 1, timeout: float = 10.0) -> Any:
        """The next ``n`` messages the bot sends (after those already returned).

        Blocks in a plain test; in an async test it returns an awaitable:
        ``[reply] = await qq_simulator.wait_replies(1)``.
        """
        def check() -> list[Reply] | None:
            sent = self.server.sent_messages()
            if len(sent) < self._taken + n:
                return None
            new = [Reply.from_sent(m) for m in sent[self._taken:self._taken + n]]
            self._taken += n
            return new
        what = f"{n} more repl{'y' if n == 1 else 'ies'}"
        if _in_async_context():
            return self._wait_async(check, timeout, what)
        return self._wait_sync(check, timeout, what)

    def wait_connected(self, timeout: float = 10.0) -> Any:
        """Until a bot identifies or resumes again (awaitable in an async test)."""
        if _in_async_context():
            return self._wait_async(self._connected, timeout, "the bot to connect")
        return self._wait_sync(self._connected, timeout, "the bot to connect")

    def running(self, bot: Any, *, wait_connected: bool = True) -> _Running:
        """``with qq_simulator.running(bot):`` (a threaded bot) or ``async with`` (asyncio,
        trio): the bot runs until the block ends, and the block starts once it has
        connected (``wait_connected=False`` for a webhook bot)."""
        return _Running(self, bot, wait_connected)

    def _connected(self) -> bool | None:
        counters = self.server.counters()
        total = counters.identifies + counters.resumes
        if total > self._identifies:
            self._identifies = total
            return True
        return None

    @staticmethod
    def _wait_sync(check: Callable[[], T | None], timeout: float, what: str) -> T:
        deadline = time.monotonic() + timeout
        while (value := check()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"qq_simulator: timed out waiting for {what}")
            time.sleep(0.01)
        return value

    @staticmethod
    async def _wait_async(check: Callable[[], T | None], timeout: float, what: str) -> T:
        import anyio

        with anyio.move_on_after(timeout):
            while (value := check()) is None:
                await anyio.sleep(0.01)
            return value
        raise AssertionError(f"qq_simulator: timed out waiting for {what}")

    def close(self) -> None:
        for pusher in self._pushers:
            pusher.stop(2.0)
        self.server.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "qq_simulator(**options): options for the qq_simulator fixture's Simulator")


@pytest.fixture
def qq_simulator(request: pytest.FixtureRequest) -> Iterator[QQSimulator]:
    """A QQ simulator on 127.0.0.1 for this test (see :class:`QQSimulator`)."""
    marker = request.node.get_closest_marker("qq_simulator")
    options = dict(marker.kwargs) if marker is not None else {}
    server = SimulatorThread(Simulator(**options), lifetime=600.0).start()
    simulator = QQSimulator(server)
    try:
        yield simulator
    finally:
        simulator.close()
