"""Runs the language-neutral vectors of tests/vectors/*.json through qqproto.

Each ``run_*`` takes one case's inputs and returns what qqproto produced, in the same
neutral form the case's ``expect`` uses (JSON values only: enums as lower-case names,
frames as exact texts).  tests/test_vectors.py compares the two; docs/porting.rst
describes the format for ports in other languages.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any

from wsproto.events import CloseConnection

from qqproto.errors import ApiError, ReplyExhaustedError
from qqproto.events import Event
from qqproto.gateway import GatewayConnection, SendHttpRequest, SessionSnapshot
from qqproto.gateway._close_codes import end_for_close_frame
from qqproto.rest import (
    ChatScope,
    Endpoints,
    HttpRequest,
    HttpResponse,
    ReplyContext,
    TokenState,
    api_error_from_response,
)
from qqproto.upload import ReadPart, UploadSession, hash_bytes
from qqproto.webhook import WebhookKey, WebhookPolicy, handle_webhook_request

from .gateway_peer import GatewayPeer, drain

API = "https://api.example.test"
TOKEN_URL = "https://auth.example.test/token"
GATEWAY_URL = "wss://gateway.example.test/websocket"


def neutral(value: Any) -> Any:
    """A value as JSON: enums by lower-case name, dataclasses as objects, tuples as lists."""
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: neutral(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.repr}
    if isinstance(value, tuple | list):
        return [neutral(v) for v in value]
    if isinstance(value, dict):
        return {k: neutral(v) for k, v in value.items()}
    return value


def _kind(event: Event) -> str:
    name = type(event).__name__
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def event_record(event: Event) -> dict[str, Any]:
    """``{"kind": "connection_ended", <fields>}`` for one event."""
    return {"kind": _kind(event), **neutral(event)}


def subset(actual: Any, expected: Any) -> bool:
    """``expected`` names only what matters: every key it has must match."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and subset(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(actual) == len(expected)
                and all(subset(a, e) for a, e in zip(actual, expected, strict=True)))
    return bool(actual == expected)


# --- gateway ------------------------------------------------------------------------------


def _frames(peer: GatewayPeer) -> list[Any]:
    out: list[Any] = []
    texts = iter(peer.raw_texts)
    for item in peer.take():
        if isinstance(item, CloseConnection):
            out.append({"close": item.code, "reason": item.reason})
        elif isinstance(item, dict):
            out.append(next(texts))
    peer.raw_texts.clear()
    return out


def run_gateway(case: dict[str, Any]) -> list[dict[str, Any]]:
    """One scenario: per step, the frames the client sent, its events and its timer."""
    cfg = case["connection"]
    resume = cfg.get("resume")
    conn = GatewayConnection(
        url=GATEWAY_URL, token=cfg["token"], intents=cfg["intents"],
        shard=tuple(cfg.get("shard", (0, 1))),  # type: ignore[arg-type]
        properties=cfg["properties"],
        resume=SessionSnapshot(session_id=resume["session_id"], seq=resume["seq"],
                               intents=cfg["intents"]) if resume else None)
    peer = GatewayPeer(conn)
    conn.initiate(case["start"])
    peer.accept(case["start"])
    peer.take()
    results = []
    for step in case["steps"]:
        at = step["at"]
        if "server" in step:
            peer.send_text(json.dumps(step["server"], separators=(",", ":"),
                                      ensure_ascii=False), at)
        elif "server_text" in step:
            peer.send_text(step["server_text"], at)
        elif "server_close" in step:
            peer.close(step["server_close"]["code"], step["server_close"]["reason"], at)
        elif step.get("timer"):
            conn.handle_timer(at)
            peer.pump_from_client()
        elif step.get("eof"):
            conn.receive_data(b"", at)
        results.append({"frames": _frames(peer),
                        "events": [event_record(e) for e in drain(conn)],
                        "timer": conn.get_timer()})
    return results


def run_close_code(case: dict[str, Any]) -> dict[str, Any]:
    end = end_for_close_frame(case["code"], "", has_session=case["has_session"])
    return {"next_step": neutral(end.next_step), "retry_after": end.retry_after,
            "refresh_token": end.refresh_token}


# --- webhook ------------------------------------------------------------------------------


def run_webhook(case: dict[str, Any]) -> dict[str, Any]:
    key = WebhookKey(case["secret"])
    kind = case["kind"]
    if kind == "keys":
        return {"public_key": key.public_key_bytes().hex()}
    if kind == "sign":
        return {"signature": key.sign(case["timestamp"], case["body"].encode())}
    if kind == "verify":
        return {"valid": key.verify(case["timestamp"], case["body"].encode(),
                                    case["signature"])}
    if kind == "validation":
        return {"body": key.validation_response(case["plain_token"],
                                                case["event_ts"]).decode()}
    decision = handle_webhook_request(
        key, case["headers"], case["body"].encode(), method=case.get("method", "POST"),
        path=None, unix_now=case["unix_now"], replay_cache=None,
        policy=WebhookPolicy(**case.get("policy", {})))
    response = getattr(decision, "response", None)
    if response is None:  # a delivery: answered once handled (op 12)
        response = decision.acknowledge()  # type: ignore[union-attr]
    out: dict[str, Any] = {"verdict": _kind(decision).removeprefix("webhook_"),
                           "status": response.status, "body": response.body.decode()}
    dispatch = getattr(decision, "dispatch", None)
    if dispatch is not None:
        out["dispatch"] = {"type": dispatch.type, "seq": dispatch.seq, "id": dispatch.id}
    return out


# --- hashes -------------------------------------------------------------------------------


def pattern251(length: int) -> bytes:
    return (bytes(range(251)) * (length // 251 + 1))[:length]


def run_hashes(case: dict[str, Any]) -> dict[str, Any]:
    hashes = hash_bytes(pattern251(case["length"]))
    return {"md5": hashes.md5, "sha1": hashes.sha1, "md5_10m": hashes.md5_10m}


# --- replies (msg_seq and windows) ----------------------------------------------------------


def run_replies(case: dict[str, Any]) -> list[Any]:
    replies = ReplyContext(**case.get("options", {}))
    out: list[Any] = []
    for op in case["ops"]:
        ids = {k: op[k] for k in ("msg_id", "event_id") if k in op}
        if op["op"] == "received":
            replies.received(op["scope"], now=op["now"], **ids)
            out.append(None)
            continue
        try:
            got = replies.replies(op["scope"], count=op.get("count", 1), now=op["now"], **ids)
        except ReplyExhaustedError as exc:
            out.append({"error": neutral(exc.reason)})
        else:
            out.append([{"msg_seq": r.msg_seq, "fallback": neutral(r.fallback)} for r in got])
    return out


# --- upload saga ------------------------------------------------------------------------------


def _request_record(request: HttpRequest) -> dict[str, Any]:
    url = request.url.removeprefix(API)
    record: dict[str, Any] = {"method": request.method, "url": url}
    if request.url.startswith(API):
        record["json"] = json.loads(request.body) if request.body else None
    else:
        record["body_length"] = len(request.body)
        record["authorization"] = request.header("Authorization")
    return record


def run_upload(case: dict[str, Any]) -> dict[str, Any]:
    """Requests in the order the saga makes them, each answered from the case's table
    (``answers``: purpose → list of {status, body}, taken in turn)."""
    data = pattern251(case["file_size"])
    tokens = TokenState(app_id="1001", secret="s",
                        endpoints=Endpoints(api_base=API, token_url=TOKEN_URL))
    session = UploadSession(token_state=tokens, scope=ChatScope(case["scope"]),
                            target_id=case["target"], file_type=case["file_type"],
                            file_name=case["file_name"], file_size=len(data))
    answers = {k: list(v) for k, v in case["answers"].items()}
    token = HttpResponse(status=200, body=b'{"access_token":"TOK","expires_in":7200}')
    requests: list[dict[str, Any]] = []
    now = 0.0
    session.start(now)
    while not session.done:
        command = session.next_command()
        if command is None:
            timer = session.get_timer()
            assert timer is not None, "the saga waits for nothing"
            now = max(now, timer)
            session.handle_timer(now)
            continue
        if isinstance(command, ReadPart):
            session.part_data(command.id, data[command.offset:command.offset + command.length],
                              now)
            continue
        assert isinstance(command, SendHttpRequest)
        if command.request.url == TOKEN_URL:
            session.http_response(command.id, token, now)
            continue
        requests.append({"purpose": command.purpose, **_request_record(command.request)})
        answer = answers[command.purpose].pop(0) if len(answers[command.purpose]) > 1 \
            else answers[command.purpose][0]
        body = answer.get("body")
        session.http_response(command.id, HttpResponse(
            status=answer.get("status", 200),
            body=b"" if body is None else json.dumps(body).encode()), now)
    try:
        media = session.result()
    except ApiError as exc:
        return {"requests": requests, "error": {"kind": type(exc).__name__, "code": exc.code}}
    return {"requests": requests, "result": {"file_info": media.file_info, "ttl": media.ttl,
                                             "file_uuid": media.file_uuid}}


# --- error bodies -----------------------------------------------------------------------------


def run_error(case: dict[str, Any]) -> dict[str, Any]:
    body = case["body"] if isinstance(case["body"], str) else json.dumps(case["body"])
    error = api_error_from_response(HttpResponse(
        status=case["status"], headers=tuple(case.get("headers", {}).items()),
        body=body.encode()))
    if error is None:
        return {"kind": None}
    return {"kind": type(error).__name__, "code": error.code, "retryable": error.retryable,
            "trace_id": error.trace_id}
