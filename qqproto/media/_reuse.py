"""``file_info`` reuse: send a file again without uploading it again.

An upload answers with a ``file_info`` and its ``ttl`` (seconds; ``0`` = long-lived,
rest.md §3.5).  :class:`FileInfoCache` keeps them keyed by :class:`MediaKey` — scope,
target, file type and content hash, as the TS plugin keys them (§3.10; §3.6 would allow
sharing across targets of one scene family, the narrower key is the safe reading) — until
``ttl`` minus a margin has passed.  :class:`MediaDelivery` is the saga of one send:
use the cached ``file_info`` or upload, send, and when the send is refused with
``304080`` (:class:`~qqproto.errors.FileInfoExpiredError`, §3.9: invalid or expired)
evict it and upload again — once.

Expiry uses ``unix_now`` (wall-clock seconds, given by the caller) so that a cache
restored from :meth:`FileInfoCache.snapshot` after a restart still means what it said.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from .._fsm import StateMachine
from .._log import bot_logger
from .._values import ChatScope, FileType, UploadedMedia
from ..errors import FileInfoExpiredError, LocalProtocolError, SnapshotError, TransitionError

__all__ = ["DELIVERY_TRANSITIONS", "DeliveryState", "FileInfoCache", "MediaDelivery",
           "MediaKey", "SendStep", "UploadStep"]

#: A ``file_info`` is not offered this close to its expiry (an upload is cheaper than a
#: send that fails on the way).
EXPIRY_MARGIN: Final = 60.0
_SNAPSHOT_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class MediaKey:
    """What makes two uploads the same: where to, which type, which bytes."""

    scope: str
    target: str
    file_type: int
    content_hash: str

    @classmethod
    def of(cls, scope: ChatScope | str, target: str, file_type: FileType | int,
           content_hash: str) -> MediaKey:
        return cls(ChatScope(scope).value, target, int(FileType(file_type)), content_hash)


class FileInfoCache:
    """Up to ``max_entries`` live ``file_info`` values, least recently used dropped first."""

    def __init__(self, *, max_entries: int = 1024, margin: float = EXPIRY_MARGIN) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.margin = margin
        # key → (media, expires_at or None for long-lived)
        self._entries: OrderedDict[MediaKey, tuple[UploadedMedia, float | None]] = \
            OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"FileInfoCache({len(self._entries)} entries)"

    def get(self, key: MediaKey, *, unix_now: float) -> UploadedMedia | None:
        """The cached upload for ``key`` while it has more than the margin left."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        media, expires_at = entry
        if expires_at is not None and unix_now >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return media

    def put(self, key: MediaKey, media: UploadedMedia, *, unix_now: float) -> None:
        """Remember an upload's answer (one whose ``ttl`` is within the margin is not
        worth keeping)."""
        if media.ttl > 0 and media.ttl <= self.margin:
            return
        expires_at = unix_now + media.ttl - self.margin if media.ttl > 0 else None
        self._entries[key] = (media, expires_at)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def adopt(self, key: MediaKey, media: UploadedMedia, *, expires_at: float | None,
              unix_now: float) -> bool:
        """Take an entry learned elsewhere (a store: another process, an earlier run)
        whose ``file_info`` ends at ``expires_at`` (unix seconds; ``None``: long-lived);
        whether it had more than the margin left and was kept."""
        if expires_at is not None:
            expires_at -= self.margin
            if unix_now >= expires_at:
                return False
        self._entries[key] = (media, expires_at)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return True

    def evict(self, key: MediaKey) -> None:
        self._entries.pop(key, None)

    def snapshot(self) -> dict[str, Any]:
        """Plain data to persist (through the same kind of store as session snapshots)."""
        return {"version": _SNAPSHOT_VERSION, "entries": [
            {"scope": k.scope, "target": k.target, "file_type": k.file_type,
             "content_hash": k.content_hash, "file_info": m.file_info,
             "file_uuid": m.file_uuid, "ttl": m.ttl, "expires_at": expires_at}
            for k, (m, expires_at) in self._entries.items()]}

    def restore(self, data: Mapping[str, Any], *, unix_now: float) -> None:
        """Load a :meth:`snapshot`, dropping what has expired since;
        :class:`~qqproto.errors.SnapshotError` for anything else."""
        if not isinstance(data, Mapping) or data.get("version") != _SNAPSHOT_VERSION:
            raise SnapshotError("not a file_info cache snapshot")
        try:
            for item in data["entries"]:
                key = MediaKey(str(item["scope"]), str(item["target"]),
                               int(item["file_type"]), str(item["content_hash"]))
                expires_at = item["expires_at"]
                if expires_at is not None and float(expires_at) <= unix_now:
                    continue
                media = UploadedMedia(file_info=str(item["file_info"]),
                                      file_uuid=item.get("file_uuid"), ttl=int(item["ttl"]))
                self._entries[key] = (media, None if expires_at is None
                                      else float(expires_at))
        except (KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(f"bad file_info cache snapshot: {exc}") from None
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


class DeliveryState(enum.Enum):
    """Where a :class:`MediaDelivery` stands."""

    START = enum.auto()
    UPLOADING = enum.auto()
    SENDING_CACHED = enum.auto()
    SENDING = enum.auto()
    DONE = enum.auto()


class _Input(enum.Enum):
    HIT = enum.auto()
    MISS = enum.auto()
    UPLOADED = enum.auto()
    SENT = enum.auto()
    EXPIRED = enum.auto()  # 304080 on a cached file_info: evict, upload once more
    FAIL = enum.auto()


_S = DeliveryState
#: The saga's transition table (rendered as a diagram in docs/).
DELIVERY_TRANSITIONS: Final[Mapping[tuple[DeliveryState, _Input], DeliveryState]] = {
    (_S.START, _Input.HIT): _S.SENDING_CACHED,
    (_S.START, _Input.MISS): _S.UPLOADING,
    (_S.UPLOADING, _Input.UPLOADED): _S.SENDING,
    (_S.UPLOADING, _Input.FAIL): _S.DONE,
    (_S.SENDING_CACHED, _Input.SENT): _S.DONE,
    (_S.SENDING_CACHED, _Input.EXPIRED): _S.UPLOADING,
    (_S.SENDING_CACHED, _Input.FAIL): _S.DONE,
    # A fresh file_info refused as expired is final: the retry happens once.
    (_S.SENDING, _Input.SENT): _S.DONE,
    (_S.SENDING, _Input.FAIL): _S.DONE,
}


@dataclass(frozen=True, slots=True)
class UploadStep:
    """Upload the file and answer :meth:`MediaDelivery.uploaded` (or ``failed``)."""


@dataclass(frozen=True, slots=True)
class SendStep:
    """Send ``media`` and answer :meth:`MediaDelivery.sent` (or ``failed``)."""

    media: UploadedMedia
    reused: bool


R = TypeVar("R")


class MediaDelivery(Generic[R]):
    """One file sent to one chat, reusing a cached ``file_info`` when there is one.

    A driver runs it like this (``wall_clock``: the driver's Unix time; the core reads
    no clock)::

        delivery = MediaDelivery(cache, key, unix_now=wall_clock())
        while (step := delivery.next_step()) is not None:
            try:
                if isinstance(step, UploadStep):
                    delivery.uploaded(upload(), unix_now=wall_clock())
                else:
                    delivery.sent(send(step.media))
            except Exception as exc:
                delivery.failed(exc)
        result = delivery.result()     # what the send returned, or raises
    """

    def __init__(self, cache: FileInfoCache, key: MediaKey, *, unix_now: float,
                 app_id: str = "") -> None:
        self.cache = cache
        self.key = key
        self._log = bot_logger("qqproto.media", app_id)
        self._fsm: StateMachine[DeliveryState, _Input] = StateMachine(
            "media delivery", DeliveryState.START, DELIVERY_TRANSITIONS, self._log)
        self._media = cache.get(key, unix_now=unix_now)
        self._fire(_Input.HIT if self._media is not None else _Input.MISS)
        self.uploads = 0
        self._result: R | None = None
        self._error: BaseException | None = None
        self._step_out = False

    @property
    def state(self) -> DeliveryState:
        return self._fsm.state

    @property
    def media(self) -> UploadedMedia | None:
        """The ``file_info`` sent (or about to be)."""
        return self._media

    def next_step(self) -> UploadStep | SendStep | None:
        """What to do next; ``None`` once done (also while a step is outstanding)."""
        if self._step_out or self._fsm.state is DeliveryState.DONE:
            return None
        self._step_out = True
        if self._fsm.state is DeliveryState.UPLOADING:
            return UploadStep()
        assert self._media is not None
        return SendStep(self._media, self._fsm.state is DeliveryState.SENDING_CACHED)

    def _answer(self, expected: tuple[DeliveryState, ...]) -> None:
        if not self._step_out or self._fsm.state not in expected:
            raise LocalProtocolError("media delivery: no such step is outstanding")
        self._step_out = False

    def uploaded(self, media: UploadedMedia, *, unix_now: float) -> None:
        self._answer((DeliveryState.UPLOADING,))
        self.uploads += 1
        self._media = media
        self.cache.put(self.key, media, unix_now=unix_now)
        self._fire(_Input.UPLOADED)

    def sent(self, result: R) -> None:
        self._answer((DeliveryState.SENDING, DeliveryState.SENDING_CACHED))
        self._result = result
        self._fire(_Input.SENT)

    def failed(self, error: BaseException) -> None:
        """The outstanding step raised ``error``."""
        self._answer((DeliveryState.UPLOADING, DeliveryState.SENDING,
                      DeliveryState.SENDING_CACHED))
        if isinstance(error, FileInfoExpiredError):
            self.cache.evict(self.key)  # never offered again, whatever happens next
            if self._fsm.state is DeliveryState.SENDING_CACHED:
                self._log.info("cached file_info expired (304080): uploading again")
                self._media = None
                self._fire(_Input.EXPIRED)
                return
        self._error = error
        self._fire(_Input.FAIL)

    def _fire(self, event: _Input) -> None:
        try:
            self._fsm.fire(event)
        except TransitionError as exc:  # pragma: no cover - guarded by _answer
            raise LocalProtocolError(str(exc)) from None

    def result(self) -> R:
        if self._fsm.state is not DeliveryState.DONE:
            raise LocalProtocolError("media delivery: not finished")
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]
