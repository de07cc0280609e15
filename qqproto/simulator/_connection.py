"""One accepted TCP connection: HTTP/1.1 (h11, keep-alive) until a WebSocket upgrade on
``GET /websocket``, then the gateway (:class:`~qqproto.simulator.GatewayLink`).

Driver contract (the whole of it)::

    conn = sim.new_connection(now)
    on bytes:   conn.receive_data(data, now)        # b"" = the peer closed its side
    on timer:   conn.handle_timer(now)              # when now >= conn.get_timer()
    after every call into the simulator, for each conn in sim.touched_connections():
        transport.write(conn.data_to_send())
        if conn.should_abort: reset the TCP connection (nothing more is sent)
        elif conn.should_close: close the TCP connection once the bytes are written

Limits: the request head is bounded by h11 (``max_header_size``), a body by
``max_request_size`` (larger → 413 and close), an idle keep-alive connection closes after
``idle_timeout``; WebSocket message size is bounded by the gateway link.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Protocol

import h11
from wsproto.utilities import generate_accept_token

from .. import _jsoncodec
from ._gateway import GatewayHost, GatewayLink
from ._records import RecordedRequest
from ._rest import SimRequest, SimResponse, error_response

if TYPE_CHECKING:
    from collections import deque

    from ._payloads import IdSource
    from ._rest import Router

__all__ = ["ConnectionHost", "SimConnection"]

_REASONS: Final = {200: b"OK", 204: b"No Content", 400: b"Bad Request", 401: b"Unauthorized",
                   404: b"Not Found", 405: b"Method Not Allowed",
                   413: b"Payload Too Large", 426: b"Upgrade Required",
                   429: b"Too Many Requests", 431: b"Request Header Fields Too Large",
                   500: b"Internal Server Error", 503: b"Service Unavailable"}


def _refusal() -> bytes:
    body = _jsoncodec.dumps({"code": 503, "message": "too many connections", "err_code": 503,
                             "trace_id": ""})
    return (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n"
            + body)


class ConnectionHost(GatewayHost, Protocol):
    """What a connection needs of the :class:`~qqproto.simulator.Simulator` above it:
    HTTP limits, the router and request records, and the driver bookkeeping; a gateway
    link it starts gets the same object as its :class:`GatewayHost`."""

    max_header_size: int
    max_request_size: int
    idle_timeout: float
    #: ``now`` of the last byte received on any connection.
    last_activity: float
    ids: IdSource
    router: Router
    requests: deque[RecordedRequest]

    def handle_request(self, request: SimRequest, now: float) -> SimResponse: ...

    def touched(self, conn: SimConnection) -> None: ...

    def connection_finished(self, conn: SimConnection) -> None: ...


class SimConnection:
    """The simulator's side of one TCP connection (see the module docstring)."""

    def __init__(self, sim: ConnectionHost, connection_id: int, now: float, *,
                 refused: bool = False) -> None:
        self._sim = sim
        self.id = connection_id
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=sim.max_header_size)
        self._out: list[bytes] = []
        #: The gateway once the upgrade happened, else ``None``.
        self.link: GatewayLink | None = None
        #: Close the TCP connection once ``data_to_send()`` has been written.
        self.should_close = False
        #: Reset the TCP connection now; nothing more is to be sent.
        self.should_abort = False
        self._request: h11.Request | None = None
        self._body = bytearray()
        self._body_limit = sim.max_request_size
        self._record_cap: int | None = None
        self._idle_deadline = now + sim.idle_timeout
        if refused:
            self._out.append(_refusal())
            self.should_close = True

    def __repr__(self) -> str:
        kind = "gateway" if self.link is not None else "http"
        state = "aborted" if self.should_abort else "closing" if self.should_close else "open"
        return f"SimConnection(id={self.id}, {kind}, {state})"

    @property
    def closed(self) -> bool:
        """True once the simulator is done with this connection (close or abort)."""
        return self.should_close or self.should_abort

    # ------------------------------------------------------------- driver-facing

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the client; ``b""`` means it closed its side.  Ignored once
        :attr:`closed`."""
        if self.closed:
            return
        self._sim.last_activity = now
        if self.link is not None:
            self.link.receive_data(data, now)
            return
        self._idle_deadline = now + self._sim.idle_timeout
        self._h11.receive_data(data)
        self._pump_http(now)

    def data_to_send(self) -> bytes:
        """Everything queued for the client since the last call."""
        if not self._out:
            return b""
        data = b"".join(self._out)
        self._out.clear()
        if self.link is not None:
            self.link.flushed()
        return data

    def get_timer(self) -> float | None:
        if self.closed:
            return None
        if self.link is not None:
            return self.link.get_timer()
        return self._idle_deadline

    def handle_timer(self, now: float) -> None:
        if self.closed:
            return
        if self.link is not None:
            self.link.handle_timer(now)
        elif now >= self._idle_deadline:
            self.request_close()

    # ------------------------------------------------------------- simulator-facing

    def touch(self) -> None:
        self._sim.touched(self)

    def write(self, data: bytes) -> None:
        if not self.should_abort:
            self._out.append(data)
            self.touch()

    def request_close(self) -> None:
        if not self.closed:
            self.should_close = True
            self._sim.connection_finished(self)
        self.touch()

    def abort(self) -> None:
        """Drop the TCP connection abruptly: queued bytes are discarded."""
        if self.should_abort:
            return
        self.should_abort = True
        self._out.clear()
        if self.link is not None:
            self.link.abort()
        self._sim.connection_finished(self)
        self.touch()

    # ------------------------------------------------------------- HTTP

    def _pump_http(self, now: float) -> None:
        while not self.closed and self.link is None:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._fail(exc.error_status_hint, "malformed HTTP request", now)
                return
            if event is h11.NEED_DATA:
                return
            if event is h11.PAUSED:
                if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
                    self._h11.start_next_cycle()
                    continue
                return
            if isinstance(event, h11.Request):
                self._start(event, now)
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > self._body_limit:
                    self._fail(413, "request body too large", now)
            elif isinstance(event, h11.EndOfMessage):
                self._complete(now)
            elif isinstance(event, h11.ConnectionClosed):
                self.request_close()

    def _start(self, event: h11.Request, now: float) -> None:
        self._request = event
        self._body = bytearray()
        # A route may take larger bodies (the pre-signed upload target) and record less.
        route, _, _ = self._sim.router.match(event.method.decode("latin-1").upper(),
                                             event.target.decode("latin-1").partition("?")[0])
        limit = route.max_body if route is not None else None
        self._body_limit = self._sim.max_request_size if limit is None else limit
        self._record_cap = route.record_body if route is not None else None
        for name, value in event.headers:
            if name == b"content-length" and int(value) > self._body_limit:
                self._fail(413, "request body too large", now)
                return

    def _sim_request(self) -> SimRequest:
        event = self._request
        if event is None:  # the request line itself was unusable
            return SimRequest(connection_id=self.id, method="", path="", query="",
                              headers=(), body=b"", trace_id=self._sim.ids.hex(16))
        target = event.target.decode("latin-1")
        path, _, query = target.partition("?")
        return SimRequest(
            connection_id=self.id, method=event.method.decode("latin-1").upper(), path=path,
            query=query, headers=tuple((k.decode("latin-1"), v.decode("latin-1"))
                                       for k, v in event.headers),
            body=bytes(self._body), trace_id=self._sim.ids.hex(16))

    def _fail(self, status: int, message: str, now: float) -> None:
        """Answer an unusable request with ``status`` (if HTTP still allows) and close."""
        if self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            request = self._sim_request()
            self._respond(request, error_response(request, status, status, message), now,
                          close=True)
        self.request_close()

    def _complete(self, now: float) -> None:
        request = self._sim_request()
        # gateway.md §1.1: production hands out ".../websocket/"; accept both spellings.
        if request.path in ("/websocket", "/websocket/") and self._is_upgrade(request):
            self._upgrade(request, now)
            return
        response = self._sim.handle_request(request, now)
        self._respond(request, response, now)
        if self._h11.our_state is h11.MUST_CLOSE:
            self.request_close()

    def _respond(self, request: SimRequest, response: SimResponse, now: float, *,
                 close: bool = False) -> None:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        headers.append((b"X-Tps-trace-ID", request.trace_id.encode("ascii")))
        if response.status != 204:
            headers.append((b"Content-Length", str(len(response.body)).encode()))
        if close:
            headers.append((b"Connection", b"close"))
        try:
            self.write(self._h11.send(h11.Response(
                status_code=response.status, headers=headers,
                reason=_REASONS.get(response.status, b""))))
            if response.body and response.status != 204:
                self.write(self._h11.send(h11.Data(data=response.body)) or b"")
            self.write(self._h11.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError:
            self.request_close()
        self._record(request, response.status, response.code, now)

    def _record(self, request: SimRequest, status: int, code: int | None, now: float) -> None:
        self._sim.counters.http_requests += 1
        self._sim.requests.append(RecordedRequest(
            connection_id=self.id, at=now, method=request.method, path=request.path,
            query=request.query, headers=request.headers,
            body=request.body if self._record_cap is None else request.body[:self._record_cap],
            status=status, code=code))
        self._request = None
        self._record_cap = None

    @staticmethod
    def _is_upgrade(request: SimRequest) -> bool:
        # RFC 6455 §4.2.1: GET, Upgrade: websocket, Connection: upgrade, version 13, a key.
        upgrade = (request.header("upgrade") or "").lower()
        connection = (request.header("connection") or "").lower()
        return (request.method == "GET" and "websocket" in upgrade
                and "upgrade" in [t.strip() for t in connection.split(",")]
                and request.header("sec-websocket-version") == "13"
                and bool(request.header("sec-websocket-key")))

    def _upgrade(self, request: SimRequest, now: float) -> None:
        key = (request.header("sec-websocket-key") or "").encode("latin-1")
        self.write(self._h11.send(h11.InformationalResponse(
            status_code=101, reason=b"Switching Protocols",
            headers=[(b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"),
                     (b"Sec-WebSocket-Accept", generate_accept_token(key))])))
        self._record(request, 101, None, now)
        self._sim.counters.websockets += 1
        trailing, _ = self._h11.trailing_data
        self.link = GatewayLink(self._sim, self, now, bytes(trailing))
