"""Fuzz every answer a server sends over HTTP: token, gateway discovery, REST calls and
the chunked upload saga, each driven whole with fuzzed answers.

One input is a script of answers.  Each answer is built from the input by a small
grammar (:class:`Answers`): a status, a few headers (``Retry-After``, ``Content-Type``,
``Content-Length``-free), and a body that is either raw bytes or one of the documented
shapes (token, ``/gateway/bot``, message, ``upload_prepare``, ``file_info``, error) with
every value drawn from :data:`VALUES` — the numbers that are not numbers (``"²"``,
``"--5"``, ``1e308``, ``10**30``), booleans, nulls, nested objects.  Three sagas consume
the script in turn:

1. a :class:`~qqproto.gateway.GatewaySession` from start: every ``SendHttpRequest`` gets
   the next answer, connects fail, timers fire (time moves by arithmetic);
2. :class:`~qqproto.rest.RestCall` s of every parser (message, media, gateway, empty),
   pumped with the answers until done, ``delay`` included;
3. an :class:`~qqproto.upload.UploadSession` over a small file.

The invariant: nothing escapes but the typed errors of each boundary — a call's
``result()`` raises an :class:`~qqproto.errors.ApiError`, the session and the upload
raise nothing (their failures are events, commands and ``result()`` errors); every wait
they ask for is finite and bounded; every saga ends within a bounded number of steps.

Run with atheris::

    pip install '.[fuzz]' && python fuzz/fuzz_rest.py -max_total_time=600

``run_campaign`` (see docs/fuzzing.rst) runs the same ``fuzz_one`` without atheris.
"""

from __future__ import annotations

import json
import math
import random
import sys
from collections import Counter
from typing import Any, Final

from qqproto import FileType
from qqproto._commands import OpenConnection, SendHttpRequest
from qqproto._endpoints import Endpoints
from qqproto.errors import ApiError
from qqproto.gateway import GatewaySession, ReconnectPolicy
from qqproto.gateway._backoff import Backoff
from qqproto.rest import HttpResponse, RestCall, RestClient, TokenState
from qqproto.upload import ReadPart, UploadSession

ENDPOINTS: Final = Endpoints(api_base="https://api.example.test",
                             token_url="https://bots.example.test/token")
#: No wait the core asks for may be longer than this (a day and a bit).
MAX_WAIT: Final = 2 * 86400.0
MAX_STEPS: Final = 64

VALUES: Final[list[Any]] = [
    0, 1, 2, -1, -5, 7200, 86_400_000, 2**31, 2**63, 10**30, -(10**30), 1e-9, 0.5, 1e15,
    1e308, -0.0, "0", "7200", " 7200 ", "\u00b2", "--5", "-", "1_000", "+5", "\u0663",
    "1e3", "nan", "inf", "", "x", True, False, None, [], {}, [1, 2], {"a": 1},
    "ws://[::1", "wss://gw.example:99999/ws", "wss://gw.example/ws", "ws://127.0.0.1:9/",
    "https://cos.example/p1", "http://cos.example/p2", "T0KEN", 100016, 11241, 22009,
    40093001, 40093002, 304023, 850031,
]
#: Documented answer shapes (keys) whose values the fuzzer chooses.
SHAPES: Final[list[tuple[str, ...]]] = [
    ("access_token", "expires_in", "code", "message"),
    ("url", "shards", "session_start_limit"),
    ("id", "timestamp", "code", "err_code", "message", "trace_id"),
    ("upload_id", "block_size", "parts", "upload_config", "concurrency", "retry_timeout"),
    ("file_info", "file_uuid", "ttl", "id", "data"),
    ("code", "err_code", "message", "retry_after", "data"),
]
LIMIT_KEYS: Final = ("total", "remaining", "reset_after", "max_concurrency")
STATUSES: Final = (200, 200, 200, 201, 202, 204, 400, 401, 403, 404, 429, 500, 502, 504)


class Answers:
    """Turns fuzzer bytes into HTTP answers, deterministically."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def byte(self) -> int:
        if self._pos >= len(self._data):
            return 0
        value = self._data[self._pos]
        self._pos += 1
        return value

    @property
    def exhausted(self) -> bool:
        return self._pos >= len(self._data)

    def value(self, depth: int = 0) -> Any:
        choice = self.byte()
        if choice < 200 or depth > 2:
            return VALUES[choice % len(VALUES)]
        if choice < 220:
            return {key: self.value(depth + 1) for key in LIMIT_KEYS if self.byte() & 1}
        if choice < 240:
            return [self.part(depth + 1) for _ in range(self.byte() % 4)]
        return self.raw_text()

    def part(self, depth: int) -> Any:
        return {"index": self.value(depth), "presigned_url": self.value(depth),
                "block_size": self.value(depth)} if self.byte() & 1 else self.value(depth)

    def raw_text(self) -> str:
        size = self.byte() % 16
        chunk = self._data[self._pos:self._pos + size]
        self._pos += size
        return chunk.decode("utf-8", "replace")

    def body(self) -> bytes:
        kind = self.byte()
        if kind < 16:  # raw bytes: not JSON, truncated JSON, HTML …
            size = self.byte() % 64
            chunk = self._data[self._pos:self._pos + size]
            self._pos += size
            return chunk
        shape = SHAPES[kind % len(SHAPES)]
        body = {key: self.value() for key in shape if self.byte() % 4}
        try:
            return json.dumps(body).encode()
        except ValueError:  # NaN and friends: write them as the tolerant codecs would
            return json.dumps(body, allow_nan=True).encode()

    def response(self) -> HttpResponse:
        status = STATUSES[self.byte() % len(STATUSES)]
        headers: list[tuple[str, str]] = []
        flags = self.byte()
        if flags & 1:
            headers.append(("Content-Type", "application/json"))
        if flags & 2:
            headers.append(("Retry-After", str(self.value())))
        if flags & 4:
            headers.append(("X-Tps-trace-ID", "t"))
        return HttpResponse(status=status, headers=tuple(headers), body=self.body())


def _check_wait(at: float | None, now: float) -> None:
    assert at is None or (math.isfinite(at) and at - now <= MAX_WAIT), (at, now)


def _tokens(granted: bool = False) -> TokenState:
    """A token state; ``granted``: holding a token already, so the call itself is sent
    first (a 401 then fetches a fuzzed token)."""
    tokens = TokenState(app_id="1001", secret="s3cr3t", endpoints=ENDPOINTS)
    if granted:
        tokens.receive_response(HttpResponse(
            status=200, body=b'{"access_token":"T","expires_in":7200}'), 0.0)
    return tokens


def run_session(answers: Answers) -> list[str]:
    """The gateway supervisor from start, every HTTP request answered from the script."""
    session = GatewaySession(app_id="1001", token_state=_tokens(), endpoints=ENDPOINTS,
                             rng=random.Random(1),
                             policy=ReconnectPolicy(backoff=Backoff(base=0.5, cap=4.0)))
    now = 0.0
    session.start(now)
    outcomes = []
    for _ in range(MAX_STEPS):
        command = session.next_command()
        while command is not None:
            if isinstance(command, SendHttpRequest):
                if answers.exhausted:
                    session.http_failed(command.id, "out of answers", now)
                else:
                    session.http_response(command.id, answers.response(), now)
            elif isinstance(command, OpenConnection):
                session.connection_failed(command.id, "refused", now)  # no gateway here
            command = session.next_command()
        while (event := session.next_event()) is not None:
            outcomes.append(type(event).__name__)
        timer = session.get_timer()
        _check_wait(timer, now)
        if session.state.name == "STOPPED" or timer is None or answers.exhausted:
            break
        now = max(now, timer)
        session.handle_timer(now)
    return outcomes


def _calls(tokens: TokenState) -> list[RestCall[Any]]:
    client = RestClient(tokens)
    return [client.send_c2c_message("U", content="hi", msg_id="m", msg_seq=1),
            client.upload_media("c2c", "U", FileType.IMAGE, url="https://img.example/a.png"),
            client.get_gateway_bot(),
            client.recall_message("c2c", "U", "m1"),
            client.get_bot_info()]


def run_calls(answers: Answers, errors: Counter[str]) -> None:
    """REST calls of every parser, each answered from the script until done."""
    tokens = _tokens(granted=answers.byte() & 1 == 1)
    now = 0.0
    for call in _calls(tokens):
        for _ in range(MAX_STEPS):
            request = call.next_request(now)
            if request is None:
                break
            assert 0 <= request.delay <= MAX_WAIT, request.delay
            now += request.delay
            if answers.exhausted:
                call.transport_failed("out of answers", now)
            else:
                call.receive_response(answers.response(), now)
        assert call.done, "a call did not finish"
        try:
            call.result()
        except ApiError as exc:  # the one typed family a call may raise
            errors[type(exc).__name__] += 1
        _check_wait(tokens.backoff_until(now), now)
        now += 61.0  # past any token back-off, so the next call is sent
        if tokens.current(now) is None and answers.byte() & 1:
            tokens.receive_response(HttpResponse(
                status=200, body=b'{"access_token":"T","expires_in":7200}'), now)


def run_upload(answers: Answers, errors: Counter[str]) -> None:
    """The chunked upload of 10 bytes, every request answered from the script."""
    data = b"0123456789"
    session = UploadSession(token_state=_tokens(granted=True), scope="c2c", target_id="U",
                            file_type=FileType.FILE, file_name="f.bin", file_size=len(data))
    now = 0.0
    session.start(now)
    for _ in range(MAX_STEPS * 4):
        progressed = False
        while (command := session.next_command()) is not None:
            progressed = True
            if isinstance(command, ReadPart):
                session.part_data(command.id, data[command.offset:command.offset
                                                    + command.length], now)
            elif isinstance(command, SendHttpRequest):
                if answers.exhausted:
                    session.http_failed(command.id, "out of answers", now)
                else:
                    session.http_response(command.id, answers.response(), now)
        while session.next_event() is not None:
            pass
        if session.done:
            break
        timer = session.get_timer()
        _check_wait(timer, now)
        if timer is not None:
            now = max(now, timer)
            session.handle_timer(now)
        elif not progressed:
            break
    if session.done:
        try:
            session.result()
        except ApiError as exc:
            errors[type(exc).__name__] += 1


def fuzz_one(data: bytes, errors: Counter[str] | None = None) -> None:
    """One input through the three sagas; raises only on a broken invariant."""
    errors = errors if errors is not None else Counter()
    answers = Answers(data)
    for name in run_session(answers):
        if name == "SessionStopped":
            errors["SessionStopped"] += 1
    run_calls(answers, errors)
    run_upload(answers, errors)


def _entry(data: bytes) -> None:  # pragma: no cover - atheris entry point
    fuzz_one(data)


if __name__ == "__main__":  # pragma: no cover
    import logging

    import atheris

    logging.disable(logging.CRITICAL)  # failures are expected and logged: keep stderr quiet
    atheris.instrument_all()
    atheris.Setup(sys.argv, _entry)
    atheris.Fuzz()
