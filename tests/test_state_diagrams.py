"""The diagrams in docs/state-machines.rst are generated from the transition tables:
every transition of every table appears in every rendering, and nothing else does."""

from __future__ import annotations

import enum
import importlib
import importlib.util
import io
import itertools
import pkgutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import qqproto

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _load_generator() -> ModuleType:
    name = "make_state_diagrams"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DOCS / "make_state_diagrams.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gen = _load_generator()
SPECS = {spec.key: spec for spec in gen.MACHINES}


def _table_set(spec: Any) -> set[tuple[str, str, str]]:
    table = gen.load_table(spec.table)
    return {(s.name, i.name, n.name) for (s, i), n in table.items()}


@pytest.fixture(params=sorted(SPECS), name="machine")
def _machine(request: pytest.FixtureRequest) -> Any:
    return gen.load_machine(SPECS[request.param])


def test_every_transition_table_in_the_code_is_drawn() -> None:
    found = set()
    for info in pkgutil.walk_packages(qqproto.__path__, "qqproto."):
        module = importlib.import_module(info.name)
        for attribute, value in vars(module).items():
            # A table belongs to the module that defines its states (not one importing it).
            if (gen.is_transition_table(value)
                    and type(next(iter(value))[0]).__module__ == info.name):
                found.add(f"{info.name}.{attribute}")
    drawn = {spec.table for spec in gen.MACHINES}
    assert found, "the scan found no transition table at all"
    assert found - drawn == set(), "add these tables to MACHINES in docs/make_state_diagrams.py"
    assert drawn - found == set()


def test_the_known_tables_are_covered() -> None:
    assert {spec.table for spec in gen.MACHINES} >= {
        "qqproto.gateway._connection.TRANSITIONS",
        "qqproto.gateway._session.TRANSITIONS",
        "qqproto.proxy._tunnels._TRANSITIONS",
        "qqproto.rest._call.TRANSITIONS",
    }


def test_each_initial_state_is_a_member_of_its_enum(machine: Any) -> None:
    assert machine.initial in machine.states
    assert gen.state_order(machine)[0] == machine.initial


def test_the_svg_shows_exactly_the_table_transitions(machine: Any) -> None:
    assert gen.svg_transitions(gen.svg(machine)) == _table_set(machine.spec)


def test_the_svg_draws_every_state_once_in_layout_order(machine: Any) -> None:
    assert gen.svg_states(gen.svg(machine)) == gen.state_order(machine)
    assert sorted(gen.state_order(machine)) == sorted(machine.states)


def test_the_mermaid_source_shows_exactly_the_table_transitions(machine: Any) -> None:
    source = gen.mermaid(machine)
    assert source.startswith("stateDiagram-v2\n")
    assert f"    [*] --> {machine.initial}\n" in source
    assert gen.mermaid_transitions(source) == _table_set(machine.spec)


def test_the_matrix_has_a_cell_for_every_transition_and_nothing_else(machine: Any) -> None:
    header, *rows = gen.matrix_rows(machine)
    cells = {(row[0], event, new) for row in rows
             for event, new in zip(header[1:], row[1:], strict=True) if new}
    assert cells == _table_set(machine.spec)
    assert [row[0] for row in rows] == gen.state_order(machine)


def test_the_svg_is_well_formed_and_self_contained(machine: Any) -> None:
    document = gen.svg(machine)
    root = ET.fromstring(document)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "href" not in document and "<script" not in document
    assert gen.svg(machine) == document  # deterministic


def test_state_boxes_do_not_overlap(machine: Any) -> None:
    root = ET.fromstring(gen.svg(machine))
    ns = "{http://www.w3.org/2000/svg}"
    spans = []
    for group in root.iter(f"{ns}g"):
        if group.get("class") == "state":
            rect = group.find(f"{ns}rect")
            assert rect is not None
            top = float(rect.get("y", "nan"))
            spans.append((top, top + float(rect.get("height", "nan"))))
    spans.sort()
    assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))


def test_the_gateway_connection_reads_top_to_bottom_in_protocol_order() -> None:
    machine = gen.load_machine(SPECS["gateway-connection"])
    assert gen.state_order(machine) == [
        "IDLE", "CONNECTING", "AWAITING_HELLO", "IDENTIFYING", "RESUMING", "OPEN",
        "CLOSING", "CLOSED"]


class _Toy(enum.Enum):
    A = 1
    B = 2
    C = 3


class _Go(enum.Enum):
    NEXT = 1
    BACK = 2
    STAY = 3


TOY = {
    (_Toy.A, _Go.NEXT): _Toy.B,
    (_Toy.B, _Go.NEXT): _Toy.C,
    (_Toy.C, _Go.BACK): _Toy.A,
    (_Toy.B, _Go.STAY): _Toy.B,
}


def test_cycles_self_loops_and_back_edges_are_all_drawn() -> None:
    spec = gen.MachineSpec("toy", "toy", "tests.toy", "A")
    machine = gen.machine_from_table(spec, TOY)
    expected = {("A", "NEXT", "B"), ("B", "NEXT", "C"), ("C", "BACK", "A"),
                ("B", "STAY", "B")}
    assert gen.state_order(machine) == ["A", "B", "C"]
    assert gen.svg_transitions(gen.svg(machine)) == expected
    assert gen.mermaid_transitions(gen.mermaid(machine)) == expected


def test_a_missing_transition_would_be_noticed() -> None:
    spec = gen.MachineSpec("toy", "toy", "tests.toy", "A")
    document = gen.svg(gen.machine_from_table(spec, TOY))
    tampered = document.replace("C --BACK--&gt; A", "C --BACK--&gt; B")
    assert gen.svg_transitions(tampered) != gen.svg_transitions(document)


def test_the_initial_state_must_exist() -> None:
    with pytest.raises(ValueError, match="initial state"):
        gen.machine_from_table(gen.MachineSpec("toy", "toy", "t", "Z"), TOY)


@pytest.mark.parametrize("value", [
    {}, {"a": 1}, {(_Toy.A, _Go.NEXT): 1}, {(_Toy.A,): _Toy.B},
    {(_Toy.A, _Go.NEXT): _Toy.B, (_Go.NEXT, _Go.NEXT): _Toy.B},
    {(_Toy.A, _Go.NEXT): _Toy.B, (_Toy.A, _Toy.B): _Toy.B}, [1, 2],
])
def test_other_values_are_not_taken_for_transition_tables(value: object) -> None:
    assert not gen.is_transition_table(value)


def test_the_rst_block_holds_the_svg_the_matrix_and_the_mermaid_source() -> None:
    machine = gen.load_machine(SPECS["gateway-session"])
    text = "\n".join(gen.render_rst(machine))
    assert ".. raw:: html" in text
    assert ".. list-table::" in text
    assert "stateDiagram-v2" in text
    assert "``qqproto.gateway._session.TRANSITIONS``" in text


def test_the_script_prints_mermaid_for_every_table_and_writes_svg_files(
        tmp_path: Path) -> None:
    out = io.StringIO()
    assert gen.main([], out.write) == 0
    assert out.getvalue().count("stateDiagram-v2") == len(gen.MACHINES)
    assert gen.main(["--svg", str(tmp_path)], out.write) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{spec.key}.svg" for spec in gen.MACHINES)
    assert gen.main(["--bogus"], out.write) == 2


def test_an_unknown_machine_name_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="gateway-connection"):
        gen.spec_for("nope")


def test_the_state_machines_page_draws_every_machine_in_the_order_of_the_list() -> None:
    text = (DOCS / "state-machines.rst").read_text(encoding="utf-8")
    drawn = [line.split("::", 1)[1].strip() for line in text.splitlines()
             if line.startswith(".. state-diagram::")]
    assert drawn == [spec.key for spec in gen.MACHINES]
