"""Sphinx configuration for the qqproto documentation.

CI builds it offline with warnings as errors (``.ci/run``)::

    python -m sphinx -W --keep-going -q -b html docs docs/_build/html

Nothing here needs the network: no intersphinx inventories, no Mermaid JavaScript, no
Graphviz binary.  The state diagrams are drawn at build time from the transition tables
themselves by ``make_state_diagrams`` and the close-code table from the code by
``close_code_table`` (both in this folder).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docutils import nodes
    from sphinx.application import Sphinx

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# autodoc imports the core and the drivers from the source tree, and Sphinx loads the
# diagram extension from this folder: building the docs needs no installation.
for _path in (DOCS, ROOT / "transports", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from qqproto import __version__  # noqa: E402 - importable only once the path is set

project = "qqproto"
author = "the qqproto authors"
copyright = "2025, the qqproto authors"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "make_state_diagrams",
    "close_code_table",
]

root_doc = "index"
exclude_patterns = ["_build", "examples", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []
nitpicky = False
pygments_style = "sphinx"

# -- autodoc ------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
python_use_unqualified_type_names = True

# -- HTML (the built-in theme: no extra dependency) ---------------------------------
html_theme = "alabaster"
html_title = f"qqproto {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "The QQ Bot protocol, sans-IO",
    "fixed_sidebar": True,
    "show_relbars": True,
}

# -- pages still being written --------------------------------------------------------
# index.rst lists the whole site in reading order, but several engineers write pages at
# the same time.  A toctree entry or a :doc: link to a page that does not exist yet is a
# warning (an error under -W), so while a *listed* page is missing its toctree entry is
# left out and links to it read as plain text.  A link to a page index.rst does not
# list still fails the build: that is a typo, not a page in progress.

#: Pages kept out of the build for now, with the reason (empty when all pages build).
EXCLUDED_PAGES: dict[str, str] = {}
exclude_patterns += [f"{name}.rst" for name in EXCLUDED_PAGES]

_ENTRY = re.compile(r"^\s+([A-Za-z0-9_][A-Za-z0-9_./-]*)\s*$")
_DOC_LINK = re.compile(r":doc:`(?:([^`<]*?)\s*<([^`>]+)>|([^`<>]+))`")


def _page_exists(name: str) -> bool:
    return (DOCS / f"{name}.rst").is_file() and name not in EXCLUDED_PAGES


def toctree_entries(text: str) -> list[str]:
    """The page names listed in the toctrees of ``text``, in order."""
    return [name for name, _line in _toctree_lines(text) if name]


def _toctree_lines(text: str) -> list[tuple[str | None, str]]:
    lines: list[tuple[str | None, str]] = []
    in_toctree = False
    for line in text.splitlines(keepends=True):
        name = None
        if line.startswith(".. toctree::"):
            in_toctree = True
        elif line.strip() and not line[0].isspace():
            in_toctree = False
        elif in_toctree and (match := _ENTRY.match(line)):
            name = match.group(1)
        lines.append((name, line))
    return lines


def prune_toctree(text: str, exists: Callable[[str], bool] = _page_exists,
                  ) -> tuple[str, list[str]]:
    """``text`` without the toctree entries whose page does not exist; and their names."""
    kept = [line for name, line in _toctree_lines(text) if name is None or exists(name)]
    removed = [name for name, _line in _toctree_lines(text) if name and not exists(name)]
    return "".join(kept), removed


def unlink_missing(text: str, planned: set[str],
                   exists: Callable[[str], bool] = _page_exists) -> str:
    """``text`` with each :doc: link to a planned page that does not exist yet turned
    into its title (or name) in italics."""
    def replace(match: re.Match[str]) -> str:
        title, target, bare = match.groups()
        name = (target or bare).strip()
        if name not in planned or exists(name):
            return match.group(0)
        return f"*{(title or name).strip()}*"
    return _DOC_LINK.sub(replace, text)


def _planned_pages() -> set[str]:
    return set(toctree_entries((DOCS / f"{root_doc}.rst").read_text(encoding="utf-8")))


def _on_source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname == root_doc:
        from sphinx.util import logging

        source[0], removed = prune_toctree(source[0])
        for name in removed:
            logging.getLogger(__name__).info("toctree: %s.rst does not exist yet; left out",
                                             name)
    source[0] = unlink_missing(source[0], _planned_pages())


def _reread_pages(app: Sphinx, env: object, added: set[str], changed: set[str],
                  removed: set[str]) -> list[str]:
    # Which pages exist can change while these files do not: read the index and every
    # page that links to a planned page on every build.
    planned = _planned_pages()
    again = {root_doc}
    for path in DOCS.glob("*.rst"):
        links = _DOC_LINK.findall(path.read_text(encoding="utf-8"))
        if any((target or bare).strip() in planned for _t, target, bare in links):
            again.add(path.stem)
    return sorted(again)


# reST cannot end an inline literal with a space ("``QQBot ``"), and a docstring or two
# in the core writes the token prefix that way.  Until they are rewritten, show the
# prefix as ``QQBot`` plus a space, in words.

# -- reST that leaks into the HTML -------------------------------------------------------
# A directive docutils could not parse (a table glued to a line of ``=`` signs, say) is
# printed as text, and a constant without a docstring of its own gets the docstring of
# its *type* (``str(object='') -> str``).  Neither is an error for docutils, so each page
# is checked as it is written: under -W the build fails.

_CODE = re.compile(r"<pre\b.*?</pre>|<code\b.*?</code>|<span class=\"pre\">.*?</span>",
                   re.S)
_TAG = re.compile(r"<[^>]+>")
LEAKS = (
    ("a reST directive", re.compile(r"\.\. [A-Za-z][\w:-]*::")),
    ("a reST role", re.compile(r":(?:class|func|meth|mod|doc|ref|data|attr|exc):`")),
    ("a builtin type's docstring",
     re.compile(r"str\(object=|int\(\[x\]\) -&gt; integer|dict\(\) -&gt; new empty|"
                r"Convert a string or number to a floating-point number")),
)


def raw_rest_leaks(body: str) -> list[str]:
    """What in a page's HTML body reads as unrendered reST (code samples excepted)."""
    text = _TAG.sub("", _CODE.sub("", body))
    return [what for what, pattern in LEAKS if pattern.search(text)]


def _check_page(app: Sphinx, pagename: str, templatename: str, context: dict[str, object],
                doctree: object) -> None:
    from sphinx.util import logging

    for what in raw_rest_leaks(str(context.get("body", ""))):
        logging.getLogger(__name__).warning("%s.html shows %s as text", pagename, what,
                                            type="qqproto", subtype="raw-rest")


# ``literalinclude`` with ``:diff:`` labels the two files with their absolute paths, which
# would print the build machine's directories; show them relative to the repository.

def relative_diff_headers(text: str, root: Path = ROOT) -> str:
    """``text`` (a unified diff) with ``root`` dropped from its two header lines."""
    return re.sub(rf"^(---|\+\+\+) {re.escape(str(root))}/", r"\1 ", text, count=2,
                  flags=re.M)


def _relative_diffs(app: Sphinx, doctree: nodes.document) -> None:
    from docutils import nodes as docutils_nodes

    for block in doctree.findall(docutils_nodes.literal_block):
        if block.get("language") == "udiff":
            text = relative_diff_headers(block.astext())
            block.children = [docutils_nodes.Text(text)]
            block.rawsource = text


def setup(app: Sphinx) -> None:
    app.connect("source-read", _on_source_read)
    app.connect("env-get-outdated", _reread_pages)
    app.connect("doctree-read", _relative_diffs)
    app.connect("html-page-context", _check_page)
