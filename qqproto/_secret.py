"""A string that never shows itself in a repr, a log line or a traceback."""

from __future__ import annotations

from typing import Final

__all__ = ["Secret"]

_REDACTED: Final = "<redacted>"


class Secret:
    """Holds a client secret or an access token.

    ``str()`` and ``repr()`` are redacted so that an accidental ``print``, f-string,
    log record or exception message cannot leak it; :meth:`reveal` is the only way in.
    Two secrets compare equal when their values are equal.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("Secret takes a str")
        self._value = value

    def reveal(self) -> str:
        """The secret value itself, for the one place that must put it on the wire."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret({_REDACTED})"

    def __str__(self) -> str:
        return _REDACTED

    def __format__(self, format_spec: str) -> str:
        return _REDACTED

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("qqproto.Secret", self._value))

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        # Pickling keeps the value (multiprocessing drivers need it); repr stays redacted.
        return (Secret, (self._value,))


def as_secret(value: str | Secret) -> Secret:
    """Accept either a plain string or a :class:`Secret` at API boundaries."""
    return value if isinstance(value, Secret) else Secret(value)
