"""Draw qqproto's state machines from their transition tables (STYLE.md pattern 6).

Every state machine in qqproto is data: an :class:`enum.Enum` of states and a table
``{(state, input): next_state}`` that :class:`qqproto._fsm.StateMachine` looks up.  This
module renders each table three ways, so the pictures in the docs cannot drift from the
code:

* an SVG drawn here (no Graphviz binary, no JavaScript, no network);
* a transition matrix (state x input; an empty cell is a ``TransitionError``);
* Mermaid ``stateDiagram-v2`` source, for any Mermaid renderer.

It is a Sphinx extension (``.. state-diagram:: gateway-connection`` renders one entry of
:data:`MACHINES`) and a script: ``python docs/make_state_diagrams.py`` prints the Mermaid
source of every table, ``--svg DIR`` writes the SVG files.  Everything except
:func:`setup` is plain Python so the tests can check it without Sphinx.

The SVG layout is an arc diagram: states stacked in one column (topological order of the
table once the edges that close a cycle are set aside), one coloured vertical lane per
(input, target) bundle on the right with a dot at each source and an arrow into the
target, straight arrows between neighbours, and self-loops on the left.
"""

from __future__ import annotations

import enum
import html
import importlib
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "MACHINES",
    "Machine",
    "MachineSpec",
    "load_machine",
    "matrix_rows",
    "mermaid",
    "mermaid_transitions",
    "render_rst",
    "svg",
    "svg_transitions",
]

Transition = tuple[str, str, str]  # (state, input, next state), by enum member name


@dataclass(frozen=True, slots=True)
class MachineSpec:
    """Where a transition table lives and which state its machine starts in."""

    key: str
    title: str
    table: str
    initial: str


#: Every transition table in the code base, in the order of docs/state-machines.rst.
#: tests/test_state_diagrams.py fails when a module grows a table this list lacks.
MACHINES: tuple[MachineSpec, ...] = (
    MachineSpec("gateway-connection", "GatewayConnection",
                "qqproto.gateway._connection.TRANSITIONS", "IDLE"),
    MachineSpec("gateway-session", "GatewaySession (the supervisor)",
                "qqproto.gateway._session.TRANSITIONS", "IDLE"),
    MachineSpec("rest-call", "RestCall (one OpenAPI call: token, request, 401 retry)",
                "qqproto.rest._call.TRANSITIONS", "NEED_TOKEN"),
    MachineSpec("reply-stream", "ReplyStream (a streamed reply, or its one-message fallback)",
                "qqproto.rest._stream.TRANSITIONS", "OPEN"),
    MachineSpec("proxy-tunnel", "Proxy tunnel (HTTP CONNECT and SOCKS5)",
                "qqproto.proxy._tunnels._TRANSITIONS", "IDLE"),
    MachineSpec("upload-session", "UploadSession (chunked media upload)",
                "qqproto.upload._session._TABLE", "NEW"),
    MachineSpec("download-call", "DownloadCall (one attachment: policy, redirects, retries)",
                "qqproto.media._download.TRANSITIONS", "READY"),
    MachineSpec("media-delivery", "MediaDelivery (file_info reuse, one re-upload on 304080)",
                "qqproto.media._reuse.DELIVERY_TRANSITIONS", "START"),
    MachineSpec("webhook-receiver", "WebhookReceiver", "qqproto.webhook._receiver.TRANSITIONS",
                "OPEN"),
    MachineSpec("approval-question", "An approval or confirmation question",
                "qqproto.approvals._pending.TRANSITIONS", "OPEN"),
    MachineSpec("onboard-session", "OnboardSession (QR onboarding)",
                "qqproto.onboarding._session.TRANSITIONS", "NEW"),
    MachineSpec("sim-gateway-link", "Simulator gateway link (server side)",
                "qqproto.simulator._gateway._TABLE", "AWAITING_AUTH"),
    MachineSpec("sim-webhook-pusher", "Simulator webhook pusher",
                "qqproto.simulator._webhook_push.TRANSITIONS", "NEW"),
)


@dataclass(frozen=True, slots=True)
class Machine:
    """A loaded table, reduced to member names in declaration order."""

    spec: MachineSpec
    states: tuple[str, ...]
    inputs: tuple[str, ...]
    transitions: tuple[Transition, ...]

    @property
    def initial(self) -> str:
        return self.spec.initial


def _table_enums(table: Mapping[Any, Any]) -> tuple[type[enum.Enum], type[enum.Enum]]:
    if not table:
        raise ValueError("an empty transition table")
    for key, value in table.items():
        if not (isinstance(key, tuple) and len(key) == 2
                and isinstance(key[0], enum.Enum) and isinstance(key[1], enum.Enum)
                and isinstance(value, enum.Enum)):
            raise TypeError(f"not a transition table entry: {key!r} -> {value!r}")
    state_enum, input_enum = (type(part) for part in next(iter(table)))
    for (state, event), new in table.items():
        if type(state) is not state_enum or type(new) is not state_enum:
            raise TypeError(f"states of two enums in one table: {state!r}, {new!r}")
        if type(event) is not input_enum:
            raise TypeError(f"inputs of two enums in one table: {event!r}")
    return state_enum, input_enum


def is_transition_table(value: object) -> bool:
    """Whether ``value`` has the shape ``{(state, input): state}`` of enum members."""
    if not isinstance(value, Mapping) or not value:
        return False
    try:
        _table_enums(value)
    except (TypeError, ValueError):
        return False
    return True


def machine_from_table(spec: MachineSpec, table: Mapping[Any, Any]) -> Machine:
    state_enum, input_enum = _table_enums(table)
    states = tuple(member.name for member in state_enum)
    if spec.initial not in states:
        raise ValueError(f"{spec.key}: initial state {spec.initial!r} is not a member")
    return Machine(
        spec=spec,
        states=states,
        inputs=tuple(member.name for member in input_enum),
        transitions=tuple((state.name, event.name, new.name)
                          for (state, event), new in table.items()),
    )


def load_table(dotted: str) -> Mapping[Any, Any]:
    module_name, _, attribute = dotted.rpartition(".")
    table: Mapping[Any, Any] = getattr(importlib.import_module(module_name), attribute)
    return table


def load_machine(spec: MachineSpec) -> Machine:
    return machine_from_table(spec, load_table(spec.table))


def spec_for(key: str) -> MachineSpec:
    for spec in MACHINES:
        if spec.key == key:
            return spec
    raise KeyError(f"no state machine {key!r}; known: {', '.join(s.key for s in MACHINES)}")


# ------------------------------------------------------------------------ layout


def state_order(machine: Machine) -> list[str]:
    """States top to bottom: longest-path layers of the table without the edges that
    close a cycle (found by a depth-first walk from the initial state), ties broken by
    declaration order."""
    states = machine.states
    successors: dict[str, list[str]] = {s: [] for s in states}
    for state, _event, new in machine.transitions:
        if new != state and new not in successors[state]:
            successors[state].append(new)
    colour: dict[str, int] = {}
    back: set[tuple[str, str]] = set()

    def visit(root: str) -> None:
        # Iterative depth-first search: (node, index of the next successor to look at).
        stack = [(root, 0)]
        colour[root] = 1
        while stack:
            node, i = stack[-1]
            if i == len(successors[node]):
                colour[node] = 2
                stack.pop()
                continue
            stack[-1] = (node, i + 1)
            nxt = successors[node][i]
            if colour.get(nxt) == 1:
                back.add((node, nxt))
            elif nxt not in colour:
                colour[nxt] = 1
                stack.append((nxt, 0))

    visit(machine.initial)
    for state in states:
        if state not in colour:
            visit(state)
    predecessors: dict[str, list[str]] = {s: [] for s in states}
    for state in states:
        for nxt in successors[state]:
            if (state, nxt) not in back:
                predecessors[nxt].append(state)
    layer: dict[str, int] = {}

    def depth(state: str) -> int:
        # The forward graph is acyclic, so this terminates; tables are small.
        if state not in layer:
            layer[state] = 1 + max((depth(p) for p in predecessors[state]), default=-1)
        return layer[state]

    index = {s: i for i, s in enumerate(states)}
    return sorted(states, key=lambda s: (depth(s), s != machine.initial, index[s]))


@dataclass(slots=True)
class _Bundle:
    """Transitions drawn as one line: the same target, the same sources."""

    target: str
    sources: tuple[str, ...]
    inputs: list[str]
    lane: int = -1
    ports: dict[str, float] = field(default_factory=dict)

    def transitions(self) -> Iterator[Transition]:
        for source in self.sources:
            for event in self.inputs:
                yield (source, event, self.target)


def _bundles(machine: Machine, row: Mapping[str, int]
             ) -> tuple[list[_Bundle], dict[str, list[str]]]:
    by_target_input: dict[tuple[str, str], list[str]] = {}
    loops: dict[str, list[str]] = {}
    for state, event, new in machine.transitions:
        if state == new:
            loops.setdefault(state, []).append(event)
        else:
            by_target_input.setdefault((new, event), []).append(state)
    merged: dict[tuple[str, tuple[str, ...]], _Bundle] = {}
    for (target, event), sources in by_target_input.items():
        ordered = tuple(sorted(sources, key=row.__getitem__))
        bundle = merged.setdefault((target, ordered), _Bundle(target, ordered, []))
        bundle.inputs.append(event)
    return list(merged.values()), loops


# ------------------------------------------------------------------------ SVG

_FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"
_STATE_FONT = 12.0
_LABEL_FONT = 11.0
_CHAR = 0.62  # average advance of a monospace glyph, in ems
_GAP = 46.0  # vertical space between boxes (holds a straight arrow and its label)
_LANE = 22.0  # horizontal distance between lanes
_PORT = 8.0  # minimum vertical distance between two stubs on one box
#: Labels get a white outline so that lines crossing them stay legible.
_HALO = 'stroke="#fff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"'
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#e6550d", "#17becf", "#8c564b",
            "#bc3d91")


def _text_width(text: str, size: float) -> float:
    return len(text) * size * _CHAR


def _label(inputs: Sequence[str]) -> str:
    return ", ".join(inputs)


def _title(transitions: Iterator[Transition]) -> str:
    return "\n".join(f"{s} --{i}--> {d}" for s, i, d in transitions)


def svg(machine: Machine) -> str:
    """The diagram as a standalone SVG document (UTF-8 text, no external references)."""
    order = state_order(machine)
    row = {state: i for i, state in enumerate(order)}
    bundles, loops = _bundles(machine, row)

    straight = [b for b in bundles
                if len(b.sources) == 1 and row[b.sources[0]] == row[b.target] - 1]
    laned = [b for b in bundles if b not in straight]

    # Ports: every laned bundle touches each of its states once on the box's right edge.
    touching: dict[str, list[_Bundle]] = {s: [] for s in order}
    for bundle in laned:
        for state in (*bundle.sources, bundle.target):
            touching[state].append(bundle)

    box_w = max(_text_width(s, _STATE_FONT) for s in order) + 28.0
    heights = {s: max(30.0, _PORT * (len(touching[s]) + 1)) for s in order}
    top_margin = 34.0  # the start marker
    y_top: dict[str, float] = {}
    y = top_margin
    for state in order:
        y_top[state] = y
        y += heights[state] + _GAP
    height = y - _GAP + 16.0

    loop_label = max((_text_width(_label(v), _LABEL_FONT) for v in loops.values()),
                     default=0.0)
    box_x = 16.0 + (loop_label + 34.0 if loops else 0.0)
    centre_x = box_x + box_w / 2
    right_x = box_x + box_w
    straight_label = max((_text_width(_label(b.inputs), _LABEL_FONT) for b in straight),
                         default=0.0)
    # A lane's rotated label sits up to ~16 px left of the lane: keep clear of the box and
    # of the straight arrows' labels.
    first_lane_x = max(right_x + 26.0, centre_x + 8.0 + straight_label + 24.0)

    # Port positions: bundles whose other end lies higher get the higher ports.
    def centre_of(bundle: _Bundle) -> float:
        ends = [y_top[s] + heights[s] / 2 for s in (*bundle.sources, bundle.target)]
        return sum(ends) / len(ends)

    for state in order:
        items = sorted(touching[state], key=centre_of)
        step = heights[state] / (len(items) + 1)
        for k, bundle in enumerate(items, start=1):
            bundle.ports[state] = y_top[state] + k * step

    # Lanes: shortest bundles nearest the boxes; a lane holds bundles whose spans (with
    # their rotated labels) do not overlap.
    def extent(bundle: _Bundle) -> tuple[float, float]:
        low, high = min(bundle.ports.values()), max(bundle.ports.values())
        half = _text_width(_label(bundle.inputs), _LABEL_FONT) / 2 + 6.0
        mid = (low + high) / 2
        return min(low, mid - half) - 4.0, max(high, mid + half) + 4.0

    lanes: list[list[tuple[float, float]]] = []
    for bundle in sorted(laned, key=lambda b: (extent(b)[1] - extent(b)[0], row[b.target])):
        start, end = extent(bundle)
        for index, used in enumerate(lanes):
            if all(end < a or start > b for a, b in used):
                used.append((start, end))
                bundle.lane = index
                break
        else:
            lanes.append([(start, end)])
            bundle.lane = len(lanes) - 1
    width = first_lane_x + max(len(lanes) - 1, 0) * _LANE + 24.0

    out: list[str] = []
    add = out.append
    title = f"{machine.spec.title}: generated from {machine.spec.table}"
    add(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="{html.escape(title)}" font-family="{_FONT}">')
    add(f"<title>{html.escape(title)}</title>")

    # Start marker.
    first = order[0]
    add('<g class="start">')
    add(f'<circle cx="{centre_x:.1f}" cy="8" r="5" fill="#222"/>')
    add(_arrow(centre_x, 13.0, centre_x, y_top[first], "#222"))
    add("</g>")

    # Lanes.
    for bundle in laned:
        colour = _COLOURS[bundle.lane % len(_COLOURS)]
        x = first_lane_x + bundle.lane * _LANE
        low, high = min(bundle.ports.values()), max(bundle.ports.values())
        add(f'<g class="transition" stroke="{colour}" fill="{colour}">')
        add(f"<title>{html.escape(_title(bundle.transitions()))}</title>")
        add(f'<line x1="{x:.1f}" y1="{low:.1f}" x2="{x:.1f}" y2="{high:.1f}" '
            'stroke-width="1.6"/>')
        for state, port in bundle.ports.items():
            add(f'<circle cx="{x:.1f}" cy="{port:.1f}" r="2.2" stroke="none"/>')
            if state == bundle.target:
                add(_arrow(x, port, right_x, port, colour))
            else:
                add(f'<line x1="{right_x + 3:.1f}" y1="{port:.1f}" x2="{x:.1f}" '
                    f'y2="{port:.1f}" stroke-width="1.2"/>')
                add(f'<circle cx="{right_x + 3:.1f}" cy="{port:.1f}" r="2.6" '
                    'stroke="none"/>')
        mid = (low + high) / 2
        add(f'<text x="{x - 5:.1f}" y="{mid:.1f}" font-size="{_LABEL_FONT}" '
            f'text-anchor="middle" {_HALO} '
            f'transform="rotate(-90 {x - 5:.1f} {mid:.1f})">'
            f"{html.escape(_label(bundle.inputs))}</text>")
        add("</g>")

    # Straight arrows between neighbours.
    for bundle in straight:
        source = bundle.sources[0]
        y1 = y_top[source] + heights[source]
        y2 = y_top[bundle.target]
        add('<g class="transition" stroke="#222" fill="#222">')
        add(f"<title>{html.escape(_title(bundle.transitions()))}</title>")
        add(_arrow(centre_x, y1, centre_x, y2, "#222"))
        add(f'<text x="{centre_x + 8:.1f}" y="{(y1 + y2) / 2 + 4:.1f}" '
            f'font-size="{_LABEL_FONT}" {_HALO}>'
            f"{html.escape(_label(bundle.inputs))}</text>")
        add("</g>")

    # Self-loops on the left.
    for state, events in loops.items():
        cy = y_top[state] + heights[state] / 2
        add('<g class="transition" stroke="#555" fill="#555">')
        add(f"<title>{html.escape(_title((state, e, state) for e in events))}</title>")
        add(f'<path d="M {box_x:.1f} {cy - 7:.1f} C {box_x - 26:.1f} {cy - 18:.1f} '
            f'{box_x - 26:.1f} {cy + 18:.1f} {box_x - 2:.1f} {cy + 7:.1f}" fill="none" '
            'stroke-width="1.2"/>')
        add(_head(box_x - 1.0, cy + 6.5, 1.0, -0.35, "#555"))
        add(f'<text x="{box_x - 26:.1f}" y="{cy + 4:.1f}" font-size="{_LABEL_FONT}" '
            f'text-anchor="end" {_HALO}>{html.escape(_label(events))}</text>')
        add("</g>")

    # Boxes last, so lines end under their edges.
    exits = {s for s, _i, d in machine.transitions if s != d}
    for state in order:
        x, y0, h = box_x, y_top[state], heights[state]
        add(f'<g class="state" data-state="{state}">')
        add(f'<rect x="{x:.1f}" y="{y0:.1f}" width="{box_w:.1f}" height="{h:.1f}" rx="6" '
            'fill="#f4f6fa" stroke="#334" stroke-width="1.3"/>')
        if state not in exits:  # a final state: nothing leaves it
            add(f'<rect x="{x + 3:.1f}" y="{y0 + 3:.1f}" width="{box_w - 6:.1f}" '
                f'height="{h - 6:.1f}" rx="4" fill="none" stroke="#334"/>')
        add(f'<text x="{centre_x:.1f}" y="{y0 + h / 2 + 4:.1f}" font-size="{_STATE_FONT}" '
            f'text-anchor="middle" fill="#112">{state}</text>')
        add("</g>")
    add("</svg>")
    return "\n".join(out) + "\n"


def _head(x: float, y: float, dx: float, dy: float, colour: str) -> str:
    """A filled arrowhead with its tip at (x, y) pointing along (dx, dy)."""
    norm = (dx * dx + dy * dy) ** 0.5 or 1.0
    ux, uy = dx / norm, dy / norm
    bx, by = x - 8 * ux, y - 8 * uy
    px, py = -uy * 3.6, ux * 3.6
    return (f'<polygon points="{x:.1f},{y:.1f} {bx + px:.1f},{by + py:.1f} '
            f'{bx - px:.1f},{by - py:.1f}" fill="{colour}" stroke="none"/>')


def _arrow(x1: float, y1: float, x2: float, y2: float, colour: str) -> str:
    dx, dy = x2 - x1, y2 - y1
    norm = (dx * dx + dy * dy) ** 0.5 or 1.0
    # Stop the line where the head begins so its end does not poke through the tip.
    ex, ey = x2 - 7 * dx / norm, y2 - 7 * dy / norm
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{ex:.1f}" y2="{ey:.1f}" '
            f'stroke="{colour}" stroke-width="1.3"/>' + _head(x2, y2, dx, dy, colour))


def svg_transitions(document: str) -> set[Transition]:
    """The transitions an SVG from :func:`svg` shows (read back from its titles)."""
    ns = "{http://www.w3.org/2000/svg}"
    root = ET.fromstring(document)  # our own output: trusted
    found: set[Transition] = set()
    for group in root.iter(f"{ns}g"):
        if group.get("class") != "transition":
            continue
        title = group.find(f"{ns}title")
        for line in (title.text or "").splitlines() if title is not None else ():
            found.add(_parse_arrow(line))
    return found


def svg_states(document: str) -> list[str]:
    root = ET.fromstring(document)
    return [g.get("data-state", "") for g in root.iter("{http://www.w3.org/2000/svg}g")
            if g.get("class") == "state"]


def _parse_arrow(line: str) -> Transition:
    source, _, rest = line.partition(" --")
    event, _, target = rest.partition("--> ")
    if not (source and event and target):
        raise ValueError(f"not a transition: {line!r}")
    return (source, event, target)


# ------------------------------------------------------------------------ Mermaid


def mermaid(machine: Machine) -> str:
    """``stateDiagram-v2`` source: one line per (state, next state), inputs joined."""
    order = state_order(machine)
    pairs: dict[tuple[str, str], list[str]] = {}
    for state, event, new in machine.transitions:
        pairs.setdefault((state, new), []).append(event)
    rank = {s: i for i, s in enumerate(order)}
    lines = ["stateDiagram-v2", f"    [*] --> {order[0]}"]
    for (state, new), events in sorted(pairs.items(),
                                       key=lambda p: (rank[p[0][0]], rank[p[0][1]])):
        lines.append(f"    {state} --> {new} : {', '.join(events)}")
    exits = {s for s, _i, d in machine.transitions if s != d}
    lines += [f"    {state} --> [*]" for state in order if state not in exits]
    return "\n".join(lines) + "\n"


def mermaid_transitions(source: str) -> set[Transition]:
    """The transitions Mermaid source from :func:`mermaid` shows."""
    found: set[Transition] = set()
    for line in source.splitlines()[1:]:
        edge, _, label = line.strip().partition(" : ")
        state, _, new = edge.partition(" --> ")
        if "[*]" in (state, new):
            continue
        for event in label.split(", "):
            found.add((state, event, new))
    return found


# ------------------------------------------------------------------------ matrix


def matrix_rows(machine: Machine) -> list[list[str]]:
    """Header row of inputs, then one row per state: the next state, or ``""``."""
    used = [i for i in machine.inputs if any(e == i for _s, e, _n in machine.transitions)]
    table = {(s, e): n for s, e, n in machine.transitions}
    rows = [["state", *used]]
    rows += [[s, *(table.get((s, e), "") for e in used)] for s in state_order(machine)]
    return rows


def render_rst(machine: Machine) -> list[str]:
    """reST for one machine: the SVG, the matrix, the Mermaid source."""
    spec = machine.spec
    lines = [
        ".. raw:: html",
        "",
        '   <div class="state-diagram">',
        *(f"   {line}" if line else "" for line in svg(machine).splitlines()),
        "   </div>",
        "",
        f"*Generated from* ``{spec.table}`` *(initial state* ``{machine.initial}``\\ *).*",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "   :stub-columns: 1",
        "",
    ]
    for row_cells in matrix_rows(machine):
        for k, cell in enumerate(row_cells):
            text = f"``{cell}``" if cell else "·"
            lines.append(f"   {'* -' if k == 0 else '  -'} {text}")
    lines += ["", ".. code-block:: text", "   :caption: Mermaid source", ""]
    lines += [f"   {line}" for line in mermaid(machine).splitlines()]
    lines.append("")
    return lines


# ------------------------------------------------------------------------ Sphinx


def setup(app: Any) -> dict[str, Any]:
    """Register the ``state-diagram`` directive."""
    from docutils import nodes
    from docutils.parsers.rst import Directive
    from docutils.statemachine import StringList

    class StateDiagram(Directive):
        required_arguments = 1
        has_content = False

        def run(self) -> list[nodes.Node]:
            try:
                machine = load_machine(spec_for(self.arguments[0]))
            except (KeyError, ValueError, TypeError, ImportError, AttributeError) as exc:
                raise self.error(f"state-diagram: {exc}") from exc
            module = sys.modules[machine.spec.table.rpartition(".")[0]]
            if module.__file__:
                self.state.document.settings.env.note_dependency(module.__file__)
            container = nodes.container(classes=["state-machine"])
            self.state.nested_parse(StringList(render_rst(machine), source="<state-diagram>"),
                                    self.content_offset, container)
            return [container]

    app.add_directive("state-diagram", StateDiagram)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: Sequence[str], write: Callable[[str], object] = sys.stdout.write) -> int:
    """``make_state_diagrams.py [--svg DIR]``: Mermaid to stdout, or SVG files."""
    root = Path(__file__).resolve().parent.parent
    for path in (root, root / "transports"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    if argv[:1] == ["--svg"] and len(argv) == 2:
        target = Path(argv[1])
        target.mkdir(parents=True, exist_ok=True)
        for spec in MACHINES:
            (target / f"{spec.key}.svg").write_text(svg(load_machine(spec)), encoding="utf-8")
            write(f"wrote {target / spec.key}.svg\n")
        return 0
    if argv:
        write("usage: make_state_diagrams.py [--svg DIR]\n")
        return 2
    for spec in MACHINES:
        write(f"%% {spec.title} ({spec.table})\n{mermaid(load_machine(spec))}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
