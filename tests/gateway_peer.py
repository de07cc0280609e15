"""A scripted gateway server for sans-IO tests: wsproto's server side, no sockets.

It lets a test speak to a :class:`qqproto.gateway.GatewayConnection` byte for byte: accept the
upgrade, send frames, and read back exactly what the client sent (unmasked payloads —
client masks are random by RFC 6455 §5.3, so payload bytes are what can be exact).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    Request,
    TextMessage,
)

from qqproto.gateway._connection import GatewayConnection


class ClientEnd(Protocol):
    """Anything that speaks the client side: a GatewayConnection or a GatewaySession."""

    def data_to_send(self) -> bytes: ...
    def receive_data(self, data: bytes, now: float) -> None: ...


class GatewayPeer:
    """The server end of one connection under test."""

    def __init__(self, client: ClientEnd) -> None:
        self.client = client
        self.ws = WSConnection(ConnectionType.SERVER)
        self.request: Request | None = None
        self.received: list[Any] = []  # decoded JSON texts, close events, pings/pongs
        self.raw_texts: list[str] = []

    # -- moving bytes ---------------------------------------------------------------
    def pump_from_client(self) -> None:
        data = self.client.data_to_send()
        if not data:
            return
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, Request):
                self.request = event
            elif isinstance(event, TextMessage):
                assert event.message_finished
                self.raw_texts.append(event.data)
                self.received.append(json.loads(event.data))
            elif isinstance(event, CloseConnection | Ping | Pong | BytesMessage):
                self.received.append(event)

    def to_client(self, data: bytes, now: float) -> None:
        self.client.receive_data(data, now)
        self.pump_from_client()

    # -- server actions -------------------------------------------------------------
    def accept(self, now: float) -> None:
        self.pump_from_client()
        assert self.request is not None, "client sent no upgrade request"
        self.to_client(self.ws.send(AcceptConnection()), now)

    def send_json(self, obj: Any, now: float) -> None:
        self.send_text(json.dumps(obj, separators=(",", ":"), ensure_ascii=False), now)

    def send_text(self, text: str, now: float) -> None:
        self.to_client(self.ws.send(TextMessage(data=text)), now)

    def hello(self, now: float, interval_ms: int = 45000) -> None:
        self.send_json({"op": 10, "d": {"heartbeat_interval": interval_ms}}, now)

    def ready(self, now: float, seq: int = 1, session_id: str = "sess-1") -> None:
        self.send_json({"op": 0, "s": seq, "t": "READY", "id": None,
                        "d": {"version": 1, "session_id": session_id,
                              "user": {"id": "bot-1", "username": "demo-bot", "bot": True},
                              "shard": [0, 1]}}, now)

    def dispatch(self, now: float, seq: int, t: str = "C2C_MESSAGE_CREATE",
                 event_id: str | None = None, d: Any = None) -> None:
        self.send_json({"op": 0, "s": seq, "t": t, "id": event_id or f"{t}:{seq}",
                        "d": d if d is not None else {"id": f"m{seq}", "content": "hi"}}, now)

    def close(self, code: int, reason: str, now: float) -> None:
        self.to_client(self.ws.send(CloseConnection(code=code, reason=reason)), now)

    def take(self) -> list[Any]:
        got, self.received = self.received, []
        return got


def drain(conn: GatewayConnection) -> list[Any]:
    events = []
    while (event := conn.next_event()) is not None:
        events.append(event)
    return events


def open_ready(conn: GatewayConnection, now: float = 0.0, interval_ms: int = 45000,
               seq: int = 1) -> GatewayPeer:
    """initiate → 101 → Hello → Identify → READY; events drained, frames taken."""
    peer = GatewayPeer(conn)
    conn.initiate(now)
    peer.accept(now)
    peer.hello(now, interval_ms)
    peer.ready(now, seq=seq)
    drain(conn)
    peer.take()
    return peer
