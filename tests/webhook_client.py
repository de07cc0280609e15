"""Test helpers for the webhook servers and the ASGI app: the official vector, signed
requests as exact bytes, and a small raw HTTP/1.1 client that shows what went over the
wire (status, headers, body, whether the server closed)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from qqproto import Settings
from qqproto._secret import Secret
from qqproto.simulator._webhook_push import event_body, signed_headers, validation_body
from qqproto.webhook._signing import WebhookKey

# gateway.md §9.6, the DOC worked vector (verified).
SECRET = "DG5g3B4j9X2KOErG"
APP_ID = "11111111"
KEY = WebhookKey(SECRET)
PLAIN_TOKEN = "Arq0D5A61EgUu4OxUvOp"
EVENT_TS = "1725442341"
VECTOR_BODY = b'{"d":{"plain_token":"Arq0D5A61EgUu4OxUvOp","event_ts":"1725442341"},"op":13}'
VECTOR_SIGNATURE = (
    "87befc99c42c651b3aac0278e71ada338433ae26fcb24307bdc5ad38c1adc2d0"
    "1bcfcadc0842edac85e85205028a1132afe09280305f13aa6909ffc2d652c706")
VECTOR_ANSWER = (b'{"plain_token":"Arq0D5A61EgUu4OxUvOp","signature":"'
                 + VECTOR_SIGNATURE.encode() + b'"}')
ACK_OK = b'{"op":12,"d":0}'
ACK_RETRY = b'{"op":12,"d":1}'


def settings(**overrides: Any) -> Settings:
    fields: dict[str, Any] = {"app_id": APP_ID, "secret": Secret(SECRET), **overrides}
    return Settings(**fields)


def dispatch(event_id: str, *, seq: int | None = 1, event_type: str = "C2C_MESSAGE_CREATE",
             d: Any = None) -> bytes:
    data = d if d is not None else {"id": f"msg-{event_id}", "content": "hello",
                                    "author": {"id": "U1", "user_openid": "U1"}}
    return event_body(event_type, data, event_id=event_id, seq=seq)


def request(body: bytes, *, timestamp: str | None = None, path: str = "/qqbot",
            method: str = "POST", app_id: str = APP_ID, signature: str | None = None,
            drop: tuple[str, ...] = (), extra: tuple[tuple[str, str], ...] = (),
            content_type: str | None = None, close: bool = False) -> bytes:
    """A signed callback as raw HTTP/1.1 bytes (``timestamp`` defaults to now)."""
    stamp = timestamp if timestamp is not None else str(int(time.time()))
    headers = list(signed_headers(KEY, body, timestamp=stamp, app_id=app_id))
    if signature is not None:
        headers = [(k, signature if k == "X-Signature-Ed25519" else v) for k, v in headers]
    if content_type is not None:
        headers = [(k, content_type if k == "Content-Type" else v) for k, v in headers]
    headers = [(k, v) for k, v in headers if k not in drop]
    headers += [("Host", "127.0.0.1"), ("Content-Length", str(len(body))), *extra]
    if close:
        headers.append(("Connection", "close"))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode("latin-1") + b"\r\n" + body


def validation(timestamp: str = EVENT_TS, plain_token: str = PLAIN_TOKEN, **kw: Any) -> bytes:
    return request(validation_body(plain_token, timestamp), timestamp=timestamp, **kw)


def forged(signature: str) -> str:
    """The same signature with its first hex digit changed (still well-formed)."""
    return ("0" if signature[0] != "0" else "1") + signature[1:]


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def closes(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"


class RawClient:
    """One TCP (or TLS) connection to 127.0.0.1; send bytes, read whole answers."""

    def __init__(self, port: int, *, ssl_context: ssl.SSLContext | None = None,
                 timeout: float = 10.0) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(sock, server_hostname="127.0.0.1")
        self.sock = sock
        self._buffer = b""

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self._buffer += chunk
        return bool(chunk)

    def answer(self) -> Answer:
        """The next whole answer (servers always send Content-Length)."""
        while b"\r\n\r\n" not in self._buffer:
            if not self._fill():
                raise ConnectionError(f"closed before an answer; got {self._buffer!r}")
        head, _, rest = self._buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        size = int(headers.get("content-length", "0"))
        self._buffer = rest
        while len(self._buffer) < size:
            if not self._fill():
                raise ConnectionError("closed mid-body")
        body, self._buffer = self._buffer[:size], self._buffer[size:]
        return Answer(status=status, headers=headers, body=body)

    def exchange(self, data: bytes) -> Answer:
        self.send(data)
        return self.answer()

    def at_eof(self) -> bool:
        """True when the server has closed (nothing more arrives)."""
        try:
            return not self._buffer and not self._fill()
        except (ConnectionResetError, ssl.SSLError):
            return True


def post(port: int, data: bytes, **kw: Any) -> Answer:
    with RawClient(port, **kw) as client:
        return client.exchange(data)
