"""The simulator's CDN route, media-carrying messages and the media ``sim`` commands."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from qqproto.models import C2CMessageCreate, GroupAtMessageCreate, parse_event
from qqproto.simulator import (
    SimRequest,
    SimResponse,
    Simulator,
    cdn_attachment,
    inject_media_message,
    run_command,
    sim_cdn,
    tone_wav,
    voice_attachment,
)
from qqproto.voice import is_silk, parse_wav

BASE = "http://127.0.0.1:9"


def make() -> Simulator:
    sim = Simulator()
    sim_cdn(sim).config.base = BASE
    return sim


def get(sim: Simulator, url: str, now: float = 0.0, **headers: str) -> SimResponse:
    parts = urlsplit(url)
    return sim.handle_request(SimRequest(
        connection_id=1, method="GET", path=parts.path, query=parts.query,
        headers=tuple(headers.items()), body=b"", trace_id="t"), now)


def test_a_registered_file_is_served_with_its_key_only() -> None:
    sim = make()
    item = cdn_attachment(sim, b"\x89PNG...", filename="a b/c.png", content_type="image/png",
                          now=0.0)
    assert item["url"].startswith(BASE + "/cdn/") and "/a%20b%2Fc.png?" in item["url"]
    assert (item["filename"], item["size"], item["content_type"]) == (
        "a b/c.png", 7, "image/png")
    answer = get(sim, item["url"])
    assert (answer.status, answer.body) == (200, b"\x89PNG...")
    assert ("Content-Type", "image/png") in answer.headers
    assert get(sim, item["url"].replace("rkey=", "rkey=x")).status == 403
    assert get(sim, BASE + "/cdn/nope/x?rkey=1").status == 404
    get(sim, item["url"], Authorization="QQBot t")
    counters = sim_cdn(sim).counters
    assert (counters.requests, counters.served, counters.refused,
            counters.with_authorization) == (4, 2, 2, 1)


def test_expiring_throttled_and_redirected_files() -> None:
    sim = make()
    expiring = cdn_attachment(sim, b"x", filename="e", content_type="file", now=10.0,
                              expires_in=5.0)["url"]
    assert get(sim, expiring, 14.9).status == 200
    assert get(sim, expiring, 15.0).status == 403
    throttled = cdn_attachment(sim, b"x", filename="t", content_type="file", now=0.0,
                               throttle=2)["url"]
    assert [get(sim, throttled).status for _ in range(3)] == [429, 429, 200]
    moved = cdn_attachment(sim, b"x", filename="r", content_type="file", now=0.0,
                           redirect_to="https://off.invalid/x")["url"]
    answer = get(sim, moved)
    assert answer.status == 302 and ("Location", "https://off.invalid/x") in answer.headers
    counters = sim_cdn(sim).counters
    assert (counters.expired, counters.throttled, counters.redirected) == (1, 2, 1)


def test_urls_need_the_servers_origin() -> None:
    with pytest.raises(ValueError, match=r"config\.base"):
        cdn_attachment(Simulator(), b"x", filename="x", content_type="file", now=0.0)


def test_voice_and_quoted_messages_have_the_documented_shape() -> None:
    sim = make()
    voice = voice_attachment(sim, b"#!SILK_V3", now=0.0, wav=tone_wav(0.1),
                             asr_text="你好", scheme_relative=True)
    assert voice["url"].startswith("//127.0.0.1:9/cdn/")
    assert voice["voice_wav_url"].startswith(BASE) and voice["asr_refer_text"] == "你好"
    event = inject_media_message(sim, "c2c:U", now=0.0, content="see",
                                 quoted=[voice])
    assert event.data["message_type"] == 103
    parsed = parse_event(_dispatch(event))
    assert isinstance(parsed, C2CMessageCreate) and parsed.message.quoted is not None
    (quoted,) = parsed.message.quoted.attachments
    assert quoted.url == "https:" + voice["url"] and quoted.asr_refer_text == "你好"
    group = inject_media_message(sim, "group:G:M", now=0.0, attachments=[voice])
    assert isinstance(parse_event(_dispatch(group)), GroupAtMessageCreate)
    with pytest.raises(ValueError, match="c2c:USER"):
        inject_media_message(sim, "dm:x", now=0.0)


def _dispatch(event: object) -> object:
    from qqproto.events import Dispatch

    return Dispatch(type=event.type, seq=1, id=event.id, data=event.data)  # type: ignore[attr-defined]


def test_the_media_commands_inject_each_kind() -> None:
    sim = make()
    answer = run_command(sim, "attach c2c:U photo.jpg throttled", 0.0)
    assert answer.ok and answer.text.startswith("C2C_MESSAGE_CREATE ")
    item = sim._orphans[-1][2]["attachments"][0]
    assert item["content_type"] == "image/jpeg" and item["filename"] == "photo.jpg"
    assert run_command(sim, "voice group:G:M wav asr 你好 世界", 0.0).ok
    voice = sim._orphans[-1][2]["attachments"][0]
    assert voice["asr_refer_text"] == "你好 世界" and "voice_wav_url" in voice
    silk = get(sim, voice["url"]).body
    assert is_silk(silk)
    assert parse_wav(get(sim, voice["voice_wav_url"]).body).rate == 24000
    assert "asr_refer_text" not in _last_voice(sim, "voice c2c:U")
    assert run_command(sim, "quote c2c:U doc.pdf what is this", 0.0).ok
    quoted = sim._orphans[-1][2]
    assert quoted["content"] == "what is this"
    assert quoted["msg_elements"][0]["attachments"][0]["filename"] == "doc.pdf"
    for bad in ("attach c2c:U", "attach c2c:U x.jpg sideways", "voice c2c:U loud",
                "quote c2c:U", "voice", "attach dm:G x.jpg"):
        result = run_command(sim, bad, 0.0)
        assert not result.ok and result.text.startswith("error: "), bad
    assert "attach TARGET NAME" in run_command(sim, "help", 0.0).text


def _last_voice(sim: Simulator, line: str) -> dict[str, object]:
    assert run_command(sim, line, 0.0).ok
    found: dict[str, object] = sim._orphans[-1][2]["attachments"][0]
    return found
