"""Run a :class:`qqproto.onboarding.OnboardSession` ("scan to bind", rest.md §8) over
httpx: blocking (:func:`run_onboarding`) or awaitable on asyncio and trio
(:func:`run_onboarding_async`).

The executor moves bytes and time only: it draws the 32-byte key from the OS
(``secrets.token_bytes``, never a seeded generator), performs the requests the session
asks for, sleeps until its timer, and hands every event to ``on_event``.  When a task
expires it asks ``renew(event)`` whether to show a new QR code.  It returns the event
that ended the session: :class:`~qqproto.events.OnboardDone` with the credentials, or
``OnboardExpired``/``OnboardFailed``/``OnboardBlocked``.  Proxies follow
``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` in ``env``; TLS is always verified.
"""

from __future__ import annotations

import os
import secrets
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from qqproto import __version__
from qqproto.events import Event, OnboardExpired
from qqproto.onboarding import KEY_SIZE, PORTAL_BASE, OnboardSession, OnboardState

from ._httpx import (
    HTTP_LIMITS,
    AsyncRoutingTransport,
    ProxyRouter,
    SyncRoutingTransport,
    send_async,
    send_sync,
    verified_ssl_context,
)

__all__ = ["new_session", "run_onboarding", "run_onboarding_async"]

Renew = Callable[[OnboardExpired], bool]


def new_session(portal: str = PORTAL_BASE, **options: Any) -> OnboardSession:
    """An :class:`OnboardSession` keyed from the OS's randomness (``options`` as the
    session takes them: ``timeout``, ``poll_interval``, ``source``)."""
    options.setdefault("user_agent", f"qqproto/{__version__}")
    return OnboardSession(secrets.token_bytes(KEY_SIZE), portal=portal, **options)


def _router(env: Mapping[str, str] | None, ssl_context: ssl.SSLContext | None,
            transport: Callable[..., Any]) -> ProxyRouter:
    context = verified_ssl_context(ssl_context)
    return ProxyRouter(os.environ if env is None else env, None, lambda proxy: transport(
        verify=context, proxy=proxy, limits=HTTP_LIMITS, trust_env=False))


def _step(session: OnboardSession, on_event: Callable[[Event], object], renew: Renew,
          now: float) -> bool:
    """Hand out the events; renew an expired task if asked.  True when it is over."""
    while (event := session.next_event()) is not None:
        on_event(event)
        if isinstance(event, OnboardExpired) and renew(event):
            session.renew(secrets.token_bytes(KEY_SIZE), now)
    return session.done


def run_onboarding(session: OnboardSession, on_event: Callable[[Event], object], *,
                   renew: Renew = lambda expired: False, env: Mapping[str, str] | None = None,
                   ssl_context: ssl.SSLContext | None = None) -> Event:
    """Run ``session`` to its end on this thread (see the module docstring)."""
    router = _router(env, ssl_context, httpx.HTTPTransport)
    with httpx.Client(transport=SyncRoutingTransport(router), trust_env=False) as client:
        if session.state is OnboardState.NEW:
            session.start(time.monotonic())
        while True:
            while (command := session.next_command()) is not None:
                result = send_sync(client, command.request)
                if isinstance(result, str):
                    session.http_failed(command.id, result, time.monotonic())
                else:
                    session.http_response(command.id, result, time.monotonic())
            if _step(session, on_event, renew, time.monotonic()) and \
                    session.next_command() is None:
                break
            when = session.get_timer()
            if when is not None:
                time.sleep(max(0.0, when - time.monotonic()))
                session.handle_timer(time.monotonic())
    assert session.outcome is not None
    return session.outcome


async def run_onboarding_async(session: OnboardSession, on_event: Callable[[Event], object],
                               *, renew: Renew = lambda expired: False,
                               env: Mapping[str, str] | None = None,
                               ssl_context: ssl.SSLContext | None = None) -> Event:
    """:func:`run_onboarding` for asyncio and trio (through anyio)."""
    import anyio

    router = _router(env, ssl_context, httpx.AsyncHTTPTransport)
    client = httpx.AsyncClient(transport=AsyncRoutingTransport(router), trust_env=False)
    async with client:
        if session.state is OnboardState.NEW:
            session.start(anyio.current_time())
        while True:
            while (command := session.next_command()) is not None:
                result = await send_async(client, command.request)
                if isinstance(result, str):
                    session.http_failed(command.id, result, anyio.current_time())
                else:
                    session.http_response(command.id, result, anyio.current_time())
            if _step(session, on_event, renew, anyio.current_time()) and \
                    session.next_command() is None:
                break
            when = session.get_timer()
            if when is not None:
                await anyio.sleep(max(0.0, when - anyio.current_time()))
                session.handle_timer(anyio.current_time())
    assert session.outcome is not None
    return session.outcome

