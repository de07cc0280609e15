"""Voice codec speed: SILK encode and decode as a multiple of real time (issue 11).

A mono tone of ``--seconds`` (default 30 s) at every rate the encoder takes, plus one
44.1 kHz WAV (resampled with soxr before encoding), is encoded with
:func:`qqproto.voice.wav_to_silk` and decoded with :func:`qqproto.voice.silk_to_wav`;
each figure is audio seconds per CPU second (``40x`` = 40 times faster than real time),
best of ``--repeat`` runs.  ``--json`` prints the rows as JSON.

The competitor is qqbot-agent-sdk's decoder (``convert_silk_to_wav``: pilk, from a
file to a 16 kHz WAV file, as the SDK calls it on a received voice message); both sides
decode the same SILK bytes to 16 kHz (``decode 16k`` and ``agent-sdk 16k``), and
``x agent-sdk`` is qqproto's CPU over the SDK's on that row.  The SDK has no encoder
for sending voice.  Without it (``pip install -e '.[bench]'`` and ``pilk``) the
columns say ``-``.

    python bench/voice.py
    python bench/voice.py --seconds 5 --repeat 1 --json
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from qqproto.simulator import tone_wav
from qqproto.voice import SILK_RATES, silk_duration, silk_to_wav, wav_to_silk


def _best(fn: object, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.process_time()
        result = fn()  # type: ignore[operator]
        best = min(best, time.process_time() - started)
    return max(best, 1e-9), result


def _competitor_decoder() -> Any:
    """qqbot-agent-sdk's SILK decoder, or ``None`` when it (or pilk) is missing."""
    for module in ("qqbot_agent_sdk", "pilk"):
        if importlib.util.find_spec(module) is None:
            return None
    from qqbot_agent_sdk.audio import convert_silk_to_wav

    return convert_silk_to_wav


def measure(seconds: float, repeat: int) -> list[dict[str, object]]:
    rows = []
    convert = _competitor_decoder()
    loop = asyncio.new_event_loop()
    workdir = tempfile.TemporaryDirectory()
    for rate in (*SILK_RATES, 44100):
        wav = tone_wav(seconds, rate=rate)
        encode_cpu, silk = _best(lambda wav=wav: wav_to_silk(wav), repeat)
        assert isinstance(silk, bytes)
        decode_cpu, _ = _best(lambda silk=silk, rate=rate: silk_to_wav(
            silk, rate=min(rate, 48000)), repeat)
        audio = silk_duration(silk)
        ours16_cpu, _ = _best(lambda silk=silk: silk_to_wav(silk, rate=16000), repeat)
        row: dict[str, object] = {
            "rate": rate, "audio_s": audio, "silk_bytes": len(silk),
            "encode_x": round(audio / encode_cpu, 1), "decode_x": round(audio / decode_cpu, 1),
            "decode16k_x": round(audio / ours16_cpu, 1), "sdk16k_x": None, "x_sdk": None}
        if convert is not None:
            source = Path(workdir.name) / f"in-{rate}.silk"
            source.write_bytes(silk)
            target = str(Path(workdir.name) / f"out-{rate}.wav")
            sdk_cpu, done = _best(lambda src=str(source), dst=target: loop.run_until_complete(
                convert(src, dst)), repeat)
            if done is not None:  # it returns the WAV's path, None when it failed
                row["sdk16k_x"] = round(audio / sdk_cpu, 1)
                row["x_sdk"] = round(ours16_cpu / sdk_cpu, 2)
        rows.append(row)
    loop.close()
    workdir.cleanup()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = measure(args.seconds, args.repeat)
    if args.json:
        print(json.dumps(rows))
        return
    print(f"{'rate Hz':>8} {'audio s':>8} {'SILK bytes':>11} {'encode':>9} {'decode':>9} "
          f"{'decode 16k':>11} {'agent-sdk 16k':>14} {'x agent-sdk':>12}")
    print("-" * 89)
    for row in rows:
        sdk = "-" if row["sdk16k_x"] is None else f"{row['sdk16k_x']}x"
        ratio = "-" if row["x_sdk"] is None else f"{row['x_sdk']}x"
        print(f"{row['rate']:>8} {row['audio_s']:>8} {row['silk_bytes']:>11} "
              f"{row['encode_x']:>8}x {row['decode_x']:>8}x {row['decode16k_x']:>10}x "
              f"{sdk:>14} {ratio:>12}")
    print("\nencode/decode: seconds of audio per CPU second (44100: resampled to 24000 "
          "with soxr first); decode 16k: to a 16 kHz WAV, as qqbot-agent-sdk decodes "
          "(pilk, file to file); x agent-sdk: qqproto's CPU over its CPU")


if __name__ == "__main__":
    main()
