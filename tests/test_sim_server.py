"""The asyncio server driver of the simulator, over real sockets on 127.0.0.1.

Clients here are plain asyncio streams (or blocking sockets) with h11/wsproto on top;
nothing waits by sleeping: each read has a timeout and returns as soon as bytes arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Message,
    Request,
    TextMessage,
)

from qqproto.simulator._simulator import Simulator
from qqproto_transports.simulator import SimulatorThread, run_simulator_forever, serve_simulator

from .test_sim_harness import C2C, SECRET

TIMEOUT = 10.0


class AsyncWs:
    """A wsproto client over asyncio streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 port: int) -> None:
        self.reader, self.writer = reader, writer
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: list[Any] = []
        self.partial = ""
        writer.write(self.ws.send(Request(host=f"127.0.0.1:{port}", target="/websocket")))

    @classmethod
    async def connect(cls, port: int) -> AsyncWs:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, port)

    async def next(self) -> Any:
        """The next text frame (decoded), a CloseConnection, or None at EOF."""
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), TIMEOUT)
            if not data:
                return None
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, TextMessage):
                    self.partial += event.data
                    if event.message_finished:
                        self.pending.append(json.loads(self.partial))
                        self.partial = ""
                elif isinstance(event, CloseConnection):
                    self.pending.append(event)
                elif not isinstance(event, AcceptConnection | Message):
                    raise AssertionError(event)
        return self.pending.pop(0)

    def send(self, frame: Any) -> None:
        self.writer.write(self.ws.send(TextMessage(data=json.dumps(frame))))

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), TIMEOUT)


async def http_json(port: int, method: str, path: str, body: Any = None,
                    token: str | None = None) -> tuple[int, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = b"" if body is None else json.dumps(body).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    if token:
        head += f"Authorization: QQBot {token}\r\n"
    head += f"Content-Length: {len(payload)}\r\n\r\n"
    writer.write(head.encode() + payload)
    raw = await asyncio.wait_for(reader.read(), TIMEOUT)
    writer.close()
    status = int(raw.split(b" ", 2)[1])
    body_bytes = raw.split(b"\r\n\r\n", 1)[1]
    return status, json.loads(body_bytes) if body_bytes else None


async def token_of(port: int) -> str:
    _, body = await http_json(port, "POST", "/app/getAppAccessToken",
                              {"appId": "102000001", "clientSecret": SECRET})
    return str(body["access_token"])


async def ready_client(port: int, token: str) -> tuple[AsyncWs, dict[str, Any]]:
    client = await AsyncWs.connect(port)
    hello = await client.next()
    assert hello["op"] == 10
    client.send({"op": 2, "d": {"token": f"QQBot {token}", "intents": C2C, "shard": [0, 1]}})
    ready = await client.next()
    assert ready["t"] == "READY"
    return client, ready


# ------------------------------------------------------------------ asyncio server

def test_a_bot_gets_a_token_discovers_the_gateway_and_receives_an_injected_message() -> None:
    async def main() -> None:
        async with serve_simulator(Simulator()) as server:
            assert server.port > 0
            token = await token_of(server.port)
            status, gateway = await http_json(server.port, "GET", "/gateway", token=token)
            assert (status, gateway) == (200, {"url": server.gateway_url})
            client, _ = await ready_client(server.port, token)
            event = server.inject_c2c_message("USER", "hello")
            frame = await client.next()
            assert (frame["t"], frame["id"], frame["d"]["content"]) == (
                "C2C_MESSAGE_CREATE", event.id, "hello")
            await client.close()

    asyncio.run(main())


def test_env_points_a_bot_at_the_server() -> None:
    async def main() -> None:
        async with serve_simulator(Simulator(app_id="42", secret="s3")) as server:
            port = server.port
            assert server.env() == {
                "QQBOT_APP_ID": "42", "QQBOT_CLIENT_SECRET": "s3",
                "QQBOT_API_BASE": f"http://127.0.0.1:{port}",
                "QQBOT_TOKEN_URL": f"http://127.0.0.1:{port}/app/getAppAccessToken",
                "QQBOT_MEDIA_ORIGINS": f"http://127.0.0.1:{port}",
            }
            assert server.gateway_url == f"ws://127.0.0.1:{port}/websocket"

    asyncio.run(main())


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_hosts_other_than_loopback_are_refused(host: str) -> None:
    async def main() -> None:
        async with serve_simulator(Simulator(), host=host):
            raise AssertionError("must not listen")

    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        asyncio.run(main())
    with pytest.raises(ValueError):
        SimulatorThread(host=host)


def test_drop_connections_resets_the_socket_and_a_resume_replays() -> None:
    async def main() -> None:
        async with serve_simulator(Simulator()) as server:
            token = await token_of(server.port)
            client, ready = await ready_client(server.port, token)

            def drop_and_inject(sim: Simulator, now: float) -> str:
                sim.drop_connections(now)
                return sim.inject_c2c_message("U", "while away", now=now).id

            missed = server.call(drop_and_inject)
            with contextlib.suppress(ConnectionResetError):
                assert await client.next() is None
            await client.close()
            again = await AsyncWs.connect(server.port)
            assert (await again.next())["op"] == 10
            again.send({"op": 6, "d": {"token": f"QQBot {token}",
                                       "session_id": ready["d"]["session_id"], "seq": 1}})
            replayed, resumed = await again.next(), await again.next()
            assert (replayed["id"], resumed["t"]) == (missed, "RESUMED")
            await again.close()

    asyncio.run(main())


def test_the_server_timer_closes_a_silent_connection_with_4009() -> None:
    async def main() -> None:
        sim = Simulator(heartbeat_interval_ms=50, heartbeat_timeout_factor=1.0)
        async with serve_simulator(sim) as server:
            client = await AsyncWs.connect(server.port)
            assert (await client.next())["d"] == {"heartbeat_interval": 50}
            close = await client.next()
            assert isinstance(close, CloseConnection) and close.code == 4009
            await client.close()
        assert sim.counters.heartbeat_timeouts == 1

    asyncio.run(main())


def test_a_closed_gateway_connection_closes_its_socket() -> None:
    async def main() -> None:
        async with serve_simulator(Simulator()) as server:
            client, _ = await ready_client(server.port, await token_of(server.port))
            server.close_connections(4914, "banned")
            close = await client.next()
            assert isinstance(close, CloseConnection) and (close.code, close.reason) == (
                4914, "banned")
            client.writer.write(client.ws.send(close.response()))
            assert await client.next() is None
            await client.close()

    asyncio.run(main())


def test_the_lifetime_limit_stops_the_server_and_frees_the_port() -> None:
    async def main() -> int:
        async with serve_simulator(Simulator(), lifetime=0.05) as server:
            await asyncio.wait_for(server.wait_stopped(), TIMEOUT)
            return server.port

    port = asyncio.run(main())
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_the_idle_limit_stops_a_server_nobody_talks_to() -> None:
    async def main() -> None:
        async with serve_simulator(Simulator(), idle_timeout=0.05) as server:
            await asyncio.wait_for(server.wait_stopped(), TIMEOUT)

    asyncio.run(main())


def test_controls_are_thread_safe_from_another_thread() -> None:
    async def main() -> None:
        async with serve_simulator(Simulator()) as server:
            client, _ = await ready_client(server.port, await token_of(server.port))
            event = await asyncio.to_thread(server.inject_c2c_message, "U", "from a thread")
            assert (await client.next())["id"] == event.id
            await asyncio.to_thread(server.set_faults, ack_heartbeats=False)
            assert server.sim.faults.ack_heartbeats is False
            counters = await asyncio.to_thread(server.counters)
            assert counters.dispatched_events == 1
            await client.close()

    asyncio.run(main())


def test_set_faults_refuses_unknown_names() -> None:
    async def main() -> None:
        async with serve_simulator(Simulator()) as server:
            with pytest.raises(AttributeError, match="nope"):
                server.set_faults(nope=True)

    asyncio.run(main())


def test_a_burst_of_dispatches_arrives_complete_and_in_order() -> None:
    async def main() -> None:
        async with serve_simulator(Simulator()) as server:
            client, _ = await ready_client(server.port, await token_of(server.port))
            events = server.inject_c2c_burst("U", (str(n) for n in range(2000)))
            seqs = [(await client.next())["s"] for _ in events]
            assert seqs == list(range(2, 2002))
            await client.close()

    asyncio.run(main())


def test_a_prepared_burst_is_sent_through_the_driver_in_one_call() -> None:
    async def main() -> None:
        async with serve_simulator(Simulator()) as server:
            client, _ = await ready_client(server.port, await token_of(server.port))
            prepared = await asyncio.to_thread(server.prepare_c2c_messages, "U",
                                               [str(n) for n in range(500)])
            assert await asyncio.to_thread(server.dispatch_prepared, prepared) == 500
            ids = [(await client.next())["id"] for _ in prepared]
            assert ids == [event.id for event in prepared]
            await client.close()

    asyncio.run(main())


def test_every_control_shortcut_reaches_the_simulator() -> None:
    async def main() -> None:
        async with serve_simulator(Simulator()) as server:
            client, _ = await ready_client(server.port, await token_of(server.port))
            server.inject_group_at_message("G", "M", "hi")
            server.inject_channel_message("CH", "1", "U", "hi")
            server.inject_dm_message("DMG", "U", "hi")
            server.inject_interaction("c2c", user_openid="U")
            server.dispatch("FRIEND_ADD", {"openid": "U", "timestamp": 1})
            server.dispatch_many([("FRIEND_DEL", {"openid": "U", "timestamp": 2})])
            assert server.send_reconnect() == 1
            assert server.send_garbage("array") == 1
            assert server.send_invalid_session(True) == 1
            types = [(await client.next()) for _ in range(5)]
            assert [f.get("t", f.get("op")) if isinstance(f, dict) else f for f in types] == [
                "GROUP_AT_MESSAGE_CREATE", "FRIEND_ADD", "FRIEND_DEL", 7, [0, 1, 2]]
            assert server.sent_messages() == []
            server.invalidate_tokens()
            assert server.drop_connections() == 1
            await client.close()

    asyncio.run(main())


# ------------------------------------------------------------------ the thread

def test_the_simulator_thread_serves_blocking_clients_and_stops_cleanly() -> None:
    before = set(threading.enumerate())
    with SimulatorThread(Simulator()) as sim_thread:
        conn = http.client.HTTPConnection("127.0.0.1", sim_thread.port, timeout=TIMEOUT)
        conn.request("POST", "/app/getAppAccessToken",
                     json.dumps({"appId": "102000001", "clientSecret": SECRET}),
                     {"Content-Type": "application/json"})
        token = json.loads(conn.getresponse().read())["access_token"]
        conn.request("GET", "/gateway", headers={"Authorization": f"QQBot {token}"})
        assert json.loads(conn.getresponse().read()) == {"url": sim_thread.gateway_url}
        conn.close()
        assert sim_thread.env()["QQBOT_API_BASE"] == sim_thread.api_base
        assert sim_thread.token_url.endswith("/app/getAppAccessToken")
        event = sim_thread.inject_c2c_message("U", "queued before any bot")
        assert event.sessions == {}
        port = sim_thread.port
    assert set(threading.enumerate()) == before
    with pytest.raises(RuntimeError):
        sim_thread.call(lambda s, now: None)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_the_simulator_thread_carries_a_blocking_gateway_client() -> None:
    with SimulatorThread(Simulator()) as sim_thread:
        token = sim_thread.call(lambda s, now: s.issue_token(now)[0].reveal())
        sock = socket.create_connection(("127.0.0.1", sim_thread.port), timeout=TIMEOUT)
        ws = WSConnection(ConnectionType.CLIENT)
        sock.sendall(ws.send(Request(host="x", target="/websocket")))

        def frames() -> Iterator[Any]:
            partial = ""
            while True:
                ws.receive_data(sock.recv(65536))
                for event in ws.events():
                    if isinstance(event, TextMessage):
                        partial += event.data
                        if event.message_finished:
                            yield json.loads(partial)
                            partial = ""

        stream = frames()
        assert next(stream)["op"] == 10
        sock.sendall(ws.send(TextMessage(data=json.dumps(
            {"op": 2, "d": {"token": f"QQBot {token}", "intents": C2C}}))))
        assert next(stream)["t"] == "READY"
        sim_thread.inject_c2c_message("U", "to a thread bot")
        assert next(stream)["d"]["content"] == "to a thread bot"
        sock.close()


def test_a_thread_that_cannot_bind_reports_the_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            SimulatorThread(port=port).start()


def test_the_simulator_thread_stops_by_itself_after_its_lifetime() -> None:
    sim_thread = SimulatorThread(lifetime=0.05).start()
    sim_thread._thread.join(TIMEOUT)
    assert not sim_thread._thread.is_alive()
    sim_thread.stop()


# ------------------------------------------------------------------ run forever

def test_run_simulator_forever_prints_the_env_and_runs_commands() -> None:
    printed: list[str] = []
    run_simulator_forever(0, "7", "sec", printed.append,
                          lines=["c2c USER hello world", "bogus", "quit"])
    assert printed[0] == "QQBOT_APP_ID=7"
    assert printed[1] == "QQBOT_CLIENT_SECRET=sec"
    assert printed[2].startswith("QQBOT_API_BASE=http://127.0.0.1:")
    assert printed[3].startswith("QQBOT_TOKEN_URL=http://127.0.0.1:")
    assert printed[4].startswith("QQBOT_MEDIA_ORIGINS=http://127.0.0.1:")
    assert printed[5] == "# simulator ready; type 'help' for commands"
    assert printed[6].startswith("C2C_MESSAGE_CREATE C2C_MESSAGE_CREATE:")
    assert printed[6].endswith("-> queued")
    assert printed[7].startswith("error: unknown command 'bogus'")
    assert printed[8] == "stopping"


def test_run_simulator_forever_stops_at_the_end_of_input_when_asked() -> None:
    printed: list[str] = []
    run_simulator_forever(0, print_fn=printed.append, lines=["status"], stop_on_eof=True)
    assert printed[-1].startswith("open_connections=0 sessions=0 | ")


def test_run_simulator_forever_prints_what_the_bot_sends() -> None:
    printed: list[str] = []

    def lines() -> Iterator[str]:
        yield "status"
        port = int(printed[2].rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        conn.request("POST", "/app/getAppAccessToken",
                     json.dumps({"appId": "102000001", "clientSecret": SECRET}))
        token = json.loads(conn.getresponse().read())["access_token"]
        conn.request("POST", "/v2/users/U1/messages",
                     json.dumps({"msg_type": 0, "content": "hi from the bot"}),
                     {"Authorization": f"QQBot {token}"})
        assert conn.getresponse().status == 200
        conn.close()
        yield "quit"

    run_simulator_forever(print_fn=printed.append, lines=lines())
    assert "bot -> c2c U1: 'hi from the bot'" in printed


def test_an_error_in_a_cross_thread_call_is_raised_in_the_calling_thread() -> None:
    async def main() -> None:
        async with serve_simulator(Simulator()) as server:
            with pytest.raises(ValueError, match="garbage"):
                await asyncio.to_thread(server.send_garbage, "poetry")

    asyncio.run(main())


def test_a_client_that_vanishes_leaves_its_session_resumable() -> None:
    async def main() -> None:
        async with serve_simulator(Simulator()) as server:
            token = await token_of(server.port)
            client, ready = await ready_client(server.port, token)
            client.writer.transport.abort()
            await client.close()
            session_id = ready["d"]["session_id"]
            for _ in range(10_000):  # until the server has seen the reset
                if server.sim.sessions[session_id].link is None:
                    break
                await asyncio.sleep(0)  # yields to the loop; no time passes on purpose
            event = server.inject_c2c_message("U", "buffered")
            assert event.sessions == {session_id: 2}

    asyncio.run(main())


def test_leaving_the_block_resets_open_connections_and_cancels_timers() -> None:
    async def main() -> AsyncWs:
        async with serve_simulator(Simulator()) as server:
            client, _ = await ready_client(server.port, await token_of(server.port))
            assert server.sim.get_timer() is not None
        with contextlib.suppress(ConnectionResetError):
            assert await client.next() is None
        await client.close()
        return client

    asyncio.run(main())


def test_the_thread_has_no_server_before_it_starts() -> None:
    sim_thread = SimulatorThread()
    with pytest.raises(RuntimeError, match="not running"):
        _ = sim_thread.server
    sim_thread.stop()


def test_a_connection_over_the_cap_is_answered_503_and_closed() -> None:
    async def main() -> None:
        async with serve_simulator(Simulator(max_connections=1)) as server:
            first = await AsyncWs.connect(server.port)
            assert (await first.next())["op"] == 10
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            answer = await asyncio.wait_for(reader.read(), TIMEOUT)
            assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
            writer.close()
            await first.close()

    asyncio.run(main())
