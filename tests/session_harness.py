"""Plays the driver for a GatewaySession in sans-IO tests: answers its commands."""

from __future__ import annotations

import json
import random
from typing import Any

from qqproto._commands import CloseConnection, Command, OpenConnection, SendHttpRequest, Stop
from qqproto._endpoints import Endpoints
from qqproto._http import HttpResponse
from qqproto.gateway._policy import ReconnectPolicy
from qqproto.gateway._session import GatewaySession
from qqproto.gateway._snapshot import SessionSnapshot

from .gateway_peer import GatewayPeer

APP_ID = "102000001"
SECRET = "s3cr3tS3cr3t"
ENDPOINTS = Endpoints(api_base="https://api.example.test",
                      token_url="https://bots.example.test/app/getAppAccessToken")
GATEWAY_URL = "wss://gw.example.test/websocket/"


def json_response(status: int, body: Any,
                  headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
    return HttpResponse(status=status, headers=(("Content-Type", "application/json"), *headers),
                        body=json.dumps(body).encode())


def token_ok(token: str = "TOKEN-1", expires_in: Any = "7200") -> HttpResponse:
    return json_response(200, {"access_token": token, "expires_in": expires_in})


def gateway_ok(remaining: int = 1000, max_concurrency: int = 1, reset_after: int = 86_400_000,
               url: str = GATEWAY_URL) -> HttpResponse:
    return json_response(200, {"url": url, "shards": 1, "session_start_limit": {
        "total": 1000, "remaining": remaining, "reset_after": reset_after,
        "max_concurrency": max_concurrency}})


def make_session(seed: int = 7, snapshot: SessionSnapshot | None = None,
                 policy: ReconnectPolicy | None = None, **kw: Any) -> GatewaySession:
    return GatewaySession(app_id=APP_ID, secret=SECRET, endpoints=ENDPOINTS,
                          rng=random.Random(seed), snapshot=snapshot, policy=policy, **kw)


class Driver:
    """Collects commands and answers them the way a real driver would."""

    def __init__(self, session: GatewaySession) -> None:
        self.session = session
        self.pending: list[Command] = []
        self.closed: list[int] = []
        self.stops: list[Stop] = []
        self.peer: GatewayPeer | None = None

    def collect(self) -> list[Command]:
        while (cmd := self.session.next_command()) is not None:
            if isinstance(cmd, CloseConnection):
                self.closed.append(cmd.id)
            elif isinstance(cmd, Stop):
                self.stops.append(cmd)
            else:
                self.pending.append(cmd)
        return self.pending

    def take(self, kind: type) -> Any:
        self.collect()
        for i, cmd in enumerate(self.pending):
            if isinstance(cmd, kind):
                return self.pending.pop(i)
        raise AssertionError(f"no {kind.__name__} pending; have {self.pending}")

    def answer_http(self, response: HttpResponse, now: float) -> SendHttpRequest:
        cmd: SendHttpRequest = self.take(SendHttpRequest)
        self.session.http_response(cmd.id, response, now)
        return cmd

    def connect(self, now: float) -> GatewayPeer:
        cmd: OpenConnection = self.take(OpenConnection)
        self.session.connection_made(cmd.id, now)
        self.peer = GatewayPeer(self.session)
        self.peer.accept(now)
        return self.peer

    def events(self) -> list[Any]:
        out = []
        while (event := self.session.next_event()) is not None:
            out.append(event)
        return out

    def bring_up(self, now: float = 0.0, *, seq: int = 1, session_id: str = "sess-1",
                 interval_ms: int = 45000, token: bool = True) -> GatewayPeer:
        """token → gateway → connect → Hello → Identify → READY."""
        if token:
            self.answer_http(token_ok(), now)
            self.answer_http(gateway_ok(), now)
        peer = self.connect(now)
        peer.hello(now, interval_ms)
        peer.ready(now, seq=seq, session_id=session_id)
        return peer

    def fire_until_open(self, limit: int = 10) -> float:
        """Fire timers until an OpenConnection is pending; return the time."""
        for _ in range(limit):
            self.collect()
            if any(isinstance(c, OpenConnection) for c in self.pending):
                return self.session.get_timer() or 0.0
            now = self.fire_timer()
        self.collect()
        assert any(isinstance(c, OpenConnection) for c in self.pending)
        return now

    def fire_timer(self) -> float:
        due = self.session.get_timer()
        assert due is not None, "session has no timer"
        self.session.handle_timer(due)
        return due
