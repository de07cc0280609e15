"""qqproto: the QQ Bot open platform protocol (API v2), sans-IO.

Import the objects from here; events and errors also from :mod:`qqproto.events` and
:mod:`qqproto.errors`.
"""

from __future__ import annotations

from ._api_errors import ApiError, InvalidCredentialsError, TokenError
from ._endpoints import PRODUCTION_API_BASE, SANDBOX_API_BASE, TOKEN_URL, Endpoints
from ._http import HttpRequest, HttpResponse
from ._intents import EVENT_INTENTS, Intents, intents_for
from ._secret import Secret
from ._snapshot import SessionSnapshot, SnapshotError
from ._token import TokenState
from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError

__version__ = "0.1.0"

__all__ = [
    "EVENT_INTENTS",
    "PRODUCTION_API_BASE",
    "SANDBOX_API_BASE",
    "TOKEN_URL",
    "ApiError",
    "Endpoints",
    "HttpRequest",
    "HttpResponse",
    "Intents",
    "InvalidCredentialsError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "Secret",
    "SessionSnapshot",
    "SnapshotError",
    "TokenError",
    "TokenState",
    "__version__",
    "intents_for",
]
