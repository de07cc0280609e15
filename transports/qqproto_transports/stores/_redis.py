"""``redis://…``: Redis through redis-py, for a bot that runs on several machines.

Plain ``SET … PX``/``NX`` for writes, ``MGET`` for many reads, and two small Lua scripts
for compare-and-set and compare-and-delete (atomic on the server, as a lease needs).
Lifetimes are the server's (``PX``), so the processes' clocks need not agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qqproto.stores import parse_store_url

__all__ = ["RedisStore"]

# KEYS[1]; ARGV: expected ("" with ARGV[4] == "1": absent), value, ttl ms ("0": none), absent?
_SWAP = """
local current = redis.call('GET', KEYS[1])
if ARGV[4] == '1' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
if ARGV[3] == '0' then redis.call('SET', KEYS[1], ARGV[2])
else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
"""
_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisStore:
    """A :class:`~qqproto_transports.stores.Store` on a Redis server (``url`` as redis-py
    takes it: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://``,
    ``unix://``)."""

    shared = True

    def __init__(self, url: str, *, socket_timeout: float = 5.0) -> None:
        import redis  # an optional dependency: only Redis users need it

        self.url = url
        self._client: Any = redis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout,
            decode_responses=True)
        self._swap = self._client.register_script(_SWAP)
        self._delete_if = self._client.register_script(_DELETE_IF)

    def __repr__(self) -> str:
        return f"RedisStore({str(parse_store_url(self.url))!r})"

    def get(self, key: str) -> str | None:
        value = self._client.get(key)
        return None if value is None else str(value)

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        if not keys:
            return []
        return [None if v is None else str(v) for v in self._client.mget(list(keys))]

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        self._client.set(key, value, px=_ms(ttl))

    def add(self, key: str, value: str, *, ttl: float | None = None) -> bool:
        return bool(self._client.set(key, value, px=_ms(ttl), nx=True))

    def swap(self, key: str, expected: str | None, value: str, *,
             ttl: float | None = None) -> bool:
        ttl_ms = _ms(ttl) or 0
        args = ["" if expected is None else expected, value, str(ttl_ms),
                "1" if expected is None else "0"]
        return bool(self._swap(keys=[key], args=args))

    def delete(self, key: str, *, expected: str | None = None) -> bool:
        if expected is None:
            return bool(self._client.delete(key))
        return bool(self._delete_if(keys=[key], args=[expected]))

    def close(self) -> None:
        self._client.close()


def _ms(ttl: float | None) -> int | None:
    if ttl is None:
        return None
    if not ttl > 0:
        raise ValueError("ttl must be a positive number of seconds")
    return max(1, round(ttl * 1000))
