"""qqproto: the QQ Bot open platform protocol (API v2), sans-IO.

Import the objects from here; events and errors also from :mod:`qqproto.events` and
:mod:`qqproto.errors`, typed event models from :mod:`qqproto.models`.
"""

from __future__ import annotations

from ._api_errors import ApiError, InvalidCredentialsError, TokenError
from ._backoff import Backoff
from ._close_codes import advice_for_close_code, describe_close_code
from ._commands import (
    CloseConnection,
    Command,
    OpenConnection,
    SendHttpRequest,
    StartTls,
    Stop,
)
from ._connect import (
    ConnectTunnel,
    ProxyAuthenticationRequired,
    ProxyError,
    ProxyProtocolError,
    ProxyRefused,
    ProxyTimeout,
    Socks5Tunnel,
    TunnelEstablished,
    TunnelState,
    open_tunnel,
)
from ._endpoints import PRODUCTION_API_BASE, SANDBOX_API_BASE, TOKEN_URL, Endpoints
from ._gateway import ConnectionState, GatewayConnection
from ._gateway_info import GatewayInfo, SessionStartLimit
from ._http import HttpRequest, HttpResponse
from ._intents import EVENT_INTENTS, Intents, intents_for
from ._proxy import DIRECT, ProxyConfig, ProxyConfigError, ProxyScheme, resolve_proxy
from ._secret import Secret
from ._session import GatewaySession, ReconnectPolicy, SessionState
from ._snapshot import SessionSnapshot, SnapshotError
from ._token import TokenState
from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .models import (
    InboundMessage,
    MalformedEvent,
    ModelError,
    UnknownEvent,
    inbound_message,
    parse_event,
    parse_event_strict,
)

__version__ = "0.1.0"

__all__ = [
    "DIRECT",
    "EVENT_INTENTS",
    "PRODUCTION_API_BASE",
    "SANDBOX_API_BASE",
    "TOKEN_URL",
    "ApiError",
    "Backoff",
    "CloseConnection",
    "Command",
    "ConnectTunnel",
    "ConnectionState",
    "Endpoints",
    "GatewayConnection",
    "GatewayInfo",
    "GatewaySession",
    "HttpRequest",
    "HttpResponse",
    "InboundMessage",
    "Intents",
    "InvalidCredentialsError",
    "LocalProtocolError",
    "MalformedEvent",
    "ModelError",
    "OpenConnection",
    "ProtocolError",
    "ProxyAuthenticationRequired",
    "ProxyConfig",
    "ProxyConfigError",
    "ProxyError",
    "ProxyProtocolError",
    "ProxyRefused",
    "ProxyScheme",
    "ProxyTimeout",
    "ReconnectPolicy",
    "RemoteProtocolError",
    "Secret",
    "SendHttpRequest",
    "SessionSnapshot",
    "SessionStartLimit",
    "SessionState",
    "SnapshotError",
    "Socks5Tunnel",
    "StartTls",
    "Stop",
    "TokenError",
    "TokenState",
    "TunnelEstablished",
    "TunnelState",
    "UnknownEvent",
    "__version__",
    "advice_for_close_code",
    "describe_close_code",
    "inbound_message",
    "intents_for",
    "open_tunnel",
    "parse_event",
    "parse_event_strict",
    "resolve_proxy",
]
