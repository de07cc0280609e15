"""Loopback scenarios (real sockets on 127.0.0.1) run against every driver."""
