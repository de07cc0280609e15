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


def test_unrendered_rest_in_a_page_is_reported() -> None:
    assert conf.raw_rest_leaks("<p>============.. list-table::</p>") == ["a reST directive"]
    assert conf.raw_rest_leaks("<p>see :class:`~qqproto.Settings`</p>") == ["a reST role"]
    assert conf.raw_rest_leaks(
        "<dd><p>str(object=’’) -&gt; str</p></dd>") == ["a builtin type's docstring"]


def test_code_samples_may_show_rest_source() -> None:
    body = ('<div class="highlight"><pre>.. literalinclude:: examples/x.py\n</pre></div>'
            '<p>Write <code class="docutils literal notranslate"><span class="pre">'
            ':class:`X`</span></code> or <span class="pre">.. note::</span>.</p>')
    assert conf.raw_rest_leaks(body) == []


def test_diff_headers_name_files_relative_to_the_repository() -> None:
    root = Path("/build/here")
    text = ("--- /build/here/docs/examples/a.py\n+++ /build/here/docs/examples/b.py\n"
            "@@ -1 +1 @@\n--- /build/here/x\n")  # a removed line "-- /build/here/x"
    assert conf.relative_diff_headers(text, root).splitlines() == [
        "--- docs/examples/a.py", "+++ docs/examples/b.py", "@@ -1 +1 @@",
        "--- /build/here/x"]
