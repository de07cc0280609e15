"""Scripted misbehaviour: the knobs a test turns to make the simulator hostile.

Three kinds of fault exist.  *Standing* faults are fields of :class:`Faults`
(``sim.faults``): they change how the simulator answers from now on, on every connection,
until reset.  *Counted* faults (``reject_resumes``, ``rate_limit_gateway``,
``reject_credentials``, ``http_errors``, ``upload_busy``, ``upload_daily_limit``) apply to
the next N occurrences and count themselves down.
*Immediate* faults act on the connections that exist right now and are methods of the
simulator because they need ``now``: ``drop_connections``, ``close_connections``,
``send_reconnect``, ``send_invalid_session``, ``send_garbage``, ``invalidate_tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["Faults", "HttpFault"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpFault:
    """A scripted answer for the next ``times`` requests whose path contains ``path``
    (and whose method is ``method``, when given), on any route of the simulator.

    ``HttpFault(path="/upload_part_finish", status=200, code=40093001, times=3)`` answers
    three part_finish calls with a business error under HTTP 200 (rest.md §7.3);
    ``HttpFault(path="/presigned/", status=503)`` fails one pre-signed PUT.  ``code``
    defaults to the status.  A 5xx without a ``code`` answers with an HTML page, as the
    gateways in front of the API do (rest.md §7.5, TS row); every other fault answers
    with the JSON error body.  Checked after authentication.
    """

    path: str
    status: int
    code: int | None = None
    method: str | None = None
    times: int = 1
    message: str = "injected fault"


@dataclass(slots=True)
class Faults:
    """Every scriptable fault of the simulator; the defaults mean "behave correctly"."""

    # --- gateway, standing ---------------------------------------------------------
    #: ``False``: heartbeats are recorded but never acknowledged (zombie connection).
    ack_heartbeats: bool = True
    #: Hold every outgoing gateway frame (Hello included) back by this many seconds;
    #: order is preserved.  Applies to frames queued while it is non-zero.
    frame_delay: float = 0.0
    #: Close code to answer every Identify with instead of READY (``None``: accept).
    #: 4004 = bad token, 4013/4014 = intents, 4914 = bot offline, 4915 = bot banned.
    refuse_identify: int | None = None
    #: A Resume for an unknown session is answered with op 9 ``d=false`` when ``None``,
    #: else closed with this code (4006 invalid session, 4007 bad seq).
    unknown_session_close_code: int | None = None
    #: When ``False`` the server never closes a connection whose heartbeats stopped.
    close_on_missed_heartbeats: bool = True

    # --- gateway, counted ----------------------------------------------------------
    #: The next N valid Resumes are refused and their sessions invalidated, so the
    #: client must Identify (events in between are lost and counted).
    reject_resumes: int = 0
    #: How a refused Resume is answered: a close code (4900–4913 "internal error,
    #: identify", gateway.md §7.1; 4902 by default) or ``None`` for op 9 ``d=false``.
    resume_reject_code: int | None = 4902

    # --- HTTP ----------------------------------------------------------------------
    #: The next N ``GET /gateway`` or ``/gateway/bot`` calls answer HTTP 429.
    rate_limit_gateway: int = 0
    #: The next N token requests answer code 100016 under HTTP 200 (rest.md §7.2).
    reject_credentials: int = 0
    #: Scripted answers on any route (see :class:`HttpFault`), first match first; each
    #: counts itself down and leaves the tuple when spent.
    http_errors: tuple[HttpFault, ...] = ()

    # --- media upload, counted (qqproto.simulator._upload_routes) ---------------------------
    #: The next N ``upload_part_finish`` calls answer 40093001, "upload channel busy,
    #: retry" (rest.md §3.9, §4.17), before looking at the part.
    upload_busy: int = 0
    #: The next N ``upload_prepare`` calls answer 40093002, the daily upload limit
    #: (rest.md §4.25), whatever the quota says.
    upload_daily_limit: int = 0

    def reset(self) -> None:
        """Back to correct behaviour."""
        for f in fields(self):
            setattr(self, f.name, f.default)
