"""A gateway connection with no socket and no clock (docs/sans-io.rst).

The client (:class:`GatewayConnection`) and the simulator's server side are both sans-IO,
so they can be wired together by handing bytes across in memory; time is a number that
moves by arithmetic.  tests/test_docs_examples.py checks the output line for line.
"""

from __future__ import annotations

from qqproto.events import Dispatch, HeartbeatAcknowledged, Ready
from qqproto.gateway import GatewayConnection
from qqproto.simulator import SimConnection, Simulator


def pump(client: GatewayConnection, server: SimConnection, now: float) -> None:
    """Move bytes both ways until neither side has anything to say."""
    while True:
        up, down = client.data_to_send(), server.data_to_send()
        if up:
            server.receive_data(up, now)
        if down:
            client.receive_data(down, now)
        if not up and not down:
            return


def main() -> None:
    sim = Simulator(heartbeat_interval_ms=30_000)  # Hello will say: every 30 s
    now = 0.0
    token, _expires_in = sim.issue_token(now)
    server = sim.new_connection(now)
    client = GatewayConnection(url="ws://simulator.invalid/websocket", token=token)

    client.initiate(now)  # the HTTP upgrade request, queued in client.data_to_send()
    pump(client, server, now)  # upgrade, Hello, Identify, READY
    sim.inject_c2c_message("USER-1", "hello", now=now)
    pump(client, server, now)
    now = client.get_timer() or now  # 0.8 x 30 s = 24 s: the first heartbeat is due
    client.handle_timer(now)
    pump(client, server, now)

    while (event := client.next_event()) is not None:
        if isinstance(event, Ready):
            print(f"Ready: logged in as {event.user.username}, seq {event.seq}")
        elif isinstance(event, Dispatch):
            print(f"Dispatch {event.type}: seq {event.seq}, {event.data['content']!r}")
        elif isinstance(event, HeartbeatAcknowledged):
            print(f"HeartbeatAcknowledged at t={now}: latency {event.latency}")
    print(f"state {client.state.name}, last seq {client.last_seq}")


if __name__ == "__main__":
    main()
