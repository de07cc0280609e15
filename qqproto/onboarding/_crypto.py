"""The bind result's secret: AES-256-GCM under the key the client chose (rest.md §8.8).

``bot_encrypt_secret`` is standard base64 of ``IV (12 bytes) ‖ ciphertext ‖ tag (16
bytes)``, with no associated data; the plaintext is the UTF-8 client secret.
:func:`seal_secret` is the portal's side, for the simulator and the tests.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import SecretDecryptError

__all__ = ["IV_SIZE", "KEY_SIZE", "TAG_SIZE", "open_secret", "seal_secret"]

KEY_SIZE: Final = 32
IV_SIZE: Final = 12
TAG_SIZE: Final = 16


def seal_secret(secret: str, key: bytes, iv: bytes) -> str:
    """``bot_encrypt_secret`` for ``secret``, as the portal builds it."""
    if len(key) != KEY_SIZE or len(iv) != IV_SIZE:
        raise ValueError("the key is 32 bytes and the IV 12")
    return base64.b64encode(iv + AESGCM(key).encrypt(iv, secret.encode("utf-8"), None)
                            ).decode("ascii")


def open_secret(sealed: str, key: bytes) -> str:
    """The client secret inside ``sealed``; :class:`SecretDecryptError` otherwise."""
    try:
        raw = base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError):
        raise SecretDecryptError("bot_encrypt_secret is not base64") from None
    # rest.md §8.8: IV + tag + at least one byte of secret.
    if len(raw) <= IV_SIZE + TAG_SIZE:
        raise SecretDecryptError(f"bot_encrypt_secret is too short ({len(raw)} bytes)")
    try:
        plain = AESGCM(key).decrypt(raw[:IV_SIZE], raw[IV_SIZE:], None)
    except InvalidTag:
        raise SecretDecryptError("bot_encrypt_secret was not sealed with this task's key"
                                 ) from None
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretDecryptError("the decrypted secret is not UTF-8") from None
