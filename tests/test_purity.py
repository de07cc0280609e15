"""The core is sans-IO: importing it loads no I/O framework, and its source never reads
the clock, the environment or files (DESIGN.md §2)."""

from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys

import pytest

CORE = pathlib.Path(__file__).resolve().parent.parent / "qqproto"
# DESIGN.md §2: `import qqproto` loads none of these.  (threading is not on the list:
# the standard logging module imports it; the source scan below still bans using it.)
FORBIDDEN_MODULES = ["socket", "ssl", "selectors", "asyncio", "trio", "httpx"]
FORBIDDEN_IMPORTS = [*FORBIDDEN_MODULES, "threading", "subprocess", "os"]
FORBIDDEN_CALLS = {
    ("time", "time"), ("time", "monotonic"), ("time", "sleep"), ("time", "perf_counter"),
    ("datetime", "now"), ("datetime", "utcnow"), ("os", "environ"), ("os", "getenv"),
}


def test_importing_qqproto_loads_no_io_framework() -> None:
    code = (
        "import sys, json\n"
        f"before = {{m for m in {FORBIDDEN_MODULES!r} if m in sys.modules}}\n"
        "import qqproto, qqproto.events, qqproto.errors, qqproto.models\n"
        f"print(json.dumps(sorted({{m for m in {FORBIDDEN_MODULES!r} if m in sys.modules}}"
        " - before)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=CORE.parent,
    )
    assert json.loads(out.stdout) == []


def _core_sources() -> list[pathlib.Path]:
    return sorted(CORE.rglob("*.py"))


def _offences(tree: ast.AST) -> list[str]:
    offences = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            base = node.value
            owner = (base.id if isinstance(base, ast.Name)
                     else base.attr if isinstance(base, ast.Attribute) else None)
            if (owner, node.attr) in FORBIDDEN_CALLS:
                offences.append(f"{owner}.{node.attr} at line {node.lineno}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "open":
                offences.append(f"open() at line {node.lineno}")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""])
            offences.extend(f"import {name} at line {node.lineno}" for name in names
                            if name.split(".")[0] in FORBIDDEN_IMPORTS)
    return offences


@pytest.mark.parametrize("path", _core_sources(), ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_reads_no_clock_environment_or_file(path: pathlib.Path) -> None:
    assert _offences(ast.parse(path.read_text(encoding="utf-8"))) == []


def test_the_purity_scan_sees_a_violation() -> None:
    # Guard against a scan that cannot fail: the same walk must flag each of these.
    snippet = ("import time\nimport socket\nfrom asyncio import sleep\nt = time.monotonic()\n"
               "open('x')\nimport os\nos.environ['A']\n")
    assert len(_offences(ast.parse(snippet))) == 6  # os itself is banned too
