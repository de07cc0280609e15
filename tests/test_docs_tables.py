"""The close-code table in docs/gateway.rst is generated from qqproto.gateway._close_codes and
covers every code the core can describe."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from qqproto.gateway._close_codes import _DESCRIPTIONS, advice_for_close_code

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _load() -> ModuleType:
    name = "close_code_table"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DOCS / "close_code_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


table = _load()


def _covered() -> set[int]:
    codes: set[int] = set()
    for row in table.ROWS:
        if isinstance(row, tuple):
            codes.update(range(row[0], row[1] + 1))
        elif row is not None:
            codes.add(row)
    return codes


def test_every_described_close_code_has_a_row() -> None:
    assert set(_DESCRIPTIONS) - _covered() == set()


def test_internal_error_range_is_one_row_because_every_code_in_it_acts_alike() -> None:
    advices = {advice_for_close_code(code) for code in range(4900, 4914)}
    assert len(advices) == 1


def test_each_row_says_what_the_advice_says() -> None:
    by_code = {code: what for code, _meaning, what, _note in table.rows()}
    assert by_code["4009"] == "reconnect and Resume"
    assert by_code["4008"] == "wait at least 60 s; reconnect and Resume"
    assert by_code["4004"] == "fetch a new token; reconnect and Resume"
    assert by_code["4006"] == "drop the session; reconnect and Identify"
    assert by_code["4900–4913"] == "drop the session; reconnect and Identify"
    assert by_code["4915"] == "stop for good: fatal ``Stop``, session dropped"
    assert by_code["none"] == "reconnect and Resume"


def test_notes_only_name_rows_that_exist() -> None:
    keys = {row[0] if isinstance(row, tuple) else row for row in table.ROWS}
    assert set(table.NOTES) <= keys


def test_the_rst_is_a_list_table_with_one_entry_per_row() -> None:
    lines = table.render_rst()
    assert lines[0] == ".. list-table::"
    assert sum(line.startswith("   * - ") for line in lines) == len(table.ROWS) + 1
