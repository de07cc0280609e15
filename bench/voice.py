"""Voice codec speed: SILK encode and decode as a multiple of real time (issue 11).

A mono tone of ``--seconds`` (default 30 s) at every rate the encoder takes, plus one
44.1 kHz WAV (resampled with soxr before encoding), is encoded with
:func:`qqproto.voice.wav_to_silk` and decoded with :func:`qqproto.voice.silk_to_wav`;
each figure is audio seconds per CPU second (``40x`` = 40 times faster than real time),
best of ``--repeat`` runs.  ``--json`` prints the rows as JSON.

    python bench/voice.py
    python bench/voice.py --seconds 5 --repeat 1 --json
"""

from __future__ import annotations

import argparse
import json
import time

from qqproto.simulator import tone_wav
from qqproto.voice import SILK_RATES, silk_duration, silk_to_wav, wav_to_silk


def _best(fn: object, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.process_time()
        result = fn()  # type: ignore[operator]
        best = min(best, time.process_time() - started)
    return max(best, 1e-9), result


def measure(seconds: float, repeat: int) -> list[dict[str, object]]:
    rows = []
    for rate in (*SILK_RATES, 44100):
        wav = tone_wav(seconds, rate=rate)
        encode_cpu, silk = _best(lambda wav=wav: wav_to_silk(wav), repeat)
        assert isinstance(silk, bytes)
        decode_cpu, _ = _best(lambda silk=silk, rate=rate: silk_to_wav(
            silk, rate=min(rate, 48000)), repeat)
        audio = silk_duration(silk)
        rows.append({"rate": rate, "audio_s": audio, "silk_bytes": len(silk),
                     "encode_x": round(audio / encode_cpu, 1),
                     "decode_x": round(audio / decode_cpu, 1)})
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
    print(f"{'rate Hz':>8} {'audio s':>8} {'SILK bytes':>11} {'encode':>9} {'decode':>9}")
    print("-" * 49)
    for row in rows:
        print(f"{row['rate']:>8} {row['audio_s']:>8} {row['silk_bytes']:>11} "
              f"{row['encode_x']:>8}x {row['decode_x']:>8}x")
    print("\nencode/decode: seconds of audio per CPU second (44100: resampled to 24000 "
          "with soxr first)")


if __name__ == "__main__":
    main()
