"""Fuzz the webhook receiver: raw client bytes into a fresh :class:`WebhookReceiver`.

The invariant (after h11's ``fuzz/afl-server.py``): feeding the input whole and feeding it
byte by byte yield the same events, the same outcome and the same response bytes, and
nothing but :class:`~qqproto.errors.RemoteProtocolError` ever escapes ``receive_data``.

After the input, every dispatch is acknowledged in order (alternately ``ok`` and not, so
both op 12 answers and the replay cache's forgetting are exercised), which lets pipelined
requests behind them be parsed; then EOF is fed.

Run with atheris::

    pip install '.[fuzz]' && python fuzz/fuzz_webhook.py -max_total_time=600
"""

from __future__ import annotations

import sys
from typing import Any

from qqproto.errors import RemoteProtocolError
from qqproto.events import WebhookDispatch
from qqproto.webhook._decision import ReplayCache, WebhookPolicy
from qqproto.webhook._receiver import WebhookReceiver
from qqproto.webhook._signing import WebhookKey

SECRET = "DG5g3B4j9X2KOErG"
KEY = WebhookKey(SECRET)
UNIX_NOW = 1_725_442_341
NOW = 50.0
# Small limits so that random inputs reach the 413/431 paths.
POLICY = WebhookPolicy(max_body_size=2048, app_id=None)
MAX_HEADER_SIZE = 1024
MAX_PIPELINED = 3


def http_request(body: bytes, *, ts: str = str(UNIX_NOW), method: str = "POST",
                 target: str = "/qqbot", version: str = "1.1", signed: bool = True,
                 extra: tuple[tuple[str, str], ...] = (), chunks: list[int] | None = None,
                 content_type: str | None = "application/json") -> bytes:
    """One request as raw bytes, signed with :data:`KEY` over ``ts + body``.

    ``chunks`` sends the body chunked, split at those sizes (the rest in one last chunk).
    """
    lines = [f"{method} {target} HTTP/{version}", "Host: bot.example"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    if signed:
        lines += [f"X-Signature-Ed25519: {KEY.sign(ts, body)}", f"X-Signature-Timestamp: {ts}"]
    lines += [f"{name}: {value}" for name, value in extra]
    if chunks is None:
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    lines.append("Transfer-Encoding: chunked")
    encoded, rest = b"", body
    for size in chunks:
        if size and rest:
            piece, rest = rest[:size], rest[size:]
            encoded += b"%x\r\n" % len(piece) + piece + b"\r\n"
    if rest:
        encoded += b"%x\r\n" % len(rest) + rest + b"\r\n"
    encoded += b"0\r\n\r\n"
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + encoded


def new_receiver() -> WebhookReceiver:
    return WebhookReceiver(KEY, now=NOW, replay_cache=ReplayCache(max_entries=64),
                           policy=POLICY, max_header_size=MAX_HEADER_SIZE,
                           max_pipelined=MAX_PIPELINED)


def _drain(receiver: WebhookReceiver, log: list[Any], out: bytearray) -> None:
    while (event := receiver.next_event()) is not None:
        log.append(event)
    out += receiver.data_to_send()


def run(chunks: list[bytes]) -> tuple[list[Any], bytes]:
    """Feed ``chunks``, acknowledge every dispatch, feed EOF; (event log, output bytes)."""
    receiver = new_receiver()
    log: list[Any] = []
    out = bytearray()
    for chunk in chunks:
        try:
            receiver.receive_data(chunk, now=NOW, unix_now=UNIX_NOW)
        except RemoteProtocolError as exc:
            _drain(receiver, log, out)  # events queued before the error come first
            log.append(("raised", str(exc)))
            break
        _drain(receiver, log, out)
    acked = 0
    while acked < len(log):
        event = log[acked]
        acked += 1
        if isinstance(event, WebhookDispatch):
            receiver.acknowledge(event.delivery, ok=event.delivery.request % 2 == 1)
            _drain(receiver, log, out)
    try:
        receiver.receive_data(b"", now=NOW, unix_now=UNIX_NOW)
    except RemoteProtocolError as exc:
        _drain(receiver, log, out)
        log.append(("raised at EOF", str(exc)))
    _drain(receiver, log, out)
    log.append(("final state", receiver.state))
    return log, bytes(out)


def fuzz_one(data: bytes) -> tuple[list[Any], bytes]:
    """Check the invariant on ``data``; the whole run's (event log, response bytes)."""
    whole = run([data])
    bytewise = run([data[i:i + 1] for i in range(len(data))])
    assert whole[0] == bytewise[0], "event streams differ"
    assert whole[1] == bytewise[1], "response bytes differ"
    return whole


if __name__ == "__main__":  # pragma: no cover
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, fuzz_one)
    atheris.Fuzz()
