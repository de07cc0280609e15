"""Where a session snapshot is kept between runs of a bot: one JSON file."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from qqproto.errors import SnapshotError
from qqproto.gateway import SessionSnapshot

__all__ = ["FileSessionStore"]

log = logging.getLogger("qqproto_transports")


class FileSessionStore:
    """One snapshot in one JSON file, replaced atomically; a corrupt file is ignored."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> SessionSnapshot | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return SessionSnapshot.from_dict(data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, SnapshotError) as exc:
            log.warning("ignoring unreadable session file %s: %s", self.path, exc)
            return None

    def save(self, snapshot: SessionSnapshot | None) -> None:
        if snapshot is None:
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".session-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(snapshot.to_dict(), out)
        os.replace(tmp, self.path)
