"""The simulator's built-in route table.

Later features add their endpoints here (one tuple per feature module), e.g. the chunked
upload routes (``upload_prepare``, ``upload_part_finish``, ``files``) and the pre-signed
PUT target.  See :mod:`qqproto.sim._rest` for how a route and its handler look.
"""

from __future__ import annotations

from typing import Final

from ._messages import MESSAGE_ROUTES
from ._rest import AUTH_ROUTES, Route

__all__ = ["DEFAULT_ROUTES"]

DEFAULT_ROUTES: Final[tuple[Route, ...]] = (
    *AUTH_ROUTES,
    *MESSAGE_ROUTES,
)
