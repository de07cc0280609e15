"""A blocking QQ bot on plain sockets; docs/tutorial.rst builds it step by step.

It echoes every private (C2C) message, and says goodbye and stops when told "bye".
Point it at the embedded simulator with the variables ``qqproto sim`` prints::

    export QQBOT_APP_ID=... QQBOT_CLIENT_SECRET=... QQBOT_API_BASE=... QQBOT_TOKEN_URL=...
    python docs/examples/blocking_client.py

tests/test_docs_examples.py runs this file against the simulator.
"""

from __future__ import annotations

import os
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import TypeVar

from qqproto import Endpoints
from qqproto.errors import ApiError
from qqproto.events import Dispatch, Event
from qqproto.gateway import (
    CloseConnection,
    Command,
    GatewaySession,
    OpenConnection,
    SendHttpRequest,
    StartTls,
    Stop,
)
from qqproto.models import inbound_message
from qqproto.rest import HttpRequest, HttpResponse, RestCall, RestClient

# -- step 1: carry out the HTTP requests the core builds ----------------------------
# Proxies are the core's business (GatewaySession(proxy_env=...)): urllib must not
# pick its own from the environment.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))
T = TypeVar("T")


def perform(request: HttpRequest) -> HttpResponse:
    """Send ``request`` exactly as built; an HTTP error status is an answer too."""
    req = urllib.request.Request(request.url, data=request.body or None,
                                 headers=dict(request.headers), method=request.method)
    try:
        with HTTP.open(req, timeout=request.timeout) as resp:
            return HttpResponse(status=resp.status, headers=tuple(resp.headers.items()),
                                body=resp.read())
    except urllib.error.HTTPError as err:
        return HttpResponse(status=err.code, headers=tuple(err.headers.items()),
                            body=err.read())


# -- step 2: a driver that only moves bytes and obeys commands -----------------------
class BlockingDriver:
    """Runs one GatewaySession on the calling thread with one socket at a time."""

    def __init__(self, session: GatewaySession) -> None:
        self.session = session
        self.sock: socket.socket | None = None
        self.sock_id: int | None = None
        self.tls = ssl.create_default_context()  # verifies certificates and host names

    def run(self, handle: Callable[[Event], None]) -> Stop:
        """Drive the session until it stops; ``handle`` gets every event."""
        session = self.session
        session.start(time.monotonic(), time.time())
        while True:
            # After every call into the session: send what it queued ...
            data = session.data_to_send()
            if data and self.sock is not None:
                self.sock.sendall(data)
            # ... do what it asks, one command at a time ...
            command = session.next_command()
            if isinstance(command, Stop):
                while (event := session.next_event()) is not None:
                    handle(event)
                return command
            if command is not None:
                self.execute(command)
                continue
            # ... hand its events to the application ...
            event = session.next_event()
            if event is not None:
                handle(event)
                continue
            # ... and when there is nothing left, wait for bytes or the timer.
            self.wait()

    def execute(self, command: Command) -> None:
        session, now = self.session, time.monotonic
        if isinstance(command, SendHttpRequest):
            try:
                response = perform(command.request)
            except OSError as exc:  # refused, reset, timed out, TLS failure
                session.http_failed(command.id, str(exc), now())
            else:
                session.http_response(command.id, response, now())
        elif isinstance(command, OpenConnection):
            try:
                sock = socket.create_connection((command.host, command.port), timeout=20)
                if command.tls:
                    sock = self.tls.wrap_socket(sock, server_hostname=command.host)
            except OSError as exc:
                session.connection_failed(command.id, str(exc), now())
            else:
                self.sock, self.sock_id = sock, command.id
                session.connection_made(command.id, now())
        elif isinstance(command, StartTls) and self.sock is not None:
            try:  # TLS inside a proxy tunnel the session has just opened
                self.sock = self.tls.wrap_socket(self.sock,
                                                 server_hostname=command.server_hostname)
            except OSError as exc:
                session.connection_failed(command.id, str(exc), now())
            else:
                session.tls_started(command.id, now())
        elif isinstance(command, CloseConnection) and command.id == self.sock_id:
            assert self.sock is not None
            self.sock.close()
            self.sock = self.sock_id = None

    def wait(self) -> None:
        """Block until bytes arrive or the session's timer is due."""
        timer = self.session.get_timer()
        timeout = None if timer is None else timer - time.monotonic()
        if timeout is not None and timeout <= 0:
            self.session.handle_timer(time.monotonic())
        elif self.sock is None:
            time.sleep(timeout if timeout is not None else 0.1)  # waiting to reconnect
        else:
            self.sock.settimeout(timeout)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return  # the timer is due: handled on the next turn
            except OSError:
                data = b""  # a reset ends the stream like an EOF
            self.session.receive_data(data, time.monotonic())


# -- step 3: the application ---------------------------------------------------------
class EventHandler:
    """Echo private messages; "bye" closes the session (which then stops the loop)."""

    def __init__(self, session: GatewaySession) -> None:
        self.session = session
        self.rest = RestClient(session.token_state)  # shares the session's token

    def __call__(self, event: Event) -> None:
        message = None
        if isinstance(event, Dispatch) and event.type == "C2C_MESSAGE_CREATE":
            message = inbound_message(event)
        if message is None:
            print("event:", type(event).__name__)
            return
        print(f"message from {message.author_id}: {message.content!r}")
        text = "bye!" if message.content.strip() == "bye" else f"echo: {message.content}"
        try:
            call_api(self.rest.send_c2c_message(message.chat_id, content=text,
                                                msg_id=message.msg_id, msg_seq=1))
        except ApiError as exc:
            print("reply failed:", exc)
        if text == "bye!":
            self.session.close(time.monotonic())


def call_api(call: RestCall[T]) -> T:
    """Run one REST call to its end: the same pump for every OpenAPI call."""
    while (request := call.next_request(time.monotonic())) is not None:
        try:
            response = perform(request)
        except OSError as exc:
            call.transport_failed(str(exc), time.monotonic())
        else:
            call.receive_response(response, time.monotonic())
    return call.result()


def main(env: Mapping[str, str] = os.environ) -> int:
    endpoints = Endpoints(**{name: env[var] for name, var in (
        ("api_base", "QQBOT_API_BASE"), ("token_url", "QQBOT_TOKEN_URL")) if var in env})
    session = GatewaySession(app_id=env["QQBOT_APP_ID"], secret=env["QQBOT_CLIENT_SECRET"],
                             endpoints=endpoints)
    stop = BlockingDriver(session).run(EventHandler(session))
    print("stopped:", stop.reason)
    return 1 if stop.fatal else 0


if __name__ == "__main__":
    raise SystemExit(main())
