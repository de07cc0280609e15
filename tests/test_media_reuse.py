"""file_info reuse (cache and delivery saga), destinations, the transcript policy and the
structured upload errors, sans-IO."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qqproto import ChatScope, FileType, Settings, UploadedMedia
from qqproto.errors import (
    FileInfoExpiredError,
    FileTooLargeError,
    LocalProtocolError,
    NetworkError,
    SnapshotError,
    UploadDailyLimitError,
)
from qqproto.events import Dispatch
from qqproto.media import (
    DeliveryState,
    FileInfoCache,
    MediaDelivery,
    MediaKey,
    SendStep,
    UploadStep,
    attachments_of,
    destination,
    is_voice,
)
from qqproto.models import Attachment, C2CMessageCreate, parse_event
from qqproto.rest import check_file_size
from qqproto.voice import DEFAULT_ORDER, TranscriptSource, transcript_steps, wav_source
from qqproto_transports._upload_sync import upload_file_sync

KEY = MediaKey.of("c2c", "U", FileType.IMAGE, "abc")


def media(name: str = "F1", ttl: int = 3600) -> UploadedMedia:
    return UploadedMedia(file_info=name, ttl=ttl)


# ----------------------------------------------------------------------------- cache

def test_a_file_info_is_kept_until_its_ttl_minus_the_margin() -> None:
    cache = FileInfoCache(margin=60.0)
    cache.put(KEY, media(ttl=3600), unix_now=1000.0)
    assert cache.get(KEY, unix_now=4539.0) == media()
    assert cache.get(KEY, unix_now=4540.0) is None and len(cache) == 0
    cache.put(KEY, media(ttl=0), unix_now=0.0)  # 0 = long-lived (rest.md §3.5)
    assert cache.get(KEY, unix_now=1e12) == media(ttl=0)
    cache.put(KEY, media("SHORT", ttl=30), unix_now=0.0)  # within the margin: not kept
    assert cache.get(KEY, unix_now=0.0) == media(ttl=0)


def test_the_key_separates_scope_target_type_and_content() -> None:
    cache = FileInfoCache()
    cache.put(KEY, media(), unix_now=0.0)
    for other in (MediaKey.of("group", "U", 1, "abc"), MediaKey.of("c2c", "V", 1, "abc"),
                  MediaKey.of("c2c", "U", 4, "abc"), MediaKey.of("c2c", "U", 1, "abd")):
        assert cache.get(other, unix_now=0.0) is None


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    cache = FileInfoCache(max_entries=2)
    keys = [MediaKey.of("c2c", "U", 1, str(i)) for i in range(3)]
    cache.put(keys[0], media("0"), unix_now=0.0)
    cache.put(keys[1], media("1"), unix_now=0.0)
    cache.get(keys[0], unix_now=0.0)
    cache.put(keys[2], media("2"), unix_now=0.0)
    assert [cache.get(k, unix_now=0.0) is not None for k in keys] == [True, False, True]


def test_a_snapshot_survives_a_restart_without_what_expired() -> None:
    cache = FileInfoCache()
    cache.put(KEY, media(ttl=3600), unix_now=0.0)
    long_lived = MediaKey.of("group", "G", 4, "def")
    cache.put(long_lived, media("F2", ttl=0), unix_now=0.0)
    data = cache.snapshot()
    again = FileInfoCache()
    again.restore(data, unix_now=100.0)
    assert again.get(KEY, unix_now=100.0) == media()
    later = FileInfoCache()
    later.restore(data, unix_now=4000.0)
    assert later.get(KEY, unix_now=4000.0) is None
    assert later.get(long_lived, unix_now=4000.0) == media("F2", ttl=0)
    for bad in ({}, {"version": 1, "entries": [{"scope": "c2c"}]}, {"version": 2}):
        with pytest.raises(SnapshotError):
            FileInfoCache().restore(bad, unix_now=0.0)


# ----------------------------------------------------------------------------- delivery

def run(delivery: MediaDelivery[str], outcomes: list[Any]) -> list[str]:
    """Answer the saga's steps with ``outcomes`` in order; the steps seen."""
    seen = []
    answers = iter(outcomes)
    while (step := delivery.next_step()) is not None:
        answer = next(answers)
        if isinstance(step, UploadStep):
            seen.append("upload")
            if isinstance(answer, Exception):
                delivery.failed(answer)
            else:
                delivery.uploaded(answer, unix_now=0.0)
        else:
            seen.append(f"send {step.media.file_info}{' (cached)' if step.reused else ''}")
            if isinstance(answer, Exception):
                delivery.failed(answer)
            else:
                delivery.sent(answer)
    return seen


def test_a_second_send_of_the_same_file_reuses_its_file_info() -> None:
    cache = FileInfoCache()
    first: MediaDelivery[str] = MediaDelivery(cache, KEY, unix_now=0.0)
    assert run(first, [media("F1"), "sent-1"]) == ["upload", "send F1"]
    assert first.result() == "sent-1" and first.uploads == 1
    second: MediaDelivery[str] = MediaDelivery(cache, KEY, unix_now=10.0)
    assert run(second, ["sent-2"]) == ["send F1 (cached)"]
    assert second.result() == "sent-2" and second.uploads == 0


def test_an_expired_file_info_is_evicted_and_uploaded_again_once() -> None:
    cache = FileInfoCache()
    cache.put(KEY, media("OLD"), unix_now=0.0)
    delivery: MediaDelivery[str] = MediaDelivery(cache, KEY, unix_now=0.0)
    expired = FileInfoExpiredError("file_info expired", code=304080)
    assert run(delivery, [expired, media("NEW"), "sent"]) == [
        "send OLD (cached)", "upload", "send NEW"]
    assert delivery.result() == "sent" and cache.get(KEY, unix_now=0.0) == media("NEW")
    # A fresh file_info refused as expired is final, and never offered again.
    again: MediaDelivery[str] = MediaDelivery(cache, KEY, unix_now=0.0)
    assert run(again, [expired, media("NEWER"), expired]) == [
        "send NEW (cached)", "upload", "send NEWER"]
    with pytest.raises(FileInfoExpiredError):
        again.result()
    assert cache.get(KEY, unix_now=0.0) is None


def test_other_failures_end_the_delivery_and_keep_the_cache() -> None:
    cache = FileInfoCache()
    cache.put(KEY, media("F1"), unix_now=0.0)
    delivery: MediaDelivery[str] = MediaDelivery(cache, KEY, unix_now=0.0)
    assert run(delivery, [NetworkError("reset")]) == ["send F1 (cached)"]
    with pytest.raises(NetworkError):
        delivery.result()
    assert cache.get(KEY, unix_now=0.0) == media("F1")
    with pytest.raises(LocalProtocolError):
        delivery.sent("late")
    fresh: MediaDelivery[str] = MediaDelivery(FileInfoCache(), KEY, unix_now=0.0)
    with pytest.raises(LocalProtocolError):
        fresh.uploaded(media(), unix_now=0.0)  # no step handed out yet
    with pytest.raises(LocalProtocolError):
        fresh.result()


OUTCOMES = st.sampled_from(["ok", "expired", "error"])


@given(st.booleans(), st.lists(OUTCOMES, min_size=4, max_size=4))
def test_any_outcomes_upload_at_most_twice_and_end(cached: bool, outcomes: list[str]) -> None:
    cache = FileInfoCache()
    if cached:
        cache.put(KEY, media("OLD"), unix_now=0.0)
    delivery: MediaDelivery[str] = MediaDelivery(cache, KEY, unix_now=0.0)
    steps = 0
    while (step := delivery.next_step()) is not None:
        outcome = outcomes[steps]
        steps += 1
        if outcome == "expired":
            delivery.failed(FileInfoExpiredError("expired", code=304080))
        elif outcome == "error":
            delivery.failed(NetworkError("reset"))
        elif isinstance(step, UploadStep):
            delivery.uploaded(media(f"F{steps}"), unix_now=0.0)
        else:
            assert isinstance(step, SendStep)
            delivery.sent("sent")
    assert delivery.state is DeliveryState.DONE
    assert delivery.uploads <= (2 if cached else 1) and steps <= 4
    if delivery.uploads == 2 or (not cached and delivery.uploads == 1):
        assert not cached or outcomes[0] == "expired"


# ----------------------------------------------------------------------------- targets

def c2c_event(**extra: Any) -> C2CMessageCreate:
    d = {"id": "M1", "content": "hi", "timestamp": "2025-01-01T00:00:00+08:00",
         "author": {"id": "U", "user_openid": "U"}, **extra}
    event = parse_event(Dispatch(type="C2C_MESSAGE_CREATE", seq=1, id="E1", data=d))
    assert isinstance(event, C2CMessageCreate)
    return event


def test_media_goes_to_the_event_passively_or_to_an_explicit_target() -> None:
    event = c2c_event()
    assert destination(event) == (ChatScope.C2C, "U", event)
    assert destination(("group", "G")) == (ChatScope.GROUP, "G", None)
    with pytest.raises(ValueError, match="c2c users and groups only"):
        destination(("channel", "C"))
    with pytest.raises(TypeError):
        destination(Dispatch(type="READY", seq=1, id="", data={}))


def test_quoted_attachments_follow_the_messages_own() -> None:
    own = {"content_type": "image/png", "url": "https://gchat.qpic.cn/own.png"}
    quoted = {"content_type": "voice", "url": "https://gchat.qpic.cn/v.silk",
              "asr_refer_text": "hello"}
    event = c2c_event(attachments=[own], message_type=103,
                      msg_elements=[{"msg_idx": "REFIDX_1", "attachments": [quoted]}])
    found = attachments_of(event.message)
    assert [a.url for a in found] == [own["url"], quoted["url"]]
    assert [is_voice(a) for a in found] == [False, True]


# ----------------------------------------------------------------------------- policy

VOICE = Attachment(content_type="voice", url="https://x/v.silk", asr_refer_text=" hi ",
                   voice_wav_url="https://x/v.wav")


def test_the_transcript_order_is_a_policy() -> None:
    stt, platform = TranscriptSource.STT, TranscriptSource.PLATFORM
    assert (stt, platform) == DEFAULT_ORDER
    assert transcript_steps(VOICE, has_engine=True) == (stt, platform)
    assert transcript_steps(VOICE, has_engine=False) == (platform,)
    assert transcript_steps(VOICE, has_engine=True, order=("platform", "stt")) == (
        platform, stt)
    silent = Attachment(content_type="voice", url="https://x/v.silk", asr_refer_text="  ")
    assert transcript_steps(silent, has_engine=False) == ()
    assert wav_source(VOICE) == ("https://x/v.wav", False)
    assert wav_source(silent) == ("https://x/v.silk", True)


# ----------------------------------------------------------------------------- errors

def test_size_errors_name_the_file_and_both_sizes() -> None:
    with pytest.raises(FileTooLargeError) as caught:
        check_file_size(FileType.VIDEO, 210 * 1024 * 1024, file_name="clip.mp4")
    error = caught.value
    assert (error.file_name, error.size, error.limit) == ("clip.mp4", 220200960, 209715200)
    assert (error.size_text, error.limit_text) == ("210 MB", "200 MB")
    assert str(error).startswith("clip.mp4 (210 MB): ") and str(error).endswith(
        ", limit 200 MB")
    daily = UploadDailyLimitError("daily upload quota exceeded", code=40093002, status=400)
    named = daily.for_file("r.bin", 32_925_696)
    assert isinstance(named, UploadDailyLimitError)
    assert (named.code, named.status, named.size_text) == (40093002, 400, "31.4 MB")
    assert str(named) == "r.bin (31.4 MB): daily upload quota exceeded code=40093002 http=400"


def test_an_oversized_file_is_refused_before_a_byte_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.bin"
    with path.open("wb") as out:
        out.truncate(201 * 1024 * 1024)  # sparse: nothing is written
    settings = Settings(app_id="1", secret="s")

    def nothing(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request may be made")

    from qqproto.rest import RestClient, TokenState

    rest = RestClient(TokenState(app_id="1", secret=settings.secret,
                                 endpoints=settings.endpoints))
    with httpx.Client(transport=httpx.MockTransport(nothing)) as client, \
            pytest.raises(FileTooLargeError) as caught:
        upload_file_sync(rest, client, path, scope="c2c", target_id="U",
                         file_type=FileType.FILE,
                         progress=lambda event: pytest.fail("hashing started"))
    assert (caught.value.file_name, caught.value.size_text) == ("huge.bin", "201 MB")


def test_the_platforms_daily_limit_answer_names_the_file(tmp_path: Path) -> None:
    from tests.test_upload_drivers import async_upload, make_sim, write

    sim = make_sim()
    sim.faults.upload_daily_limit = 1
    path = tmp_path / "daily.bin"
    write(path, 300_000)
    error, _ = async_upload(sim, path)
    assert isinstance(error, UploadDailyLimitError) and error.code == 40093002
    assert (error.file_name, error.size, error.size_text) == ("daily.bin", 300_000, "293 KB")
    assert str(error).startswith("daily.bin (293 KB): ")
