"""Media executors for every driver: downloads into the bot's cache, transcription,
sending a file (with ``file_info`` reuse) and sending voice.

The decisions are the core's (:mod:`qqproto.media`, :mod:`qqproto.voice`): which URL may
be fetched, when to retry, how a file is named, which transcript wins, when a cached
``file_info`` is used and when it is uploaded again.  This module moves bytes: it
streams a :class:`~qqproto.media.DownloadCall`'s answers through httpx into a temporary
file and renames it into place (atomic: a reader never sees half a file), runs the codec
and the application's transcriber off the event loop (``anyio.to_thread``), and feeds
outcomes back.  The async half serves asyncio and trio (through anyio), the ``*_sync``
half the threaded driver.

When the bot has a store (``Settings.store``), a ``file_info`` learned from an upload is
also written there (:class:`~qqproto.media.StoredFileInfo`, under
:meth:`~qqproto.stores.StoreKeys.file_info`), and an in-memory miss asks the store
before uploading: a restarted bot, or another process on a shared store, sends the file
without uploading it again (rest.md §3.5: reusable within its ``ttl``).  Store calls
block, so async drivers make them on a worker thread; a store that fails costs an
upload, never the send.

The cache: ``<cache_dir>/<app id>/<sha256 of the URL>/<file name>``.  The app id keeps
two bots apart; the URL's hash keeps two attachments apart; a second download of the
same attachment is a file that already exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import anyio
import httpx

from qqproto import FileType, UploadedMedia, bot_logger
from qqproto.errors import DownloadError, VoiceError
from qqproto.media import (
    DownloadCall,
    Downloaded,
    FileInfoCache,
    MediaDelivery,
    MediaKey,
    MediaPolicy,
    StoredFileInfo,
    UploadStep,
    attachment_filename,
    cache_key,
    is_voice,
    safe_filename,
)
from qqproto.models import Attachment
from qqproto.rest import TokenState, check_file_size
from qqproto.stores import StoreKeys
from qqproto.voice import (
    Transcriber,
    Transcript,
    TranscriptSource,
    accept_text,
    silk_to_wav,
    transcript_steps,
    wav_source,
    wav_to_silk,
)

from .stores import Store

__all__ = [
    "MediaState",
    "default_cache_dir",
    "download_async",
    "download_sync",
    "encode_voice_async",
    "encode_voice_sync",
    "fetch_async",
    "fetch_sync",
    "send_media_async",
    "send_media_sync",
    "transcribe_async",
    "transcribe_sync",
]

_TRANSPORT_ERRORS: Final = (httpx.HTTPError, httpx.InvalidURL, OSError)
_HASH_CHUNK: Final = 1 << 20
_MAX_TRANSCRIPTS: Final = 1024
Clock = Callable[[], float]


def default_cache_dir(env: Mapping[str, str]) -> Path:
    """``$XDG_CACHE_HOME/qqproto/media`` (``~/.cache/qqproto/media``)."""
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "qqproto" / "media"


class _SharedFileInfoCache(FileInfoCache):
    """The core's cache behind a lock: the threaded driver's handler threads send media
    at the same time, and an unguarded lookup can lose its entry to another thread's
    eviction between reading and reordering it (a ``KeyError`` in a handler)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def get(self, key: MediaKey, *, unix_now: float) -> UploadedMedia | None:
        with self._lock:
            return super().get(key, unix_now=unix_now)

    def put(self, key: MediaKey, media: UploadedMedia, *, unix_now: float) -> None:
        with self._lock:
            super().put(key, media, unix_now=unix_now)

    def adopt(self, key: MediaKey, media: UploadedMedia, *, expires_at: float | None,
              unix_now: float) -> bool:
        with self._lock:
            return super().adopt(key, media, expires_at=expires_at, unix_now=unix_now)

    def evict(self, key: MediaKey) -> None:
        with self._lock:
            super().evict(key)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return super().snapshot()

    def restore(self, data: Mapping[str, Any], *, unix_now: float) -> None:
        with self._lock:
            super().restore(data, unix_now=unix_now)


class MediaState:
    """One bot's media: its cache directory, transcriber, ``file_info`` cache and the
    transcripts it already has (so the transcriber runs once per voice message)."""

    def __init__(self, *, app_id: str, policy: MediaPolicy, transcriber: Transcriber | None,
                 cache_dir: str | os.PathLike[str] | None, env: Mapping[str, str]) -> None:
        root = Path(cache_dir) if cache_dir is not None else default_cache_dir(env)
        self.dir = root / (safe_filename(app_id) or "bot")
        self.policy = policy
        self.transcriber = transcriber
        self.file_infos: FileInfoCache = _SharedFileInfoCache()
        self.transcripts: OrderedDict[str, Transcript] = OrderedDict()
        self.log = bot_logger("qqproto_transports.media", app_id)
        #: Where learned ``file_info`` values outlive the process (``None``: memory only).
        self.store: Store | None = None
        self._keys: StoreKeys | None = None
        self._app_id = app_id

    def use_store(self, store: Store | None) -> None:
        """Keep ``file_info`` values in ``store`` too (the bot's ``Settings.store``)."""
        try:
            self._keys = StoreKeys(self._app_id) if store is not None else None
        except ValueError:  # no app id to namespace the keys by: memory only
            self._keys = None
        self.store = store if self._keys is not None else None

    def store_key(self, key: MediaKey) -> str | None:
        if self._keys is None:
            return None
        return self._keys.file_info(key.scope, key.target, key.file_type, key.content_hash)

    def __repr__(self) -> str:
        return f"MediaState({str(self.dir)!r}, {len(self.file_infos)} file_info)"

    def path_for(self, url: str, filename: str) -> Path:
        return self.dir / cache_key(url) / filename

    def attachment_path(self, attachment: Attachment) -> Path:
        return self.path_for(attachment.url, attachment_filename(attachment))

    def wav_path(self, attachment: Attachment) -> Path:
        stem = attachment_filename(attachment).rsplit(".", 1)[0] or "voice"
        return self.path_for(attachment.url, stem + ".wav")

    def remember(self, key: str, transcript: Transcript) -> Transcript:
        self.transcripts[key] = transcript
        while len(self.transcripts) > _MAX_TRANSCRIPTS:
            self.transcripts.popitem(last=False)
        return transcript


# ----------------------------------------------------------------------------- store

def _store_call(state: MediaState, what: str, call: Callable[[], Any]) -> Any:
    """``call()`` on the bot's store; a failure is logged (its type only: a Redis error
    can quote its URL) and answers ``None``."""
    try:
        return call()
    except Exception as exc:
        state.log.warning("file_info store %s failed (%s); uploading as usual", what,
                          type(exc).__name__)
        return None


def recall_file_info(state: MediaState, key: MediaKey) -> None:
    """Blocking: on an in-memory miss, the stored ``file_info`` of ``key`` (if usable)
    into the memory cache."""
    store, store_key = state.store, state.store_key(key)
    if store is None or store_key is None:
        return
    if state.file_infos.get(key, unix_now=time.time()) is not None:
        return
    value = _store_call(state, "read", lambda: store.get(store_key))
    if value is None:
        return
    stored = StoredFileInfo.decode(value)
    if stored is None:
        state.log.warning("a stored file_info (%s, type %d) is unreadable: ignored",
                          key.scope, key.file_type)
        return
    state.file_infos.adopt(key, stored.media, expires_at=stored.expires_at,
                           unix_now=time.time())


def store_file_info(state: MediaState, key: MediaKey, media: UploadedMedia,
                    unix_now: float) -> None:
    """Blocking: an upload's answer (at ``unix_now``) into the store, for the ``ttl``
    less the cache's margin."""
    store, store_key = state.store, state.store_key(key)
    if store is None or store_key is None:
        return
    stored = StoredFileInfo.learned(media, unix_now=unix_now)
    lifetime = stored.lifetime(unix_now=unix_now, margin=state.file_infos.margin)
    if lifetime is not None:
        _store_call(state, "write",
                    lambda: store.set(store_key, stored.encode(), ttl=lifetime))


# ----------------------------------------------------------------------------- files

def _temp_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")


def write_atomic(path: Path, data: bytes) -> None:
    """``data`` at ``path``, written beside it and renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_for(path)
    try:
        temp.write_bytes(data)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _placed(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path``, renamed to it when the block succeeds and
    removed when it fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_for(path)
    try:
        yield temp
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _not_voice(attachment: Attachment) -> VoiceError:
    return VoiceError(f"not a voice attachment (content_type {attachment.content_type!r})")


def _steps(state: MediaState, attachment: Attachment) -> tuple[TranscriptSource, ...]:
    return transcript_steps(attachment, has_engine=state.transcriber is not None,
                            order=state.policy.transcript_order)


def _cannot_fetch(state: MediaState, attachment: Attachment, exc: Exception
                  ) -> Transcript:
    """The WAV could not be had: the platform's text still answers when the policy lets
    it (logged), else the failure stands."""
    if TranscriptSource.PLATFORM in _steps(state, attachment):
        state.log.warning("voice: %s; using the platform's transcript", exc)
        return Transcript(text=accept_text(attachment.asr_refer_text),
                          source=TranscriptSource.PLATFORM)
    raise exc


def _platform(attachment: Attachment, wav: Path) -> Transcript:
    return Transcript(text=accept_text(attachment.asr_refer_text),
                      source=TranscriptSource.PLATFORM, wav_path=str(wav))


def _remembered(state: MediaState, attachment: Attachment) -> tuple[str, Transcript | None]:
    """The transcript cache key of the voice ``attachment`` and what is kept under it."""
    if not is_voice(attachment):
        raise _not_voice(attachment)
    key = cache_key(attachment.url)
    return key, state.transcripts.get(key)


def _engine_first(state: MediaState, attachment: Attachment) -> Transcriber | None:
    """The transcriber, when the policy runs it before (or instead of) the platform's
    text; ``None`` when it does not run."""
    steps = _steps(state, attachment)
    if TranscriptSource.PLATFORM in steps:
        steps = steps[:steps.index(TranscriptSource.PLATFORM)]
    return state.transcriber if TranscriptSource.STT in steps else None


def _settle(state: MediaState, key: str, attachment: Attachment, wav: Path,
            heard: str | None) -> Transcript:
    """The transcript by the policy's order once the transcriber has ``heard`` (``None``:
    it did not run, failed or heard nothing), remembered under ``key``."""
    if heard is not None:
        found = Transcript(text=heard, source=TranscriptSource.STT, wav_path=str(wav))
    elif TranscriptSource.PLATFORM in _steps(state, attachment):
        found = _platform(attachment, wav)
    else:
        found = Transcript(text=None, source=None, wav_path=str(wav))
    return state.remember(key, found)


def _is_coroutine_function(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None))  # noqa: B004 - an object with an async __call__


async def _awaited(value: Awaitable[Any]) -> Any:
    return await value


# ----------------------------------------------------------------------------- async

async def fetch_async(client: httpx.AsyncClient, call: DownloadCall, dest: Path,
                      clock: Clock) -> Downloaded:
    """Run ``call`` to its end, the body streamed into ``dest`` (truncated per attempt)."""
    async with await anyio.open_file(dest, "wb") as out:
        while not call.done:
            request = call.next_request(clock())
            if request is None:
                timer = call.get_timer()
                if timer is not None:
                    await anyio.sleep(max(0.0, timer - clock()))
                    call.handle_timer(max(clock(), timer))
                continue
            try:
                async with client.stream(request.method, request.url,
                                         headers=list(request.headers),
                                         timeout=request.timeout) as response:
                    if call.response_started(response.status_code,
                                             response.headers.multi_items(), clock()):
                        if call.storing:
                            await out.seek(0)
                            await out.truncate()
                        async for chunk in response.aiter_bytes():
                            if not call.receive_data(chunk):
                                break
                            if call.storing:
                                await out.write(chunk)
                call.response_ended(clock())
            except _TRANSPORT_ERRORS as exc:
                if call.outstanding:
                    call.transport_failed(f"{type(exc).__name__}: {exc}", clock())
    return call.result()


async def _fetch_url_async(state: MediaState, client: httpx.AsyncClient,
                           tokens: TokenState | None, url: str, path: Path, *,
                           clock: Clock) -> Path:
    if path.is_file():
        return path
    call = DownloadCall(url, policy=state.policy, token_state=tokens,
                        app_id=tokens.app_id if tokens else "")
    await anyio.to_thread.run_sync(lambda: path.parent.mkdir(parents=True, exist_ok=True))
    temp = _temp_for(path)
    try:
        await fetch_async(client, call, temp, clock)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


async def download_async(state: MediaState, client: httpx.AsyncClient,
                         tokens: TokenState | None, attachment: Attachment,
                         clock: Clock) -> Path:
    """The attachment in the bot's cache (downloaded unless it is there already)."""
    return await _fetch_url_async(state, client, tokens, attachment.url,
                                  state.attachment_path(attachment), clock=clock)


async def _wav_async(state: MediaState, client: httpx.AsyncClient, tokens: TokenState | None,
                     attachment: Attachment, clock: Clock) -> Path:
    """The attachment's WAV in the cache: the platform's rendition when there is one,
    else the SILK decoded (on a worker thread); fetched or decoded once."""
    path = state.wav_path(attachment)
    if path.is_file():
        return path
    url, needs_decoding = wav_source(attachment)
    if not needs_decoding:
        return await _fetch_url_async(state, client, tokens, url, path, clock=clock)
    silk = await download_async(state, client, tokens, attachment, clock)

    def decode() -> None:
        write_atomic(path, silk_to_wav(silk.read_bytes()))

    await anyio.to_thread.run_sync(decode)
    return path


async def _engine_async(engine: Transcriber, wav: bytes) -> Any:
    if _is_coroutine_function(engine):
        result = await engine(wav)  # type: ignore[misc]
    else:
        result = await anyio.to_thread.run_sync(engine, wav)
    if inspect.isawaitable(result):
        result = await result
    return result


async def transcribe_async(state: MediaState, client: httpx.AsyncClient,
                           tokens: TokenState | None, attachment: Attachment,
                           clock: Clock) -> Transcript:
    """The voice attachment's text by the policy's order (see :mod:`qqproto.voice`)."""
    key, known = _remembered(state, attachment)
    if known is not None:
        return known
    engine = _engine_first(state, attachment)
    try:
        wav = await _wav_async(state, client, tokens, attachment, clock)
    except (DownloadError, VoiceError) as exc:
        return _cannot_fetch(state, attachment, exc)
    heard = None
    if engine is not None:
        try:
            data = await anyio.to_thread.run_sync(wav.read_bytes)
            heard = accept_text(await _engine_async(engine, data))
        except Exception:
            state.log.warning("the transcriber failed", exc_info=True)
    return _settle(state, key, attachment, wav, heard)


Upload = Callable[[Path, FileType, str], Awaitable[UploadedMedia]]
SendAsync = Callable[[UploadedMedia], Awaitable[Any]]


async def send_media_async(state: MediaState, key_of: Callable[[str], MediaKey],
                           path: Path, *, file_type: FileType, file_name: str,
                           upload: Upload, send: SendAsync) -> Any:
    """Send the file at ``path``, reusing a cached ``file_info`` (see
    :class:`~qqproto.media.MediaDelivery`); what ``send`` returned."""
    size = (await anyio.to_thread.run_sync(path.stat)).st_size
    check_file_size(file_type, size, file_name=file_name)  # before a byte is hashed
    key = key_of(await anyio.to_thread.run_sync(sha256_file, path))
    if state.store is not None:
        await anyio.to_thread.run_sync(recall_file_info, state, key)
    delivery: MediaDelivery[Any] = MediaDelivery(state.file_infos, key, unix_now=time.time())
    while (step := delivery.next_step()) is not None:
        try:
            if isinstance(step, UploadStep):
                media = await upload(path, file_type, file_name)
                learned_at = time.time()
                delivery.uploaded(media, unix_now=learned_at)
                if state.store is not None:
                    await anyio.to_thread.run_sync(store_file_info, state, key, media,
                                                   learned_at)
            else:
                delivery.sent(await send(step.media))
        except Exception as exc:
            delivery.failed(exc)
    return delivery.result()


async def encode_voice_async(state: MediaState, wav_path: str | os.PathLike[str]) -> Path:
    """The WAV encoded to SILK (on a worker thread), kept in the cache by content."""

    def encode() -> Path:
        silk = wav_to_silk(Path(wav_path).read_bytes())
        path = state.dir / "voice-out" / (hashlib.sha256(silk).hexdigest()[:32] + ".silk")
        if not path.is_file():
            write_atomic(path, silk)
        return path

    return await anyio.to_thread.run_sync(encode)


# ----------------------------------------------------------------------------- sync

def fetch_sync(client: httpx.Client, call: DownloadCall, dest: Path,
               clock: Clock = time.monotonic) -> Downloaded:
    """The blocking twin of :func:`fetch_async`."""
    with dest.open("wb") as out:
        while not call.done:
            request = call.next_request(clock())
            if request is None:
                timer = call.get_timer()
                if timer is not None:
                    time.sleep(max(0.0, timer - clock()))
                    call.handle_timer(max(clock(), timer))
                continue
            try:
                with client.stream(request.method, request.url, headers=list(request.headers),
                                   timeout=request.timeout) as response:
                    if call.response_started(response.status_code,
                                             response.headers.multi_items(), clock()):
                        if call.storing:
                            out.seek(0)
                            out.truncate()
                        for chunk in response.iter_bytes():
                            if not call.receive_data(chunk):
                                break
                            if call.storing:
                                out.write(chunk)
                call.response_ended(clock())
            except _TRANSPORT_ERRORS as exc:
                if call.outstanding:
                    call.transport_failed(f"{type(exc).__name__}: {exc}", clock())
    return call.result()


def _fetch_url_sync(state: MediaState, client: httpx.Client, tokens: TokenState | None,
                    url: str, path: Path) -> Path:
    if path.is_file():
        return path
    call = DownloadCall(url, policy=state.policy, token_state=tokens,
                        app_id=tokens.app_id if tokens else "")
    with _placed(path) as temp:
        fetch_sync(client, call, temp)
    return path


def download_sync(state: MediaState, client: httpx.Client, tokens: TokenState | None,
                  attachment: Attachment) -> Path:
    """The blocking twin of :func:`download_async`."""
    return _fetch_url_sync(state, client, tokens, attachment.url,
                           state.attachment_path(attachment))


def _wav_sync(state: MediaState, client: httpx.Client, tokens: TokenState | None,
              attachment: Attachment) -> Path:
    path = state.wav_path(attachment)
    if path.is_file():
        return path
    url, needs_decoding = wav_source(attachment)
    if not needs_decoding:
        return _fetch_url_sync(state, client, tokens, url, path)
    silk = download_sync(state, client, tokens, attachment)
    write_atomic(path, silk_to_wav(silk.read_bytes()))
    return path


def _engine_sync(engine: Transcriber, wav: bytes) -> Any:
    result = engine(wav)
    if inspect.isawaitable(result):
        result = asyncio.run(_awaited(result))
    return result


def transcribe_sync(state: MediaState, client: httpx.Client, tokens: TokenState | None,
                    attachment: Attachment) -> Transcript:
    """The blocking twin of :func:`transcribe_async`."""
    key, known = _remembered(state, attachment)
    if known is not None:
        return known
    engine = _engine_first(state, attachment)
    try:
        wav = _wav_sync(state, client, tokens, attachment)
    except (DownloadError, VoiceError) as exc:
        return _cannot_fetch(state, attachment, exc)
    heard = None
    if engine is not None:
        try:
            heard = accept_text(_engine_sync(engine, wav.read_bytes()))
        except Exception:
            state.log.warning("the transcriber failed", exc_info=True)
    return _settle(state, key, attachment, wav, heard)


def send_media_sync(state: MediaState, key_of: Callable[[str], MediaKey], path: Path, *,
                    file_type: FileType, file_name: str,
                    upload: Callable[[Path, FileType, str], UploadedMedia],
                    send: Callable[[UploadedMedia], Any]) -> Any:
    """The blocking twin of :func:`send_media_async`."""
    check_file_size(file_type, path.stat().st_size, file_name=file_name)
    key = key_of(sha256_file(path))
    recall_file_info(state, key)
    delivery: MediaDelivery[Any] = MediaDelivery(state.file_infos, key, unix_now=time.time())
    while (step := delivery.next_step()) is not None:
        try:
            if isinstance(step, UploadStep):
                media = upload(path, file_type, file_name)
                learned_at = time.time()
                delivery.uploaded(media, unix_now=learned_at)
                store_file_info(state, key, media, learned_at)
            else:
                delivery.sent(send(step.media))
        except Exception as exc:
            delivery.failed(exc)
    return delivery.result()


def encode_voice_sync(state: MediaState, wav_path: str | os.PathLike[str]) -> Path:
    """The blocking twin of :func:`encode_voice_async`."""
    silk = wav_to_silk(Path(wav_path).read_bytes())
    path = state.dir / "voice-out" / (hashlib.sha256(silk).hexdigest()[:32] + ".silk")
    if not path.is_file():
        write_atomic(path, silk)
    return path
