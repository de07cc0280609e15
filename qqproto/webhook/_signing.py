"""Ed25519 signing and verification of webhook callbacks (gateway.md §9.2–§9.4).

The platform signs every callback with a key pair derived from the bot secret; the bot
signs the op 13 ``plain_token`` with the same key to prove it holds the secret.  This
module owns that key: :class:`WebhookKey` derives it once, never shows it, and offers
exactly the three operations the webhook channel needs (sign, verify, op 13 answer).

Signature header format (decision, documented in ``docs/webhook.rst``): exactly 128
hexadecimal digits, upper or lower case (mixed case too); anything else — whitespace,
``0x`` prefixes, other lengths — is malformed.  The format checks look only at the
length and the alphabet of the header, never compare it with an expected value, and the
cryptographic check itself is ``cryptography``'s Ed25519 verification.
"""

from __future__ import annotations

import re
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .. import _jsoncodec
from .._secret import Secret, as_secret

__all__ = ["SIGNATURE_HEX_LENGTH", "WebhookKey", "parse_signature_hex"]

#: Length of the ``X-Signature-Ed25519`` header: 64 signature bytes as hex (§9.3).
SIGNATURE_HEX_LENGTH: Final = 128
_SEED_SIZE: Final = 32  # RFC 8032 Ed25519 seed, §9.2 step 2
_HEX_SIGNATURE: Final = re.compile(rb"[0-9A-Fa-f]{128}")


def _derive_seed(secret: Secret) -> bytes:
    """§9.2: the UTF-8 secret repeated cyclically to at least 32 bytes, cut to 32."""
    raw = secret.reveal().encode("utf-8")
    if not raw:
        # §9.2 step 4: BOTGO and RUST refuse an empty secret (the loop would never end).
        raise ValueError("the bot secret is empty: no webhook key can be derived from it")
    repeats = -(-_SEED_SIZE // len(raw))  # ceil division
    return (raw * repeats)[:_SEED_SIZE]


def _as_bytes(value: str | bytes, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


def parse_signature_hex(signature: str | bytes) -> bytes | None:
    """Decode an ``X-Signature-Ed25519`` value, or ``None`` when it is not acceptable.

    Acceptable means: exactly 128 hex digits (either case), and a last byte whose top
    three bits are clear.  §9.3: DOC, BOTGO and NB all reject ``sig[63] & 0xE0 != 0``;
    such an ``S`` half is not a canonical scalar (signature malleability).
    """
    if isinstance(signature, str):
        try:
            signature = signature.encode("ascii")
        except UnicodeEncodeError:
            return None
    if not isinstance(signature, bytes) or _HEX_SIGNATURE.fullmatch(signature) is None:
        return None
    raw = bytes.fromhex(signature.decode("ascii"))
    if raw[63] & 0xE0:
        return None
    return raw


class WebhookKey:
    """The webhook key pair derived from the bot secret (gateway.md §9.2).

    ``WebhookKey(secret)`` accepts a ``str`` or a :class:`~qqproto.Secret`; an empty secret
    raises ``ValueError``.  The object never shows key material: its ``repr`` is constant,
    and the public key is only available through :meth:`public_key_bytes` (it is not secret
    in the cryptographic sense, but with a short bot secret it would allow an offline
    guess of the secret, so it is not printed either).
    """

    __slots__ = ("_private", "_public")

    def __init__(self, secret: str | Secret) -> None:
        seed = _derive_seed(as_secret(secret))
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self._public = self._private.public_key()

    def __repr__(self) -> str:
        return "WebhookKey(<redacted>)"

    def public_key_bytes(self) -> bytes:
        """The 32-byte Ed25519 public key (what the platform verifies the bot's answers with)."""
        return self._public.public_bytes(Encoding.Raw, PublicFormat.Raw)

    def sign(self, timestamp: str | bytes, body: bytes) -> str:
        """Sign ``timestamp + body`` (§9.3 order, no separator); 128 lowercase hex digits."""
        message = _as_bytes(timestamp, "timestamp") + _as_bytes(body, "body")
        return self._private.sign(message).hex()

    def verify(self, timestamp: str | bytes, body: bytes, signature: str | bytes) -> bool:
        """True when ``signature`` is a well-formed header value that signs ``timestamp + body``.

        Malformed signatures (see :func:`parse_signature_hex`) are ``False``, never an
        exception.
        """
        raw = parse_signature_hex(signature)
        return raw is not None and self.verify_parsed(timestamp, body, raw)

    def verify_parsed(self, timestamp: str | bytes, body: bytes, raw: bytes) -> bool:
        """:meth:`verify` for a signature :func:`parse_signature_hex` already decoded
        (and so already checked for its form)."""
        message = _as_bytes(timestamp, "timestamp") + _as_bytes(body, "body")
        try:
            self._public.verify(raw, message)
        except InvalidSignature:
            return False
        return True

    def validation_response(self, plain_token: str, event_ts: str) -> bytes:
        """The JSON body answering an op 13 validation request (§9.4).

        ``{"plain_token": <plain_token>, "signature": sign(event_ts, plain_token)}`` —
        timestamp first, exactly as for event signatures.
        """
        signature = self.sign(event_ts, plain_token.encode("utf-8"))
        return _jsoncodec.dumps({"plain_token": plain_token, "signature": signature})
