"""``file_info`` reuse across restarts and processes: the stored value, its key and its
lifetime (the core, by arithmetic), then bots of every driver sharing one sqlite store
against the simulator on 127.0.0.1 (rest.md §3.5: a ``file_info`` is reusable within
its ``ttl``)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qqproto import FileType, UploadedMedia
from qqproto.media import LONG_LIVED_LIFETIME, FileInfoCache, MediaKey, StoredFileInfo
from qqproto.simulator import Simulator, sim_uploads
from qqproto.stores import StoreKeys
from qqproto_transports.simulator import SimulatorThread

from .loopback.test_media import DRIVERS, Bots, do, on, settings_for

T0 = 1_700_000_000.5


def um(file_info: str, file_uuid: str | None, ttl: int) -> UploadedMedia:
    return UploadedMedia(file_info=file_info, file_uuid=file_uuid, ttl=ttl)


# ----------------------------------------------------------------------------- core

def test_the_key_names_scope_target_type_and_content() -> None:
    keys = StoreKeys("102000001")
    assert keys.file_info("c2c", "U1", 4, "ab12") == "qqproto:102000001:file_info:c2c:U1:4:ab12"
    # a ':' in a target cannot make two keys one
    assert keys.file_info("group", "a:b", 1, "c") == "qqproto:102000001:file_info:group:a%3Ab:1:c"
    assert keys.file_info("group", "a", 1, "b:c") != keys.file_info("group", "a:b", 1, "c")


def test_a_learned_file_info_is_stored_byte_exact_for_its_ttl_less_the_margin() -> None:
    answer = UploadedMedia(file_info="FI", file_uuid="UU", ttl=3600, message_id="m")
    stored = StoredFileInfo.learned(answer, unix_now=T0)
    assert stored.expires_at == 1_700_003_600  # T0 + 3600, rounded down
    assert stored.encode() == (
        '{"expires_at":1700003600,"file_info":"FI","file_uuid":"UU","ttl":3600,"v":1}')
    assert stored.lifetime(unix_now=T0) == 3600 - 0.5 - 60
    assert stored.lifetime(unix_now=T0 + 100, margin=10) == 3600 - 100.5 - 10
    assert StoredFileInfo.decode(stored.encode()) == stored  # message_id is not kept
    assert stored.usable(unix_now=T0 + 3539) and not stored.usable(unix_now=T0 + 3540)


def test_long_lived_and_nearly_expired_media() -> None:
    forever = StoredFileInfo.learned(um("FI", None, 0), unix_now=T0)
    assert forever.encode() == '{"expires_at":null,"file_info":"FI","file_uuid":null,"ttl":0,"v":1}'
    assert forever.lifetime(unix_now=T0) == LONG_LIVED_LIFETIME == 30 * 86400
    assert forever.usable(unix_now=T0 + 10**8)
    brief = StoredFileInfo.learned(um("FI", None, 60), unix_now=T0)
    assert brief.lifetime(unix_now=T0) is None  # nothing left past the margin: not stored
    assert brief.lifetime(unix_now=T0, margin=0) == 59.5


def test_a_stored_entry_enters_the_cache_with_its_own_end() -> None:
    cache = FileInfoCache(margin=60)
    key = MediaKey.of("c2c", "U", FileType.FILE, "h")
    media = um("FI", None, 3600)
    assert not cache.adopt(key, media, expires_at=T0 + 60, unix_now=T0)  # within the margin
    assert cache.get(key, unix_now=T0) is None
    assert cache.adopt(key, media, expires_at=T0 + 100, unix_now=T0)
    assert cache.get(key, unix_now=T0 + 39) is media
    assert cache.get(key, unix_now=T0 + 40) is None  # its end, not T0 + ttl
    assert cache.adopt(key, media, expires_at=None, unix_now=T0)
    assert cache.get(key, unix_now=T0 + 10**9) is media


VALID = '{"expires_at":1700003600,"file_info":"FI","file_uuid":"UU","ttl":3600,"v":1}'
HOSTILE = [
    None, b"x", 7, "", "{", "[]", "null", '"FI"',
    VALID.replace('"v":1', '"v":2'),
    VALID.replace('"v":1', '"v":true'),
    VALID.replace('"v":1', '"v":1.0'),
    VALID.replace('"ttl":3600', '"ttl":true'),
    VALID.replace('"ttl":3600', '"ttl":3600.0'),
    VALID.replace('"ttl":3600', '"ttl":"3600"'),
    VALID.replace('"ttl":3600', '"ttl":-1'),
    VALID.replace('"ttl":3600', '"ttl":NaN'),
    VALID.replace('"ttl":3600', '"ttl":1e999'),
    VALID.replace('"ttl":3600', '"ttl":0'),  # long-lived with an end
    VALID.replace('1700003600', '1700003600.5'),
    VALID.replace('1700003600', 'Infinity'),
    VALID.replace('1700003600', '"1700003600"'),
    VALID.replace('1700003600', 'null'),  # an end-less ttl
    VALID.replace('1700003600', '-5'),
    VALID.replace('"FI"', '""'),
    VALID.replace('"FI"', '7'),
    VALID.replace('"FI"', '"\\ud800"'),  # a lone surrogate
    VALID.replace('"UU"', '["UU"]'),
    VALID.replace('"UU"', '""'),
    VALID.replace(',"v":1', ''),
    VALID.replace('"v":1', '"v":1,"extra":0'),
    VALID.replace('"v":1', '"v":1,"v":1'),  # a duplicate key
    VALID.replace('"FI"', '"' + "x" * 20000 + '"'),
    "[" * 100000 + "]" * 100000,
]


@pytest.mark.parametrize("value", HOSTILE)
def test_an_unreadable_value_is_ignored(value: Any) -> None:
    assert StoredFileInfo.decode(value) is None


@given(st.text(max_size=200))
def test_decoding_never_raises(value: str) -> None:
    StoredFileInfo.decode(value)


@given(st.text(min_size=1, max_size=50), st.none() | st.text(min_size=1, max_size=20),
       st.integers(0, 10**6), st.floats(0, 2**33))
def test_what_is_encoded_decodes_to_itself(info: str, uuid: str | None, ttl: int,
                                           now: float) -> None:
    try:
        info.encode("utf-8")
        (uuid or "").encode("utf-8")
    except UnicodeEncodeError:
        return
    stored = StoredFileInfo.learned(um(info, uuid, ttl), unix_now=now)
    assert StoredFileInfo.decode(stored.encode()) == stored


# ----------------------------------------------------------------------------- loopback

@pytest.fixture
def sim() -> Any:
    with SimulatorThread(Simulator(), lifetime=60) as server:
        yield server


def uploads(sim: SimulatorThread) -> list[Any]:
    return list(sim.call(lambda s, now: list(sim_uploads(s).stored)))


def media_sent(sim: SimulatorThread) -> list[str]:
    return [m.body["media"]["file_info"] for m in sim.sent_messages()
            if m.body.get("msg_type") == 7]


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_a_file_is_sent_again_by_a_fresh_bot_on_the_same_store(
        driver: str, sim: SimulatorThread, tmp_path: Path) -> None:
    settings = settings_for(sim).replace(store=f"sqlite:{tmp_path}/s.db")
    keys = StoreKeys(settings.app_id)
    docs = []
    for name in ("a", "old", "bad", "down"):
        path = tmp_path / f"{name}.txt"
        path.write_bytes(name.encode() * 100)
        docs.append(path)
    a_doc, old_doc, bad_doc, down_doc = docs

    def key_of(path: Path) -> str:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return keys.file_info("c2c", "U1", int(FileType.FILE), digest)

    bots = Bots(driver, tmp_path / "cache")

    async def scenario() -> None:
        first = bots.make(settings)
        await do(first.send_media(("c2c", "U1"), a_doc))
        store = first.media.store
        stored = StoredFileInfo.decode(store.get(key_of(a_doc)))
        assert stored is not None and stored.media.ttl == 3600
        second = bots.make(settings)  # a restart: nothing in memory, the same store
        await do(second.send_media(("c2c", "U1"), a_doc))
        assert len(uploads(sim)) == 1
        # An entry past its end (the store kept the key longer): not used.
        store.set(key_of(old_doc), StoredFileInfo(um("OLD", None, 3600),
                                                  int(time.time()) - 1).encode(), ttl=3600)
        # An entry within the margin of its end: not used either.
        store.set(key_of(bad_doc), StoredFileInfo(um("NEAR", None, 3600),
                                                  int(time.time()) + 30).encode(), ttl=3600)
        await do(bots.make(settings).send_media(("c2c", "U1"), old_doc))
        await do(bots.make(settings).send_media(("c2c", "U1"), bad_doc))
        assert len(uploads(sim)) == 3
        store.set(key_of(bad_doc), '{"v":1,"file_info":', ttl=3600)  # corrupt
        await do(bots.make(settings).send_media(("c2c", "U1"), bad_doc))
        assert len(uploads(sim)) == 4
        # A store that fails costs an upload, never the send.
        broken = bots.make(settings)
        broken.media.store.close()
        (sent,) = await do(broken.send_media(("c2c", "U1"), down_doc))
        assert sent.id
        for bot in bots.made:
            if bot is not broken:
                bot.media.store.close()
        await bots.close()

    on(driver, scenario)
    stored = uploads(sim)
    assert len(stored) == 5
    sent = media_sent(sim)
    assert sent[0] == sent[1] == stored[0].file_info  # the second bot sent the first's
    assert "OLD" not in sent and "NEAR" not in sent
    assert sent[2:] == [m.file_info for m in stored[1:]]


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_without_a_store_nothing_outlives_the_bot(driver: str, sim: SimulatorThread,
                                                  tmp_path: Path) -> None:
    doc = tmp_path / "a.txt"
    doc.write_bytes(b"a" * 100)
    bots = Bots(driver, tmp_path / "cache")

    async def scenario() -> None:
        for _ in range(2):
            bot = bots.make(settings_for(sim))
            assert bot.media.store is None
            await do(bot.send_media(("c2c", "U1"), doc))
        await bots.close()

    on(driver, scenario)
    assert len(uploads(sim)) == 2
