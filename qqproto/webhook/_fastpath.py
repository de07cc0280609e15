"""The common webhook request, read without h11 (a strict subset of HTTP/1.1).

h11 reads any HTTP/1.1 a client may send and refuses what it must; that generality
costs about 60 µs per request here (a fresh ``h11.Connection``, its state machine, a
regex per header line, three events), which is more than a third of what a webhook
receiver spends beside the Ed25519 verification it cannot avoid (bench/README.md,
webhook_throughput.py).  The platform's pushes all look alike: ``POST``, an origin-form
target, ``HTTP/1.1``, a ``Host``, one ``Content-Length``, a small JSON body.

:func:`read_simple_request` reads exactly such a request when it is *whole* in the
buffer and answers ``None`` for anything else — a partial request, another version,
any ``Transfer-Encoding``, ``Expect`` or ``Upgrade``, a repeated or non-decimal
``Content-Length``, no or several ``Host`` headers, a character outside the visible
ASCII range, a bare CR or LF, a folded line, a head or body over the receiver's limits.
The receiver then reads that request with h11 as before, so every refusal stays h11's
(RFC 9112 §3, §5, §6.3; smuggling: two framings at once, repeated lengths).  What this
module accepts, h11 accepts with the same method, target, header list (names
lower-cased, values without surrounding blanks, order and repeats kept) and body;
``tests/test_webhook_fastpath.py`` checks that against h11 itself with hypothesis.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["SimpleRequest", "read_simple_request"]

#: RFC 9110 §5.6.2 token characters (a header name).
_TOKEN: Final = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
#: A field value: visible ASCII runs separated by single blanks' runs (RFC 9110 §5.5,
#: without obs-text); the two classes are disjoint, so matching stays linear.
_VALUE: Final = rb"[\x21-\x7e]+(?:[ \t]+[\x21-\x7e]+)*"
#: The whole head: request line (RFC 9112 §3), header lines, the empty line.
_HEAD: Final = re.compile(
    rb"([A-Z]+) (/[\x21-\x7e]*) HTTP/1\.1\r\n"
    rb"((?:" + _TOKEN + rb":[ \t]*" + _VALUE + rb"[ \t]*\r\n)*)\r\n")
_LENGTH: Final = re.compile(rb"[0-9]{1,10}")
#: Headers whose presence sends the request to h11 (framing, interim answers, upgrades).
_DECLINED: Final = frozenset({b"transfer-encoding", b"expect", b"upgrade"})


class SimpleRequest:
    """One request read by :func:`read_simple_request`; ``end``: the offset after it."""

    __slots__ = ("body", "end", "headers", "method", "target")

    def __init__(self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]],
                 body: bytes, end: int) -> None:
        self.method, self.target, self.headers = method, target, headers
        self.body, self.end = body, end


def read_simple_request(buffer: bytes | bytearray, start: int, *, max_head: int,
                        max_body: int) -> SimpleRequest | None:
    """The simple request that begins at ``buffer[start]`` and is wholly in it, or
    ``None`` (h11 reads it: see the module docstring).  Never raises."""
    head_end = buffer.find(b"\r\n\r\n", start, start + max_head)
    if head_end < 0:
        return None  # incomplete, or a head over the limit: h11 answers that (431)
    body_start = head_end + 4
    match = _HEAD.fullmatch(buffer, start, body_start)
    if match is None:
        return None
    headers: list[tuple[bytes, bytes]] = []
    length: bytes | None = None
    hosts = 0
    for line in match.group(3).split(b"\r\n")[:-1]:
        name, _, value = line.partition(b":")
        name = name.lower()
        value = value.strip(b" \t")
        if name == b"content-length":
            if length is not None or _LENGTH.fullmatch(value) is None:
                return None  # repeated or odd framing: h11 decides
            length = value
        elif name == b"host":
            hosts += 1
        elif name in _DECLINED:
            return None
        headers.append((name, value))
    if length is None or hosts != 1:
        return None
    size = int(length)
    end = body_start + size
    if size > max_body or end > len(buffer):
        return None
    return SimpleRequest(match.group(1), match.group(2), headers,
                         bytes(buffer[body_start:end]), end)
