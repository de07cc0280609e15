"""The driver-facing contract: one small generic executor runs any upload.

``run_upload`` below is the whole driver side (the asyncio/trio/threaded drivers do the
same with real I/O and several requests in flight).  It runs against an in-memory
server that stores PUT bytes, checks every md5 and injects the platform's usual hiccups.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from qqproto._endpoints import Endpoints
from qqproto._http import HttpRequest, HttpResponse
from qqproto._values import ChatScope, FileType, UploadedMedia
from qqproto.errors import UploadDailyLimitError
from qqproto.events import Event, UploadPhase, UploadProgress
from qqproto.rest._client import RestClient
from qqproto.rest._token import TokenState
from qqproto.upload._plan import ReadPart
from qqproto.upload._session import UploadSession

API = "https://api.example.test"
TOKEN_URL = "https://auth.example.test/token"


def run_upload(session: UploadSession, read: Callable[[int, int], bytes],
               perform: Callable[[HttpRequest], HttpResponse], clock: Callable[[], float],
               sleep_until: Callable[[float], None]) -> tuple[UploadedMedia, list[Event]]:
    """A complete synchronous executor for UploadSession (no protocol knowledge)."""
    events: list[Event] = []
    in_flight: list[Any] = []
    session.start(clock())
    while not session.done:
        while (cmd := session.next_command()) is not None:
            if isinstance(cmd, ReadPart):
                session.part_data(cmd.id, read(cmd.offset, cmd.length), clock())
            else:
                in_flight.append(cmd)
        if in_flight:
            cmd = in_flight.pop(0)
            try:
                response = perform(cmd.request)
            except OSError as exc:
                session.http_failed(cmd.id, str(exc), clock())
            else:
                session.http_response(cmd.id, response, clock())
        elif (timer := session.get_timer()) is not None:
            sleep_until(timer)
            session.handle_timer(clock())
        while (event := session.next_event()) is not None:
            events.append(event)
    return session.result(), events


class FakePlatform:
    """Token endpoint, upload_prepare/part_finish/files and a COS bucket, in memory."""

    def __init__(self, block: int, *, put_failures: int = 0, busy: int = 0,
                 complete_failures: int = 0, daily_limit: bool = False,
                 concurrency: int = 2) -> None:
        self.block = block
        self.concurrency = concurrency
        self.put_failures = put_failures
        self.busy = busy
        self.complete_failures = complete_failures
        self.daily_limit = daily_limit
        self.stored: dict[int, bytes] = {}
        self.finished: dict[int, str] = {}
        self.log: list[str] = []
        self.size = 0
        self.md5 = ""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.log.append(f"{request.method} {request.url}")
        if request.url == TOKEN_URL:
            return self._json({"access_token": "TOK", "expires_in": 7200})
        if request.url.startswith("https://cos.example.test/"):
            assert request.header("Authorization") is None
            if self.put_failures:
                self.put_failures -= 1
                raise OSError("connection reset by peer")
            self.stored[int(request.url.rsplit("/", 1)[1])] = request.body
            return HttpResponse(status=200)
        assert request.header("Authorization") == "QQBot TOK"
        body = json.loads(request.body)
        if request.url.endswith("/upload_prepare"):
            if self.daily_limit:
                return self._json({"code": 40093002, "message": "daily limit"})
            self.size, self.md5 = int(body["file_size"]), body["md5"]
            count = -(-self.size // self.block)
            return self._json({
                "upload_id": "UP9", "block_size": str(self.block),
                "parts": [{"index": i + 1, "presigned_url": f"https://cos.example.test/{i}"}
                          for i in range(count)],
                "upload_config": {"concurrency": self.concurrency, "retry_timeout": 60}})
        if request.url.endswith("/upload_part_finish"):
            if self.busy:
                self.busy -= 1
                return self._json({"code": 40093001, "message": "busy"})
            index = body["part_index"] - 1
            assert hashlib.md5(self.stored[index]).hexdigest() == body["md5"]
            assert len(self.stored[index]) == int(body["block_size"])
            self.finished[index] = body["md5"]
            return HttpResponse(status=200, body=b"{}")
        assert request.url.endswith("/files") and body == {"upload_id": "UP9"}
        if self.complete_failures:
            self.complete_failures -= 1
            return HttpResponse(status=503, body=b"<html>busy</html>")
        whole = b"".join(self.stored[i] for i in sorted(self.stored))
        assert len(whole) == self.size and hashlib.md5(whole).hexdigest() == self.md5
        return self._json({"file_uuid": "FU", "file_info": "FILEINFO", "ttl": 3600})

    @staticmethod
    def _json(body: object) -> HttpResponse:
        return HttpResponse(status=200, body=json.dumps(body).encode())


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep_until(self, when: float) -> None:
        self.slept.append(round(when - self.now, 6))
        self.now = max(self.now, when)


def _client() -> RestClient:
    return RestClient(TokenState(app_id="1001", secret="s", endpoints=Endpoints(
        api_base=API, token_url=TOKEN_URL)))


def _run(data: bytes, platform: FakePlatform, clock: Clock
         ) -> tuple[UploadedMedia, list[Event]]:
    source = io.BytesIO(data)

    def read(offset: int, length: int) -> bytes:
        source.seek(offset)
        return source.read(length)

    session = UploadSession.for_client(_client(), ChatScope.C2C, "U", FileType.VIDEO,
                                       file_name="clip.mp4", file_size=len(data))
    return run_upload(session, read, platform, clock, clock.sleep_until)


def test_the_generic_executor_uploads_a_file() -> None:
    data = bytes(range(256)) * 40  # 10,240 bytes, 4 parts of 3,000
    platform, clock = FakePlatform(3000), Clock()
    media, events = _run(data, platform, clock)
    assert media == UploadedMedia(file_info="FILEINFO", file_uuid="FU", ttl=3600)
    assert b"".join(platform.stored[i] for i in range(4)) == data
    assert clock.slept == []
    progress = [e for e in events if isinstance(e, UploadProgress)
                and e.phase is UploadPhase.UPLOADING]
    assert [(e.parts_done, e.bytes_done) for e in progress] == [
        (1, 3000), (2, 6000), (3, 9000), (4, 10240)]


def test_the_executor_rides_out_the_usual_hiccups_on_the_session_timers() -> None:
    data = b"x" * 7000
    platform = FakePlatform(3000, put_failures=2, busy=2, complete_failures=1,
                            concurrency=1)
    clock = Clock()
    media, _ = _run(data, platform, clock)
    assert media.file_info == "FILEINFO"
    # PUT retries after 1 s and 2 s, part_finish busy retries after 1 s (twice),
    # completion retry after 2 s: every pause comes from the session, none is a guess.
    assert clock.slept == [1.0, 2.0, 1.0, 1.0, 2.0]
    assert len(platform.stored) == 3 and len(platform.finished) == 3


def test_with_parts_in_flight_the_pauses_overlap() -> None:
    platform, clock = FakePlatform(1000, put_failures=2), Clock()
    media, _ = _run(b"y" * 5000, platform, clock)
    assert media.file_info == "FILEINFO"
    # Two parts failed once each, side by side: both wait out one 1 s pause together.
    assert clock.slept == [1.0]


def test_the_executor_surfaces_typed_errors() -> None:
    with pytest.raises(UploadDailyLimitError):
        _run(b"abc", FakePlatform(3000, daily_limit=True), Clock())
