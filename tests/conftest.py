"""Shared pytest configuration.

- The loopback fixtures (local CA, CONNECT/SOCKS proxy, echo servers) from tests/support,
  and one real Redis server per session (tests/support/redis_server.py).
- One hypothesis profile for the whole suite: no per-example deadline and no "too slow"
  health check, because CI machines are shared and slow examples say nothing about
  correctness (speed is measured in bench/, never asserted in tests).
"""

from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.support.fixtures", "tests.support.redis_server"]

settings.register_profile(
    "qqproto", deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("qqproto")
