"""Shared pytest configuration: the loopback fixtures (local CA, proxies, echo servers)."""

pytest_plugins = ["tests.support.fixtures"]
