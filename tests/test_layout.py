"""The shape of the code: no import cycles, no module over 600 code lines, a small
top-level namespace, and no private import where users read or copy code (README, docs,
examples, the command line, the drivers).

The import graph counts every import a reader sees: module level, inside functions and
under ``if TYPE_CHECKING:``.  An edge goes to the module a ``from … import`` names, or to
the submodule when the imported name is one.  A package's ``__init__`` is an edge only
when it is imported by name (importing ``pkg._mod`` runs ``pkg/__init__`` too, but every
package's ``__init__`` imports its own modules, so counting that would make every package
a cycle).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

import qqproto

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"qqproto": ROOT / "qqproto",
            "qqproto_transports": ROOT / "transports" / "qqproto_transports"}
MAX_CODE_LINES = 600
TOP_LEVEL_LIMIT = 30


def _modules() -> dict[str, Path]:
    found = {}
    for name, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            parts = [name, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    parts = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, *(target.split(".") if target else [])])


def imports_of(module: str, path: Path, known: Iterable[str]) -> set[str]:
    """The modules of ``known`` that ``module`` (at ``path``) imports, anywhere in it."""
    known = set(known)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    edges = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            edges.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = (_resolve(module, is_package, node.level, node.module) if node.level
                    else node.module or "")
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in known:
                    edges.add(sub)
                elif base in known:
                    edges.add(base)
    edges.discard(module)
    return edges


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_among_the_modules_of_either_package() -> None:
    graph = {name: imports_of(name, path, MODULES) for name, path in MODULES.items()}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle_through_type_checking_imports(tmp_path: Path) -> None:
    a = tmp_path / "a.py"
    b = tmp_path / "b.py"
    a.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n")
    b.write_text("def f():\n    from .a import A\n")
    graph = {"pkg.a": imports_of("pkg.a", a, {"pkg.a", "pkg.b"}),
             "pkg.b": imports_of("pkg.b", b, {"pkg.a", "pkg.b"})}
    assert cycles(graph) == [["pkg.a", "pkg.b"]]


def code_lines(source: str) -> int:
    """Lines that hold code: not blank, not only a comment, not part of a docstring."""
    tree = ast.parse(source)
    docstring_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                end = body[0].end_lineno or body[0].lineno
                docstring_lines.update(range(body[0].lineno, end + 1))
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                          tokenize.DEDENT, tokenize.ENDMARKER):
            continue
        lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docstring_lines)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_600_code_lines(name: str) -> None:
    assert code_lines(MODULES[name].read_text(encoding="utf-8")) <= MAX_CODE_LINES


def test_code_lines_skip_docstrings_comments_and_blank_lines() -> None:
    source = ('"""Doc\n\nstring."""\n\n# comment\nx = 1  # trailing\n\n'
              'def f():\n    """Doc."""\n    return (\n        2)\n')
    assert code_lines(source) == 4  # x = 1, def f, return (, 2)


def test_the_top_level_namespace_is_small() -> None:
    assert len(qqproto.__all__) <= TOP_LEVEL_LIMIT
    assert all(hasattr(qqproto, name) for name in qqproto.__all__)


# -- no private import where users read or copy code ----------------------------------------

PRIVATE_IMPORT = re.compile(
    r"^\s*(?:from|import)\s+(qqproto(?:_transports)?(?:\.\w+)*\._\w+|qqproto_transports\._\w+)"
    r"|^\s*from\s+qqproto(?:\.\w+)*\s+import\s+.*\b_[a-z]\w*", re.M)
PRIVATE_AUTODOC = re.compile(r"^\.\. (?:auto\w+|literalinclude)::\s*(\S*\._\w+\S*)", re.M)


def private_imports(text: str) -> list[str]:
    """The private imports (and autodoc targets) in ``text``."""
    found = [m.group(0).strip() for m in PRIVATE_IMPORT.finditer(text)]
    found += [m.group(0).strip() for m in PRIVATE_AUTODOC.finditer(text)
              if "qqproto" in m.group(1)]
    return found


def _user_facing_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.rst")),
             *sorted((ROOT / "docs" / "examples").rglob("*.py")),
             *sorted((PACKAGES["qqproto_transports"] / "cli").rglob("*.py"))]
    return [f for f in files if "_build" not in f.parts]


@pytest.mark.parametrize("path", _user_facing_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_user_facing_code_imports_public_names_only(path: Path) -> None:
    assert private_imports(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", sorted(PACKAGES["qqproto_transports"].rglob("*.py")),
                         ids=lambda p: p.name)
def test_the_drivers_use_public_names_of_the_core_only(path: Path) -> None:
    core_private = [line for line in private_imports(path.read_text(encoding="utf-8"))
                    if not line.startswith(("from qqproto_transports",
                                            "import qqproto_transports"))]
    assert core_private == []


def test_the_private_import_scan_sees_each_kind() -> None:
    text = ("from qqproto._http import HttpRequest\n"
            "from qqproto.rest._call import RestCall\n"
            "from qqproto import _jsoncodec\n"
            "import qqproto_transports._shared\n"
            ".. autoclass:: qqproto.rest._call.RestCall\n"
            "from qqproto.rest import RestCall\n")
    assert len(private_imports(text)) == 5
