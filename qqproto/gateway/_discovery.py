"""What the supervisor must know before it connects: a token, the gateway URL, and
whether the identify budget allows a new session (gateway.md §1, §2, §8.4).

:class:`Discovery` says which HTTP request comes next (the token, then ``GET
/gateway/bot``), reads the discovery answer, and keeps the ``session_start_limit``
bookkeeping that decides when the next Identify may go out.
"""

from __future__ import annotations

from collections import deque

from .._endpoints import Endpoints
from .._http import HttpRequest, HttpResponse
from .._log import BotLogger
from ..errors import ApiError
from ..rest._gateway_info import GatewayInfo, gateway_request, parse_gateway_response
from ..rest._token import TokenState
from ._pacing import IDENTIFY_WINDOW, IdentifyPacer

__all__ = ["IDENTIFY_WINDOW", "Discovery"]


class Discovery:
    """The token and gateway requests a connection needs, and the identify budget.

    ``stale`` marks the gateway answer as worth asking again (a connect that failed, a
    handshake refused, an exhausted budget that may have reset).
    """

    __slots__ = ("_app_id", "_bot", "_endpoints", "_fetched_at", "_identifies_left",
                 "_identify_times", "_log", "_pacer", "_shard_count", "_shard_id", "info",
                 "stale", "tokens")

    def __init__(self, tokens: TokenState, endpoints: Endpoints, *, app_id: str,
                 use_gateway_bot: bool, shard_count: int, log: BotLogger,
                 shard_id: int = 0, pacer: IdentifyPacer | None = None) -> None:
        #: Shared by the shards of one process (gateway.md §8.4, §10).
        self._pacer = pacer
        self._shard_id = shard_id
        self.tokens = tokens
        self._endpoints = endpoints
        self._app_id = app_id
        self._bot = use_gateway_bot
        self._shard_count = shard_count
        self._log = log
        self.info: GatewayInfo | None = None
        self.stale = True
        self._fetched_at = 0.0
        self._identify_times: deque[float] = deque()
        self._identifies_left: int | None = None

    def next_request(self, now: float) -> tuple[str, HttpRequest] | None:
        """``("token", request)`` or ``("gateway", request)`` for what is missing at
        ``now``, or ``None`` when a connection may be opened."""
        tokens = self.tokens
        token = tokens.current(now)
        if token is None:
            return "token", tokens.request()
        if self.info is None or self.stale:
            return "gateway", gateway_request(self._endpoints, token, self._app_id,
                                              bot=self._bot)
        return None

    def receive_gateway(self, response: HttpResponse, now: float) -> GatewayInfo:
        """Read the discovery answer; raises its :class:`ApiError` (after dropping the
        token when the answer was a 401)."""
        try:
            info = parse_gateway_response(response)
        except ApiError as exc:
            if exc.status == 401:
                self.tokens.invalidate()
            raise
        self.info = info
        self.stale = False
        self._fetched_at = now
        limit = info.session_start_limit
        self._identifies_left = limit.remaining if limit else None
        if limit is not None and self._pacer is not None:
            self._pacer.learn(limit.max_concurrency)
        if info.shards is not None and info.shards != self._shard_count:
            self._log.info("platform recommends %d shards; this session uses %d",
                           info.shards, self._shard_count)
        return info

    def identify_allowed_at(self, now: float) -> float:
        """gateway.md §8.4: ``remaining`` per day, ``max_concurrency`` per 5 s."""
        info = self.info
        limit = info.session_start_limit if info else None
        if limit is None:
            return now if self._pacer is None else self._pacer.allowed_at(self._shard_id, now)
        if self._identifies_left is not None and self._identifies_left <= 0:
            self.stale = True  # re-read the budget once it has reset
            return max(now, self._fetched_at + limit.reset_after)
        times = self._identify_times
        while times and now - times[0] >= IDENTIFY_WINDOW:
            times.popleft()
        allowed = now
        if len(times) >= limit.max_concurrency:
            allowed = times[0] + IDENTIFY_WINDOW
        if self._pacer is not None:
            allowed = max(allowed, self._pacer.allowed_at(self._shard_id, now))
        return allowed

    def identified(self, now: float) -> None:
        """An Identify goes out at ``now``: it spends one unit of the budget."""
        self._identify_times.append(now)
        if self._pacer is not None:
            self._pacer.identified(self._shard_id, now)
        if self._identifies_left is not None:
            self._identifies_left -= 1
