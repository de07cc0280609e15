"""The drivers' HTTP execution against a hostile server on 127.0.0.1, on every runtime:
bodies that never end, bodies and heads trickled a byte at a time, absurd headers and
lengths all end as a failure string within the limits (qqproto.Limits) and the deadline;
a 429 with ``Retry-After`` is waited out and sent again.  Every case is bounded in time
(a deadline under a second) and in memory (a cap of 256 KiB)."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from typing import Any

import pytest
import trio

from qqproto import Limits, Settings
from qqproto._endpoints import Endpoints
from qqproto.errors import NetworkError
from qqproto.rest import HttpRequest, HttpResponse
from qqproto.rest._call import RestCall
from qqproto.rest._errors import response_json_object
from qqproto.rest._token import TokenState
from qqproto_transports._httpx import (
    DeadlineBackend,
    async_http_client,
    run_call_async,
    run_call_sync,
    send_async,
    send_sync,
    sync_http_client,
)

from .support.hostile import Answer, HostileHttpServer, chunked, endless, json_answer, trickle

DRIVERS = ["asyncio", "trio", "threads"]
CAP = 256 * 1024
LIMITS = Limits(max_response_size=CAP, max_response_chunks=500, max_response_headers=50,
                http_deadline=0.3)


def _settings(limits: Limits = LIMITS) -> Settings:
    return Settings(app_id="1001", secret="s", limits=limits)


def perform(driver: str, request: HttpRequest, limits: Limits = LIMITS) -> HttpResponse | str:
    """``request`` through the driver's client, as its bot would send it."""
    settings = _settings(limits)
    if driver == "threads":
        with sync_http_client(settings, {}) as client:
            return send_sync(client, request)

    async def go() -> HttpResponse | str:
        async with async_http_client(settings, {}) as client:
            return await send_async(client, request)

    return asyncio.run(go()) if driver == "asyncio" else trio.run(go)


def _get(server: HostileHttpServer, timeout: float = 30.0) -> HttpRequest:
    return HttpRequest(method="GET", url=server.base + "/v2/x", timeout=timeout)


CASES = {
    "a body that never ends": (endless, "byte limit"),
    "a body trickled a byte at a time": (
        lambda: [b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
                 *trickle(b"x" * 1000, 0.02)], "within 0.3 s"),
    "a head trickled a byte at a time": (
        lambda: trickle(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 1000, 0.02), "within 0.3 s"),
    "a Content-Length of a terabyte": (
        lambda: [b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n", 5.0],
        "1000000000000 bytes is over"),
    "a thousand header fields": (
        lambda: [b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 1000 + b"Content-Length: 0\r\n\r\n"],
        "header fields"),
    "a body in one-byte chunks": (lambda: chunked(5000), "pieces"),
}


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_answer_is_a_bounded_failure(case: str, driver: str) -> None:
    answer, expected = CASES[case]
    with HostileHttpServer(lambda method, path, body: answer()) as server:
        started = time.monotonic()
        result = perform(driver, _get(server))
        elapsed = time.monotonic() - started
    assert isinstance(result, str), result
    assert expected in result
    assert elapsed < 3.0, (elapsed, result)


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_request_timeout_is_a_total_deadline_without_http_deadline(driver: str) -> None:
    def script(method: str, path: str, body: bytes) -> Answer:
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", *trickle(b"x" * 100, 0.05)]

    with HostileHttpServer(script) as server:
        started = time.monotonic()
        result = perform(driver, _get(server, timeout=0.3), Limits())
    assert isinstance(result, str) and "within 0.3 s" in result
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("driver", DRIVERS)
def test_an_endless_body_costs_at_most_about_the_cap_in_memory(driver: str) -> None:
    def script(method: str, path: str, body: bytes) -> Answer:
        return endless()

    with HostileHttpServer(script) as server:
        tracemalloc.start()
        try:
            result = perform(driver, _get(server))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert isinstance(result, str) and f"{CAP}-byte limit" in result
    assert peak < 8 * CAP + 2_000_000, peak


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_well_behaved_answer_still_arrives_whole(driver: str) -> None:
    body = {"id": "m1", "pad": "z" * 100_000}

    def script(method: str, path: str, payload: bytes) -> Answer:
        return json_answer(body, headers=["X-Tps-trace-ID: t1"])

    with HostileHttpServer(script) as server:
        result = perform(driver, _get(server))
    assert isinstance(result, HttpResponse)
    assert result.status == 200 and result.json() == body and result.header("x-tps-trace-id")


# ------------------------------------------------------------------ Retry-After on 429


def _rate_limited_then_ok(wait: str) -> Any:
    answers = iter([json_answer({"code": 22009, "message": "slow"}, 429,
                                [f"Retry-After: {wait}"]),
                    json_answer({"id": "m1"})])

    def script(method: str, path: str, body: bytes) -> Answer:
        return next(answers)

    return script


def _call(server: HostileHttpServer) -> RestCall[object]:
    # A host that is not the OpenAPI origin: no token request, the call goes straight out.
    tokens = TokenState(app_id="1001", secret="s",
                        endpoints=Endpoints(api_base="https://api.example.test"))
    return RestCall(HttpRequest(method="POST", url=server.base + "/v2/users/U/messages",
                                body=b"{}"), response_json_object, token_state=tokens)


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_429_with_retry_after_is_waited_out_and_sent_again(driver: str) -> None:
    with HostileHttpServer(_rate_limited_then_ok("0.15")) as server:
        call = _call(server)
        started = time.monotonic()
        settings = _settings(Limits())
        if driver == "threads":
            with sync_http_client(settings, {}) as client:
                result = run_call_sync(call, client, time.monotonic)
        else:
            async def go() -> object:
                async with async_http_client(settings, {}) as client:
                    return await run_call_async(call, client, time.monotonic)
            result = asyncio.run(go()) if driver == "asyncio" else trio.run(go)
        elapsed = time.monotonic() - started
        assert result == {"id": "m1"}
        assert [path for _, path in server.requests] == ["/v2/users/U/messages"] * 2
    assert 0.15 <= elapsed < 3.0


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_transport_failure_reaches_the_call_as_a_network_error(driver: str) -> None:
    with HostileHttpServer(lambda m, p, b: endless()) as server:
        call = _call(server)
        if driver == "threads":
            with (sync_http_client(_settings(), {}) as client,
                  pytest.raises(NetworkError, match="byte limit")):
                run_call_sync(call, client, time.monotonic)
            return

        async def go() -> None:
            async with async_http_client(_settings(), {}) as client:
                with pytest.raises(NetworkError, match="byte limit"):
                    await run_call_async(call, client, time.monotonic)

        asyncio.run(go()) if driver == "asyncio" else trio.run(go)


def test_the_blocking_client_cuts_reads_to_the_deadline() -> None:
    # httpx takes no network backend: the pool's is swapped (see _httpx._with_deadlines);
    # this fails loudly if httpx ever moves it.
    client = sync_http_client(_settings(), {})
    try:
        transport = client._transport._router.transport_for("http://127.0.0.1/")  # type: ignore[attr-defined]
        assert isinstance(transport._pool._network_backend, DeadlineBackend)
    finally:
        client.close()
