"""The language-neutral vectors (tests/vectors/*.json, format in docs/porting.rst) pass
through qqproto: a port in another language runs the same files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from . import vectors_runner as run

HERE = Path(__file__).parent / "vectors"
RUNNERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "gateway.json": run.run_gateway,
    "close_codes.json": run.run_close_code,
    "webhook.json": run.run_webhook,
    "hashes.json": run.run_hashes,
    "replies.json": run.run_replies,
    "upload.json": run.run_upload,
    "errors.json": run.run_error,
}


def _cases() -> list[Any]:
    out = []
    for name, runner in RUNNERS.items():
        document = json.loads((HERE / name).read_text("utf-8"))
        assert document["format"] == 1
        for case in document["cases"]:
            out.append(pytest.param(runner, case, id=f"{name[:-5]}:{case['name']}"))
    return out


def test_every_vector_file_has_a_runner() -> None:
    assert sorted(p.name for p in HERE.glob("*.json")) == sorted(RUNNERS)


@pytest.mark.parametrize(("runner", "case"), _cases())
def test_vector(runner: Callable[[dict[str, Any]], Any], case: dict[str, Any]) -> None:
    actual = run.neutral(runner(case))
    assert run.subset(actual, case["expect"]), (actual, case["expect"])


def test_subset_matching_is_strict_where_it_must_be() -> None:
    assert run.subset({"a": 1, "b": 2}, {"a": 1})
    assert not run.subset({"a": 1}, {"a": 1, "b": None})
    assert not run.subset([1, 2], [1])
    assert not run.subset({"a": [1, {"x": 2}]}, {"a": [1, {"x": 3}]})
