"""The simulator's built-in route table.

Later features add their endpoints here (one tuple per feature module), like the media
routes of :mod:`qqproto.simulator._uploads` (``upload_prepare``, ``upload_part_finish``,
``files``, the pre-signed PUT target).  See :mod:`qqproto.simulator._rest` for how a route
and its handler look.
"""

from __future__ import annotations

from typing import Final

from ._http_faults import with_http_faults
from ._messages import MESSAGE_ROUTES
from ._rest import AUTH_ROUTES, Route
from ._uploads import UPLOAD_ROUTES

__all__ = ["DEFAULT_ROUTES"]

# Every built-in route answers the scripted ``sim.faults.http_errors`` first.
DEFAULT_ROUTES: Final[tuple[Route, ...]] = tuple(with_http_faults(route) for route in (
    *AUTH_ROUTES,
    *MESSAGE_ROUTES,
    *UPLOAD_ROUTES,
))
