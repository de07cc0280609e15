"""The drivers' ``file_info`` cache under handler threads.

The threaded driver's handler threads send media at the same time, all through one
cache.  The core's :class:`~qqproto.media.FileInfoCache` is a plain LRU (sans-IO, one
caller at a time); the drivers wrap it in a lock.  The test makes the unlucky
interleaving happen on purpose: a clock value whose comparison (the lookup's expiry
check) lets a second thread store an entry while the first is between finding its entry
and reordering it.  Without the lock the second thread evicts the entry in that gap and
the lookup dies with a ``KeyError``; with it the second thread waits for the lookup.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from qqproto import UploadedMedia
from qqproto.media import MediaKey, MediaPolicy
from qqproto_transports._media import MediaState


class _InterruptingNow(float):
    """A clock reading that runs ``during_compare`` when the cache compares it."""

    during_compare: Callable[[], None]

    def __ge__(self, other: object) -> bool:
        self.during_compare()
        return float(self) >= float(other)  # type: ignore[arg-type]


def test_a_lookup_keeps_its_entry_while_another_handler_thread_stores_one(
        tmp_path: Path) -> None:
    state = MediaState(app_id="102", policy=MediaPolicy(), transcriber=None,
                       cache_dir=tmp_path, env={})
    cache = state.file_infos
    cache.max_entries = 1  # the second thread's store evicts the first entry
    first = UploadedMedia(file_info="FILE_INFO_1", file_uuid=None, ttl=3600)
    second = UploadedMedia(file_info="FILE_INFO_2", file_uuid=None, ttl=3600)
    wanted = MediaKey("c2c", "USER_OPENID", 1, "sha256-1")
    other = MediaKey("c2c", "USER_OPENID", 1, "sha256-2")
    cache.put(wanted, first, unix_now=0.0)
    storer = threading.Thread(target=lambda: cache.put(other, second, unix_now=0.0))

    def store_from_another_thread() -> None:
        storer.start()
        storer.join(0.2)  # unlocked: it evicts at once; locked: it waits for the lookup

    now = _InterruptingNow(1.0)
    now.during_compare = store_from_another_thread
    try:
        found = cache.get(wanted, unix_now=now)
    finally:
        if storer.ident is not None:
            storer.join()
    assert storer.ident is not None  # the lookup did compare its expiry: the gap was hit
    assert found == first
    assert cache.get(other, unix_now=1.0) == second  # the store went through after it
    assert cache.get(wanted, unix_now=1.0) is None
