"""Loopback test infrastructure shared by the core's and every driver's tests.

* :mod:`tests.support.tls` — a local certificate authority (trustme) and the server and
  client ``ssl.SSLContext`` pair for ``127.0.0.1`` / ``localhost`` / ``::1``; verification
  is always on.
* :mod:`tests.support.connect_proxy` — a threaded HTTP CONNECT (and SOCKS5) proxy on
  127.0.0.1 with optional credentials that records what it tunnelled.
* :mod:`tests.support.echo` — a threaded TCP/TLS echo server on 127.0.0.1.
* :mod:`tests.support.fixtures` — pytest fixtures for all of the above
  (``pytest_plugins = ["tests.support.fixtures"]`` in ``tests/conftest.py``).

Everything listens on 127.0.0.1 port 0 and refuses to reach any non-loopback address.
"""
