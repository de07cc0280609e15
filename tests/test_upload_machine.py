"""The upload saga under arbitrary schedules: a hypothesis state machine plays driver and
server, answers commands in any order, injects retryable failures (40093001, PUT 5xx,
transport errors, 401), moves time only through the session's own timers (or far
ahead, to expire the token), and checks the invariants after every step."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from qqproto._commands import SendHttpRequest
from qqproto._endpoints import Endpoints
from qqproto._http import HttpResponse
from qqproto._values import ChatScope, FileType, UploadedMedia
from qqproto.errors import ApiError, UploadSourceError
from qqproto.rest._token import TokenState
from qqproto.upload._hashing import hash_bytes
from qqproto.upload._plan import ReadPart
from qqproto.upload._session import UploadSession

API = "https://api.example.test"
TOKEN_URL = "https://auth.example.test/token"


def _json(body: object, status: int = 200) -> HttpResponse:
    return HttpResponse(status=status, body=json.dumps(body).encode())


class UploadMachine(RuleBasedStateMachine):
    @initialize(
        size=st.integers(1, 3000), parts=st.integers(1, 12), base=st.integers(0, 3),
        as_str=st.booleans(), config_at=st.sampled_from(["nested", "root", "none"]),
        concurrency=st.one_of(st.integers(0, 15), st.just("3")),
        retry_timeout=st.sampled_from([0, 5, 120, "30", 1000]),
        have_token=st.booleans(), with_hashes=st.booleans(), hash_chunk=st.integers(1, 4000),
        seed=st.integers(0, 2**32 - 1), driver_cap=st.integers(1, 12),
        shuffle=st.booleans(),
    )
    def setup(self, size: int, parts: int, base: int, as_str: bool, config_at: str,
              concurrency: int | str, retry_timeout: int | str, have_token: bool,
              with_hashes: bool, hash_chunk: int, seed: int, driver_cap: int,
              shuffle: bool) -> None:
        rng = random.Random(seed)
        self.data = rng.randbytes(size)
        self.block = -(-size // parts)
        count = -(-size // self.block)
        self.tokens = TokenState(app_id="1001", secret="s",
                                 endpoints=Endpoints(api_base=API, token_url=TOKEN_URL))
        self.issued: list[str] = []
        self.now = 0.0
        if have_token:
            self.tokens.receive_response(self._issue_token(), self.now)
        order = list(range(count))
        if shuffle:
            rng.shuffle(order)
        raw_parts = [{"index": str(base + i) if as_str else base + i,
                      "presigned_url": f"https://cos.example.test/up/{i}"} for i in order]
        body: dict[str, Any] = {"upload_id": "UP", "parts": raw_parts,
                                "block_size": str(self.block) if as_str else self.block}
        config = {"concurrency": concurrency, "retry_timeout": retry_timeout}
        if config_at == "nested":
            body["upload_config"] = config
        elif config_at == "root":
            body.update(config)
        self.prepare_body = body
        # What the server knows: url → (offset, length, raw index)
        self.expected = {
            f"https://cos.example.test/up/{i}": (
                i * self.block, min(self.block, size - i * self.block),
                str(base + i) if as_str else base + i)
            for i in range(count)}
        self.put_ok: dict[str, int] = dict.fromkeys(self.expected, 0)
        self.finished: set[str] = set()
        self.session = UploadSession(
            token_state=self.tokens, scope=ChatScope.GROUP, target_id="G",
            file_type=FileType.FILE, file_name="f.bin", file_size=size,
            hashes=hash_bytes(self.data) if with_hashes else None,
            hash_chunk_size=hash_chunk, max_parts_in_flight=driver_cap)
        self.pending: list[Any] = []
        self.completions = 0
        self.session.start(self.now)
        self._collect()

    # --- helpers -----------------------------------------------------------------------

    def _issue_token(self) -> HttpResponse:
        token = f"T{len(self.issued)}"
        self.issued.append(token)
        return _json({"access_token": token, "expires_in": 7200})

    def _url_of(self, finish_body: dict[str, Any]) -> str:
        for url, (_, _, index) in self.expected.items():
            if index == finish_body["part_index"]:
                return url
        raise AssertionError(f"unknown part_index {finish_body['part_index']!r}")

    def _collect(self) -> None:
        while (cmd := self.session.next_command()) is not None:
            self._check_command(cmd)
            self.pending.append(cmd)

    def _check_command(self, cmd: object) -> None:
        size = len(self.data)
        if isinstance(cmd, ReadPart):
            assert cmd.offset >= 0 and cmd.length > 0 and cmd.offset + cmd.length <= size
            return
        assert isinstance(cmd, SendHttpRequest)
        request = cmd.request
        if cmd.purpose == "token":
            assert request.url == TOKEN_URL and request.header("Authorization") is None
            return
        if cmd.purpose == "upload_part":
            # No token on a pre-signed URL, ever; exactly the part's bytes.
            assert request.header("Authorization") is None
            assert request.header("X-Union-Appid") is None
            offset, length, _ = self.expected[request.url]
            assert request.body == self.data[offset:offset + length]
            assert self.put_ok[request.url] == 0, "a stored part is PUT again"
            return
        auth = request.header("Authorization")
        assert auth is not None and auth.removeprefix("QQBot ") in self.issued
        assert request.url.startswith(API + "/v2/groups/G/")
        body = json.loads(request.body)
        if cmd.purpose == "upload_part_finish":
            url = self._url_of(body)
            offset, length, _ = self.expected[url]
            assert self.put_ok[url] == 1, "part_finish before the PUT succeeded"
            assert url not in self.finished
            assert body["block_size"] == str(length)  # the documented string form
            assert body["md5"] == hashlib.md5(self.data[offset:offset + length]).hexdigest()
        elif cmd.purpose == "upload_complete":
            assert self.finished == set(self.expected), "completion before every part"
            assert body == {"upload_id": "UP"}
        else:
            assert cmd.purpose == "upload_prepare"
            hashes = hash_bytes(self.data)
            assert body == {"file_type": 4, "file_name": "f.bin", "file_size": str(size),
                            "md5": hashes.md5, "sha1": hashes.sha1,
                            "md5_10m": hashes.md5_10m}

    # --- rules -------------------------------------------------------------------------

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data())
    def answer(self, data: st.DataObject) -> None:
        cmd = self.pending.pop(data.draw(st.integers(0, len(self.pending) - 1)))
        s = self.session
        if isinstance(cmd, ReadPart):
            s.part_data(cmd.id, self.data[cmd.offset:cmd.offset + cmd.length], self.now)
            self._collect()
            return
        purpose, request = cmd.purpose, cmd.request
        outcome = data.draw(st.sampled_from(["ok", "ok", "ok", "fail", "transport"]))
        if purpose == "token":
            if outcome == "transport":
                s.http_failed(cmd.id, "reset", self.now)
            else:
                s.http_response(cmd.id, self._issue_token(), self.now)
        elif purpose == "upload_prepare":
            if outcome == "fail":
                s.http_response(cmd.id, _json({}, 401), self.now)
            else:
                s.http_response(cmd.id, _json(self.prepare_body), self.now)
        elif purpose == "upload_part":
            if outcome == "ok":
                self.put_ok[request.url] += 1
                s.http_response(cmd.id, HttpResponse(status=data.draw(
                    st.sampled_from([200, 201, 204]))), self.now)
            elif outcome == "fail":
                s.http_response(cmd.id, HttpResponse(status=500, body=b"<html/>"), self.now)
            else:
                s.http_failed(cmd.id, "reset", self.now)
        elif purpose == "upload_part_finish":
            if outcome == "ok":
                self.finished.add(self._url_of(json.loads(request.body)))
                s.http_response(cmd.id, HttpResponse(status=200, body=b"{}"), self.now)
            elif outcome == "fail":
                s.http_response(cmd.id, data.draw(st.sampled_from([
                    _json({"code": 40093001}), _json({}, 401), HttpResponse(status=502)])),
                    self.now)
            else:
                s.http_failed(cmd.id, "reset", self.now)
        else:
            self.completions += 1
            if outcome == "ok":
                s.http_response(cmd.id, _json({"file_info": "FI", "ttl": 60}), self.now)
            else:
                s.http_response(cmd.id, HttpResponse(status=500), self.now)
        self._collect()

    @precondition(lambda self: self.session.get_timer() is not None)
    @rule()
    def timer_fires(self) -> None:
        timer = self.session.get_timer()
        assert timer is not None and timer > self.now - 1e-9
        self.now = max(self.now, timer)
        self.session.handle_timer(self.now)
        self._collect()

    @rule()
    def much_later(self) -> None:
        # Past the token's refresh point: the next OpenAPI request must refresh it.
        self.now += 7200.0
        self.session.handle_timer(self.now)
        self._collect()

    # --- invariants --------------------------------------------------------------------

    @invariant()
    def memory_is_bounded(self) -> None:
        s = self.session
        if s.plan is not None:
            assert s.buffered_bytes <= s.concurrency * self.block
        reads = sum(1 for c in self.pending if isinstance(c, ReadPart))
        assert reads <= max(1, s.concurrency)

    @invariant()
    def stored_parts_are_stored_once(self) -> None:
        assert all(count <= 1 for count in self.put_ok.values())

    @invariant()
    def outcome_is_consistent(self) -> None:
        s = self.session
        if s.state.name == "DONE":
            assert s.result() == UploadedMedia(file_info="FI", ttl=60)
            assert self.finished == set(self.expected)
            assert all(count == 1 for count in self.put_ok.values())
            assert s.buffered_bytes == 0
        elif s.state.name == "FAILED":
            assert s.buffered_bytes == 0 and s.get_timer() is None
            try:
                s.result()
            except (ApiError, UploadSourceError):
                pass
            else:  # pragma: no cover - a failed session must raise
                raise AssertionError("failed session returned a result")
        else:
            # Something is always under way: a command to answer or a timer to wait for.
            assert self.pending or s.get_timer() is not None


UploadMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=60,
                                           deadline=None)
TestUploadSaga = UploadMachine.TestCase
