"""Media over real sockets on 127.0.0.1, on every driver: downloads from the simulator's
CDN (allow-list, redirects, retries, byte limit, names, cache, per-bot isolation),
transcription (engine, platform text, the platform's WAV), sending voice from a WAV, and
sending a file again without uploading it again (and once more after 304080).

The simulator serves plain ``http://127.0.0.1:PORT``: the bots allow exactly that origin
(``MediaPolicy.origins``, what ``QQBOT_MEDIA_ORIGINS`` sets) and nothing else.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from qqproto import Settings
from qqproto.errors import (
    DownloadExpiredError,
    DownloadRefusedError,
    DownloadTooLargeError,
    VoiceError,
)
from qqproto.media import MediaPolicy, attachments_of, is_voice
from qqproto.models import Attachment, MessageEvent
from qqproto.simulator import (
    HttpFault,
    Simulator,
    cdn_attachment,
    inject_media_message,
    sim_cdn,
    sim_uploads,
    tone_wav,
    voice_attachment,
)
from qqproto.voice import is_silk, parse_wav, wav_to_silk
from qqproto_transports import asyncio as asyncio_driver
from qqproto_transports import threads as threads_driver
from qqproto_transports import trio as trio_driver
from qqproto_transports.simulator import SimulatorThread

from .test_public_api import Running, wait_until

DRIVERS = {"asyncio": asyncio_driver, "trio": trio_driver, "threads": threads_driver}
SILK = wav_to_silk(tone_wav(0.5))


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread(Simulator(), lifetime=60) as server:
        yield server


def settings_for(sim: SimulatorThread, **policy: Any) -> Settings:
    media = MediaPolicy(origins=(sim.api_base,), retry_delays=(0.05,), **policy)
    return Settings.from_env(sim.env(), media=media)


async def do(value: Any) -> Any:
    """A threads bot's methods return values, the others' coroutines."""
    return await value if inspect.isawaitable(value) else value


def on(driver: str, scenario: Callable[[], Awaitable[None]]) -> None:
    """Run ``scenario`` on the driver's runtime (threads: blocking calls in a plain loop)."""
    if driver == "trio":
        trio.run(scenario)
    else:
        asyncio.run(scenario())  # type: ignore[arg-type]


class Bots:
    """Bots of one driver made inside the scenario's runtime, closed at its end."""

    def __init__(self, driver: str, cache_dir: Path) -> None:
        self.driver, self.cache_dir, self.made = driver, cache_dir, []

    def make(self, settings: Settings, **kw: Any) -> Any:
        bot = DRIVERS[self.driver].Bot(settings, env={}, cache_dir=self.cache_dir, **kw)
        self.made.append(bot)
        return bot

    async def close(self) -> None:
        for bot in self.made:
            await do(bot.http.close() if self.driver == "threads" else bot.http.aclose())


def attach(sim: SimulatorThread, data: bytes, **kw: Any) -> Attachment:
    kw.setdefault("content_type", "file")
    item = sim.call(lambda s, now: cdn_attachment(s, data, now=now, **kw))
    return Attachment(content_type=item["content_type"], url=item["url"],
                      filename=item.get("filename"), size=item["size"])


def voice(sim: SimulatorThread, **kw: Any) -> Attachment:
    item = sim.call(lambda s, now: voice_attachment(s, SILK, now=now, **kw))
    return Attachment(content_type="voice", url=item["url"],
                      voice_wav_url=item.get("voice_wav_url"),
                      asr_refer_text=item.get("asr_refer_text"))


def cdn(sim: SimulatorThread) -> Any:
    return sim.call(lambda s, now: sim_cdn(s).counters)


def cdn_requests(sim: SimulatorThread, url: str) -> int:
    file_id = url.split("/cdn/")[1].split("/", maxsplit=1)[0]
    return int(sim.call(lambda s, now: sim_cdn(s).files[file_id].requests))


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_downloads_are_safe_named_cached_and_kept_apart(driver: str, sim: SimulatorThread,
                                                        tmp_path: Path) -> None:
    report = b"%PDF-1.7 " * 100
    named = attach(sim, report, filename="../../x/报告 v1.pdf")
    unnamed = attach(sim, b"\xff\xd8jpeg", filename="photo.jpg", content_type="image/jpeg",
                     send_filename=False)
    throttled = attach(sim, b"busy", filename="busy.txt", throttle=2)
    bots = Bots(driver, tmp_path)
    settings = settings_for(sim)

    async def scenario() -> None:
        bot = bots.make(settings)
        path = await do(bot.download(named))
        assert path.read_bytes() == report
        assert path.name == "报告 v1.pdf" and path.parent.parent == tmp_path / settings.app_id
        assert await do(bot.download(named)) == path  # from the cache
        assert (await do(bot.download(unnamed))).name == "photo.jpg"
        assert (await do(bot.download(throttled))).read_bytes() == b"busy"  # 429, 429, 200
        other = bots.make(settings.replace(app_id="102000002"))
        elsewhere = await do(other.download(named))
        assert elsewhere != path and elsewhere.read_bytes() == report
        assert elsewhere.parent.parent == tmp_path / "102000002"
        await bots.close()

    on(driver, scenario)
    assert cdn_requests(sim, named.url) == 2  # one per bot; the second call was a hit
    counters = cdn(sim)
    assert (counters.throttled, counters.with_authorization) == (2, 0)
    assert not list(tmp_path.rglob("*.part"))


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_downloads_refuse_what_the_policy_refuses(driver: str, sim: SimulatorThread,
                                                  tmp_path: Path) -> None:
    moved = attach(sim, b"x", filename="moved.bin", redirect_to="https://cdn.off-list.invalid/x")
    expired = attach(sim, b"x", filename="old.bin", expires_in=0.0)
    big = attach(sim, b"x" * 640, filename="big.bin")
    bots = Bots(driver, tmp_path)

    async def scenario() -> None:
        bot = bots.make(settings_for(sim))
        with pytest.raises(DownloadRefusedError, match="off-list"):
            await do(bot.download(moved))
        with pytest.raises(DownloadExpiredError):
            await do(bot.download(expired))
        small = bots.make(settings_for(sim, max_bytes=100))
        with pytest.raises(DownloadTooLargeError):
            await do(small.download(big))
        default = bots.make(Settings.from_env({**sim.env(), "QQBOT_MEDIA_ORIGINS": ""}))
        with pytest.raises(DownloadRefusedError, match="https only"):
            await do(default.download(big))
        await bots.close()

    on(driver, scenario)
    counters = cdn(sim)
    assert (counters.redirected, counters.expired) == (1, 1)
    assert cdn_requests(sim, big.url) == 1  # the default policy sent nothing
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # nothing half-written


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_voice_is_transcribed_once_by_policy(driver: str, sim: SimulatorThread,
                                             tmp_path: Path) -> None:
    heard: list[int] = []

    def sync_engine(wav: bytes) -> str:
        heard.append(parse_wav(wav).rate)
        return "engine text" if len(heard) < 3 else ""

    async def async_engine(wav: bytes) -> str:
        return sync_engine(wav)

    with_text = voice(sim, asr_text="平台文本")
    with_wav = voice(sim, wav=tone_wav(0.5, rate=16000))
    bare = voice(sim)
    bots = Bots(driver, tmp_path)

    async def scenario() -> None:
        bot = bots.make(settings_for(sim), transcriber=sync_engine if driver == "threads"
                        else async_engine)
        first = await do(bot.transcribe(with_text))
        assert (first.text, first.source) == ("engine text", "stt")
        assert await do(bot.transcribe(with_text)) is first  # once per voice message
        assert parse_wav(Path(first.wav_path).read_bytes()).rate == 24000
        second = await do(bot.transcribe(with_wav))
        assert (second.text, second.source) == ("engine text", "stt")
        assert parse_wav(Path(second.wav_path).read_bytes()).rate == 16000  # theirs
        third = await do(bot.transcribe(bare))  # the engine hears nothing now
        assert (third.text, third.source) == (None, None) and third.wav_path
        plain = bots.make(settings_for(sim).replace(app_id="102000009"))
        platform = await do(plain.transcribe(with_text))
        assert (platform.text, platform.source) == ("平台文本", "platform")
        with pytest.raises(VoiceError, match="not a voice attachment"):
            await do(plain.transcribe(attach(sim, b"x", filename="x.txt")))
        await bots.close()

    on(driver, scenario)
    assert heard == [24000, 16000, 24000]
    assert cdn_requests(sim, with_wav.url) == 0  # the platform's WAV: nothing decoded


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_voice_and_files_are_sent_and_not_uploaded_twice(driver: str, sim: SimulatorThread,
                                                         tmp_path: Path) -> None:
    wav = tmp_path / "reply.wav"
    wav.write_bytes(tone_wav(0.8))
    doc = tmp_path / "notes.txt"
    doc.write_bytes(b"notes " * 100)
    bots = Bots(driver, tmp_path / "cache")

    async def scenario() -> None:
        bot = bots.make(settings_for(sim))
        (sent,) = await do(bot.send_voice(("c2c", "U1"), wav))
        assert sent.id
        await do(bot.send_media(("c2c", "U1"), doc))
        await do(bot.send_media(("c2c", "U1"), doc))  # the same file_info again
        sim.set_faults(http_errors=(HttpFault(path="/v2/users/U1/messages", status=400,
                                              code=304080, method="POST"),))
        await do(bot.send_media(("c2c", "U1"), doc))  # expired: one more upload
        with pytest.raises(ValueError, match="c2c users and groups only"):
            await do(bot.send_voice(("channel", "C"), wav))
        await bots.close()

    on(driver, scenario)
    stored = sim.call(lambda s, now: list(sim_uploads(s).stored))
    assert [(m.file_type, m.file_name) for m in stored] == [(3, None), (4, "notes.txt"),
                                                           (4, "notes.txt")]
    messages = [m for m in sim.sent_messages() if m.body.get("msg_type") == 7]
    assert len(messages) == 4 and messages[1].body["media"] == messages[2].body["media"]
    assert messages[3].body["media"]["file_info"] == stored[2].file_info
    body = sim.call(lambda s, now: next(r.body for r in s.requests if r.path.endswith("/files")))
    assert b'"file_data":"AiMhU0lMS19W' in body  # base64 of the Tencent SILK header


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_a_bot_hears_voice_and_quoted_files_and_answers_with_voice(
        driver: str, sim: SimulatorThread, tmp_path: Path) -> None:
    answer = tmp_path / "answer.wav"
    answer.write_bytes(tone_wav(0.4))

    def setup(bot: Any) -> None:
        if driver == "threads":
            @bot.on(MessageEvent)
            def handle(event: MessageEvent) -> None:
                for item in attachments_of(event.message):
                    if is_voice(item):
                        bot.reply(event, f"heard {bot.transcribe(item).text}")
                        bot.send_voice(event, answer)
                    else:
                        bot.reply(event, f"got {bot.download(item).read_bytes()[:4]!r}")
        else:
            @bot.on(MessageEvent)
            async def handle(event: MessageEvent) -> None:  # type: ignore[misc]
                for item in attachments_of(event.message):
                    if is_voice(item):
                        await bot.reply(event, f"heard {(await bot.transcribe(item)).text}")
                        await bot.send_voice(event, answer)
                    else:
                        data = (await bot.download(item)).read_bytes()[:4]
                        await bot.reply(event, f"got {data!r}")

    bot = DRIVERS[driver].Bot(settings_for(sim), env={}, cache_dir=tmp_path / "cache")
    setup(bot)
    with Running(driver, bot):
        wait_until(lambda: sim.counters().identifies, "the bot to identify")
        sim.call(lambda s, now: inject_media_message(s, "c2c:U2", now=now, attachments=[
            voice_attachment(s, SILK, now=now, asr_text="你好", scheme_relative=True)]))
        sim.call(lambda s, now: inject_media_message(s, "group:G:M", now=now, quoted=[
            cdn_attachment(s, b"QUOTED FILE", filename="q.txt", content_type="file",
                           now=now)]))
        wait_until(lambda: len(sim.sent_messages()) >= 3, "three answers")
    sent = sim.sent_messages()
    texts = sorted(m.body.get("content") for m in sent if m.body.get("msg_type") == 0)
    assert texts == ["got b'QUOT'", "heard 你好"]
    (voice_reply,) = [m for m in sent if m.body.get("msg_type") == 7]
    assert voice_reply.msg_id and voice_reply.target == "U2"  # a passive reply
    assert is_silk(SILK)


def test_the_media_pages_example_answers_voice_and_quoted_files(
        sim: SimulatorThread, tmp_path: Path) -> None:
    from tests.example_scripts import EXAMPLES, BotScript, sent_count

    with BotScript(EXAMPLES / "media_bot.py", sim,
                   {"XDG_CACHE_HOME": str(tmp_path)}) as script:
        script.until(lambda: sim.counters().identifies, "the bot to identify")
        sim.call(lambda s, now: inject_media_message(s, "c2c:U3", now=now, attachments=[
            voice_attachment(s, SILK, now=now, asr_text="早上好")]))
        script.until(sent_count(sim, 2), "the voice answers")
        sim.call(lambda s, now: inject_media_message(s, "c2c:U3", now=now, quoted=[
            cdn_attachment(s, b"12345", filename="quoted.txt", content_type="file",
                           now=now)]))
        sent = script.until(sent_count(sim, 3), "the file answer")
        status, _out, err = script.interrupt()
    assert status == 0, err
    assert [m.body.get("content") for m in sent if m.body.get("msg_type") == 0] == [
        "you said: 早上好", "saved quoted.txt (5 bytes)"]
    assert [m.body["msg_type"] for m in sent] == [0, 7, 0]
    assert list(tmp_path.glob("qqproto/media/*/*/quoted.txt"))
