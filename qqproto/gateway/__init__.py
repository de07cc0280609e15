"""The WebSocket gateway: one connection (:class:`GatewayConnection`) and the supervisor
that outlives connections (:class:`GatewaySession`).

A driver feeds bytes, timers and HTTP answers in and carries out the
:class:`Command` values that come out (open a socket, start TLS, send an HTTP request,
close, stop).  What each close code means, when to resume and how long to wait are the
session's decisions (gateway.md §7), so every driver behaves the same.
"""

from __future__ import annotations

from .._commands import CloseConnection, Command, OpenConnection, SendHttpRequest, StartTls, Stop
from ._backoff import Backoff
from ._close_codes import CloseAdvice, advice_for_close_code, describe_close_code
from ._connection import ConnectionState, GatewayConnection
from ._dedupe import dedupe_key
from ._intents import EVENT_INTENTS, Intents, intents_for
from ._pacing import IDENTIFY_WINDOW, IdentifyPacer
from ._policy import ReconnectPolicy
from ._session import GatewaySession, SessionState
from ._snapshot import SessionSnapshot

__all__ = [
    "EVENT_INTENTS",
    "IDENTIFY_WINDOW",
    "Backoff",
    "CloseAdvice",
    "CloseConnection",
    "Command",
    "ConnectionState",
    "GatewayConnection",
    "GatewaySession",
    "IdentifyPacer",
    "Intents",
    "OpenConnection",
    "ReconnectPolicy",
    "SendHttpRequest",
    "SessionSnapshot",
    "SessionState",
    "StartTls",
    "Stop",
    "advice_for_close_code",
    "dedupe_key",
    "describe_close_code",
    "intents_for",
]
