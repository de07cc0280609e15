"""``bot.download``, ``bot.transcribe``, ``bot.send_media`` and ``bot.send_voice``: the
media half of the application API, mixed into :class:`~qqproto_transports._api.
AsyncBotApi` (asyncio, trio) and :class:`~qqproto_transports._api.SyncBotApi` (threads),
so gateway and webhook bots of every driver have them.  The work is in
:mod:`qqproto_transports._media`; the decisions in :mod:`qqproto.media` and
:mod:`qqproto.voice`.

A bot's media configuration comes from its constructor (``transcriber=``,
``cache_dir=``) through :func:`configure_media`, and from ``Settings.media`` (the
download policy and the transcript order).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qqproto import ChatScope, FileType, Settings, UploadedMedia
from qqproto.media import Destination, MediaKey, destination
from qqproto.models import Attachment
from qqproto.rest import OutgoingMessage
from qqproto.voice import Transcriber, Transcript

from ._media import (
    MediaState,
    download_async,
    download_sync,
    encode_voice_async,
    encode_voice_sync,
    send_media_async,
    send_media_sync,
    transcribe_async,
    transcribe_sync,
)
from .stores import Store

if TYPE_CHECKING:
    from qqproto.rest import RestClient

__all__ = ["AsyncMediaApi", "MediaBase", "SyncMediaApi", "configure_media"]

_STATE = "_media_state"


def configure_media(bot: object, settings: Settings, *, transcriber: Transcriber | None,
                    cache_dir: str | os.PathLike[str] | None,
                    env: Mapping[str, str]) -> None:
    """Give ``bot`` its media state (called by every bot's constructor, once the bot's
    store is open: learned ``file_info`` values are kept there too)."""
    state = MediaState(app_id=settings.app_id, policy=settings.media,
                       transcriber=transcriber, cache_dir=cache_dir, env=env)
    state.use_store(_store_of(bot))
    setattr(bot, _STATE, state)


def _store_of(bot: object) -> Store | None:
    """The store a bot opened for ``Settings.store``: a gateway bot's (every kind but
    ``memory:``), else a webhook bot's shared one (sqlite, Redis)."""
    store = getattr(bot, "_store", None)
    if store is None:
        gate = getattr(getattr(bot, "_core", None), "gate", None)
        store = getattr(gate, "store", None)
    return store if isinstance(store, Store) else None


class MediaBase:
    """What both halves share: the bot's :class:`~qqproto_transports._media.MediaState`."""

    settings: Settings

    if TYPE_CHECKING:
        @property
        def rest(self) -> RestClient: ...

    @property
    def media(self) -> MediaState:
        """The bot's media cache, transcriber and ``file_info`` cache."""
        state = getattr(self, _STATE, None)
        if state is None:
            configure_media(self, self.settings, transcriber=None, cache_dir=None,
                            env=os.environ)
            state = getattr(self, _STATE)
        assert isinstance(state, MediaState)
        return state

    @property
    def transcriber(self) -> Transcriber | None:
        """The speech-to-text engine ``bot.transcribe`` asks (``Bot(transcriber=…)``)."""
        return self.media.transcriber

    @transcriber.setter
    def transcriber(self, engine: Transcriber | None) -> None:
        self.media.transcriber = engine

    def _key_of(self, scope: ChatScope, target_id: str, file_type: FileType) -> Any:
        return lambda digest: MediaKey.of(scope, target_id, file_type, digest)


class AsyncMediaApi(MediaBase):
    """The media API on asyncio and trio (codec and transcriber off the event loop)."""

    http: Any  # httpx.AsyncClient

    if TYPE_CHECKING:
        def _now(self) -> float: ...

        async def reply(self, event: Any, content: Any) -> list[Any]: ...

        async def send(self, scope: ChatScope | str, target_id: str,
                       content: Any) -> list[Any]: ...

        async def upload(self, path: str | os.PathLike[str], scope: ChatScope | str,
                         target_id: str, file_type: FileType = FileType.FILE, *,
                         file_name: str | None = None) -> UploadedMedia: ...

    async def download(self, attachment: Attachment) -> Path:
        """The attachment as a file in the bot's media cache (downloaded once, by the
        rules of ``Settings.media``); raises a :class:`~qqproto.errors.DownloadError`."""
        return await download_async(self.media, self.http, self.rest.token_state,
                                    attachment, self._now)

    async def transcribe(self, attachment: Attachment) -> Transcript:
        """A voice attachment's text: ``.text`` (or ``None``), ``.source``
        (``"stt"``, ``"platform"`` or ``None``) and ``.wav_path`` (see
        :mod:`qqproto.voice` for the order).  The transcriber runs once per message."""
        return await transcribe_async(self.media, self.http, self.rest.token_state,
                                      attachment, self._now)

    async def send_media(self, target: Destination, path: str | os.PathLike[str],
                         file_type: FileType = FileType.FILE, *,
                         file_name: str | None = None) -> list[Any]:
        """Upload (or reuse an earlier upload of) the file at ``path`` and send it: as a
        passive reply when ``target`` is a message or a tap, else to ``(scope, id)``.  A
        ``file_info`` the platform calls expired (304080) is uploaded again, once."""
        scope, target_id, event = destination(target)
        source = Path(path)

        async def upload(p: Path, kind: FileType, name: str) -> UploadedMedia:
            return await self.upload(p, scope, target_id, kind, file_name=name)

        async def send(media: UploadedMedia) -> list[Any]:
            message = OutgoingMessage(media=media.file_info)
            if event is not None:
                return await self.reply(event, message)
            return await self.send(scope, target_id, message)

        result: list[Any] = await send_media_async(
            self.media, self._key_of(scope, target_id, FileType(file_type)), source,
            file_type=FileType(file_type), file_name=file_name or source.name,
            upload=upload, send=send)
        return result

    async def send_voice(self, target: Destination,
                         wav_path: str | os.PathLike[str]) -> list[Any]:
        """Encode a WAV to SILK (on a worker thread), upload it as voice and send it
        (:meth:`send_media`: the same voice is not uploaded twice)."""
        destination(target)  # a target that cannot take media fails before encoding
        silk = await encode_voice_async(self.media, wav_path)
        return await self.send_media(target, silk, FileType.VOICE)


class SyncMediaApi(MediaBase):
    """The media API for threads: blocking, from any thread."""

    http: Any  # httpx.Client

    if TYPE_CHECKING:
        def reply(self, event: Any, content: Any) -> list[Any]: ...

        def send(self, scope: ChatScope | str, target_id: str,
                 content: Any) -> list[Any]: ...

        def upload(self, path: str | os.PathLike[str], scope: ChatScope | str,
                   target_id: str, file_type: FileType = FileType.FILE, *,
                   file_name: str | None = None) -> UploadedMedia: ...

    def download(self, attachment: Attachment) -> Path:
        """As :meth:`AsyncMediaApi.download`, blocking."""
        return download_sync(self.media, self.http, self.rest.token_state, attachment)

    def transcribe(self, attachment: Attachment) -> Transcript:
        """As :meth:`AsyncMediaApi.transcribe`, blocking."""
        return transcribe_sync(self.media, self.http, self.rest.token_state, attachment)

    def send_media(self, target: Destination, path: str | os.PathLike[str],
                   file_type: FileType = FileType.FILE, *,
                   file_name: str | None = None) -> list[Any]:
        """As :meth:`AsyncMediaApi.send_media`, blocking."""
        scope, target_id, event = destination(target)
        source = Path(path)

        def upload(p: Path, kind: FileType, name: str) -> UploadedMedia:
            return self.upload(p, scope, target_id, kind, file_name=name)

        def send(media: UploadedMedia) -> list[Any]:
            message = OutgoingMessage(media=media.file_info)
            if event is not None:
                return self.reply(event, message)
            return self.send(scope, target_id, message)

        result: list[Any] = send_media_sync(
            self.media, self._key_of(scope, target_id, FileType(file_type)), source,
            file_type=FileType(file_type), file_name=file_name or source.name,
            upload=upload, send=send)
        return result

    def send_voice(self, target: Destination, wav_path: str | os.PathLike[str]) -> list[Any]:
        """As :meth:`AsyncMediaApi.send_voice`, blocking."""
        destination(target)
        return self.send_media(target, encode_voice_sync(self.media, wav_path),
                               FileType.VOICE)
