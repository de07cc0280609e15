"""Scripted HTTP answers on any route: the simulator side of ``Faults.http_errors``.

Every route of ``DEFAULT_ROUTES`` is wrapped by :func:`with_http_faults`, so a test can
make any endpoint answer 413, 401, 429, a 5xx page or an error code under HTTP 200
(rest.md §7.1–7.3) for the next N requests, without writing a handler::

    sim.faults.http_errors = (HttpFault(path="/upload_prepare", status=429),)
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ._faults import HttpFault
from ._rest import Route, SimRequest, SimResponse, error_response

if TYPE_CHECKING:
    from ._platform import Platform

__all__ = ["fault_response", "injected_answer", "with_http_faults"]


def fault_response(request: SimRequest, fault: HttpFault) -> SimResponse:
    """The answer a fault stands for: an HTML page for a bare 5xx (what the gateways in
    front of the API send, rest.md §7.5 TS row), else the JSON error body."""
    if fault.code is None and fault.status >= 500:
        page = (f"<html><head><title>{fault.status}</title></head><body>"
                f"<h1>{fault.status}</h1><p>{fault.message}</p></body></html>")
        return SimResponse(status=fault.status, body=page.encode(),
                           headers=(("Content-Type", "text/html"),), code=fault.status)
    code = fault.status if fault.code is None else fault.code
    return error_response(request, fault.status, code, fault.message)


def injected_answer(sim: Platform, request: SimRequest) -> SimResponse | None:
    """The first scripted fault matching ``request`` (counted down), or ``None``."""
    faults = sim.faults.http_errors
    for position, fault in enumerate(faults):
        if fault.times <= 0 or fault.path not in request.path:
            continue
        if fault.method is not None and fault.method.upper() != request.method:
            continue
        left = fault.times - 1
        kept = (dataclasses.replace(fault, times=left),) if left > 0 else ()
        sim.faults.http_errors = faults[:position] + kept + faults[position + 1:]
        sim.counters.faults_fired += 1
        return fault_response(request, fault)
    return None


def with_http_faults(route: Route) -> Route:
    """``route`` with its handler preceded by the scripted-fault check."""
    handler = route.handler

    def checked(sim: Platform, request: SimRequest, params: dict[str, str],
                now: float) -> SimResponse:
        return injected_answer(sim, request) or handler(sim, request, params, now)

    return dataclasses.replace(route, handler=checked)
