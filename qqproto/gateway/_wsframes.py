"""RFC 6455 framing for the client end of the gateway: the hot path, kept small.

Why not wsproto's frame layer: in the gateway benchmark wsproto's per-frame parsing was
about 70 % of the core's CPU per event (bench/gateway_throughput.py), and the client
only ever *receives* unmasked server frames and *sends* a handful of small masked ones.
This decoder parses whole frames straight out of one buffer with integer indexing and
hands text payloads to the JSON codec as bytes (which validates UTF-8 itself), so an
event costs a fraction of the generic path.  wsproto stays the independent reference:
every test talks to this codec through a wsproto server.

Violations raise :class:`FrameViolation` with the close code RFC 6455 §7.4.1 assigns.

Amplification bounds: a message may arrive in at most :data:`MAX_FRAGMENTS` frames, of
which at most :data:`MAX_EMPTY_FRAGMENTS` may be empty, and its fragments are joined
into one buffer as they come (no object per fragment), so neither one-byte fragments nor
endless empty continuations cost more memory than the message-size cap allows.  Parsing
stops at a Close frame: whatever follows is left unparsed, so a stream is judged the same
whether it arrives whole or byte by byte.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Final

from ..errors import FrameViolation

__all__ = [
    "BINARY",
    "CLOSE",
    "PING",
    "PONG",
    "TEXT",
    "FrameDecoder",
    "FrameWriter",
    "encode_close",
    "encode_frame",
]

CONTINUATION: Final = 0x0
TEXT: Final = 0x1
BINARY: Final = 0x2
CLOSE: Final = 0x8
PING: Final = 0x9
PONG: Final = 0xA
_DATA: Final = frozenset({TEXT, BINARY})
_CONTROL: Final = frozenset({CLOSE, PING, PONG})

#: RFC 6455 §7.4.1/§7.4.2: codes a peer may put in a close frame.
_RESERVED_CLOSE: Final = frozenset({1004, 1005, 1006, 1015})

NO_STATUS: Final = 1005
PROTOCOL_ERROR: Final = 1002
UNSUPPORTED_DATA: Final = 1003
INVALID_PAYLOAD: Final = 1007
MESSAGE_TOO_BIG: Final = 1009
POLICY_VIOLATION: Final = 1008

#: Frames one message may be split into (a gateway message normally takes one).
MAX_FRAGMENTS: Final = 1024
#: Empty data frames one message may contain (they carry nothing but cost a step each).
MAX_EMPTY_FRAGMENTS: Final = 8



Message = tuple[int, bytes]


class FrameDecoder:
    """Turns server bytes into whole messages: ``(TEXT, payload)``, ``(BINARY, …)``,
    ``(PING, …)``, ``(PONG, …)`` and ``(CLOSE, payload)``.

    Text payloads are *not* decoded here (the JSON codec validates UTF-8); fragments
    are joined; a declared length over ``max_message_size`` is refused before any of
    its bytes are buffered, so memory is bounded by that size.  After a Close frame
    nothing more is parsed (:attr:`closed`); later bytes stay in the buffer.
    """

    __slots__ = ("_buf", "_empty", "_fragment_op", "_fragmenting", "_fragments", "_frames",
                 "_max", "closed", "violation")

    def __init__(self, max_message_size: int) -> None:
        self._buf = bytearray()
        self._max = max_message_size
        self._fragments = bytearray()
        self._fragmenting = False
        self._fragment_op = 0
        self._frames = 0  # frames of the message being joined
        self._empty = 0  # empty ones among them
        #: A Close frame has been returned: nothing after it is parsed.
        self.closed = False
        #: The first violation found; messages before it were still returned.
        self.violation: FrameViolation | None = None

    def __len__(self) -> int:
        """Bytes received but not yet part of a whole frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message]:
        """Add ``data``; return every message completed by it, in order.

        A violation stops parsing: the messages before it are returned and the violation
        is left in :attr:`violation` (so feeding whole or in pieces yields the same
        messages before the same error)."""
        if self.violation is not None:
            return []
        if self.closed:
            self._buf += data
            return []
        out: list[Message] = []
        try:
            self._parse(data, out)
        except FrameViolation as exc:
            self.violation = exc
        return out

    def _parse(self, data: bytes, out: list[Message]) -> None:
        buf = self._buf
        buf += data
        size = len(buf)
        pos = 0
        maximum = self._max
        while size - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            opcode = b0 & 0x0F
            length = b1 & 0x7F
            if b0 & 0x70:
                raise FrameViolation(PROTOCOL_ERROR, "reserved bits set without an extension")
            if b1 & 0x80:
                raise FrameViolation(PROTOCOL_ERROR, "masked frame from the server")
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                if length < 126:
                    raise FrameViolation(PROTOCOL_ERROR, "non-minimal payload length")
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 10], "big")
                if length >> 63 or length < 65536:
                    raise FrameViolation(PROTOCOL_ERROR, "invalid 64-bit payload length")
                start = pos + 10
            if opcode in _CONTROL:
                if length > 125 or not b0 & 0x80:
                    raise FrameViolation(PROTOCOL_ERROR, "control frame too long or fragmented")
            elif length + len(self._fragments) > maximum:
                raise FrameViolation(MESSAGE_TOO_BIG,
                                     f"message larger than {maximum} bytes")
            end = start + length
            if end > size:
                break
            pos = end
            if b0 & 0x80 and opcode in _DATA and not self._fragmenting:
                out.append((opcode, bytes(buf[start:end])))  # the common case
            elif opcode in _CONTROL:
                payload = bytes(buf[start:end])
                if opcode == CLOSE:
                    _check_close_payload(payload)
                    out.append((opcode, payload))
                    self.closed = True  # RFC 6455 §5.5.1: nothing may follow
                    break
                out.append((opcode, payload))
            else:
                self._fragment(b0 & 0x80, opcode, buf[start:end], out)
        if pos:
            del buf[:pos]

    def _fragment(self, fin: int, opcode: int, payload: bytearray,
                  out: list[Message]) -> None:
        """A data frame that starts, continues or ends a fragmented message."""
        if opcode in _DATA:
            if self._fragmenting:
                raise FrameViolation(PROTOCOL_ERROR, "new message inside a fragmented one")
            self._fragmenting = True
            self._fragment_op = opcode
        elif opcode != CONTINUATION:
            raise FrameViolation(PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
        elif not self._fragmenting:
            raise FrameViolation(PROTOCOL_ERROR, "continuation frame without a message")
        self._frames += 1
        if self._frames > MAX_FRAGMENTS:
            raise FrameViolation(POLICY_VIOLATION,
                                 f"message split into more than {MAX_FRAGMENTS} frames")
        if not payload:
            self._empty += 1
            if self._empty > MAX_EMPTY_FRAGMENTS:
                raise FrameViolation(POLICY_VIOLATION,
                                     f"more than {MAX_EMPTY_FRAGMENTS} empty fragments")
        self._fragments += payload
        if fin:
            out.append((self._fragment_op, bytes(self._fragments)))
            self._fragments = bytearray()
            self._fragmenting = False
            self._frames = self._empty = 0


def _check_close_payload(payload: bytes) -> None:
    if len(payload) == 1:
        raise FrameViolation(PROTOCOL_ERROR, "close frame with a one-byte payload")
    if payload:
        code = int.from_bytes(payload[:2], "big")
        if code < 1000 or code in _RESERVED_CLOSE or 1016 <= code < 3000 or code >= 5000:
            raise FrameViolation(PROTOCOL_ERROR, f"invalid close code {code}")
        try:
            payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise FrameViolation(INVALID_PAYLOAD, "close reason is not UTF-8") from None


def parse_close(payload: bytes) -> tuple[int, str]:
    """``(code, reason)`` of a checked close payload (1005 when it had none)."""
    if not payload:
        return NO_STATUS, ""
    return int.from_bytes(payload[:2], "big"), payload[2:].decode("utf-8")


def encode_frame(opcode: int, payload: bytes,
                 entropy: Callable[[int], bytes] = secrets.token_bytes) -> bytes:
    """One masked client frame (RFC 6455 §5.2–§5.3; the key comes from ``entropy``)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = entropy(4)
    if not n:
        return head + key
    repeated = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")
    return head + key + masked


def encode_close(code: int, reason: str,
                 entropy: Callable[[int], bytes] = secrets.token_bytes) -> bytes:
    """A close frame; the reason is cut to fit the 125-byte control limit on a character
    boundary."""
    data = reason.encode("utf-8")[:123]
    while data:
        try:
            data.decode("utf-8")
            break
        except UnicodeDecodeError:
            data = data[:-1]
    return encode_frame(CLOSE, code.to_bytes(2, "big") + data, entropy)


class FrameWriter:
    """The client's outgoing frames, masked, appended to the connection's ``out`` buffer.

    After our Close frame nothing more is written (RFC 6455 §5.5.1): :attr:`close_sent`
    says whether it went out.
    """

    __slots__ = ("_entropy", "_out", "close_sent")

    def __init__(self, out: bytearray, entropy: Callable[[int], bytes]) -> None:
        self._out = out
        self._entropy = entropy
        self.close_sent = False

    def text(self, text: str) -> None:
        if not self.close_sent:
            self._out += encode_frame(TEXT, text.encode("utf-8"), self._entropy)

    def pong(self, payload: bytes) -> None:
        if not self.close_sent:
            self._out += encode_frame(PONG, payload, self._entropy)

    def close(self, code: int | None, reason: str) -> None:
        """Our Close frame, once; ``code=None`` answers a close that carried no status
        with an empty one (RFC 6455 §7.1.5)."""
        if self.close_sent:
            return
        self.close_sent = True
        if code is None:
            self._out += encode_frame(CLOSE, b"", self._entropy)
        else:
            self._out += encode_close(code, reason, self._entropy)
