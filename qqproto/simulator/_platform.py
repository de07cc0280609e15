"""What a route handler may use of the simulator: the :class:`Platform` protocol.

The endpoint modules (:mod:`._auth`, :mod:`._messages`, :mod:`._upload_routes`,
:mod:`._http_faults`) are imported by :class:`~qqproto.simulator.Simulator`, so they
cannot import it back.  They are written against this description instead, which
``Simulator`` satisfies structurally (a ``TYPE_CHECKING`` assignment at the end of
``_simulator.py`` makes mypy check it).  The protocol also shows the handlers' reach:
identity, tokens, faults, counters, reply rules and the sent-message store; nothing of
the gateway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections import deque

    from .._log import BotLogger
    from .._secret import Secret
    from ._faults import Faults
    from ._payloads import IdSource
    from ._records import Counters, InteractionAck, SentMessage
    from ._replies import ReplyBook

__all__ = ["Platform"]


class Platform(Protocol):
    """The simulator as a route handler sees it (see the module docstring)."""

    app_id: str
    bot_user_id: str
    bot_username: str
    #: The URL ``/gateway`` hands out; ``None``: ``ws://<Host header>/websocket``.
    gateway_url: str | None
    allow_active_messages: bool
    session_start_total: int
    session_start_remaining: int
    recommended_shards: int
    max_concurrency: int
    ids: IdSource
    faults: Faults
    counters: Counters
    replies: ReplyBook
    interaction_acks: deque[InteractionAck]
    log: BotLogger

    def secret_matches(self, value: object) -> bool: ...

    def issue_token(self, now: float) -> tuple[Secret, int]: ...

    def timestamp(self, now: float) -> str: ...

    def store_sent(self, message: SentMessage) -> None: ...

    def find_sent(self, message_id: str) -> SentMessage | None: ...

    def recall_sent(self, message: SentMessage) -> None: ...
