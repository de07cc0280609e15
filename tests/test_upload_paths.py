"""UploadSession edge paths: odd answers at every step, timers, progress, events."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from qqproto._commands import SendHttpRequest
from qqproto._endpoints import Endpoints
from qqproto._http import HttpResponse
from qqproto._values import ChatScope, FileType, UploadedMedia
from qqproto.errors import (
    AuthError,
    MediaRejectedError,
    NetworkError,
    PermissionDeniedError,
    TransientError,
    UnexpectedResponseError,
    UploadPartFailedError,
)
from qqproto.events import UploadFailed, UploadFinished, UploadPhase, UploadProgress
from qqproto.rest._token import TokenState
from qqproto.upload._hashing import hash_bytes
from qqproto.upload._plan import ReadPart
from qqproto.upload._session import UploadSession

API = "https://api.example.test"
TOKEN_URL = "https://auth.example.test/token"
DATA = bytes(range(40))


def _json(body: object, status: int = 200) -> HttpResponse:
    return HttpResponse(status=status, body=json.dumps(body).encode())


def _tokens(token: str | None = "TOK") -> TokenState:
    state = TokenState(app_id="1001", secret="s",
                       endpoints=Endpoints(api_base=API, token_url=TOKEN_URL))
    if token is not None:
        state.receive_response(_json({"access_token": token, "expires_in": 7200}), 0.0)
    return state


def _plan(parts: int = 4, block: int = 10, concurrency: int = 4, **extra: Any
          ) -> HttpResponse:
    return _json({"upload_id": "UP", "block_size": block,
                  "parts": [{"index": i + 1, "presigned_url": f"https://cos.example/{i}"}
                            for i in range(parts)],
                  "upload_config": {"concurrency": concurrency}, **extra})


def _session(data: bytes = DATA, state: TokenState | None = None, **kw: Any
             ) -> UploadSession:
    kw.setdefault("hashes", hash_bytes(data))
    return UploadSession(token_state=state or _tokens(), scope=ChatScope.C2C,
                         target_id="U", file_type=FileType.FILE, file_name="f",
                         file_size=len(data), **kw)


def drain(s: UploadSession) -> list[Any]:
    out = []
    while (cmd := s.next_command()) is not None:
        out.append(cmd)
    return out


def events(s: UploadSession) -> list[Any]:
    out = []
    while (event := s.next_event()) is not None:
        out.append(event)
    return out


def _prepared(s: UploadSession, answer: HttpResponse | None = None) -> list[ReadPart]:
    s.start(0.0)
    (prepare,) = drain(s)
    s.http_response(prepare.id, answer or _plan(), 0.0)
    return drain(s)


def _put_all(s: UploadSession, reads: list[ReadPart], data: bytes = DATA,
             now: float = 0.0) -> list[SendHttpRequest]:
    for read in reads:
        s.part_data(read.id, data[read.offset:read.offset + read.length], now)
    puts = drain(s)
    for put in puts:
        s.http_response(put.id, HttpResponse(status=200), now)
    return drain(s)


# --- odd answers to upload_prepare ------------------------------------------------------


@pytest.mark.parametrize(("answer", "error"), [
    (HttpResponse(status=200, body=b"<html>maintenance</html>"), UnexpectedResponseError),
    (HttpResponse(status=202, body=b'{"upload_id":"x"}'), UnexpectedResponseError),
    (HttpResponse(status=503, body=b"<html/>"), TransientError),
    (_json({"code": 850019, "message": "format"}), MediaRejectedError),
    (_json({"code": 40054002}, 403), PermissionDeniedError),
    (_json([]), UnexpectedResponseError),
])
def test_a_prepare_failure_ends_the_session_without_reading_parts(
        answer: HttpResponse, error: type[Exception]) -> None:
    s = _session()
    s.start(0.0)
    (prepare,) = drain(s)
    s.http_response(prepare.id, answer, 0.0)
    assert s.done and drain(s) == [] and s.plan is None
    with pytest.raises(error):
        s.result()
    (failed,) = events(s)
    assert isinstance(failed, UploadFailed) and isinstance(failed.error, error)


def test_a_prepare_transport_failure_is_a_retryable_network_error() -> None:
    s = _session()
    s.start(0.0)
    (prepare,) = drain(s)
    s.http_failed(prepare.id, "TLS handshake failed", 0.0)
    with pytest.raises(NetworkError, match="prepare request failed: TLS handshake failed"):
        s.result()


def test_prepare_401_refreshes_once() -> None:
    state = _tokens("OLD")
    s = _session(state=state)
    s.start(0.0)
    (prepare,) = drain(s)
    s.http_response(prepare.id, _json({}, 401), 0.0)
    (token,) = drain(s)
    s.http_response(token.id, _json({"access_token": "NEW", "expires_in": 7200}), 0.0)
    (again,) = drain(s)
    assert again.request.header("Authorization") == "QQBot NEW"
    s.http_response(again.id, _json({"code": 11241}, 401), 0.0)
    with pytest.raises(AuthError):
        s.result()


# --- parts: order, progress, memory ------------------------------------------------------


def test_parts_are_read_in_file_order_and_progress_counts_parts_and_bytes() -> None:
    s = _session(DATA + b"xy")  # 42 bytes: 4 parts of 10 and one of 2
    reads = _prepared(s, _plan(parts=5, concurrency=5))
    assert [(r.offset, r.length) for r in reads] == [(0, 10), (10, 10), (20, 10), (30, 10),
                                                     (40, 2)]
    finishes = _put_all(s, reads, DATA + b"xy")
    assert len(finishes) == 5 and s.buffered_bytes == 0
    for finish in reversed(finishes):
        s.http_response(finish.id, HttpResponse(status=200), 1.0)
    progress = [e for e in events(s) if isinstance(e, UploadProgress)]
    assert [(e.parts_done, e.bytes_done) for e in progress] == [
        (1, 2), (2, 12), (3, 22), (4, 32), (5, 42)]
    assert all(e.phase is UploadPhase.UPLOADING and e.parts_total == 5
               and e.bytes_total == 42 for e in progress)


def test_part_bytes_may_come_as_bytearray_or_memoryview() -> None:
    s = _session()
    reads = _prepared(s)
    s.part_data(reads[0].id, bytearray(DATA[:10]), 0.0)
    s.part_data(reads[1].id, memoryview(DATA[10:20]), 0.0)
    puts = drain(s)
    assert [p.request.body for p in puts] == [DATA[:10], DATA[10:20]]
    assert all(type(p.request.body) is bytes for p in puts)


def test_part_finish_carries_the_md5_of_exactly_the_bytes_read() -> None:
    s = _session()
    finishes = _put_all(s, _prepared(s))
    assert [json.loads(f.request.body)["md5"] for f in finishes] == [
        hashlib.md5(DATA[i:i + 10]).hexdigest() for i in range(0, 40, 10)]


def test_a_failed_upload_drops_every_buffered_part() -> None:
    s = _session()
    reads = _prepared(s)
    for read in reads:
        s.part_data(read.id, DATA[read.offset:read.offset + read.length], 0.0)
    assert s.buffered_bytes == 40
    puts = drain(s)
    for put in puts[:3]:
        s.http_failed(put.id, "reset", 0.0)
    s.handle_timer(1.0)
    for put in drain(s):
        s.http_failed(put.id, "reset", 1.0)
    s.handle_timer(3.0)
    (first_again, *rest) = drain(s)
    s.http_failed(first_again.id, "reset", 3.0)
    assert s.done and s.buffered_bytes == 0 and s.get_timer() is None
    assert [type(e) for e in events(s)] == [UploadFailed]
    for cmd in [*rest, puts[3]]:
        s.http_response(cmd.id, HttpResponse(status=200), 3.0)  # late answers: ignored
    assert drain(s) == []


def test_the_timer_is_the_earliest_pause() -> None:
    s = _session()
    reads = _prepared(s)
    for read in reads:
        s.part_data(read.id, DATA[read.offset:read.offset + read.length], 0.0)
    p0, p1, p2, p3 = drain(s)
    assert s.get_timer() is None
    s.http_response(p0.id, HttpResponse(status=500), 5.0)
    s.http_response(p1.id, HttpResponse(status=500), 4.5)
    assert s.get_timer() == 5.5
    s.handle_timer(5.5)
    (again,) = drain(s)
    assert again.request.url == "https://cos.example/1"
    assert s.get_timer() == 6.0
    s.handle_timer(5.9)  # early: nothing
    assert drain(s) == []
    s.handle_timer(6.0)
    assert [c.request.url for c in drain(s)] == ["https://cos.example/0"]
    # p2 and p3 are still outstanding: answers may come in any order.
    s.http_response(p3.id, HttpResponse(status=200), 6.0)
    s.http_response(p2.id, HttpResponse(status=200), 6.0)
    assert [json.loads(c.request.body)["part_index"] for c in drain(s)] == [4, 3]


# --- part_finish edge paths --------------------------------------------------------------


def test_part_finish_busy_then_ok_confirms_the_part() -> None:
    s = _session()
    (finish, *_) = _put_all(s, _prepared(s))
    s.http_response(finish.id, _json({"code": 40093001}), 0.0)
    s.handle_timer(1.0)
    (again,) = drain(s)
    assert again.request.body == finish.request.body
    s.http_response(again.id, HttpResponse(status=200), 1.0)
    assert [e.parts_done for e in events(s) if isinstance(e, UploadProgress)] == [1]


def test_part_finish_busy_counts_from_the_put_not_from_the_first_busy_answer() -> None:
    s = _session()
    reads = _prepared(s, _plan(upload_config={"concurrency": 1, "retry_timeout": 10}))
    (read,) = reads
    s.part_data(read.id, DATA[:10], 0.0)
    (put,) = drain(s)
    s.http_response(put.id, HttpResponse(status=200), 100.0)
    (finish,) = drain(s)
    s.http_response(finish.id, _json({"err_code": 40093001}), 109.0)
    assert not s.done
    s.handle_timer(110.0)
    (finish,) = drain(s)
    s.http_response(finish.id, _json({"err_code": 40093001}), 110.0)
    assert s.done


def test_part_finish_media_rejection_is_reported_as_itself() -> None:
    s = _session()
    (finish, *_) = _put_all(s, _prepared(s))
    s.http_response(finish.id, _json({"code": 850019, "err_code": 40034002}), 0.0)
    with pytest.raises(MediaRejectedError):
        s.result()


def test_part_finish_that_is_never_answered_fails_after_its_retries() -> None:
    s = _session()
    (finish, *_) = _put_all(s, _prepared(s))
    for now in (0.0, 1.0, 3.0):
        s.http_failed(finish.id, "timed out", now)
        if s.done:
            break
        s.handle_timer(s.get_timer() or now)
        finish = next(c for c in drain(s) if c.purpose == "upload_part_finish")
    with pytest.raises(UploadPartFailedError) as info:
        s.result()
    assert info.value.retryable and info.value.part_index == 1
    assert "timed out" in info.value.message


# --- completion ---------------------------------------------------------------------------


def _to_completion(s: UploadSession) -> SendHttpRequest:
    for finish in _put_all(s, _prepared(s)):
        s.http_response(finish.id, HttpResponse(status=200), 0.0)
    (complete,) = drain(s)
    assert isinstance(complete, SendHttpRequest) and complete.purpose == "upload_complete"
    return complete


@pytest.mark.parametrize("answer", [
    _json({"code": 11241}, 401), _json({"code": 40054002}), _json({"code": 850031})])
def test_completion_stops_on_errors_retrying_cannot_fix(answer: HttpResponse) -> None:
    s = _session()
    complete = _to_completion(s)
    s.http_response(complete.id, answer, 0.0)
    if not s.done:  # a 401 first refreshes the token
        (token,) = drain(s)
        s.http_response(token.id, _json({"access_token": "N", "expires_in": 7200}), 0.0)
        (complete,) = drain(s)
        s.http_response(complete.id, answer, 0.0)
    assert s.done and s.get_timer() is None


def test_completion_result_carries_every_field() -> None:
    s = _session()
    complete = _to_completion(s)
    s.http_response(complete.id, _json({
        "file_uuid": "FU", "file_info": "FI", "ttl": "86400", "raw_url": "https://cos/r",
        "id": "MSG"}), 0.0)
    media = UploadedMedia(file_info="FI", file_uuid="FU", ttl=86400, message_id="MSG",
                          raw_url="https://cos/r")
    assert s.result() == media
    assert events(s)[-1] == UploadFinished(media=media)
    assert repr(s) == "UploadSession('f', 40 bytes, state=DONE)"


def test_completion_waits_for_a_token_like_every_other_request() -> None:
    state = _tokens("OLD")
    s = _session(state=state)
    for finish in _put_all(s, _prepared(s)):
        s.http_response(finish.id, HttpResponse(status=200), 0.0)
    (complete,) = drain(s)
    s.http_response(complete.id, HttpResponse(status=500), 0.0)
    s.handle_timer(7200.0)  # the pause ends long after the token's refresh point
    (token,) = drain(s)
    assert token.purpose == "token"
    s.http_response(token.id, _json({"access_token": "NEW", "expires_in": 7200}), 7200.0)
    (complete,) = drain(s)
    assert complete.request.header("Authorization") == "QQBot NEW"


def test_hashing_progress_then_prepare_without_known_hashes() -> None:
    s = _session(hashes=None, hash_chunk_size=16)
    s.start(0.0)
    for _ in range(3):
        (read,) = drain(s)
        s.part_data(read.id, DATA[read.offset:read.offset + read.length], 0.0)
    (prepare,) = drain(s)
    assert json.loads(prepare.request.body)["md5"] == hashlib.md5(DATA).hexdigest()
    assert [(e.phase, e.bytes_done) for e in events(s)] == [
        (UploadPhase.HASHING, 16), (UploadPhase.HASHING, 32), (UploadPhase.HASHING, 40)]


def test_calls_and_uploads_share_one_token_refresh() -> None:
    from qqproto.rest._client import RestClient

    state = _tokens(None)
    client = RestClient(state)
    call = client.send_c2c_message("U", content="hi")
    token_request = call.next_request(0.0)
    assert token_request is not None and token_request.url == TOKEN_URL
    call.receive_response(_json({"access_token": "SHARED", "expires_in": 7200}), 0.0)
    s = UploadSession.for_client(client, ChatScope.C2C, "U", FileType.FILE, file_name="f",
                              file_size=len(DATA), hashes=hash_bytes(DATA))
    s.start(1.0)
    (prepare,) = drain(s)  # no second token request: the call's refresh is reused
    assert prepare.purpose == "upload_prepare"
    assert prepare.request.header("Authorization") == "QQBot SHARED"
    # The upload's refresh after a 401 serves the next call, too.
    s.http_response(prepare.id, _json({}, 401), 2.0)
    (token,) = drain(s)
    s.http_response(token.id, _json({"access_token": "FRESH", "expires_in": 7200}), 2.0)
    later = client.get_bot_info()
    request = later.next_request(3.0)
    assert request is not None and request.header("Authorization") == "QQBot FRESH"
