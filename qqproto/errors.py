"""Errors raised by qqproto.

The split follows h11: :class:`LocalProtocolError` means *you* used the API wrongly,
:class:`RemoteProtocolError` means the *peer* broke the protocol.  A remote error is
raised only from ``receive_data`` / ``next_event`` and only after the connection has
queued its close frame, so flushing ``data_to_send()`` is always the right reaction.

REST failures are :class:`ApiError` subclasses chosen by the platform's business code
(see :mod:`qqproto._api_errors`); they are values a caller can branch on, never strings
to grep.
"""

from __future__ import annotations

__all__ = [
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
]


class ProtocolError(Exception):
    """Base class of every protocol violation qqproto reports.

    ``close_code_hint`` is the WebSocket close code that describes the violation
    (RFC 6455 §7.4.1), or ``None`` when no WebSocket is involved.
    """

    def __init__(self, msg: str, *, close_code_hint: int | None = None) -> None:
        if type(self) is ProtocolError:
            raise TypeError("ProtocolError is abstract; raise a subclass")
        super().__init__(msg)
        self.close_code_hint = close_code_hint


class LocalProtocolError(ProtocolError):
    """The caller misused the API (wrong state, bad argument).  Nothing was sent."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol.

    Raised from ``receive_data`` after the close frame (with ``close_code_hint``) has been
    queued in ``data_to_send()``.  The error is sticky: feeding more data raises it again.
    """
