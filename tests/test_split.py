"""Splitting long text: safe boundaries, fences closed and re-opened (rest.md §11.5)."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from qqproto.rest._split import DEFAULT_LIMIT, MIN_LIMIT, Chunk, split_text, split_text_chunks

# --- an independent fence reader (CommonMark subset the splitter promises) -----------------

_OPEN = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
_CLOSE = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*")
#: CommonMark bounds no fence line; the splitter documents one exception: an opening line
#: longer than ``limit // 6`` is text (so re-opening stays cheap).  Closing lines of any
#: length the generator makes (at most ``limit // 2``) close, as in CommonMark.
NO_BOUND = 1 << 30


def fence_states(text: str, max_open: int = NO_BOUND
                 ) -> tuple[list[tuple[int, str | None]], str | None]:
    """For every line start: (position, opening line of the fence open there); and the
    fence still open at the end.  An opening line longer than ``max_open`` is text."""
    states: list[tuple[int, str | None]] = []
    current: tuple[str, str] | None = None
    pos = 0
    for line in text.split("\n"):
        states.append((pos, current[0] if current else None))
        bare = line.rstrip("\r")
        if current is None:
            m = _OPEN.fullmatch(bare) if len(bare) <= max_open else None
            if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
                current = (bare, m.group(1))
        else:
            m = _CLOSE.fullmatch(bare)
            if m and m.group(1)[0] == current[1][0] and len(m.group(1)) >= len(current[1]):
                current = None
        pos += len(line) + 1
    return states, current[0] if current else None


def open_fence_at(text: str, x: int, max_open: int = NO_BOUND) -> str | None:
    """The opening line of the fence whose content contains position x (None outside)."""
    states, _ = fence_states(text[:x] + "\n", max_open)
    # The fence open at the start of the line containing x, or opened by a full line
    # ending right before x.
    _, at_end = fence_states(text[:x], max_open)
    line_start = text.rfind("\n", 0, x) + 1
    for pos, opener in states:
        if pos == line_start:
            return opener if line_start < x else at_end
    return at_end  # pragma: no cover


def is_balanced(text: str, max_open: int = NO_BOUND) -> bool:
    return fence_states(text, max_open)[1] is None


# --- hypothesis strategy: markdown-ish text ------------------------------------------------

words = st.text(alphabet="abcdefghij", min_size=1, max_size=12)
cjk = st.text(alphabet="你好世界中文测试。，！", min_size=1, max_size=20)
links = st.builds(lambda t, u: f"[{t}](https://x.example/{u})", words, words)
inline_code = st.builds(lambda w: f"`{w} {w}`", words)
graphemes = st.sampled_from([
    "e\u0301", "a\u0308\u0323", "👍🏽", "👨\u200d👩\u200d👧", "🇨🇳", "☺\ufe0f", "\r\n",
    "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
])
plain = st.one_of(words, cjk, links, inline_code, graphemes, st.just(" "), st.just("\n"),
                  st.just("\n\n"))


@st.composite
def fenced(draw: st.DrawFn) -> str:
    marker = draw(st.sampled_from(["```", "````", "~~~"]))
    lang = draw(st.sampled_from(["", "python", "js"]))
    body = draw(st.lists(st.one_of(words, cjk, st.just("```"), st.just(" ")), max_size=30))
    lines = []
    line: list[str] = []
    for token in body:
        # "```" inside a "```" fence would close it; keep the generator honest.
        line.append("``" if token == "```" and marker == "```" else token)
        if len(line) > 3:
            lines.append("".join(line))
            line = []
    lines.append("".join(line))
    return f"\n{marker}{lang}\n" + "\n".join(lines) + f"\n{marker}\n"


markdown = st.lists(st.one_of(plain, plain, plain, fenced()), max_size=120).map("".join)


def _cuts(chunks: list[Chunk]) -> list[int]:
    cuts, pos = [], 0
    for chunk in chunks[:-1]:
        pos += len(chunk.body)
        cuts.append(pos)
    return cuts


def _check_invariants(text: str, limit: int) -> list[Chunk]:
    chunks = split_text_chunks(text, limit=limit)
    # 1. the bodies are the input, verbatim
    assert "".join(c.body for c in chunks) == text
    assert split_text(text, limit=limit) == [c.text for c in chunks]
    max_open = limit // 6
    _, input_open = fence_states(text, max_open)
    for i, chunk in enumerate(chunks):
        # 2. no part over the limit, no empty part (unless the input is empty)
        assert len(chunk.text) <= limit
        assert chunk.body or text == ""
        # 3. every part's fences are balanced (the last one mirrors the input)
        if i < len(chunks) - 1 or input_open is None:
            assert is_balanced(chunk.text, max_open), (i, chunk)
    for i, x in enumerate(_cuts(chunks)):
        opener = open_fence_at(text, x, max_open)
        before, after = chunks[i], chunks[i + 1]
        # 4. re-open/close exactly when the cut is inside a fence
        if opener is None:
            assert before.close == "" and after.reopen == ""
        else:
            run = re.match(r" {0,3}(`+|~+)", opener).group(1)  # type: ignore[union-attr]
            assert after.reopen == opener + "\n"
            assert before.close == (run if before.body.endswith("\n") else "\n" + run)
        # 5. never inside a link or inline code, never inside a grapheme
        for m in re.finditer(r"\[[^\[\]\n]*\]\([^()\s]*\)|`[^`\n]+`", text):
            assert not m.start() < x < m.end(), (x, m.group())
        a, b = text[x - 1], text[x]
        assert unicodedata.category(b) not in ("Mn", "Mc", "Me")
        assert "\u200d" not in (a, b)
        assert not (a == "\r" and b == "\n")
        assert not 0x1F3FB <= ord(b) <= 0x1F3FF and not 0xE0020 <= ord(b) <= 0xE007F
        assert not (0x1F1E6 <= ord(a) <= 0x1F1FF and 0x1F1E6 <= ord(b) <= 0x1F1FF)
    assert chunks[0].reopen == ""
    assert chunks[-1].close == ""
    return chunks


@settings(max_examples=300, deadline=None)
@given(text=markdown, limit=st.integers(MIN_LIMIT, 200))
@example(text="```py\n" + "x = 1\n" * 40 + "```\n", limit=64)
@example(text="a" * 65, limit=64)
def test_split_invariants_hold_for_markdown(text: str, limit: int) -> None:
    _check_invariants(text, limit)


#: Found by hypothesis: a twelve-backtick line closes the four-backtick fence (CommonMark
#: bounds no closing line), so the next "````" line opens a new fence.
LONG_CLOSER = "\n````\n``````aa\n````````````\n\n````\n"


@settings(max_examples=200, deadline=None)
@given(text=markdown.map(lambda t: t + "\n```python\n" + "open fence " * 30),
       limit=st.integers(MIN_LIMIT, 150))
@example(text=LONG_CLOSER + "\n```python\n" + "open fence " * 30, limit=64)
# "````。。。。。。。" (11 > 64 // 6) is text for the splitter, so "```" opens the fence.
@example(text="\n```\n``aaa\n``a``a\n````````\n````。。。。。。。\n```\n\n```python\n"
         + "open fence " * 30, limit=64)
def test_an_unclosed_fence_stays_unclosed_only_in_the_last_part(text: str,
                                                                limit: int) -> None:
    chunks = _check_invariants(text, limit)
    assert not is_balanced(chunks[-1].text, limit // 6)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=600), limit=st.integers(MIN_LIMIT, 120))
def test_split_never_fails_on_arbitrary_text(text: str, limit: int) -> None:
    chunks = split_text_chunks(text, limit=limit)
    assert "".join(c.body for c in chunks) == text
    assert all(len(c.text) <= limit for c in chunks)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 60), limit=st.integers(MIN_LIMIT, 100))
def test_back_to_back_empty_fences_still_make_progress(n: int, limit: int) -> None:
    _check_invariants("```\n```\n" * n + "~~~~~~~~\n~~~~~~~~\n" * n, limit)


# --- exact examples -----------------------------------------------------------------------


def test_short_text_is_one_part_unchanged() -> None:
    assert split_text("hello") == ["hello"]
    assert split_text("") == [""]
    assert split_text("x" * DEFAULT_LIMIT) == ["x" * DEFAULT_LIMIT]
    assert len(split_text("x" * (DEFAULT_LIMIT + 1))) == 2


def test_the_limit_has_a_floor() -> None:
    with pytest.raises(ValueError, match="at least 64"):
        split_text("x", limit=63)


def test_cuts_at_the_last_line_break_in_the_second_half() -> None:
    text = "a" * 40 + "\n" + "b" * 20 + " " + "c" * 30
    assert split_text(text, limit=64) == ["a" * 40 + "\n", "b" * 20 + " " + "c" * 30]


def test_a_line_break_in_the_first_half_loses_to_a_space_in_the_second() -> None:
    text = "a" * 10 + "\n" + "b" * 40 + " " + "c" * 30
    assert split_text(text, limit=64) == ["a" * 10 + "\n" + "b" * 40 + " ", "c" * 30]


def test_cjk_text_is_cut_after_punctuation() -> None:
    text = "你" * 50 + "。" + "好" * 40
    assert split_text(text, limit=64) == ["你" * 50 + "。", "好" * 40]


def test_without_any_break_the_cut_is_hard_at_the_limit() -> None:
    assert split_text("x" * 130, limit=64) == ["x" * 64, "x" * 64, "xx"]


def test_a_code_fence_is_closed_and_reopened_with_its_language() -> None:
    code = "".join(f"line{i:02}\n" for i in range(12))
    text = "intro\n```python\n" + code + "```\nend"
    parts = split_text(text, limit=64)
    assert parts == [
        "intro\n```python\nline00\nline01\nline02\nline03\nline04\nline05\n```",
        "```python\nline06\nline07\nline08\nline09\nline10\nline11\n```\nend",
    ]


def test_a_long_code_line_is_hard_cut_and_closed_on_a_new_line() -> None:
    text = "```\n" + "y" * 100 + "\n```"
    parts = split_text(text, limit=64)
    assert parts[0] == "```\n" + "y" * 56 + "\n```"
    assert parts[1].startswith("```\n" + "y" * 44)
    assert all(is_balanced(p) for p in parts)


def test_a_link_is_never_cut() -> None:
    link = "[docs](https://example.com/a/very/long/path)"
    text = "x" * 40 + link + "y" * 10
    parts = split_text(text, limit=64)
    assert parts == ["x" * 40, link + "y" * 10]


def test_a_link_longer_than_the_window_is_cut_rather_than_looping() -> None:
    link = "[a](https://example.com/" + "p" * 100 + ")"
    parts = split_text(link, limit=64)
    assert "".join(parts) == link and all(len(p) <= 64 for p in parts)


def test_an_emoji_zwj_sequence_is_not_cut() -> None:
    family = "👨\u200d👩\u200d👧"
    text = "x" * 62 + family
    parts = split_text(text, limit=64)
    assert parts == ["x" * 62, family]


def test_a_combining_sequence_is_not_cut() -> None:
    text = "x" * 63 + "e\u0301" + "z"
    assert split_text(text, limit=64) == ["x" * 63, "e\u0301z"]


def test_a_surrogate_pair_is_not_cut() -> None:
    # Lone surrogates only appear in str decoded with surrogatepass; keep the pair whole.
    text = "x" * 63 + "\ud83d\ude00" + "z"
    parts = split_text(text, limit=64)
    assert parts == ["x" * 63, "\ud83d\ude00z"]


def test_a_text_of_only_combining_marks_still_splits() -> None:
    text = "a" + "\u0301" * 200
    parts = split_text(text, limit=64)
    assert "".join(parts) == text and all(len(p) <= 64 for p in parts)


def test_a_fence_line_longer_than_a_sixth_of_the_limit_is_plain_text() -> None:
    text = "```" + "x" * 20 + "\n" + "code " * 30
    chunks = split_text_chunks(text, limit=64)
    assert all(c.reopen == "" and c.close == "" for c in chunks)


def test_backtick_fence_with_backtick_in_info_string_is_not_a_fence() -> None:
    text = "``` a`b\n" + "word " * 30
    chunks = split_text_chunks(text, limit=64)
    assert all(c.reopen == "" and c.close == "" for c in chunks)


def test_a_tilde_fence_is_closed_with_tildes() -> None:
    text = "~~~~\n" + "t\n" * 60 + "~~~~\n"
    chunks = split_text_chunks(text, limit=64)
    assert chunks[0].close == "~~~~" and chunks[1].reopen == "~~~~\n"


def test_crlf_lines_are_understood() -> None:
    text = "```js\r\n" + "a();\r\n" * 30 + "```\r\n"
    chunks = _check_invariants(text, 64)
    assert chunks[1].reopen == "```js\n"


def test_a_closing_run_longer_than_an_opening_line_may_be_still_closes_the_fence() -> None:
    text = LONG_CLOSER + "\n```python\n" + "open fence " * 30
    chunks = _check_invariants(text, 64)
    # "``````aa" is content, "````````````" closes, the next "````" opens the fence that
    # is still open at the first cut; "```python" is content inside it.
    assert chunks[0] == Chunk("", "\n````\n``````aa\n````````````\n\n````\n\n```python\n",
                              "````")
    assert chunks[1] == Chunk("````\n", "open fence " * 4 + "open ", "\n````")
    assert all(c.reopen == "````\n" for c in chunks[1:])
    assert chunks[-1].close == ""


def test_a_closing_line_of_half_the_limit_still_leaves_room_to_cut() -> None:
    # Worst case: the part before the closing line ends one character before it, so the
    # next part holds the re-opened fence, that character and the whole closing line.
    opener = "~~~" + "x" * 7  # limit // 6 == 10: the longest opening line
    closer = "~" * 32  # limit // 2: the longest closing line
    text = opener + "\n" + "y" * 20 + "\n" + closer + "\n" + "after " * 20
    chunks = _check_invariants(text, 64)
    assert chunks[:2] == [Chunk("", opener + "\n" + "y" * 20, "\n~~~"),
                          Chunk(opener + "\n", "\n" + closer + "\n", "")]


def test_a_closing_line_longer_than_half_the_limit_is_fence_content() -> None:
    text = "```\n" + "code\n" * 20 + "`" * 33 + "\n" + "more code " * 10
    chunks = split_text_chunks(text, limit=64)
    assert all(c.reopen == "```\n" for c in chunks[1:])
    assert chunks[-1].close == "" and all(c.close for c in chunks[:-1])
