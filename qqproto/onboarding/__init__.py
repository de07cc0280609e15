"""QR onboarding, "scan to bind" (rest.md §8): :class:`OnboardSession` gets a bot's app
id and client secret from the QQ portal once its owner scans a QR code.

The session is sans-IO like the rest of the core: the driver supplies the 32-byte key
(``os.urandom(32)``), performs the two HTTP calls it asks for and moves its timer.
``qqproto_transports.onboarding`` does that for a program, ``qqproto onboard`` for a
terminal.  See docs/onboarding.rst.
"""

from __future__ import annotations

from ._crypto import KEY_SIZE, open_secret, seal_secret
from ._session import (
    CONNECT_PATH,
    CREATE_PATH,
    DEADLINE,
    POLL_INTERVAL,
    POLL_PATH,
    PORTAL_BASE,
    REQUEST_TIMEOUT,
    TRANSITIONS,
    OnboardSession,
    OnboardState,
    connect_url,
    portal_base,
)

__all__ = [
    "CONNECT_PATH",
    "CREATE_PATH",
    "DEADLINE",
    "KEY_SIZE",
    "POLL_INTERVAL",
    "POLL_PATH",
    "PORTAL_BASE",
    "REQUEST_TIMEOUT",
    "TRANSITIONS",
    "OnboardSession",
    "OnboardState",
    "connect_url",
    "open_secret",
    "portal_base",
    "seal_secret",
]
