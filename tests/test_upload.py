"""UploadSession: the chunked upload saga, command-exact (rest.md §4)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from qqproto._commands import SendHttpRequest
from qqproto._endpoints import Endpoints
from qqproto._http import HttpRequest, HttpResponse
from qqproto._values import ChatScope, FileType, UploadedMedia
from qqproto.errors import (
    FileTooLargeError,
    InvalidCredentialsError,
    LocalProtocolError,
    NetworkError,
    UnexpectedResponseError,
    UploadDailyLimitError,
    UploadPartFailedError,
    UploadSourceError,
)
from qqproto.events import UploadFailed, UploadFinished, UploadPhase, UploadProgress
from qqproto.rest._messages import HARD_SIZE_LIMITS, check_file_size
from qqproto.rest._token import TokenState
from qqproto.upload._hashing import hash_bytes
from qqproto.upload._plan import (
    INLINE_LIMIT,
    ReadPart,
    UploadMethod,
    UploadSource,
    choose_upload_method,
)
from qqproto.upload._session import UploadSession, UploadState

API = "https://api.example.test"
TOKEN_URL = "https://auth.example.test/token"
AUTH = (("Authorization", "QQBot TOK"), ("X-Union-Appid", "1001"))
JSON_AUTH = (("Content-Type", "application/json"), *AUTH)
DATA = b"0123456789AB"  # 12 bytes


def tokens(token: str | None = "TOK", now: float = 0.0) -> TokenState:
    state = TokenState(app_id="1001", secret="s",
                       endpoints=Endpoints(api_base=API, token_url=TOKEN_URL))
    if token is not None:
        state.receive_response(_json({"access_token": token, "expires_in": 7200}), now)
    return state


def _json(body: object, status: int = 200) -> HttpResponse:
    return HttpResponse(status=status, body=json.dumps(body).encode())


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def prepare_answer(parts: int = 3, base: int = 1, block: int = 5, **extra: Any
                   ) -> HttpResponse:
    return _json({"upload_id": "UP1", "block_size": str(block),
                  "parts": [{"index": base + i, "presigned_url": f"https://cos.example/p{i}"}
                            for i in range(parts)], **extra})


def session(data: bytes = DATA, state: TokenState | None = None, **kw: Any) -> UploadSession:
    kw.setdefault("hash_chunk_size", 5)
    return UploadSession(token_state=state or tokens(), scope=ChatScope.C2C, target_id="U",
                         file_type=FileType.FILE, file_name="r.bin", file_size=len(data),
                         **kw)


def drain(s: UploadSession) -> list[Any]:
    out = []
    while (cmd := s.next_command()) is not None:
        out.append(cmd)
    return out


def events(s: UploadSession) -> list[object]:
    out: list[object] = []
    while (event := s.next_event()) is not None:
        out.append(event)
    return out


def wake(s: UploadSession) -> None:
    timer = s.get_timer()
    assert timer is not None
    s.handle_timer(timer)


def feed_reads(s: UploadSession, data: bytes, now: float = 0.0) -> list[SendHttpRequest]:
    """Answer every ReadPart (repeatedly) and return the HTTP commands that appear."""
    http: list[SendHttpRequest] = []
    pending = drain(s)
    while pending:
        cmd = pending.pop(0)
        if isinstance(cmd, ReadPart):
            s.part_data(cmd.id, data[cmd.offset:cmd.offset + cmd.length], now)
            pending.extend(drain(s))
        else:
            assert isinstance(cmd, SendHttpRequest)
            http.append(cmd)
    return http


def to_upload_phase(s: UploadSession, data: bytes = DATA,
                    answer: HttpResponse | None = None) -> list[SendHttpRequest]:
    """start → hash → prepare answered → return the part PUT commands."""
    s.start(0.0)
    (prepare,) = feed_reads(s, data)
    s.http_response(prepare.id, answer or prepare_answer(), 0.0)
    return feed_reads(s, data)


def finish_all(s: UploadSession, puts: list[SendHttpRequest], now: float = 0.0,
               data: bytes = DATA) -> list[SendHttpRequest]:
    """PUT ok and part_finish ok for every part; returns the completion command(s)."""
    completion: list[SendHttpRequest] = []
    queue = list(puts)
    while queue:
        cmd = queue.pop(0)
        if cmd.purpose == "upload_part":
            s.http_response(cmd.id, HttpResponse(status=200), now)
        elif cmd.purpose == "upload_part_finish":
            s.http_response(cmd.id, HttpResponse(status=200, body=b"{}"), now)
        else:
            completion.append(cmd)
        queue.extend(feed_reads(s, data, now))
    return completion


# --- the whole saga, request-exact ------------------------------------------------------


def test_a_whole_upload_is_command_exact() -> None:
    s = session()
    assert s.state is UploadState.NEW and s.next_command() is None
    s.start(0.0)
    # hashing: one read at a time, in order
    assert drain(s) == [ReadPart(id=1, offset=0, length=5)]
    s.part_data(1, DATA[:5], 0.0)
    assert drain(s) == [ReadPart(id=2, offset=5, length=5)]
    s.part_data(2, DATA[5:10], 0.0)
    assert drain(s) == [ReadPart(id=3, offset=10, length=2)]
    s.part_data(3, DATA[10:], 0.0)
    hashes = hash_bytes(DATA)
    (prepare,) = drain(s)
    assert prepare == SendHttpRequest(id=4, purpose="upload_prepare", request=HttpRequest(
        method="POST", url=API + "/v2/users/U/upload_prepare", headers=JSON_AUTH,
        body=json.dumps({"file_type": 4, "file_name": "r.bin", "file_size": "12",
                         "md5": hashes.md5, "sha1": hashes.sha1,
                         "md5_10m": hashes.md5_10m}, separators=(",", ":")).encode(),
        timeout=120.0))
    assert events(s) == [
        UploadProgress(phase=UploadPhase.HASHING, bytes_done=5, bytes_total=12),
        UploadProgress(phase=UploadPhase.HASHING, bytes_done=10, bytes_total=12),
        UploadProgress(phase=UploadPhase.HASHING, bytes_done=12, bytes_total=12)]
    s.http_response(4, prepare_answer(upload_config={"concurrency": 3}), 0.0)
    assert s.state.name == "UPLOADING" and s.concurrency == 3
    assert drain(s) == [ReadPart(id=5, offset=0, length=5), ReadPart(id=6, offset=5, length=5),
                        ReadPart(id=7, offset=10, length=2)]
    s.part_data(6, DATA[5:10], 0.0)  # any order
    s.part_data(5, DATA[:5], 0.0)
    s.part_data(7, DATA[10:], 0.0)
    assert s.buffered_bytes == 12
    assert drain(s) == [
        SendHttpRequest(id=8, purpose="upload_part", request=HttpRequest(
            method="PUT", url="https://cos.example/p1", body=DATA[5:10], timeout=300.0)),
        SendHttpRequest(id=9, purpose="upload_part", request=HttpRequest(
            method="PUT", url="https://cos.example/p0", body=DATA[:5], timeout=300.0)),
        SendHttpRequest(id=10, purpose="upload_part", request=HttpRequest(
            method="PUT", url="https://cos.example/p2", body=DATA[10:], timeout=300.0)),
    ]
    s.http_response(10, HttpResponse(status=200), 1.0)
    assert s.buffered_bytes == 10  # the bytes of a stored part are dropped at once
    (finish,) = drain(s)
    assert finish == SendHttpRequest(id=11, purpose="upload_part_finish", request=HttpRequest(
        method="POST", url=API + "/v2/users/U/upload_part_finish", headers=JSON_AUTH,
        body=(b'{"upload_id":"UP1","part_index":3,"block_size":"2","md5":"'
              + md5(DATA[10:]).encode() + b'"}'), timeout=120.0))
    s.http_response(11, HttpResponse(status=200, body=b"{}"), 1.0)
    assert events(s) == [UploadProgress(phase=UploadPhase.UPLOADING, bytes_done=2,
                                        bytes_total=12, parts_done=1, parts_total=3)]
    s.http_response(8, HttpResponse(status=204), 1.0)
    s.http_response(9, HttpResponse(status=201), 1.0)  # any 2xx stores a part (§4.14)
    assert s.buffered_bytes == 0
    finishes = drain(s)
    assert [json.loads(c.request.body)["part_index"] for c in finishes] == [2, 1]
    for cmd in finishes:
        assert s.state.name == "UPLOADING"
        s.http_response(cmd.id, HttpResponse(status=200), 2.0)
    (complete,) = drain(s)
    assert complete == SendHttpRequest(id=14, purpose="upload_complete", request=HttpRequest(
        method="POST", url=API + "/v2/users/U/files", headers=JSON_AUTH,
        body=b'{"upload_id":"UP1"}', timeout=120.0))
    assert s.state.name == "COMPLETING"
    s.http_response(14, _json({"file_uuid": "FU", "file_info": "FI", "ttl": 300}), 3.0)
    media = UploadedMedia(file_info="FI", file_uuid="FU", ttl=300)
    assert s.done and s.state.name == "DONE" and s.result() == media
    assert events(s)[-1] == UploadFinished(media=media)
    assert s.get_timer() is None and s.next_command() is None


def test_group_uploads_use_the_group_paths() -> None:
    s = UploadSession(token_state=tokens(), scope="group", target_id="G",
                      file_type=FileType.IMAGE, file_name="a.png", file_size=3,
                      hashes=hash_bytes(b"png"))
    s.start(0.0)
    (prepare,) = drain(s)
    assert prepare.request.url == API + "/v2/groups/G/upload_prepare"
    assert json.loads(prepare.request.body)["file_type"] == 1


def test_known_hashes_skip_the_hashing_pass() -> None:
    s = session(hashes=hash_bytes(DATA))
    s.start(0.0)
    (cmd,) = drain(s)
    assert isinstance(cmd, SendHttpRequest) and cmd.purpose == "upload_prepare"
    assert events(s) == []


def test_0_based_indexes_are_echoed_and_offsets_start_at_0() -> None:
    s = session(max_parts_in_flight=1)
    (put,) = to_upload_phase(s, answer=prepare_answer(base=0))
    assert put.request.url == "https://cos.example/p0" and put.request.body == DATA[:5]
    s.http_response(put.id, HttpResponse(status=200), 0.0)
    (finish,) = drain(s)
    assert json.loads(finish.request.body)["part_index"] == 0


def test_string_indexes_are_echoed_as_strings() -> None:
    answer = _json({"upload_id": "UP1", "block_size": 12,
                    "parts": [{"index": "1", "presigned_url": "https://cos.example/p"}]})
    s = session()
    (put,) = to_upload_phase(s, answer=answer)
    s.http_response(put.id, HttpResponse(status=200), 0.0)
    (finish,) = drain(s)
    assert json.loads(finish.request.body) == {
        "upload_id": "UP1", "part_index": "1", "block_size": "12", "md5": md5(DATA)}


def test_the_presigned_put_never_carries_the_token_even_on_the_api_origin() -> None:
    answer = _json({"upload_id": "UP1", "block_size": 12,
                    "parts": [{"index": 1, "presigned_url": API + "/cos/part1"}]})
    s = session()
    (put,) = to_upload_phase(s, answer=answer)
    assert put.request.headers == ()


# --- concurrency and memory --------------------------------------------------------------


def test_only_concurrency_parts_are_read_at_once_and_memory_stays_bounded() -> None:
    data = bytes(range(50))
    s = session(data, hashes=hash_bytes(data))
    s.start(0.0)
    (prepare,) = drain(s)
    s.http_response(prepare.id, prepare_answer(parts=5, block=10,
                                               upload_config={"concurrency": 2}), 0.0)
    reads = drain(s)
    assert [(r.offset, r.length) for r in reads] == [(0, 10), (10, 10)]
    for r in reads:
        s.part_data(r.id, data[r.offset:r.offset + r.length], 0.0)
    assert s.buffered_bytes == 20
    puts = drain(s)
    s.http_response(puts[0].id, HttpResponse(status=200), 0.0)
    assert s.buffered_bytes == 10
    # The part counts as in flight until its part_finish is confirmed.
    (finish,) = drain(s)
    s.http_response(finish.id, HttpResponse(status=200), 0.0)
    (next_read,) = [c for c in drain(s) if isinstance(c, ReadPart)]
    assert (next_read.offset, next_read.length) == (20, 10)


@pytest.mark.parametrize(("hint", "cap", "expected"), [
    (None, 10, 1), (0, 10, 1), (3, 10, 3), (50, 10, 10), (50, 4, 4), (2, 1, 1)])
def test_concurrency_is_the_server_hint_capped_at_10_and_by_the_driver(
        hint: int | None, cap: int, expected: int) -> None:
    s = session(max_parts_in_flight=cap, hashes=hash_bytes(DATA))
    s.start(0.0)
    (prepare,) = drain(s)
    config = {} if hint is None else {"concurrency": hint}
    s.http_response(prepare.id, prepare_answer(parts=12, block=1, upload_config=config), 0.0)
    assert s.concurrency == expected
    assert len(drain(s)) == expected


# --- retries ------------------------------------------------------------------------------


def test_a_failed_put_is_retried_after_1_s_then_2_s_then_fails() -> None:
    s = session(max_parts_in_flight=1)
    (put,) = to_upload_phase(s)
    s.http_response(put.id, HttpResponse(status=500), 10.0)
    assert drain(s) == [] and s.get_timer() == 11.0
    s.handle_timer(10.9)
    assert drain(s) == []
    s.handle_timer(11.0)
    (again,) = drain(s)
    assert again.request == put.request
    s.http_failed(again.id, "connection reset", 11.5)
    assert s.get_timer() == 13.5
    s.handle_timer(13.5)
    (third,) = drain(s)
    s.http_response(third.id, HttpResponse(status=403, body=b"<Error/>"), 14.0)
    assert s.done and s.buffered_bytes == 0 and drain(s) == []
    with pytest.raises(UploadPartFailedError) as info:
        s.result()
    assert info.value.part_index == 1 and info.value.retryable
    assert "PUT failed 3 times, last: HTTP 403" in info.value.message
    assert isinstance(events(s)[-1], UploadFailed)


def test_a_put_that_succeeds_on_the_third_attempt_continues() -> None:
    s = session(max_parts_in_flight=1)
    (put,) = to_upload_phase(s)
    s.http_failed(put.id, "timeout", 0.0)
    wake(s)
    (put,) = drain(s)
    s.http_response(put.id, HttpResponse(status=503), 1.0)
    wake(s)
    (put,) = drain(s)
    s.http_response(put.id, HttpResponse(status=200), 3.0)
    (finish,) = drain(s)
    assert finish.purpose == "upload_part_finish"


def _to_first_finish(s: UploadSession, answer: HttpResponse | None = None
                     ) -> SendHttpRequest:
    (put,) = to_upload_phase(s, answer=answer)
    s.http_response(put.id, HttpResponse(status=200), 0.0)
    (finish,) = drain(s)
    assert isinstance(finish, SendHttpRequest)
    return finish


BUSY = _json({"code": 40093001, "message": "upload channel error"})


def test_part_finish_busy_is_retried_every_second_until_the_retry_timeout() -> None:
    s = session(max_parts_in_flight=1)
    finish = _to_first_finish(s, prepare_answer(upload_config={"retry_timeout": 3}))
    now = 0.0
    for _ in range(3):
        s.http_response(finish.id, BUSY, now)
        assert s.get_timer() == now + 1.0
        now += 1.0
        s.handle_timer(now)
        (finish,) = drain(s)
        assert finish.purpose == "upload_part_finish"
    s.http_response(finish.id, BUSY, now)  # elapsed 3 s ≥ retry_timeout
    with pytest.raises(UploadPartFailedError) as info:
        s.result()
    assert info.value.code == 40093001 and info.value.part_index == 1


@pytest.mark.parametrize(("config", "budget"), [({}, 120.0), ({"retry_timeout": 0}, 120.0),
                                                ({"retry_timeout": 9999}, 600.0)])
def test_part_finish_busy_budget_defaults_to_120_s_and_is_capped_at_600_s(
        config: dict[str, int], budget: float) -> None:
    s = session(max_parts_in_flight=1)
    finish = _to_first_finish(s, prepare_answer(upload_config=config))
    s.http_response(finish.id, BUSY, budget - 0.5)
    assert not s.done
    s.handle_timer(budget + 0.5)
    (finish,) = drain(s)
    s.http_response(finish.id, BUSY, budget)
    assert s.done


def test_other_retryable_part_finish_failures_are_retried_twice() -> None:
    s = session(max_parts_in_flight=1)
    finish = _to_first_finish(s)
    s.http_response(finish.id, HttpResponse(status=502, body=b"<html/>"), 0.0)
    assert s.get_timer() == 1.0
    s.handle_timer(1.0)
    (finish,) = drain(s)
    s.http_failed(finish.id, "reset", 1.0)
    assert s.get_timer() == 3.0
    s.handle_timer(3.0)
    (finish,) = drain(s)
    s.http_response(finish.id, HttpResponse(status=500), 3.0)
    with pytest.raises(UploadPartFailedError) as info:
        s.result()
    assert info.value.status == 500


def test_a_fatal_part_finish_error_fails_at_once() -> None:
    s = session(max_parts_in_flight=1)
    finish = _to_first_finish(s)
    s.http_response(finish.id, _json({"code": 40061001, "message": "bad params"}), 0.0)
    with pytest.raises(UploadPartFailedError) as info:
        s.result()
    assert info.value.code == 40061001 and not info.value.retryable


def test_daily_limit_on_part_finish_is_reported_as_such() -> None:
    s = session(max_parts_in_flight=1)
    finish = _to_first_finish(s)
    s.http_response(finish.id, _json({"err_code": 40093002}), 0.0)
    with pytest.raises(UploadDailyLimitError):
        s.result()


def test_daily_limit_on_prepare_fails_the_upload() -> None:
    s = session()
    s.start(0.0)
    (prepare,) = feed_reads(s, DATA)
    s.http_response(prepare.id, _json({"code": 40093002, "message": "limit"}), 0.0)
    assert s.state is UploadState.FAILED
    with pytest.raises(UploadDailyLimitError):
        s.result()


def test_a_malformed_prepare_answer_fails_the_upload() -> None:
    s = session()
    s.start(0.0)
    (prepare,) = feed_reads(s, DATA)
    s.http_response(prepare.id, prepare_answer(parts=2), 0.0)  # covers 10 of 12 bytes
    with pytest.raises(UnexpectedResponseError, match="cover 10 of 12"):
        s.result()


def test_completion_is_retried_after_2_s_and_4_s_then_fails() -> None:
    s = session()
    (complete,) = finish_all(s, to_upload_phase(s))
    s.http_response(complete.id, HttpResponse(status=500), 0.0)
    assert s.get_timer() == 2.0
    s.handle_timer(2.0)
    (complete,) = drain(s)
    s.http_response(complete.id, _json({"file_uuid": "x"}), 2.0)  # no file_info yet
    assert s.get_timer() == 6.0
    s.handle_timer(6.0)
    (complete,) = drain(s)
    s.http_failed(complete.id, "timeout", 6.0)
    with pytest.raises(NetworkError):
        s.result()


def test_completion_succeeding_on_a_retry_finishes() -> None:
    s = session()
    (complete,) = finish_all(s, to_upload_phase(s))
    s.http_response(complete.id, HttpResponse(status=504), 0.0)
    s.handle_timer(2.0)
    (complete,) = drain(s)
    s.http_response(complete.id, _json({"file_info": "FI"}), 2.0)
    assert s.result() == UploadedMedia(file_info="FI")


def test_completion_daily_limit_is_not_retried() -> None:
    s = session()
    (complete,) = finish_all(s, to_upload_phase(s))
    s.http_response(complete.id, _json({"code": 40093002}), 0.0)
    assert s.done and s.get_timer() is None
    with pytest.raises(UploadDailyLimitError):
        s.result()


# --- the token ------------------------------------------------------------------------


def test_the_token_is_fetched_once_for_all_waiting_requests() -> None:
    state = tokens(None)
    s = session(state=state, hashes=hash_bytes(DATA))
    s.start(0.0)
    (token_cmd,) = drain(s)
    assert token_cmd == SendHttpRequest(id=1, request=state.request(), purpose="token")
    s.http_response(1, _json({"access_token": "TOK", "expires_in": 7200}), 0.0)
    (prepare,) = drain(s)
    assert prepare.request.headers == JSON_AUTH


def test_a_token_that_expires_mid_upload_is_refreshed_once() -> None:
    state = tokens("OLD", now=0.0)
    s = session(state=state)
    puts = to_upload_phase(s, answer=prepare_answer(upload_config={"concurrency": 3}))
    assert len(puts) == 3
    late = 7200.0  # past the refresh margin
    for put in puts:
        s.http_response(put.id, HttpResponse(status=200), late)
    (token_cmd,) = drain(s)
    assert token_cmd.purpose == "token"
    s.http_response(token_cmd.id, _json({"access_token": "NEW", "expires_in": 7200}), late)
    finishes = drain(s)
    assert len(finishes) == 3
    assert {c.request.header("Authorization") for c in finishes} == {"QQBot NEW"}


def test_a_401_refreshes_the_token_and_retries_once() -> None:
    state = tokens("OLD")
    s = session(state=state, max_parts_in_flight=1)
    finish = _to_first_finish(s)
    s.http_response(finish.id, _json({"message": "expired"}, 401), 5.0)
    (token_cmd,) = drain(s)
    s.http_response(token_cmd.id, _json({"access_token": "NEW", "expires_in": 7200}), 5.0)
    (retry,) = drain(s)
    assert retry.request.header("Authorization") == "QQBot NEW"
    assert retry.request.body == finish.request.body
    s.http_response(retry.id, _json({}, 401), 5.0)
    assert s.done
    with pytest.raises(UploadPartFailedError) as info:
        s.result()
    assert info.value.status == 401


def test_a_401_keeps_a_token_someone_else_already_refreshed() -> None:
    state = tokens("OLD")
    s = session(state=state, max_parts_in_flight=1)
    finish = _to_first_finish(s)
    state.receive_response(_json({"access_token": "OTHER", "expires_in": 7200}), 1.0)
    s.http_response(finish.id, _json({}, 401), 1.0)
    (retry,) = drain(s)  # no token request: the other refresh is used
    assert retry.request.header("Authorization") == "QQBot OTHER"


def test_bad_credentials_fail_the_upload() -> None:
    s = session(state=tokens(None), hashes=hash_bytes(DATA))
    s.start(0.0)
    (token_cmd,) = drain(s)
    s.http_response(token_cmd.id, _json({"code": 100016, "message": "bad"}), 0.0)
    with pytest.raises(InvalidCredentialsError):
        s.result()


def test_a_token_request_that_never_arrives_fails_with_a_network_error() -> None:
    s = session(state=tokens(None), hashes=hash_bytes(DATA))
    s.start(0.0)
    (token_cmd,) = drain(s)
    s.http_failed(token_cmd.id, "dns failure", 0.0)
    with pytest.raises(NetworkError, match="token request failed: dns failure"):
        s.result()


# --- the source ---------------------------------------------------------------------------


def test_a_short_read_while_hashing_fails_the_upload() -> None:
    s = session()
    s.start(0.0)
    (read,) = drain(s)
    s.part_data(read.id, b"012", 0.0)
    with pytest.raises(UploadSourceError, match="read 3 bytes at offset 0, expected 5"):
        s.result()


def test_a_short_read_of_a_part_fails_the_upload_before_any_put() -> None:
    s = session(hashes=hash_bytes(DATA))
    s.start(0.0)
    (prepare,) = drain(s)
    s.http_response(prepare.id, prepare_answer(), 0.0)
    read = drain(s)[0]
    s.part_data(read.id, b"", 0.0)
    assert s.done and drain(s) == [] and s.buffered_bytes == 0
    with pytest.raises(UploadSourceError):
        s.result()


def test_the_file_size_is_checked_before_anything_is_sent() -> None:
    limit = HARD_SIZE_LIMITS[FileType.IMAGE]
    with pytest.raises(FileTooLargeError, match="image"):
        UploadSession(token_state=tokens(), scope=ChatScope.C2C, target_id="U",
                      file_type=FileType.IMAGE, file_name="a.png", file_size=limit + 1)
    with pytest.raises(FileTooLargeError):
        session(max_file_size=11)
    session(max_file_size=12)


@pytest.mark.parametrize("kwargs", [
    {"file_size": 0}, {"file_size": True}, {"file_name": ""},
    {"hashes": hash_bytes(b"x")}, {"max_parts_in_flight": 0}, {"hash_chunk_size": 0},
    {"scope": ChatScope.CHANNEL}, {"target_id": ""},
])
def test_bad_arguments_are_value_errors(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"token_state": tokens(), "scope": ChatScope.C2C,
                            "target_id": "U", "file_type": FileType.FILE,
                            "file_name": "f", "file_size": 12, **kwargs}
    with pytest.raises(ValueError):
        UploadSession(**args)


# --- misuse and late answers -----------------------------------------------------------


def test_driver_misuse_is_a_local_protocol_error() -> None:
    s = session()
    with pytest.raises(LocalProtocolError, match="not finished"):
        s.result()
    s.start(0.0)
    with pytest.raises(LocalProtocolError, match="already started"):
        s.start(0.0)
    (read,) = drain(s)
    with pytest.raises(LocalProtocolError, match="part_data"):
        s.http_response(read.id, HttpResponse(status=200), 0.0)
    with pytest.raises(LocalProtocolError, match="no outstanding command with id 99"):
        s.part_data(99, b"", 0.0)
    s.part_data(read.id, DATA[:5], 0.0)  # the misuse above did not consume the read
    (read2,) = drain(s)
    s.part_data(read2.id, DATA[5:10], 0.0)
    (read3,) = drain(s)
    s.part_data(read3.id, DATA[10:], 0.0)
    (prepare,) = drain(s)
    with pytest.raises(LocalProtocolError, match="http_response"):
        s.part_data(prepare.id, b"x", 0.0)


def test_answers_arriving_after_a_failure_are_ignored() -> None:
    s = session()
    puts = to_upload_phase(s, answer=prepare_answer(upload_config={"concurrency": 3}))
    s.http_response(puts[0].id, _json({}, 200), 0.0)
    (finish,) = drain(s)
    s.http_response(finish.id, _json({"code": 40061001}), 0.0)
    assert s.done
    s.http_response(puts[1].id, HttpResponse(status=200), 0.0)
    s.http_failed(puts[2].id, "late", 0.0)
    s.part_data(12345, b"", 0.0)
    s.handle_timer(100.0)
    assert drain(s) == []
    with pytest.raises(UploadPartFailedError):
        s.result()


def test_repr_names_the_file_and_state() -> None:
    assert repr(session()) == "UploadSession('r.bin', 12 bytes, state=NEW)"
    assert session().plan is None


# --- choosing a method ------------------------------------------------------------------


def test_upload_method_rule() -> None:
    assert choose_upload_method(None, UploadSource.URL) is UploadMethod.URL
    assert choose_upload_method(10**9, UploadSource.URL) is UploadMethod.URL
    assert choose_upload_method(0, UploadSource.BYTES) is UploadMethod.INLINE
    assert choose_upload_method(INLINE_LIMIT, UploadSource.BYTES) is UploadMethod.INLINE
    assert choose_upload_method(INLINE_LIMIT + 1, UploadSource.BYTES) is UploadMethod.CHUNKED
    assert choose_upload_method(100, UploadSource.BYTES, inline_limit=99) is \
        UploadMethod.CHUNKED
    with pytest.raises(ValueError):
        choose_upload_method(None, UploadSource.BYTES)


def test_check_file_size() -> None:
    check_file_size(FileType.VIDEO, 200 * 1024 * 1024)
    with pytest.raises(FileTooLargeError):
        check_file_size(FileType.VIDEO, 200 * 1024 * 1024 + 1)
    with pytest.raises(FileTooLargeError):
        check_file_size(FileType.VOICE, 11, max_file_size=10)
