"""Collect the garbage a test made, and only that.

The drivers' tests end with ``gc.collect()`` so that a socket left unclosed in a
reference cycle is finalised at once and its ResourceWarning (an error there) fails the
test that leaked it.  A full collection walks every object the whole session has made
so far (tenths of a second late in the suite, for each test); freezing the older ones
first (:func:`gc.freeze`) leaves the collector exactly the objects the test created.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["collected_after"]


@contextlib.contextmanager
def collected_after() -> Iterator[None]:
    """Run the block, then collect what it made; older objects are left alone."""
    gc.freeze()
    try:
        yield
    finally:
        gc.collect()
        gc.unfreeze()  # back into the oldest generation, collected as usual later
