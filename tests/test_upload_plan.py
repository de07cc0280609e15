"""Reading upload_prepare answers: every spelling the sources use, and only plans that
tile the file exactly (rest.md §4.6–4.10)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qqproto.errors import UnexpectedResponseError
from qqproto.upload._plan import PartPlan, UploadPlan, parse_upload_plan


def _parts(n: int, base: int = 1, **extra: object) -> list[dict[str, object]]:
    return [{"index": base + i, "presigned_url": f"https://cos.example/p{i}", **extra}
            for i in range(n)]


def test_the_sheet_example_with_1_based_indexes_and_string_sizes() -> None:
    body = {"upload_id": "UP1", "block_size": "5242880",
            "parts": [{"index": 1, "presigned_url": "https://cos.example/p1",
                       "block_size": "5242880"},
                      {"index": 2, "presigned_url": "https://cos.example/p2",
                       "block_size": "5242880"},
                      {"index": 3, "presigned_url": "https://cos.example/p3",
                       "block_size": "5242880"}],
            "upload_config": {"concurrency": 2, "retry_timeout": 300, "retry_delay": 1}}
    assert parse_upload_plan(body, 12_000_000) == UploadPlan(
        upload_id="UP1", block_size=5242880, concurrency=2, retry_timeout=300.0,
        parts=(PartPlan(index=1, number=1, offset=0, length=5242880,
                        url="https://cos.example/p1"),
               PartPlan(index=2, number=2, offset=5242880, length=5242880,
                        url="https://cos.example/p2"),
               PartPlan(index=3, number=3, offset=10485760, length=1514240,
                        url="https://cos.example/p3")))


def test_0_based_indexes_start_at_offset_0() -> None:
    plan = parse_upload_plan({"upload_id": "U", "block_size": 4, "parts": _parts(3, 0)}, 10)
    assert [(p.index, p.offset, p.length) for p in plan.parts] == [(0, 0, 4), (1, 4, 4),
                                                                   (2, 8, 2)]


def test_any_base_and_any_order_is_sorted_and_echoed_verbatim() -> None:
    parts = [{"index": "8", "presigned_url": "https://c/b"},
             {"index": "7", "presigned_url": "https://c/a"}]
    plan = parse_upload_plan({"upload_id": "U", "block_size": "6", "parts": parts}, 9)
    assert [(p.index, p.number, p.offset, p.length, p.url) for p in plan.parts] == [
        ("7", 7, 0, 6, "https://c/a"), ("8", 8, 6, 3, "https://c/b")]


def test_the_alternative_spellings_of_one_client() -> None:
    body = {"data": {"upload_id": 77, "block_size": 3, "concurrency": "4",
                     "retry_timeout": "30",
                     "part_list": [{"part_index": 1, "url": "http://c/1"},
                                   {"part_index": 2, "url": "http://c/2"}]}}
    plan = parse_upload_plan(body, 5)
    assert plan.upload_id == "77" and plan.concurrency == 4 and plan.retry_timeout == 30.0
    assert [(p.index, p.offset, p.length) for p in plan.parts] == [(1, 0, 3), (2, 3, 2)]


def test_integral_floats_are_accepted_as_numbers() -> None:
    parts = [{"index": 1.0, "presigned_url": "https://c/1"}]
    plan = parse_upload_plan({"upload_id": "U", "block_size": 8.0, "parts": parts}, 6)
    assert plan.block_size == 8 and plan.parts[0].index == 1 and plan.parts[0].length == 6


def test_a_smaller_last_part_block_size_is_used() -> None:
    parts = [{"index": 1, "presigned_url": "https://c/1", "block_size": 4},
             {"index": 2, "presigned_url": "https://c/2", "block_size": "2"}]
    plan = parse_upload_plan({"upload_id": "U", "block_size": 4, "parts": parts}, 6)
    assert [p.length for p in plan.parts] == [4, 2]


@pytest.mark.parametrize(("config", "concurrency", "timeout"), [
    ({}, 1, 120.0),
    ({"upload_config": {"concurrency": 0, "retry_timeout": 0}}, 1, 120.0),
    ({"upload_config": {"concurrency": 50, "retry_timeout": 5000}}, 10, 600.0),
    ({"upload_config": {"concurrency": "3", "retry_timeout": "12.5"}}, 3, 12.5),
    ({"concurrency": 7, "retry_timeout": 90}, 7, 90.0),
    ({"upload_config": {"concurrency": "x", "retry_timeout": "soon"}}, 1, 120.0),
    ({"upload_config": {"concurrency": True, "retry_timeout": True}}, 1, 120.0),
    ({"upload_config": {"retry_timeout": float("nan")}}, 1, 120.0),
    ({"upload_config": {"retry_timeout": -3}}, 1, 120.0),
    ({"upload_config": {"retry_timeout": "1e999"}}, 1, 120.0),
    ({"upload_config": "nested-but-not-an-object", "concurrency": 2}, 2, 120.0),
])
def test_upload_config_nested_or_at_root_with_defaults_and_caps(
        config: dict[str, Any], concurrency: int, timeout: float) -> None:
    plan = parse_upload_plan({"upload_id": "U", "block_size": 10, "parts": _parts(1),
                              **config}, 5)
    assert (plan.concurrency, plan.retry_timeout) == (concurrency, timeout)


BAD = [
    ([], "not a JSON object"),
    ({"block_size": 1, "parts": _parts(1)}, "no upload_id"),
    ({"upload_id": "", "block_size": 1, "parts": _parts(1)}, "no upload_id"),
    ({"upload_id": "U", "parts": _parts(1)}, "block_size"),
    ({"upload_id": "U", "block_size": 0, "parts": _parts(1)}, "block_size is 0"),
    ({"upload_id": "U", "block_size": -4, "parts": _parts(1)}, "non-negative"),
    ({"upload_id": "U", "block_size": True, "parts": _parts(1)}, "boolean"),
    ({"upload_id": "U", "block_size": "4k", "parts": _parts(1)}, "decimal"),
    ({"upload_id": "U", "block_size": 1.5, "parts": _parts(1)}, "non-negative"),
    ({"upload_id": "U", "block_size": 4, "parts": []}, "no parts"),
    ({"upload_id": "U", "block_size": 4, "parts": "p"}, "no parts"),
    ({"upload_id": "U", "block_size": 4, "parts": ["p"]}, "not an object"),
    ({"upload_id": "U", "block_size": 4, "parts": [{"presigned_url": "https://c"}]},
     "no index"),
    ({"upload_id": "U", "block_size": 4, "parts": [{"index": -1,
                                                     "presigned_url": "https://c"}]},
     "non-negative"),
    ({"upload_id": "U", "block_size": 4, "parts": [{"index": 1}]}, "presigned_url"),
    ({"upload_id": "U", "block_size": 4, "parts": [{"index": 1,
                                                     "presigned_url": "file:///etc"}]},
     "presigned_url"),
    ({"upload_id": "U", "block_size": 4, "parts": _parts(1) + _parts(1)}, "overlaps"),
    ({"upload_id": "U", "block_size": 4,
      "parts": [_parts(1)[0], {"index": 3, "presigned_url": "https://c"}]}, "gap"),
    ({"upload_id": "U", "block_size": 4, "parts": _parts(4)}, "beyond the end"),
    ({"upload_id": "U", "block_size": 4, "parts": _parts(2)}, "cover 8 of 10"),
    ({"upload_id": "U", "block_size": 4, "parts": _parts(3, block_size=2)}, "gap"),
    ({"upload_id": "U", "block_size": 4, "parts": _parts(3, block_size=6)}, "overlaps"),
    ({"upload_id": "U", "block_size": "9" * 30, "parts": _parts(1)}, "decimal"),
]


@pytest.mark.parametrize(("body", "match"), BAD)
def test_plans_that_cannot_be_uploaded_are_unexpected_responses(body: object,
                                                                 match: str) -> None:
    with pytest.raises(UnexpectedResponseError, match=match):
        parse_upload_plan(body, 10)


@given(size=st.integers(1, 10_000), block=st.integers(1, 3000), base=st.integers(0, 5),
       as_str=st.booleans(), data=st.data())
def test_every_valid_plan_tiles_the_file(size: int, block: int, base: int, as_str: bool,
                                         data: st.DataObject) -> None:
    count = -(-size // block)
    if count > 60:
        block = -(-size // 60)
        count = -(-size // block)
    order = data.draw(st.permutations(range(count)))
    parts = [{"index": str(base + i) if as_str else base + i,
              "presigned_url": f"https://c/{i}"} for i in order]
    plan = parse_upload_plan({"upload_id": "U", "block_size": str(block) if as_str else block,
                              "parts": parts}, size)
    assert plan.parts[0].offset == 0
    for before, after in zip(plan.parts, plan.parts[1:], strict=False):
        assert before.offset + before.length == after.offset
    assert plan.parts[-1].offset + plan.parts[-1].length == size
    assert all(p.length > 0 and p.offset >= 0 for p in plan.parts)
    assert [p.index for p in plan.parts] == [str(base + i) if as_str else base + i
                                             for i in range(count)]


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["upload_id", "block_size", "parts",
                                                       "index", "presigned_url", "data",
                                                       "upload_config", "concurrency"]),
                                      inner, max_size=4), max_leaves=12),
       st.integers(1, 100))
def test_parsing_is_total(body: object, size: int) -> None:
    with contextlib.suppress(UnexpectedResponseError):
        parse_upload_plan(body, size)
