"""Hostile answers: whatever comes back, a call or an upload ends in a typed result or a
typed error — never an AttributeError/KeyError/TypeError, never a hang."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from qqproto._commands import SendHttpRequest
from qqproto._endpoints import Endpoints
from qqproto._http import HttpResponse
from qqproto._values import ChatScope, FileType
from qqproto.errors import ApiError, UploadSourceError
from qqproto.rest._client import RestClient
from qqproto.rest._token import TokenState
from qqproto.upload._hashing import hash_bytes
from qqproto.upload._plan import ReadPart
from qqproto.upload._session import UploadSession

API = "https://api.example.test"
TOKEN_URL = "https://auth.example.test/token"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["id", "code", "err_code", "message", "trace_id", "file_info",
                         "ttl", "url", "shards", "session_start_limit", "upload_id",
                         "block_size", "parts", "index", "presigned_url", "data",
                         "upload_config", "timestamp", "ext_info", "access_token",
                         "expires_in"]),
        inner, max_size=5),
    max_leaves=15)


@st.composite
def responses(draw: st.DrawFn) -> HttpResponse:
    status = draw(st.sampled_from([200, 200, 200, 201, 202, 204, 400, 401, 404, 429, 500,
                                   502, 302, 418]))
    if draw(st.booleans()):
        body = json.dumps(draw(json_values)).encode()
    else:
        body = draw(st.binary(max_size=40))
    return HttpResponse(status=status, body=body)


def _tokens() -> TokenState:
    return TokenState(app_id="1", secret="s",
                      endpoints=Endpoints(api_base=API, token_url=TOKEN_URL))


CALLS = [
    lambda c: c.send_c2c_message("U", content="x", msg_id="M", msg_seq=1),
    lambda c: c.send_channel_message("C", content="x"),
    lambda c: c.recall_message(ChatScope.GROUP, "G", "M"),
    lambda c: c.upload_media(ChatScope.C2C, "U", FileType.FILE, file_data=b"x"),
    lambda c: c.get_gateway_bot(),
    lambda c: c.get_bot_info(),
    lambda c: c.ack_interaction("I"),
]


@settings(max_examples=300, deadline=None)
@given(which=st.integers(0, len(CALLS) - 1), answers=st.lists(responses(), min_size=4,
                                                               max_size=4))
def test_a_call_ends_typed_whatever_the_answers(which: int,
                                                answers: list[HttpResponse]) -> None:
    call = CALLS[which](RestClient(_tokens()))
    steps = 0
    while (call.next_request(0.0)) is not None:
        steps += 1
        assert steps <= 4, "a call asks for at most token, request, token, request"
        call.receive_response(answers[steps - 1], 0.0)
    with contextlib.suppress(ApiError):
        call.result()


def _plausible(size: int) -> st.SearchStrategy[HttpResponse]:
    """Answers that move the saga forward, so hostile ones also hit its later steps."""
    prepare = {"upload_id": "U", "block_size": 16, "upload_config": {"concurrency": 3},
               "parts": [{"index": i, "presigned_url": f"https://cos.example/{i}"}
                         for i in range(-(-size // 16))]}
    return st.sampled_from([
        HttpResponse(status=200, body=json.dumps(prepare).encode()),
        HttpResponse(status=200),
        HttpResponse(status=200, body=b'{"file_info":"FI","ttl":5}'),
        HttpResponse(status=200, body=b'{"code":40093001}'),
        HttpResponse(status=200, body=b'{"access_token":"T","expires_in":60}'),
    ])


@settings(max_examples=300, deadline=None)
@given(data=st.binary(min_size=1, max_size=64), choices=st.data())
def test_an_upload_ends_typed_whatever_the_answers(data: bytes,
                                                   choices: st.DataObject) -> None:
    answers = choices.draw(st.lists(st.one_of(responses(), _plausible(len(data)),
                                              _plausible(len(data))),
                                    min_size=1, max_size=40))
    tokens = _tokens()
    tokens.receive_response(HttpResponse(status=200, body=b'{"access_token":"T",'
                                         b'"expires_in":7200}'), 0.0)
    session = UploadSession(token_state=tokens, scope=ChatScope.GROUP, target_id="G",
                            file_type=FileType.IMAGE, file_name="x.png", file_size=len(data),
                            hashes=hash_bytes(data))
    session.start(0.0)
    pending: list[Any] = []
    now = 0.0
    for answer in answers:
        while (cmd := session.next_command()) is not None:
            pending.append(cmd)
        while pending and isinstance(pending[0], ReadPart):
            read = pending.pop(0)
            session.part_data(read.id, data[read.offset:read.offset + read.length], now)
            while (cmd := session.next_command()) is not None:
                pending.append(cmd)
        if not pending:
            timer = session.get_timer()
            if timer is None:
                break
            now = max(now, timer)
            session.handle_timer(now)
            continue
        cmd = pending.pop(0)
        assert isinstance(cmd, SendHttpRequest)
        session.http_response(cmd.id, answer, now)
    if session.done:
        with contextlib.suppress(ApiError, UploadSourceError):
            session.result()
