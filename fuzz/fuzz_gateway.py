"""Fuzz the gateway connection: server bytes into a READY :class:`GatewayConnection`.

The invariant (after h11's ``fuzz/afl-server.py``): feeding the input whole and feeding it
byte by byte yield the same events and the same outcome, and nothing but
:class:`~qqproto.errors.RemoteProtocolError` ever escapes ``receive_data``.

Run with atheris::

    pip install '.[fuzz]' && python fuzz/fuzz_gateway.py -max_total_time=600
"""

from __future__ import annotations

import sys
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from qqproto.errors import RemoteProtocolError
from qqproto.gateway._connection import ConnectionState, GatewayConnection

NOW = 1000.0


def ready_connection() -> GatewayConnection:
    """A connection past Hello/Identify/READY, its events drained."""
    conn = GatewayConnection(url="wss://gw.example/websocket", token="T",
                             max_message_size=64 * 1024)
    server = WSConnection(ConnectionType.SERVER)
    conn.initiate(NOW)
    server.receive_data(conn.data_to_send())
    assert any(isinstance(e, Request) for e in server.events())
    data = server.send(AcceptConnection())
    data += server.send(TextMessage(data='{"op":10,"d":{"heartbeat_interval":45000}}'))
    data += server.send(TextMessage(
        data='{"op":0,"s":1,"t":"READY","d":{"session_id":"s","user":{"id":"b"}}}'))
    conn.receive_data(data, NOW)
    conn.data_to_send()
    while conn.next_event() is not None:
        pass
    assert conn.state is ConnectionState.OPEN
    return conn


def _run(chunks: list[bytes]) -> tuple[list[Any], int | str | None, bytes]:
    conn = ready_connection()
    events: list[Any] = []
    outcome: int | str | None = "ok"
    for chunk in chunks:
        try:
            conn.receive_data(chunk, NOW)
        except RemoteProtocolError as exc:
            outcome = exc.close_code_hint
            break
        finally:
            while (event := conn.next_event()) is not None:
                events.append(event)
    return events, outcome, conn.data_to_send()


def fuzz_one(data: bytes) -> tuple[list[Any], int | str | None, bytes]:
    """Check the invariant on ``data``; the whole run's (events, outcome, bytes sent)."""
    # Both runs end with EOF (b""), so the end-of-stream paths are fuzzed too.
    whole = _run([data, b""] if data else [b""])
    bytewise = _run([*(data[i:i + 1] for i in range(len(data))), b""])
    assert whole[0] == bytewise[0], "event streams differ"
    assert whole[1] == bytewise[1], "outcomes differ"
    return whole


def _frames_only(data: bytes) -> None:  # pragma: no cover - atheris entry point
    fuzz_one(data)


if __name__ == "__main__":  # pragma: no cover
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, _frames_only)
    atheris.Fuzz()
