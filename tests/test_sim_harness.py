"""Byte-level clients for the sans-IO simulator, used by every tests/test_sim_*.py file.

:class:`HttpClient` is an h11 client and :class:`GatewayClient` a raw wsproto client;
both feed a :class:`~qqproto.simulator.SimConnection` directly, with ``now`` moved by hand.
They deliberately do not use qqproto's own bot-side objects: the simulator is tested
against the protocol, not against the code it will later test.  The few tests at the
end check the harness itself.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

import h11
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)

from qqproto.simulator._connection import SimConnection
from qqproto.simulator._simulator import Simulator

APP_ID = "102000001"
SECRET = "qqproto-simulator-secret"  # the Simulator's default fake secret
HOST = "127.0.0.1:8080"
C2C = 1 << 25


def make_sim(**kwargs: Any) -> Simulator:
    kwargs.setdefault("rng", random.Random(1234))
    return Simulator(**kwargs)


def token_for(sim: Simulator, now: float = 0.0) -> str:
    return sim.issue_token(now)[0].reveal()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpClient:
    """One keep-alive HTTP/1.1 connection to the simulator."""

    def __init__(self, sim: Simulator, now: float = 0.0) -> None:
        self.sim = sim
        self.conn: SimConnection = sim.new_connection(now)
        self.h11 = h11.Connection(h11.CLIENT)

    def raw(self, data: bytes, now: float = 0.0) -> bytes:
        self.conn.receive_data(data, now)
        return self.conn.data_to_send()

    def encode(self, method: str, path: str, *, body: bytes = b"",
               headers: list[tuple[str, str]] | None = None) -> bytes:
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
        hdrs = [("Host", HOST), *(headers or [])]
        if body:
            hdrs.append(("Content-Length", str(len(body))))
        data = self.h11.send(h11.Request(method=method, target=path, headers=hdrs)) or b""
        if body:
            data += self.h11.send(h11.Data(data=body)) or b""
        return data + (self.h11.send(h11.EndOfMessage()) or b"")

    def decode(self, data: bytes) -> Reply:
        self.h11.receive_data(data)
        response: h11.Response | None = None
        body = b""
        while True:
            event = self.h11.next_event()
            if isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                raise AssertionError(f"incomplete response: {event!r}")
        assert response is not None
        headers = {k.decode(): v.decode() for k, v in response.headers}
        return Reply(response.status_code, headers, body)

    def request(self, method: str, path: str, *, json_body: Any = None, body: bytes = b"",
                token: str | None = None, headers: list[tuple[str, str]] | None = None,
                now: float = 0.0) -> Reply:
        hdrs = list(headers or [])
        if token is not None:
            hdrs.append(("Authorization", f"QQBot {token}"))
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs.append(("Content-Type", "application/json"))
        return self.decode(self.raw(self.encode(method, path, body=body, headers=hdrs), now))


@dataclass
class GatewayClient:
    """A raw wsproto client on one simulator connection.

    ``received`` collects every message: decoded JSON for text frames that parse, the
    text itself for those that do not, ``bytes`` for binary frames.
    """

    sim: Simulator
    now: float = 0.0
    echo_close: bool = True
    target: str = "/websocket"
    conn: SimConnection = field(init=False)
    ws: WSConnection = field(init=False)
    received: list[Any] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    close: CloseConnection | None = None
    accepted: bool = False
    pongs: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.conn = self.sim.new_connection(self.now)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.conn.receive_data(self.ws.send(Request(host=HOST, target=self.target)),
                               self.now)
        self.pump()

    def pump(self) -> list[Any]:
        data = self.conn.data_to_send()
        new: list[Any] = []
        if data and self.close is None:
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, AcceptConnection):
                    self.accepted = True
                elif isinstance(event, RejectConnection):
                    raise AssertionError("upgrade rejected")
                elif isinstance(event, TextMessage):
                    self.texts.append(event.data)
                    try:
                        new.append(json.loads(event.data))
                    except ValueError:
                        new.append(event.data)
                elif isinstance(event, BytesMessage):
                    new.append(bytes(event.data))
                elif isinstance(event, Pong):
                    self.pongs.append(bytes(event.payload))
                elif isinstance(event, CloseConnection):
                    self.close = event
                    if self.echo_close and self.ws.state.name == "REMOTE_CLOSING":
                        self.conn.receive_data(self.ws.send(event.response()), self.now)
                        self.conn.data_to_send()
        self.received.extend(new)
        return new

    def at(self, now: float) -> GatewayClient:
        self.now = now
        return self

    def send_text(self, text: str) -> list[Any]:
        self.conn.receive_data(self.ws.send(TextMessage(data=text)), self.now)
        return self.pump()

    def send(self, frame: Any) -> list[Any]:
        return self.send_text(json.dumps(frame))

    def send_bytes(self, data: bytes) -> list[Any]:
        self.conn.receive_data(self.ws.send(BytesMessage(data=data)), self.now)
        return self.pump()

    def ping(self, payload: bytes = b"hi") -> list[Any]:
        self.conn.receive_data(self.ws.send(Ping(payload=payload)), self.now)
        return self.pump()

    def identify(self, token: str, *, intents: int = C2C, shard: Any = (0, 1)) -> list[Any]:
        return self.send({"op": 2, "d": {"token": f"QQBot {token}", "intents": intents,
                                         "shard": list(shard), "properties": {}}})

    def resume(self, token: str, session_id: str, seq: int | None) -> list[Any]:
        return self.send({"op": 6, "d": {"token": f"QQBot {token}", "session_id": session_id,
                                         "seq": seq}})

    def heartbeat(self, seq: int | None = None) -> list[Any]:
        return self.send({"op": 1, "d": seq})

    def eof(self) -> None:
        self.conn.receive_data(b"", self.now)

    def fire_timers(self, now: float) -> list[Any]:
        self.now = now
        self.sim.handle_timer(now)
        return self.pump()

    @property
    def dispatches(self) -> list[dict[str, Any]]:
        return [f for f in self.received if isinstance(f, dict) and f.get("op") == 0]


def connect_ready(sim: Simulator, now: float = 0.0, **identify: Any) -> tuple[GatewayClient,
                                                                               dict[str, Any]]:
    """A connected, identified client and its READY frame."""
    client = GatewayClient(sim, now)
    ready = client.identify(token_for(sim, now), **identify)
    assert ready[0]["t"] == "READY", ready
    return client, ready[0]


# --------------------------------------------------------------------- harness checks

def test_harness_http_client_speaks_keep_alive_http() -> None:
    sim = make_sim()
    client = HttpClient(sim)
    first = client.request("GET", "/users/@me", token=token_for(sim))
    second = client.request("GET", "/users/@me", token=token_for(sim))
    assert (first.status, second.status) == (200, 200)
    assert sim.counters.connections == 1


def test_harness_gateway_client_sees_the_upgrade_and_hello() -> None:
    client = GatewayClient(make_sim())
    assert client.accepted
    assert client.received == [{"op": 10, "d": {"heartbeat_interval": 41250}}]
