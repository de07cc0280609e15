"""Long text split into messages at safe boundaries.

The platform has no documented length limit, but rejects long text (``40054007``,
``40054018``; rest.md §2.7) and the reference SDKs cap at 4000 code points, so that is
the default.  :func:`split_text` cuts where a reader would (rest.md §11.5): at a line
break in the second half of the window, else after a space or CJK punctuation, else at a
line break anywhere, else at any character boundary — and never

* inside a fenced code block without closing it: the part is closed with the opening
  fence's marker and the next part re-opens the fence with the original opening line
  (language tag included), so every part renders as code on its own;
* on a fence line itself, or inside a markdown link ``[text](url)`` or an inline code
  span (unless one of these is longer than the whole window);
* between a character and a combining mark, a variation selector, an emoji modifier or
  tag, around a zero-width joiner, between two regional indicators (a flag), between
  ``\\r`` and ``\\n``, or between the halves of a surrogate pair.

Exact invariant (checked by property tests), for ``chunks = split_text_chunks(t, limit)``:
``"".join(c.body for c in chunks) == t``; every ``c.text == c.reopen + c.body + c.close``
has ``len(c.text) <= limit``; ``c.reopen`` is ``""`` or the opening line of the fence
that is open where ``c.body`` starts, plus ``"\\n"``; ``c.close`` is ``""`` or that
fence's marker run (preceded by ``"\\n"`` unless the body already ends with one).  A
fence the input leaves open is left open in the last part: nothing is invented.

An opening fence line longer than ``limit // 6`` characters is treated as ordinary text,
so the re-opening overhead is bounded.  A closing line closes whatever its length, as in
CommonMark (its length costs nothing when re-opening), up to ``limit // 2`` characters:
a part can always hold one whole, so every part makes progress.  ``limit`` must be at
least :data:`MIN_LIMIT`.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_LIMIT", "MIN_LIMIT", "Chunk", "split_text", "split_text_chunks"]

#: rest.md §2.7 / §11.5: 4000 code points, as the reference SDKs use.
DEFAULT_LIMIT: Final = 4000
MIN_LIMIT: Final = 64

_FENCE_OPEN = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
_FENCE_CLOSE = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*")
# A markdown link or image, and an inline code span; both stay on one line.
_PROTECTED = re.compile(r"!?\[[^\[\]\n]*\]\([^()\s]*\)|`[^`\n]+`")
_SOFT_BREAKS: Final = frozenset(" \t\u3000。！？；，、")

_HARD = 1  # never cut here (inside a fence line)
_SOFT = 2  # rather not cut here (inside a link or inline code span)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One part: ``reopen + body + close``; ``body`` is a verbatim slice of the input."""

    reopen: str
    body: str
    close: str

    @property
    def text(self) -> str:
        return self.reopen + self.body + self.close


@dataclass(frozen=True, slots=True)
class _Fence:
    opener: str  # the opening line without its newline
    run: str  # the marker run that closes it
    body_start: int  # first position after the opening line
    body_end: int  # start of the closing line (len(text) when unclosed)


def _scan_fences(text: str, max_open: int, max_close: int,
                 mask: bytearray) -> list[_Fence]:
    fences: list[_Fence] = []
    open_line: tuple[str, str, int, int] | None = None  # opener, run, line start, body start
    pos = 0
    n = len(text)
    while pos < n:
        newline = text.find("\n", pos)
        end = n if newline < 0 else newline + 1
        line = text[pos:end].rstrip("\n").rstrip("\r")
        if open_line is None:
            match = _FENCE_OPEN.fullmatch(line) if len(line) <= max_open else None
            # CommonMark: a backtick fence's info string holds no backtick.
            if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
                open_line = (line, match.group(1), pos, end)
        elif len(line) <= max_close:
            # CommonMark: a closing line is at least as long as the opening run and has no
            # info string; it is not bounded by max_open (a run of twelve backticks closes
            # a four-backtick fence, and the next "````" line opens a new one).
            match = _FENCE_CLOSE.fullmatch(line)
            opener, run, start, body = open_line
            if match and match.group(1)[0] == run[0] and len(match.group(1)) >= len(run):
                fences.append(_Fence(opener, run, body, pos))
                # No cut inside either fence line, right after the opening line or
                # right before the closing one (both would only waste a re-open).
                for x in (*range(start + 1, body + 1), *range(pos, end)):
                    mask[x] |= _HARD
                open_line = None
        pos = end
    if open_line is not None:
        opener, run, start, body = open_line
        fences.append(_Fence(opener, run, body, n))
        for x in range(start + 1, body + 1):
            mask[x] |= _HARD
    return fences


def _char_safe(text: str, x: int) -> bool:
    """May the text be cut between ``text[x-1]`` and ``text[x]``?  (Surrogate pairs are
    checked first, by :func:`_splits_surrogates`.)"""
    a, b = text[x - 1], text[x]
    if (a == "\r" and b == "\n") or a == "\u200d" or b == "\u200d":
        return False
    if unicodedata.category(b) in ("Mn", "Mc", "Me"):  # combining marks, selectors
        return False
    cb = ord(b)
    if 0x1F3FB <= cb <= 0x1F3FF or 0xE0020 <= cb <= 0xE007F:  # emoji modifiers, tags
        return False
    return not (0x1F1E6 <= ord(a) <= 0x1F1FF and 0x1F1E6 <= cb <= 0x1F1FF)


def _splits_surrogates(text: str, x: int) -> bool:
    return "\ud800" <= text[x - 1] <= "\udbff" and "\udc00" <= text[x] <= "\udfff"


class _Splitter:
    def __init__(self, text: str, limit: int) -> None:
        self.text = text
        self.limit = limit
        self.mask = bytearray(len(text) + 1)
        self.fences = _scan_fences(text, limit // 6, limit // 2, self.mask)
        self.starts = [f.body_start for f in self.fences]
        for match in _PROTECTED.finditer(text):
            for x in range(match.start() + 1, match.end()):
                self.mask[x] |= _SOFT

    def open_fence(self, x: int) -> _Fence | None:
        """The fence whose body contains position ``x`` (a cut at ``x`` must close it)."""
        i = bisect.bisect_right(self.starts, x) - 1
        if i >= 0 and self.fences[i].body_start <= x < self.fences[i].body_end:
            return self.fences[i]
        return None

    def close_for(self, x: int) -> str:
        fence = self.open_fence(x)
        if fence is None:
            return ""
        return fence.run if self.text[x - 1] == "\n" else "\n" + fence.run

    def cut(self, p: int, reopen: str) -> int:
        """The end of the part that starts at ``p``."""
        text, mask = self.text, self.mask
        room = self.limit - len(reopen)
        hi = min(len(text) - 1, p + room)
        half = p + room // 2
        best: list[int | None] = [None] * 7
        for x in range(hi, p, -1):
            if mask[x] & _HARD or len(reopen) + (x - p) + len(self.close_for(x)) > self.limit:
                continue
            if best[6] is None:
                best[6] = x
            if _splits_surrogates(text, x):
                continue
            if best[5] is None:
                best[5] = x
            if not _char_safe(text, x):
                continue
            if best[4] is None:
                best[4] = x
            if mask[x] & _SOFT:
                continue
            if best[3] is None:
                best[3] = x
            before = text[x - 1]
            if before == "\n":
                if x > half:
                    return x
                if best[2] is None:
                    best[2] = x
            elif before in _SOFT_BREAKS:
                if x > half and best[0] is None:
                    best[0] = x
                if best[1] is None:
                    best[1] = x
        # Order: soft break in the second half, line break anywhere, soft break anywhere,
        # clean boundary, char-safe, surrogate-safe, anything allowed.
        for index in (0, 2, 1, 3, 4, 5, 6):
            found = best[index]
            if found is not None:
                return found
        raise AssertionError("no cut position; MIN_LIMIT guarantees one")  # pragma: no cover


def split_text_chunks(text: str, *, limit: int = DEFAULT_LIMIT) -> list[Chunk]:
    """Split ``text`` into parts of at most ``limit`` code points (see the module doc)."""
    if limit < MIN_LIMIT:
        raise ValueError(f"limit must be at least {MIN_LIMIT}, got {limit}")
    if len(text) <= limit:
        return [Chunk("", text, "")]
    splitter = _Splitter(text, limit)
    chunks: list[Chunk] = []
    p = 0
    n = len(text)
    while True:
        fence = splitter.open_fence(p) if p else None
        reopen = fence.opener + "\n" if fence is not None else ""
        if len(reopen) + n - p <= limit:
            chunks.append(Chunk(reopen, text[p:], ""))
            break
        x = splitter.cut(p, reopen)
        chunks.append(Chunk(reopen, text[p:x], splitter.close_for(x)))
        p = x
    return chunks


def split_text(text: str, *, limit: int = DEFAULT_LIMIT) -> list[str]:
    """The parts of :func:`split_text_chunks` as message texts."""
    return [chunk.text for chunk in split_text_chunks(text, limit=limit)]
