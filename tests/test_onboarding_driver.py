"""qqproto_transports.onboarding runs an OnboardSession over real HTTP against the
simulator's portal on 127.0.0.1: blocking with a renewal after an expiry, and awaited on
asyncio and trio."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from qqproto.events import Event, OnboardDone, OnboardExpired, OnboardPending, OnboardQrCode
from qqproto.simulator import Simulator, run_command
from qqproto_transports.onboarding import new_session, run_onboarding, run_onboarding_async
from qqproto_transports.simulator import SimulatorThread


def test_an_expired_code_is_renewed_when_asked_and_the_second_one_is_scanned() -> None:
    seen: list[Event] = []
    with SimulatorThread(Simulator(app_id="77", secret="sekrit")) as server:
        def on_event(event: Event) -> None:
            seen.append(event)
            if isinstance(event, OnboardQrCode):
                verb = "expire" if len(seen) == 1 else "scan"
                line = f"{verb} {event.task_id}" + (" OWNER" if verb == "scan" else "")
                assert server.call(lambda s, now: run_command(s, line, now)).ok

        session = new_session(server.api_base, poll_interval=0.05)
        outcome = run_onboarding(session, on_event, renew=lambda expired: True, env={})
    assert isinstance(outcome, OnboardDone)
    assert (outcome.app_id, outcome.client_secret.reveal(), outcome.user_openid) == (
        "77", "sekrit", "OWNER")
    kinds = [type(e) for e in seen if not isinstance(e, OnboardPending)]
    assert kinds == [OnboardQrCode, OnboardExpired, OnboardQrCode, OnboardDone]
    first, second = (e for e in seen if isinstance(e, OnboardQrCode))
    assert first.task_id != second.task_id


def test_without_renewal_an_expiry_ends_it() -> None:
    with SimulatorThread(Simulator()) as server:
        def on_event(event: Event) -> None:
            if isinstance(event, OnboardQrCode):
                server.call(lambda s, now: run_command(s, f"expire {event.task_id}", now))
        outcome = run_onboarding(new_session(server.api_base, poll_interval=0.05), on_event,
                                 env={})
    assert isinstance(outcome, OnboardExpired) and outcome.by_portal


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_async_runner_on_asyncio_and_trio(backend: str) -> None:
    with SimulatorThread(Simulator()) as server:
        def on_event(event: Event) -> None:
            if isinstance(event, OnboardQrCode):
                server.call(lambda s, now: run_command(s, f"scan {event.task_id} ME", now))

        async def main() -> Any:
            return await run_onboarding_async(new_session(server.api_base,
                                                          poll_interval=0.05),
                                              on_event, env={})
        outcome = anyio.run(main, backend=backend)
    assert isinstance(outcome, OnboardDone) and outcome.user_openid == "ME"


def test_sessions_get_a_fresh_key_and_a_versioned_user_agent() -> None:
    one, two = new_session(), new_session()
    assert one._key != two._key and len(one._key) == 32
    one.start(0.0)
    command = one.next_command()
    assert command is not None
    assert command.request.header("User-Agent", ).startswith("qqproto/")  # type: ignore[union-attr]
