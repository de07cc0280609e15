"""A local certificate authority for ``wss://`` and ``https://`` tests on 127.0.0.1.

qqproto's TLS policy is "always verified" (docs/proxies.rst): tests never switch
verification off.  Instead the server presents a certificate issued by a throw-away CA
(trustme) for ``127.0.0.1``, ``localhost`` and ``::1``, and the client trusts that CA
with hostname checking on — exactly the checks production runs, against a root the
test controls.
"""

from __future__ import annotations

import pathlib
import ssl
from dataclasses import dataclass, field

import trustme

__all__ = ["LOOPBACK_IDENTITIES", "LocalTLS"]

LOOPBACK_IDENTITIES = ("127.0.0.1", "localhost", "::1")


@dataclass
class LocalTLS:
    """A CA plus one server certificate for the loopback identities."""

    ca: trustme.CA = field(default_factory=trustme.CA)
    identities: tuple[str, ...] = LOOPBACK_IDENTITIES

    def __post_init__(self) -> None:
        self.server_cert = self.ca.issue_cert(*self.identities)

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting the loopback certificate."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(ctx)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only the local CA, verification and hostname
        check on."""
        # PROTOCOL_TLS_CLIENT verifies and checks host names by default, and unlike
        # create_default_context() loads no system roots: only the local CA is trusted.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ca.configure_trust(ctx)
        assert ctx.verify_mode is ssl.CERT_REQUIRED
        assert ctx.check_hostname is True
        return ctx

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate in PEM, for ``cadata=`` or a bundle file."""
        return self.ca.cert_pem.bytes()

    def write_ca_bundle(self, directory: pathlib.Path) -> pathlib.Path:
        """Write the CA to ``directory/local-ca.pem`` (for ``SSL_CERT_FILE`` or httpx
        ``verify=``) and return the path."""
        path = directory / "local-ca.pem"
        path.write_bytes(self.ca_pem)
        return path
