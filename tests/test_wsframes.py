"""The client frame codec, checked against wsproto as the reference implementation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wsproto.frame_protocol import FrameProtocol, Opcode

from qqproto.gateway._wsframes import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    TEXT,
    FrameDecoder,
    FrameWriter,
    encode_close,
    encode_frame,
    parse_close,
)


def server_frame(opcode: Opcode, payload: bytes, fin: bool = True) -> bytes:
    return bytes(FrameProtocol(client=False, extensions=[])._serialize_frame(opcode, payload,
                                                                             fin=fin))


def decode_as_server(data: bytes) -> list[tuple[Opcode, object]]:
    proto = FrameProtocol(client=False, extensions=[])
    proto.receive_bytes(data)
    return [(f.opcode, f.payload) for f in proto.received_frames()]


def feed(data: bytes, maximum: int = 1 << 20) -> tuple[list[tuple[int, bytes]], int | None]:
    decoder = FrameDecoder(maximum)
    messages = decoder.feed(data)
    return messages, decoder.violation.code if decoder.violation else None


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_text_frames_of_every_length_encoding_decode_whole(size: int) -> None:
    payload = b"x" * size
    assert feed(server_frame(Opcode.TEXT, payload)) == ([(TEXT, payload)], None)


def test_fragments_are_joined_and_control_frames_may_interleave() -> None:
    data = (server_frame(Opcode.TEXT, b"ab", fin=False) + server_frame(Opcode.PING, b"p")
            + server_frame(Opcode.CONTINUATION, b"cd", fin=False)
            + server_frame(Opcode.CONTINUATION, b"ef"))
    assert feed(data) == ([(PING, b"p"), (TEXT, b"abcdef")], None)


def test_pong_binary_and_close_are_reported() -> None:
    data = (server_frame(Opcode.PONG, b"") + server_frame(Opcode.BINARY, b"\x00")
            + server_frame(Opcode.CLOSE, b"\x0f\xa1bye"))
    messages, violation = feed(data)
    assert messages == [(PONG, b""), (BINARY, b"\x00"), (CLOSE, b"\x0f\xa1bye")]
    assert violation is None
    assert parse_close(b"\x0f\xa1bye") == (4001, "bye")
    assert parse_close(b"") == (1005, "")


@pytest.mark.parametrize(("data", "code"), [
    (b"\xc1\x00", 1002),  # RSV1 without an extension
    (b"\x81\x80abcd", 1002),  # masked by the server
    (b"\x83\x00", 1002),  # reserved data opcode
    (b"\x8b\x00", 1002),  # reserved control opcode
    (b"\x09\x00", 1002),  # fragmented ping
    (b"\x89\x7e\x00\x7e" + b"x" * 126, 1002),  # control frame over 125 bytes
    (b"\x80\x00", 1002),  # continuation without a message
    (b"\x01\x01a\x81\x01b", 1002),  # new message inside a fragmented one
    (b"\x81\x7e\x00\x10" + b"x" * 16, 1002),  # 16-bit length for a short payload
    (b"\x81\x7f" + (10).to_bytes(8, "big") + b"x" * 10, 1002),  # 64-bit for a short one
    (b"\x81\x7f" + (1 << 63).to_bytes(8, "big"), 1002),  # most significant bit set
    (b"\x88\x01\x03", 1002),  # one-byte close payload
    (b"\x88\x02\x03\xed", 1002),  # close code 1005 may not be sent
    (b"\x88\x02\x0b\xb8" + b"", None),  # 3000 is a valid registered code
    (b"\x88\x02\x13\x88", 1002),  # 5000 is out of range
    (b"\x88\x04\x03\xe8\xff\xfe", 1007),  # close reason not UTF-8
])
def test_violations_carry_the_rfc_close_code(data: bytes, code: int | None) -> None:
    assert feed(data)[1] == code


def test_declared_length_over_the_limit_is_refused_before_buffering() -> None:
    header = b"\x81\x7f" + (10_000_000).to_bytes(8, "big")
    assert feed(header, maximum=4096) == ([], 1009)


def test_fragments_adding_up_over_the_limit_are_refused() -> None:
    data = (server_frame(Opcode.TEXT, b"x" * 3000, fin=False)
            + server_frame(Opcode.CONTINUATION, b"y" * 3000))
    assert feed(data, maximum=4096)[1] == 1009


def test_messages_before_a_violation_are_still_returned_and_it_sticks() -> None:
    decoder = FrameDecoder(1 << 20)
    assert decoder.feed(server_frame(Opcode.TEXT, b"ok") + b"\xc1\x00") == [(TEXT, b"ok")]
    assert decoder.violation is not None
    assert decoder.feed(server_frame(Opcode.TEXT, b"more")) == []


@given(st.binary(max_size=300), st.sampled_from([TEXT, BINARY, PING, PONG]))
def test_encoded_client_frames_decode_identically_in_wsproto(payload: bytes,
                                                             opcode: int) -> None:
    if opcode in (PING, PONG):
        payload = payload[:125]
    if opcode == TEXT:  # wsproto checks text is UTF-8
        payload = payload.decode("utf-8", "replace").encode("utf-8")
    frames = decode_as_server(encode_frame(opcode, payload))
    assert len(frames) == 1
    got_opcode, got = frames[0]
    assert got_opcode == Opcode(opcode)
    assert (got.encode() if isinstance(got, str) else bytes(got)) == payload  # type: ignore[union-attr]


def test_large_client_frame_uses_the_64_bit_length() -> None:
    payload = b"z" * 70000
    [(opcode, got)] = decode_as_server(encode_frame(BINARY, payload))
    assert (opcode, bytes(got)) == (Opcode.BINARY, payload)  # type: ignore[arg-type]


def test_client_frames_are_masked_with_the_entropy_source() -> None:
    frame = encode_frame(TEXT, b"hi", entropy=lambda n: b"\x01\x02\x03\x04")
    assert frame == b"\x81\x82\x01\x02\x03\x04" + bytes([ord("h") ^ 1, ord("i") ^ 2])


def test_close_reason_is_cut_on_a_character_boundary() -> None:
    frame = encode_close(4000, "好" * 100, entropy=lambda n: b"\x00" * n)
    [(opcode, payload)] = decode_as_server(frame)
    assert opcode == Opcode.CLOSE
    code, reason = payload  # type: ignore[misc]
    assert code == 4000 and reason == "好" * 41  # 41 * 3 bytes = 123 bytes


@given(st.lists(st.binary(max_size=200), max_size=6), st.integers(1, 50))
def test_any_split_of_the_stream_gives_the_same_messages(payloads: list[bytes],
                                                         step: int) -> None:
    data = b"".join(server_frame(Opcode.TEXT, p) for p in payloads)
    decoder = FrameDecoder(1 << 20)
    pieces = [decoder.feed(data[i:i + step]) for i in range(0, len(data), step)]
    assert [m for piece in pieces for m in piece] == [(TEXT, p) for p in payloads]
    assert len(decoder) == 0


def test_the_writer_sends_nothing_after_its_close_frame() -> None:
    out = bytearray()
    writer = FrameWriter(out, lambda n: b"\x00" * n)
    writer.text("hi")
    writer.pong(b"p")
    writer.close(4000, "bye")
    assert writer.close_sent
    writer.text("late")
    writer.pong(b"late")
    writer.close(1000, "again")
    assert decode_as_server(bytes(out)) == [
        (Opcode.TEXT, "hi"), (Opcode.PONG, b"p"), (Opcode.CLOSE, (4000, "bye"))]


def test_the_writer_answers_a_status_less_close_with_an_empty_one() -> None:
    out = bytearray()
    FrameWriter(out, lambda n: b"\x00" * n).close(None, "ignored")
    assert bytes(out) == b"\x88\x80\x00\x00\x00\x00"  # FIN+CLOSE, masked, no payload


# ---------------------------------------------------------------- amplification bounds


def test_a_message_in_too_many_fragments_is_a_policy_violation() -> None:
    from qqproto.gateway._wsframes import MAX_FRAGMENTS, POLICY_VIOLATION

    head = server_frame(Opcode.TEXT, b"{", fin=False)
    middle = server_frame(Opcode.CONTINUATION, b" ", fin=False)
    just_enough = head + middle * (MAX_FRAGMENTS - 2) + server_frame(Opcode.CONTINUATION, b"}")
    messages, violation = feed(just_enough)
    assert violation is None and messages == [(TEXT, b"{" + b" " * (MAX_FRAGMENTS - 2) + b"}")]
    messages, violation = feed(head + middle * MAX_FRAGMENTS)
    assert (messages, violation) == ([], POLICY_VIOLATION)


def test_empty_continuations_are_capped() -> None:
    from qqproto.gateway._wsframes import MAX_EMPTY_FRAGMENTS, POLICY_VIOLATION

    empty = server_frame(Opcode.CONTINUATION, b"", fin=False)
    data = server_frame(Opcode.TEXT, b"{}", fin=False) + empty * MAX_EMPTY_FRAGMENTS
    assert feed(data + server_frame(Opcode.CONTINUATION, b"")) == ([], POLICY_VIOLATION)
    assert feed(data + server_frame(Opcode.CONTINUATION, b"x")) == ([(TEXT, b"{}x")], None)


def test_one_byte_fragments_stop_at_the_frame_cap_with_memory_bounded() -> None:
    import tracemalloc

    from qqproto.gateway._wsframes import POLICY_VIOLATION

    # The attack: a 4 MiB message in one-byte fragments (here 200k of them).
    one = server_frame(Opcode.CONTINUATION, b"x", fin=False)
    decoder = FrameDecoder(4 * 1024 * 1024)
    tracemalloc.start()
    decoder.feed(server_frame(Opcode.TEXT, b"x", fin=False))
    for _ in range(200):
        decoder.feed(one * 1000)
        if decoder.violation is not None:
            break
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert decoder.violation is not None and decoder.violation.code == POLICY_VIOLATION
    assert peak < 1_000_000


@pytest.mark.parametrize("tail", [b"\x02\x00", b"\x89\x00", b"\x81\x02{}", b"\x00"])
def test_nothing_after_a_close_frame_is_parsed_whole_or_byte_by_byte(tail: bytes) -> None:
    data = b"\x88\x00" + tail  # the "88 00 02 00" and friends
    whole = FrameDecoder(1 << 20)
    assert whole.feed(data) == [(CLOSE, b"")]
    assert whole.closed and len(whole) == len(tail)
    bytewise = FrameDecoder(1 << 20)
    got = [m for i in range(len(data)) for m in bytewise.feed(data[i:i + 1])]
    assert got == [(CLOSE, b"")] and len(bytewise) == len(tail)
