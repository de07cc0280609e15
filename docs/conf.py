"""Sphinx configuration for the qqproto documentation.

CI builds it offline with warnings as errors (``.ci/run``)::

    python -m sphinx -W --keep-going -q -b html docs docs/_build/html

Nothing here needs the network: no intersphinx inventories, no Mermaid JavaScript, no
Graphviz binary.  The state diagrams are drawn at build time from the transition tables
themselves by ``make_state_diagrams`` (in this folder).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

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
#: Pages kept out of the build for now, with the reason (empty when all pages build).
EXCLUDED_PAGES: dict[str, str] = {}
exclude_patterns += [f"{name}.rst" for name in EXCLUDED_PAGES]

_log = logging.getLogger(__name__)
_ENTRY = re.compile(r"^\s+([A-Za-z0-9_][A-Za-z0-9_./-]*)\s*$")


def _page_exists(name: str) -> bool:
    return (DOCS / f"{name}.rst").is_file() and name not in EXCLUDED_PAGES


def prune_toctree(text: str, exists: Callable[[str], bool] = _page_exists,
                  ) -> tuple[str, list[str]]:
    """``text`` with every toctree entry whose page does not exist (yet) removed.

    index.rst lists the whole site in reading order; several engineers write pages at
    the same time, and a toctree entry for a missing page is a warning (an error under
    ``-W``).  Returns the new text and the names removed.
    """
    out: list[str] = []
    removed: list[str] = []
    in_toctree = False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if line.startswith(".. toctree::"):
            in_toctree = True
        elif stripped and not line[0].isspace():
            in_toctree = False
        elif in_toctree and (match := _ENTRY.match(line)) and not exists(match.group(1)):
            removed.append(match.group(1))
            continue
        out.append(line)
    return "".join(out), removed


def _on_source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname != root_doc:
        return
    source[0], removed = prune_toctree(source[0])
    for name in removed:
        _log.info("toctree: %s.rst does not exist yet; left out", name)


def _reread_index(app: Sphinx, env: object, added: set[str], changed: set[str],
                  removed: set[str]) -> list[str]:
    # Which pages exist can change without index.rst changing: read it on every build.
    return [root_doc]


def setup(app: Sphinx) -> None:
    app.connect("source-read", _on_source_read)
    app.connect("env-get-outdated", _reread_index)
