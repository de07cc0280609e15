"""The REST/token/discovery/upload fuzz target, run by hypothesis in CI (fuzz/fuzz_rest.py).

Every input drives a gateway session, REST calls of every parser and a chunked upload
with fuzzed answers; only the typed errors of each boundary may come out."""

from __future__ import annotations

import json
import logging
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz.fuzz_rest import VALUES, Answers, fuzz_one


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL)  # every failure is logged; thousands are expected


@settings(max_examples=150)
@given(st.binary(max_size=400))
def test_fuzz_rest_on_raw_bytes(data: bytes) -> None:
    fuzz_one(data)


@settings(max_examples=100)
@given(st.lists(st.sampled_from(range(len(VALUES))), min_size=4, max_size=60))
def test_fuzz_rest_on_documented_shapes_with_hostile_values(picks: list[int]) -> None:
    # Bytes < 200 pick VALUES directly, so every value lands in every documented shape.
    fuzz_one(bytes(picks))


def test_the_grammar_reaches_every_shape_and_hostile_value() -> None:
    bodies = [Answers(bytes([0, 0, 16 + shape, *[1, pick] * 6])).response().body
              for shape in range(6) for pick in (VALUES.index("\u00b2"), VALUES.index(1e15))]
    decoded = [json.loads(body) for body in bodies]
    assert {"access_token", "url", "upload_id", "file_info", "retry_after"} <= {
        key for body in decoded for key in body}
    assert any("\u00b2" in body.values() for body in decoded)


def test_the_harness_sees_successes_and_many_typed_errors() -> None:
    import random

    errors: Counter[str] = Counter()
    rng = random.Random(7)
    for _ in range(200):
        fuzz_one(bytes(rng.randrange(256) for _ in range(rng.randrange(300))), errors)
    assert len(errors) >= 8, errors  # SessionStopped, NetworkError, TokenError, …
    assert {"TokenError", "UnexpectedResponseError", "RateLimitedError"} <= set(errors)
