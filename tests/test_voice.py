"""qqproto.voice: the SILK container, WAV parsing, and SILK <-> WAV round trips through the
codec the ``silk`` extra installs (the test extra includes it: nothing is skipped)."""

from __future__ import annotations

import importlib
import math
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qqproto.errors import VoiceError
from qqproto.simulator import tone_wav
from qqproto.voice import (
    PLAIN_HEADER,
    SILK_RATES,
    TENCENT_HEADER,
    is_silk,
    parse_wav,
    pcm16_wav,
    silk_duration,
    silk_to_wav,
    wav_to_silk,
)

FRAME = 0.02


def wav(samples: list[float], rate: int, *, channels: int = 1, bits: int = 16,
        tag: int = 1) -> bytes:
    """A WAV of ``samples`` (floats in [-1, 1], interleaved) in any supported format."""
    if tag == 3:
        data = struct.pack(f"<{len(samples)}f", *samples)
    elif bits == 8:
        data = bytes(round(s * 127) + 128 for s in samples)
    elif bits == 24:
        data = b"".join(round(s * 8_000_000).to_bytes(3, "little", signed=True)
                        for s in samples)
    else:
        data = struct.pack(f"<{len(samples)}{'h' if bits == 16 else 'i'}",
                           *(round(s * (2 ** (bits - 1) - 1)) for s in samples))
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"LIST" + \
        struct.pack("<I", 3) + b"abc\0" + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def sine(seconds: float, rate: int, channels: int = 1) -> list[float]:
    count = round(seconds * rate)
    return [0.25 * math.sin(2 * math.pi * 440 * i / rate)
            for i in range(count) for _ in range(channels)]


@pytest.mark.parametrize("rate", SILK_RATES)
def test_a_round_trip_keeps_the_duration_within_one_frame(rate: int) -> None:
    source = tone_wav(0.51, rate=rate)  # not a whole number of 20 ms frames
    silk = wav_to_silk(source)
    assert silk.startswith(TENCENT_HEADER) and is_silk(silk)
    assert abs(silk_duration(silk) - 0.51) <= FRAME
    back = parse_wav(silk_to_wav(silk, rate=rate))
    assert back.rate == rate and back.channels == 1 and back.bits == 16
    assert abs(back.frame_count - parse_wav(source).frame_count) <= rate * FRAME


def test_both_headers_are_silk_and_decode() -> None:
    plain = wav_to_silk(tone_wav(0.2), tencent=False)
    tencent = wav_to_silk(tone_wav(0.2))
    assert plain.startswith(PLAIN_HEADER) and not plain.startswith(TENCENT_HEADER)
    assert tencent == b"\x02" + plain  # the same frames behind one more byte
    for silk in (plain, tencent):
        assert is_silk(silk) and silk_duration(silk) == 0.2
        assert parse_wav(silk_to_wav(silk, rate=16000)).frame_count == 3200
    # A stream some encoders end with FF FF still decodes (rest.md §9.2.3).
    assert parse_wav(silk_to_wav(plain + b"\xff\xff")).frame_count == 4800


@pytest.mark.parametrize(("rate", "channels", "bits", "tag"), [
    (44100, 1, 16, 1), (22050, 2, 16, 1), (48000, 2, 24, 1), (16000, 1, 8, 1),
    (24000, 1, 32, 1), (44100, 2, 32, 3),
])
def test_other_wav_formats_and_rates_are_converted(rate: int, channels: int, bits: int,
                                                    tag: int) -> None:
    silk = wav_to_silk(wav(sine(0.3, rate, channels), rate, channels=channels, bits=bits,
                           tag=tag))
    assert abs(silk_duration(silk) - 0.3) <= FRAME
    decoded = parse_wav(silk_to_wav(silk))
    assert abs(decoded.duration - 0.3) <= FRAME
    assert max(abs(v) for v in struct.unpack(f"<{decoded.frame_count}h",
                                             decoded.samples)) > 1000  # sound survived


@pytest.mark.parametrize(("call", "message"), [
    (lambda: silk_to_wav(b"garbage"), "not SILK"),
    (lambda: silk_duration(b"RIFF...."), "not SILK"),
    (lambda: silk_duration(PLAIN_HEADER + b"\x10\x00abc"), "announced"),
    (lambda: silk_duration(PLAIN_HEADER + b"\x10"), "truncated"),
    (lambda: silk_to_wav(PLAIN_HEADER + b"\x04\x00\xde\xad\xbe\xef" * 1), "decoding failed"),
    (lambda: silk_to_wav(wav_to_silk(tone_wav(0.1)), rate=96000), "8000 to 48000"),
    (lambda: wav_to_silk(b"junk"), "not a WAV"),
    (lambda: wav_to_silk(pcm16_wav(b"", 24000)), "no audio"),
    (lambda: wav_to_silk(wav([0.0] * 10, 24000, bits=12)), "unsupported WAV format"),
    (lambda: wav_to_silk(b"RIFF\0\0\0\0WAVEdata\0\0\0\0"), "without a fmt chunk"),
])
def test_anything_else_is_a_voice_error(call: Any, message: str) -> None:
    with pytest.raises(VoiceError, match=message):
        call()


def test_a_missing_codec_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def without_pysilk(name: str, package: str | None = None) -> Any:
        if name == "pysilk":
            raise ImportError("No module named 'pysilk'")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", without_pysilk)
    with pytest.raises(VoiceError, match=r"pip install 'qqproto\[silk\]'"):
        wav_to_silk(tone_wav(0.1))
    # The container helpers need no codec.
    assert is_silk(TENCENT_HEADER) and silk_duration(TENCENT_HEADER) == 0.0


@given(st.binary(max_size=200), st.sampled_from([PLAIN_HEADER, TENCENT_HEADER, b""]))
def test_any_bytes_give_a_duration_or_a_voice_error(body: bytes, header: bytes) -> None:
    try:
        seconds = silk_duration(header + body)
    except VoiceError:
        return
    assert is_silk(header + body) and seconds >= 0
    assert round(seconds / FRAME, 6).is_integer()


@given(st.binary(max_size=300))
def test_any_bytes_parse_as_a_wav_or_a_voice_error(data: bytes) -> None:
    try:
        audio = parse_wav(b"RIFF" + struct.pack("<I", len(data) + 4) + b"WAVE" + data)
    except VoiceError:
        return
    assert audio.rate > 0 and audio.frame_count >= 0


def test_the_voice_benchmark_still_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / "voice.py"
    spec = importlib.util.spec_from_file_location("bench_voice", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--seconds", "0.2", "--repeat", "1", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert [row["rate"] for row in rows] == [*SILK_RATES, 44100]
    assert all(row["audio_s"] == 0.2 and row["encode_x"] > 0 for row in rows)
