"""The fuzz campaign: run one target for N executions and count what came out.

``python fuzz/campaign.py TARGET STATS.json [atheris options …]`` runs ``fuzz_one`` of
``fuzz/fuzz_TARGET.py`` (``gateway``, ``webhook`` or ``rest``) under atheris (coverage
guided; pass ``-runs=1000000`` and a corpus directory), and every 10,000 executions
writes ``STATS.json``: executions, seconds, and the distinct *typed* outcomes seen —
the close code of each :class:`~qqproto.errors.RemoteProtocolError` of the gateway, the
status of each webhook rejection, the class of each REST/token/upload error.  An untyped
error (anything else escaping ``fuzz_one``, or a broken whole-versus-bytewise invariant)
is a crash: atheris stops, saves the input and exits non-zero.

``--plain N SEED`` runs the same ``fuzz_one`` without atheris: a seeded random corpus
and a small mutator (flip, insert, delete, splice, repeat), for machines where atheris
cannot be built.  docs/fuzzing.rst has the commands and the figures of the last run.
"""

from __future__ import annotations

import importlib
import json
import logging
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

EVERY = 10_000


class Campaign:
    def __init__(self, target: str, stats: Path) -> None:
        self.target = target
        self.module: Any = importlib.import_module(f"fuzz.fuzz_{target}")
        self.stats = stats
        self.outcomes: Counter[str] = Counter()
        self.executions = 0
        self.started = time.monotonic()

    def one(self, data: bytes) -> None:
        from qqproto.events import RequestRejected

        self.executions += 1
        if self.target == "rest":
            self.module.fuzz_one(data, self.outcomes)
        elif self.target == "gateway":
            _, outcome, _ = self.module.fuzz_one(data)
            self.outcomes["ok" if outcome == "ok"
                          else f"RemoteProtocolError(close={outcome})"] += 1
        else:
            log, _ = self.module.fuzz_one(data)
            for entry in log:
                if isinstance(entry, RequestRejected):
                    self.outcomes[f"RequestRejected({entry.status})"] += 1
                elif isinstance(entry, tuple) and str(entry[0]).startswith("raised"):
                    self.outcomes["RemoteProtocolError"] += 1
        if self.executions % EVERY == 0:
            self.write()

    def write(self) -> None:
        self.stats.write_text(json.dumps({
            "target": self.target, "executions": self.executions,
            "seconds": round(time.monotonic() - self.started, 1),
            "distinct_typed_outcomes": len(self.outcomes),
            "outcomes": dict(self.outcomes.most_common()),
            "untyped_errors": 0,  # one would have stopped the run
        }, indent=2) + "\n")


def _mutate(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randrange(1, 5)):
        op = rng.randrange(5)
        pos = rng.randrange(len(out) + 1)
        if op == 0 and out:
            out[min(pos, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            out[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
        elif op == 2 and out:
            del out[pos:pos + rng.randrange(1, 9)]
        elif op == 3:
            other = rng.choice(corpus)
            start = rng.randrange(len(other) + 1)
            out[pos:pos] = other[start:start + rng.randrange(1, 64)]
        else:
            out[pos:pos] = out[pos:pos + rng.randrange(1, 17)] * rng.randrange(2, 8)
    return bytes(out[:4096])


def run_plain(campaign: Campaign, executions: int, seed: int) -> None:
    """``executions`` inputs from a seeded random corpus and mutator, no atheris."""
    rng = random.Random(seed)
    corpus = [bytes(rng.randrange(256) for _ in range(rng.randrange(400)))
              for _ in range(256)]
    for _ in range(executions):
        data = _mutate(rng, rng.choice(corpus), corpus)
        campaign.one(data)
        if rng.random() < 0.01:
            corpus[rng.randrange(len(corpus))] = data
    campaign.write()


def main(argv: list[str]) -> None:
    logging.disable(logging.CRITICAL)  # failures are expected by the million
    target, stats, *rest = argv
    if rest[:1] == ["--plain"]:
        campaign = Campaign(target, Path(stats))
        run_plain(campaign, int(rest[1]), int(rest[2]))
        return
    import atheris

    # Coverage is measured on qqproto itself (not on h11, wsproto or the JSON codec that
    # the harnesses also run): a few times more executions per second.
    with atheris.instrument_imports(include=["qqproto"]):
        campaign = Campaign(target, Path(stats))
    atheris.Setup([sys.argv[0], *rest], campaign.one)
    atheris.Fuzz()


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
