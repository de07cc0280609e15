"""The webhook decision: one parsed HTTP request in, one verdict out (gateway.md §9).

Frameworks that already parse HTTP (ASGI apps, WSGI, aiohttp) call
:func:`handle_webhook_request` with the method, path, headers and raw body and get one
of four values back:

* :class:`WebhookRejection` — send its ``response``; nothing reaches the application;
* :class:`WebhookValidation` — op 13 answered (``{"plain_token", "signature"}``, §9.4);
* :class:`WebhookHeartbeat` — op 1 answered with op 11 (§9.5, BOTGO behaviour);
* :class:`WebhookDelivery` — a verified op 0 :class:`~qqproto.events.Dispatch`; the
  application handles it, then sends ``delivery.acknowledge(ok)`` (op 12, §9.5).

The first three are answered at once; :func:`answered_event` is the event a server
reports for them (the same from :class:`~qqproto.webhook.WebhookReceiver` and the ASGI app).

:class:`~qqproto.webhook.WebhookReceiver` runs the same function behind its own
HTTP/1.1 parser, so both paths accept and refuse exactly the same requests.

Check order (first failure wins): path (404), method (405), body size (413),
``Content-Type`` (415), ``X-Bot-Appid`` (403, only when configured), signature headers
and signature (401), timestamp window (401), JSON and frame shape (400), replay (409).
Authentication comes before the body is parsed, so an unsigned request never reaches the
JSON decoder — except an op 13 request when :attr:`WebhookPolicy.verify_validation` is
off (NB compatibility, §9.3).
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .. import _jsoncodec
from .._http import HttpResponse
from .._numbers import parse_int
from ..errors import LocalProtocolError
from ..events import Dispatch, HeartbeatAnswered, RequestRejected, ValidationAnswered
from ._signing import WebhookKey, parse_signature_hex

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_WEBHOOK_PATH",
    "HeaderInput",
    "ReplayCache",
    "WebhookDecision",
    "WebhookDelivery",
    "WebhookHeartbeat",
    "WebhookPolicy",
    "WebhookRejection",
    "WebhookValidation",
    "ack_response",
    "answered_event",
    "body_timeout_rejection",
    "early_rejection",
    "handle_webhook_request",
]

DEFAULT_WEBHOOK_PATH: Final = "/qqbot"

#: Headers as frameworks hand them over: ASGI's ``[(b"name", b"value"), ...]``, a list
#: of ``str`` pairs, or a mapping.  Names are matched case-insensitively.
HeaderInput = Iterable[tuple[str | bytes, str | bytes]] | Mapping[str, str]

_TEXT: Final = (("Content-Type", "text/plain; charset=utf-8"),)
_JSON: Final = (("Content-Type", "application/json"),)
# §9.1: Unix seconds as a decimal string.  20 digits bound the int() work and cover any
# realistic clock; signs, spaces and fractions are refused.
_TIMESTAMP: Final = re.compile(r"[0-9]{1,20}")

# Reasons are fixed strings: a rejection never echoes request data or anything secret.
REASON_NOT_FOUND: Final = "not found"
REASON_METHOD: Final = "method not allowed"
REASON_TOO_LARGE: Final = "request body too large"
REASON_CONTENT_TYPE: Final = "content type must be application/json"
REASON_APP_ID: Final = "X-Bot-Appid does not match this bot"
REASON_NO_SIGNATURE: Final = "missing X-Signature-Ed25519 or X-Signature-Timestamp"
REASON_BAD_SIGNATURE_FORMAT: Final = "malformed X-Signature-Ed25519"
REASON_BAD_TIMESTAMP_FORMAT: Final = "malformed X-Signature-Timestamp"
REASON_BAD_SIGNATURE: Final = "signature does not verify"
REASON_STALE: Final = "timestamp outside the accepted window"
REASON_JSON: Final = "body is not valid JSON"
REASON_NOT_OBJECT: Final = "body is not a JSON object"
REASON_OP: Final = "missing or invalid op"
REASON_UNSUPPORTED_OP: Final = "unsupported op"
REASON_DISPATCH: Final = "malformed op 0 frame"
REASON_HEARTBEAT: Final = "malformed op 1 frame"
REASON_VALIDATION: Final = "malformed op 13 frame"
REASON_REPLAY: Final = "event already delivered"
REASON_BODY_TIMEOUT: Final = "request timeout"
REASON_BAD_LENGTH: Final = "malformed Content-Length"


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookPolicy:
    """What the webhook endpoint accepts.  Immutable; share one between connections.

    ``timestamp_window`` is applied in both directions: a request is refused when
    ``abs(unix_now - X-Signature-Timestamp) > timestamp_window`` (§9.3 leaves the window
    to the receiver).  ``verify_validation`` decides whether op 13 must be signed too
    (BOTGO: yes, NB: no — default yes).  ``app_id``, when set, must equal ``X-Bot-Appid``.
    """

    #: The request path the endpoint answers on (the query string is ignored).
    path: str = DEFAULT_WEBHOOK_PATH
    #: When set, ``X-Bot-Appid`` must be exactly this (else 403).
    app_id: str | None = None
    #: Seconds a signed timestamp may differ from ``unix_now``, either way (else 401).
    timestamp_window: float = 300.0
    #: Require a valid signature on op 13 validation requests too (BOTGO; NB does not).
    verify_validation: bool = True
    #: Largest accepted body in bytes (else 413).
    max_body_size: int = 1 << 20

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or "?" in self.path:
            raise ValueError("path must start with '/' and carry no query string")
        if not (math.isfinite(self.timestamp_window) and self.timestamp_window > 0):
            raise ValueError("timestamp_window must be a positive number of seconds")
        if self.max_body_size <= 0:
            raise ValueError("max_body_size must be positive")


#: The policy used when none is given (every field at its default).
DEFAULT_POLICY: Final = WebhookPolicy()


class ReplayCache:
    """Event ids recently accepted, each kept until its signed timestamp leaves the window.

    Keeping an id until ``timestamp + window`` (not ``arrival + window``) closes the gap a
    replay could otherwise use: a copy of the request stays signature-valid exactly that
    long.  Memory is bounded by ``max_entries``; when full, the oldest entry is evicted
    (so the cap should exceed the number of events expected per window).  Share one cache
    between every connection of an endpoint.
    """

    __slots__ = ("_entries", "max_entries")

    def __init__(self, *, max_entries: int = 16384) -> None:
        if max_entries <= 0:
            raise ValueError("max_entries must be positive")
        self.max_entries = max_entries
        self._entries: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"ReplayCache({len(self._entries)}/{self.max_entries} entries)"

    def contains(self, key: str, *, unix_now: float) -> bool:
        """True while ``key`` is remembered and not yet expired."""
        expires_at = self._entries.get(key)
        return expires_at is not None and expires_at >= unix_now

    def add(self, key: str, *, expires_at: float, unix_now: float) -> bool:
        """Remember ``key`` until ``expires_at``; False (and no change) if already present."""
        if self.contains(key, unix_now=unix_now):
            return False
        self._entries.pop(key, None)
        # Entries are roughly in expiry order; dropping expired ones from the front keeps
        # the work per call amortised O(1).
        while self._entries:
            oldest_key, oldest_expiry = next(iter(self._entries.items()))
            if oldest_expiry >= unix_now:
                break
            del self._entries[oldest_key]
        while len(self._entries) >= self.max_entries:
            self._entries.popitem(last=False)
        self._entries[key] = expires_at
        return True

    def forget(self, key: str) -> None:
        """Drop ``key`` (the application asked for a redelivery: it must get through)."""
        self._entries.pop(key, None)


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookDecision:
    """Base class of the four verdicts."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookRejection(WebhookDecision):
    """The request is refused; ``response`` is the plain-text answer (``reason`` as body)."""

    status: int
    reason: str
    response: HttpResponse


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookValidation(WebhookDecision):
    """op 13: the callback URL check, already answered by ``response`` (§9.4)."""

    plain_token: str
    event_ts: str
    response: HttpResponse


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookHeartbeat(WebhookDecision):
    """op 1 over HTTP, answered by ``response`` = ``{"op":11,"d":seq}`` (§9.5)."""

    seq: int | None
    response: HttpResponse


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookDelivery(WebhookDecision):
    """A verified dispatch.  Handle ``dispatch``, then send :meth:`acknowledge`'s response.

    ``replay_key`` is what the replay cache remembers for this event (``"id:<event id>"``,
    or ``"sig:<signature>"`` for a frame without any id).
    """

    dispatch: Dispatch
    replay_key: str
    _replay_cache: ReplayCache | None = field(default=None, repr=False, compare=False)

    def acknowledge(self, ok: bool = True) -> HttpResponse:
        """The op 12 answer: ``d = 0`` handled, ``d = 1`` please redeliver (§9.5).

        A failed delivery is also dropped from the replay cache so that the platform's
        redelivery of the same event id is accepted.
        """
        if not ok and self._replay_cache is not None:
            self._replay_cache.forget(self.replay_key)
        return ack_response(ok)


def answered_event(request: int,
                   decision: WebhookRejection | WebhookValidation | WebhookHeartbeat
                   ) -> RequestRejected | ValidationAnswered | HeartbeatAnswered:
    """The event that reports ``decision``, a verdict answered at once, as the answer to
    request number ``request`` on its connection."""
    if isinstance(decision, WebhookRejection):
        return RequestRejected(request=request, status=decision.status, reason=decision.reason)
    if isinstance(decision, WebhookValidation):
        return ValidationAnswered(request=request, plain_token=decision.plain_token)
    return HeartbeatAnswered(request=request, seq=decision.seq)


def ack_response(ok: bool) -> HttpResponse:
    """HTTP 200 with ``{"op":12,"d":0}`` (ok) or ``{"op":12,"d":1}`` (retry), §9.5."""
    return HttpResponse(status=200, headers=_JSON,
                        body=b'{"op":12,"d":0}' if ok else b'{"op":12,"d":1}')


def _reject(status: int, reason: str) -> WebhookRejection:
    headers = _TEXT + ((("Allow", "POST"),) if status == 405 else ())
    return WebhookRejection(status=status, reason=reason,
                            response=HttpResponse(status=status, headers=headers,
                                                  body=reason.encode("ascii")))


class _Headers:
    """Lower-case name → every value, from any :data:`HeaderInput`.

    Values are kept as given and decoded only when read (a request carries about ten
    headers; the decision reads four or five of them)."""

    __slots__ = ("_values",)

    def __init__(self, headers: HeaderInput) -> None:
        self._values: dict[str, list[str | bytes]] = {}
        items = headers.items() if isinstance(headers, Mapping) else headers
        for name, value in items:
            key = name.decode("latin-1") if isinstance(name, bytes) else str(name)
            self._values.setdefault(key.strip().lower(), []).append(value)

    def single(self, name: str) -> str | None:
        """The value when the header appears exactly once; ``None`` when absent.

        A repeated header raises :class:`_Repeated`: two signatures or two timestamps are
        ambiguous, so they are refused rather than guessed between.
        """
        values = self._values.get(name)
        if values is None:
            return None
        if len(values) != 1:
            raise _Repeated(name)
        value = values[0]
        return (value.decode("latin-1") if isinstance(value, bytes) else str(value)).strip()


class _Repeated(Exception):
    pass


def _content_type_ok(value: str | None) -> bool:
    # §9.1: application/json; a charset parameter is tolerated if it says UTF-8 (JSON is
    # UTF-8 by definition, RFC 8259 §8.1).
    if value is None:
        return False
    media, *params = (part.strip().lower() for part in value.split(";"))
    if media != "application/json":
        return False
    for param in params:
        name, _, val = param.partition("=")
        if name.strip() == "charset" and val.strip().strip('"') not in ("utf-8", "utf8"):
            return False
    return True


@dataclass(frozen=True, slots=True)
class _Frame:
    op: int
    payload: Any


def _parse_frame(body: bytes) -> _Frame | WebhookRejection:
    try:
        frame = _jsoncodec.loads(body)
    except _jsoncodec.JSONDecodeError:
        return _reject(400, REASON_JSON)
    if not isinstance(frame, dict):
        return _reject(400, REASON_NOT_OBJECT)
    op = frame.get("op")
    if isinstance(op, bool) or not isinstance(op, int):
        return _reject(400, REASON_OP)
    return _Frame(op=op, payload=frame)


def _validation(key: WebhookKey, frame: _Frame) -> WebhookValidation | WebhookRejection:
    d = frame.payload.get("d")
    if not isinstance(d, dict):
        return _reject(400, REASON_VALIDATION)
    token, event_ts = d.get("plain_token"), d.get("event_ts")
    # §9.4: event_ts is a string today; DOC-old showed a number, signed in its decimal form.
    if isinstance(event_ts, int) and not isinstance(event_ts, bool) and event_ts >= 0:
        event_ts = str(event_ts)
    if not isinstance(token, str) or not isinstance(event_ts, str):
        return _reject(400, REASON_VALIDATION)
    body = key.validation_response(token, event_ts)
    return WebhookValidation(plain_token=token, event_ts=event_ts,
                             response=HttpResponse(status=200, headers=_JSON, body=body))


def _authenticate(key: WebhookKey, headers: _Headers, body: bytes, unix_now: float,
                  policy: WebhookPolicy) -> tuple[str, int] | WebhookRejection:
    """(signature, timestamp) when the request is signed and fresh, else the rejection."""
    try:
        signature = headers.single("x-signature-ed25519")
    except _Repeated:
        return _reject(401, REASON_BAD_SIGNATURE_FORMAT)
    try:
        timestamp = headers.single("x-signature-timestamp")
    except _Repeated:
        return _reject(401, REASON_BAD_TIMESTAMP_FORMAT)
    if signature is None or timestamp is None:
        return _reject(401, REASON_NO_SIGNATURE)
    if _TIMESTAMP.fullmatch(timestamp) is None:
        return _reject(401, REASON_BAD_TIMESTAMP_FORMAT)
    # Format only (length, alphabet, canonical last byte): never compared with a secret.
    raw = parse_signature_hex(signature)
    if raw is None:
        return _reject(401, REASON_BAD_SIGNATURE_FORMAT)
    # §9.3: message = timestamp header bytes + raw body (sig[63] & 0xE0 refused above).
    if not key.verify_parsed(timestamp, body, raw):
        return _reject(401, REASON_BAD_SIGNATURE)
    stamp = int(timestamp)
    if abs(unix_now - stamp) > policy.timestamp_window:
        return _reject(401, REASON_STALE)
    return signature.lower(), stamp


def early_rejection(headers: HeaderInput, policy: WebhookPolicy = DEFAULT_POLICY,
                    ) -> WebhookRejection | None:
    """The verdict a server can give from the head alone, before reading the body:
    413 when ``Content-Length`` announces more than ``policy.max_body_size`` (so a
    100 MB upload is refused at once, not read first), 400 when it is not one decimal
    number; ``None`` otherwise (read the body, then :func:`handle_webhook_request`)."""
    view = _Headers(headers)
    try:
        length = view.single("content-length")
    except _Repeated:
        return _reject(400, REASON_BAD_LENGTH)
    if length is None:
        return None
    size = parse_int(length, minimum=0, maximum=2**63 - 1)
    if size is None:
        return _reject(400, REASON_BAD_LENGTH)
    return _reject(413, REASON_TOO_LARGE) if size > policy.max_body_size else None


def body_timeout_rejection() -> WebhookRejection:
    """408 for a request whose body did not arrive within the server's deadline (a
    body trickled a few bytes a second must not hold a connection for ever)."""
    return _reject(408, REASON_BODY_TIMEOUT)


def handle_webhook_request(
    key: WebhookKey,
    headers: HeaderInput,
    body: bytes,
    *,
    method: str,
    path: str | None,
    unix_now: float,
    replay_cache: ReplayCache | None,
    policy: WebhookPolicy = DEFAULT_POLICY,
) -> WebhookRejection | WebhookValidation | WebhookHeartbeat | WebhookDelivery:
    """Decide what to answer to one webhook request (see the module docstring).

    ``path`` is the request target (a query string is ignored); pass ``None`` when the
    framework has already routed the request.  ``unix_now`` is the wall clock in seconds.
    ``replay_cache`` should be shared by every request of the endpoint; ``None`` turns
    replay rejection off (the timestamp window still bounds replays).
    """
    if not math.isfinite(unix_now):
        raise LocalProtocolError("unix_now must be a finite number of seconds")
    if path is not None and path.partition("?")[0] != policy.path:
        return _reject(404, REASON_NOT_FOUND)
    if method != "POST":
        return _reject(405, REASON_METHOD)
    if len(body) > policy.max_body_size:
        return _reject(413, REASON_TOO_LARGE)
    view = _Headers(headers)
    try:
        content_type = view.single("content-type")
    except _Repeated:
        content_type = None
    if not _content_type_ok(content_type):
        return _reject(415, REASON_CONTENT_TYPE)
    if policy.app_id is not None:
        try:
            app_id = view.single("x-bot-appid")
        except _Repeated:
            app_id = None
        if app_id != policy.app_id:
            return _reject(403, REASON_APP_ID)

    auth = _authenticate(key, view, body, unix_now, policy)
    if isinstance(auth, WebhookRejection):
        if not policy.verify_validation:
            # §9.3: NB answers op 13 without checking its signature; opt-in only.
            frame = _parse_frame(body)
            if isinstance(frame, _Frame) and frame.op == 13:
                return _validation(key, frame)
        return auth
    signature, stamp = auth

    frame = _parse_frame(body)
    if isinstance(frame, WebhookRejection):
        return frame
    if frame.op == 13:
        return _validation(key, frame)
    if frame.op == 1:
        seq = frame.payload.get("d")
        if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int)):
            return _reject(400, REASON_HEARTBEAT)
        return WebhookHeartbeat(seq=seq, response=HttpResponse(
            status=200, headers=_JSON, body=_jsoncodec.dumps({"op": 11, "d": seq})))
    if frame.op != 0:
        # Ops 2–11 never travel platform → bot over HTTP (§3.2); an unknown op cannot be
        # handled, so it is refused rather than acknowledged.
        return _reject(400, REASON_UNSUPPORTED_OP)
    return _dispatch(frame.payload, signature=signature, stamp=stamp, unix_now=unix_now,
                     policy=policy, replay_cache=replay_cache)


def _dispatch(payload: dict[str, Any], *, signature: str, stamp: int, unix_now: float,
              policy: WebhookPolicy, replay_cache: ReplayCache | None
              ) -> WebhookRejection | WebhookDelivery:
    event_type, seq, event_id = payload.get("t"), payload.get("s"), payload.get("id")
    if not isinstance(event_type, str) or not event_type:
        return _reject(400, REASON_DISPATCH)
    # §3.1: s may be absent in webhook deliveries; id is the event id string.
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int)):
        return _reject(400, REASON_DISPATCH)
    if event_id is not None and not isinstance(event_id, str):
        return _reject(400, REASON_DISPATCH)
    data = payload.get("d")
    replay_id = event_id
    if replay_id is None and isinstance(data, dict) and isinstance(data.get("id"), str):
        replay_id = data["id"]
    replay_key = f"id:{replay_id}" if replay_id is not None else f"sig:{signature}"
    if replay_cache is not None and not replay_cache.add(
            replay_key, expires_at=stamp + policy.timestamp_window, unix_now=unix_now):
        return _reject(409, REASON_REPLAY)
    return WebhookDelivery(dispatch=Dispatch(type=event_type, seq=seq, id=event_id, data=data),
                           replay_key=replay_key, _replay_cache=replay_cache)
