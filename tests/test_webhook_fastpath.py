"""The webhook receiver's h11-free reader (qqproto.webhook._fastpath) against h11 itself.

Whatever the fast reader accepts, h11 must read as the same request (method, target,
header list, body, where it ends); whatever h11 refuses, the fast reader must decline.
Requests are built from a grammar whose every part may be bent: odd methods and
versions, blanks around names and values, control and high bytes, folded lines, bare CR
or LF, repeated or strange framing headers, bodies shorter or longer than announced.
"""

from __future__ import annotations

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qqproto.webhook._fastpath import read_simple_request

MAX_HEAD, MAX_BODY = 1024, 256

_GOOD_NAMES = st.sampled_from([
    b"X-Signature-Timestamp", b"Content-Type", b"User-Agent", b"X-Bot-Appid",
    b"X-Signature-Ed25519", b"Connection", b"X-Signature-Method"])
_BAD_NAMES = st.sampled_from([
    b"Host", b"host", b"HOST", b"Content-Length", b"content-length", b"Transfer-Encoding",
    b"Expect", b"Upgrade", b"X Space", b"", b"Name\x00", b"N\xe9", b"Host ", b" Host",
    b"content-length\t"])
_NAMES = st.one_of(_GOOD_NAMES, _GOOD_NAMES, _GOOD_NAMES, _BAD_NAMES)
_GOOD_VALUES = st.sampled_from([
    b"application/json", b"QQBot-Callback", b"1725000000", b"102000001", b"a b c",
    b"close", b"keep-alive", b"x\ty", b"a  b", b"Ed25519"])
_BAD_VALUES = st.one_of(
    st.sampled_from([b"127.0.0.1", b"5", b"0", b"05", b"5, 5", b"-1", b"1e3", b"chunked",
                     b"100-continue", b"", b" a ", b"\x80", b"a\rb", b"a\nb",
                     b"99999999999", b"+5"]),
    st.binary(max_size=12))
_VALUES = st.one_of(_GOOD_VALUES, _GOOD_VALUES, _GOOD_VALUES, _BAD_VALUES)

def usually(usual: bytes, *bent: bytes) -> st.SearchStrategy[bytes]:
    """``usual`` four times in five, else one of the ``bent`` forms."""
    return st.one_of(st.just(usual), st.just(usual), st.just(usual), st.just(usual),
                     st.sampled_from(bent))


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    method = draw(usually(b"POST", b"GET", b"HEAD", b"post", b"P@ST", b""))
    target = draw(usually(b"/qqbot", b"/", b"/a?b=c", b"*", b"http://x/y", b"/a b",
                          b"/\x7f", b"/\xff", b""))
    version = draw(usually(b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"http/1.1"))
    body = draw(st.binary(max_size=40))
    lines = [method + b" " + target + b" " + version]
    if draw(st.integers(0, 9)):
        lines.append(b"Host: 127.0.0.1")
    if draw(st.integers(0, 9)):
        off = draw(usually(b"0", b"-1", b"1"))
        lines.append(b"Content-Length: " + str(len(body) + int(off)).encode())
    for _ in range(draw(st.integers(0, 4))):
        name, value = draw(_NAMES), draw(_VALUES)
        gap = draw(st.sampled_from([b"", b" ", b"  ", b"\t"]))
        lines.append(name + b":" + gap + value + draw(st.sampled_from([b"", b" ", b"\t"])))
        if draw(st.integers(0, 9)) == 0:
            lines.append(b" folded")
    ends = usually(b"\r\n", b"\n", b"\r", b" \r\n")
    head = b"".join(line + draw(ends) for line in lines) + b"\r\n"
    return head + body + draw(st.sampled_from([b"", b"", b"GET / HTTP/1.1\r\n"]))


def h11_read(data: bytes) -> tuple[bytes, bytes, list[tuple[bytes, bytes]], bytes,
                                   int] | None:
    """What h11 reads from ``data`` as one whole request, or None (refused/incomplete)."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD + MAX_BODY + 10)
    conn.receive_data(data)
    body = b""
    try:
        request = conn.next_event()
        if not isinstance(request, h11.Request):
            return None
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                return None
    except h11.RemoteProtocolError:
        return None
    end = len(data) - len(conn.trailing_data[0])
    return (request.method, request.target, list(request.headers), body, end)


def check(data: bytes) -> None:
    fast = read_simple_request(data, 0, max_head=MAX_HEAD, max_body=MAX_BODY)
    if fast is None:
        return
    assert h11_read(data) == (fast.method, fast.target, fast.headers, fast.body, fast.end)


@settings(max_examples=600, deadline=None)
@given(requests())
def test_what_the_fast_reader_accepts_h11_reads_alike(data: bytes) -> None:
    check(data)


@settings(max_examples=300, deadline=None)
@given(requests(), st.binary(max_size=6), st.integers(0, 200))
def test_a_corrupted_request_is_never_read_differently(data: bytes, junk: bytes,
                                                       at: int) -> None:
    at = min(at, len(data))
    check(data[:at] + junk + data[at:])


@settings(max_examples=200, deadline=None)
@given(requests(), st.integers(0, 200))
def test_a_cut_request_is_declined_or_read_alike(data: bytes, cut: int) -> None:
    check(data[:cut])


SIMPLE = (b"POST /qqbot HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n"
          b"X-Signature-Ed25519:  ab cd \t\r\n\r\n{}")


def test_the_platforms_push_is_read_without_h11() -> None:
    request = read_simple_request(b"junk" + SIMPLE + b"next", 4, max_head=MAX_HEAD,
                                  max_body=MAX_BODY)
    assert request is not None
    assert (request.method, request.target, request.body) == (b"POST", b"/qqbot", b"{}")
    assert request.headers == [(b"host", b"127.0.0.1"), (b"content-length", b"2"),
                               (b"x-signature-ed25519", b"ab cd")]
    assert request.end == 4 + len(SIMPLE)


@pytest.mark.parametrize("data", [
    SIMPLE[:-1],  # the body is not all here yet
    SIMPLE.replace(b"HTTP/1.1", b"HTTP/1.0"),
    SIMPLE.replace(b"Content-Length: 2", b"Content-Length: 2\r\nContent-Length: 2"),
    SIMPLE.replace(b"Content-Length: 2", b"Content-Length: 2\r\nTransfer-Encoding: chunked"),
    SIMPLE.replace(b"Content-Length: 2", b"Content-Length: 2, 2"),
    SIMPLE.replace(b"Host: 127.0.0.1\r\n", b""),
    SIMPLE.replace(b"Host: 127.0.0.1", b"Host: a\r\nHost: b"),
    SIMPLE.replace(b"Host: 127.0.0.1", b"Host: 127.0.0.1\r\nExpect: 100-continue"),
    SIMPLE.replace(b"Host:", b"Host :"),
    SIMPLE.replace(b"\r\nContent-Length", b"\nContent-Length"),
    SIMPLE.replace(b"127.0.0.1", b"127.0.0.1\r\n folded"),
    SIMPLE.replace(b"127.0.0.1", "主机".encode()),
], ids=["partial", "http/1.0", "two-lengths", "two-framings", "length-list", "no-host",
        "two-hosts", "expect", "space-before-colon", "bare-lf", "folded", "obs-text"])
def test_anything_unusual_goes_to_h11(data: bytes) -> None:
    assert read_simple_request(data, 0, max_head=MAX_HEAD, max_body=MAX_BODY) is None


def test_the_limits_are_the_receivers() -> None:
    big_head = SIMPLE.replace(b"Host:", b"X-Pad: " + b"p" * MAX_HEAD + b"\r\nHost:")
    big_body = SIMPLE.replace(b"Content-Length: 2", b"Content-Length: 300") + b"x" * 298
    for data in (big_head, big_body):
        assert read_simple_request(data, 0, max_head=MAX_HEAD, max_body=MAX_BODY) is None
    assert read_simple_request(SIMPLE, 0, max_head=SIMPLE.index(b"{}"),
                               max_body=2) is not None  # exactly at both limits


@st.composite
def platform_pushes(draw: st.DrawFn) -> bytes:
    """Requests shaped like the platform's (every one must take the fast path)."""
    body = draw(st.binary(max_size=60))
    lines = [b"POST " + draw(st.sampled_from([b"/qqbot", b"/", b"/hook?x=1"])) + b" HTTP/1.1",
             b"Host: " + draw(st.sampled_from([b"127.0.0.1", b"bot.example.com:8443"])),
             b"Content-Length: " + str(len(body)).encode()]
    for _ in range(draw(st.integers(0, 5))):
        gap = draw(st.sampled_from([b"", b" ", b"\t "]))
        lines.append(draw(_GOOD_NAMES) + b":" + gap + draw(_GOOD_VALUES)
                     + draw(st.sampled_from([b"", b" "])))
    order = draw(st.permutations(lines[1:]))
    return b"\r\n".join([lines[0], *order]) + b"\r\n\r\n" + body


@settings(max_examples=300, deadline=None)
@given(platform_pushes())
def test_every_platform_shaped_push_is_read_fast_and_alike(data: bytes) -> None:
    fast = read_simple_request(data, 0, max_head=MAX_HEAD, max_body=MAX_BODY)
    assert fast is not None
    assert h11_read(data) == (fast.method, fast.target, fast.headers, fast.body, fast.end)
