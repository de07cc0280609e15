"""The simulator's built-in route table.

Each endpoint module contributes one tuple of routes: :mod:`._auth` (token, gateway
discovery), :mod:`._messages` (sends, recalls, interaction ACKs) and
:mod:`._upload_routes` (``upload_prepare``, ``upload_part_finish``, ``files``, the
pre-signed PUT target).  A new feature adds its tuple here; see
:mod:`qqproto.simulator._rest` for how a route and its handler look.
"""

from __future__ import annotations

from typing import Final

from ._auth import AUTH_ROUTES
from ._cdn import CDN_ROUTES
from ._http_faults import with_http_faults
from ._messages import MESSAGE_ROUTES
from ._openapi_routes import OPENAPI_ROUTES
from ._portal import PORTAL_ROUTES
from ._rest import Route
from ._streams import STREAM_ROUTES
from ._upload_routes import UPLOAD_ROUTES

__all__ = ["DEFAULT_ROUTES"]

# Every built-in route answers the scripted ``sim.faults.http_errors`` first.
DEFAULT_ROUTES: Final[tuple[Route, ...]] = tuple(with_http_faults(route) for route in (
    *AUTH_ROUTES,
    *MESSAGE_ROUTES,
    *STREAM_ROUTES,
    *OPENAPI_ROUTES,
    *UPLOAD_ROUTES,
    *CDN_ROUTES,
    *PORTAL_ROUTES,
))
