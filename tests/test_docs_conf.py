"""docs/conf.py keeps a half-written site building: toctree entries and links to pages
that index.rst plans but nobody has written yet are left out, and nothing else is."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _load_conf() -> ModuleType:
    spec = importlib.util.spec_from_file_location("qqproto_docs_conf", DOCS / "conf.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    try:
        spec.loader.exec_module(module)  # conf.py puts docs/ and the sources on sys.path
    finally:
        sys.path[:] = saved
    return module


conf = _load_conf()
WRITTEN = {"sans-io", "gateway"}.__contains__

INDEX = """\
Title
=====

Intro text that mentions
   trio
in an indented block that is not a toctree.

.. toctree::
   :maxdepth: 2
   :caption: First

   sans-io
   tutorial

Between the trees.

.. toctree::
   :caption: Second

   gateway
   trio
"""


def test_toctree_entries_are_read_in_order_and_options_are_not_entries() -> None:
    assert conf.toctree_entries(INDEX) == ["sans-io", "tutorial", "gateway", "trio"]


def test_missing_pages_are_pruned_from_toctrees_only() -> None:
    text, removed = conf.prune_toctree(INDEX, WRITTEN)
    assert removed == ["tutorial", "trio"]
    assert "   sans-io\n" in text
    assert "   gateway\n" in text
    assert "   tutorial\n" not in text
    assert "in an indented block" in text
    assert "   trio\nin an indented block" in text  # prose is untouched
    assert text.count("   trio\n") == 1


def test_nothing_is_pruned_when_every_page_exists() -> None:
    assert conf.prune_toctree(INDEX, lambda name: True) == (INDEX, [])


def test_links_to_planned_missing_pages_become_plain_text() -> None:
    planned = {"sans-io", "tutorial", "trio"}
    text = ("See :doc:`trio`, :doc:`the tutorial <tutorial>`, :doc:`sans-io` "
            "and :doc:`typo`.")
    assert conf.unlink_missing(text, planned, WRITTEN) == (
        "See *trio*, *the tutorial*, :doc:`sans-io` and :doc:`typo`.")


def test_the_real_index_lists_every_page_in_the_docs_folder() -> None:
    listed = set(conf.toctree_entries((DOCS / "index.rst").read_text(encoding="utf-8")))
    pages = {path.stem for path in DOCS.glob("*.rst")} - {"index"}
    assert pages - listed == set(), "add these pages to a toctree in docs/index.rst"


def test_the_real_index_follows_the_reading_order_of_the_site() -> None:
    listed = conf.toctree_entries((DOCS / "index.rst").read_text(encoding="utf-8"))
    order = ["sans-io", "tutorial", "gateway", "state-machines", "errors", "asyncio",
             "porting", "design-decisions", "changelog"]
    assert [name for name in listed if name in order] == order
