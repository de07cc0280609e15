"""Splitting realistic long replies: what a reader sees in each part."""

from __future__ import annotations

import pytest

from qqproto.rest._split import Chunk, split_text, split_text_chunks


def test_paragraphs_are_kept_whole_when_they_fit() -> None:
    para = ("word " * 11).strip()  # 54 characters
    text = "\n\n".join([para] * 4)
    assert split_text(text, limit=120) == [f"{para}\n\n{para}\n\n", f"{para}\n\n{para}"]


def test_a_list_is_cut_between_items() -> None:
    items = "".join(f"- item number {i:02}\n" for i in range(20))  # 18 chars each
    parts = split_text(items, limit=64)
    for part in parts:
        assert part.startswith("- item number")
        assert part.endswith("\n")


def test_two_code_blocks_only_the_cut_one_is_reopened() -> None:
    first = "```sh\nls\n```\n"
    second = "```python\n" + "".join(f"x{i} = {i}\n" for i in range(20)) + "```\n"
    chunks = split_text_chunks("intro\n" + first + second + "outro", limit=80)
    assert chunks[0].reopen == ""
    reopened = [c for c in chunks if c.reopen]
    assert reopened and all(c.reopen == "```python\n" for c in reopened)
    assert all(c.close in ("", "```") for c in chunks)
    assert "".join(c.body for c in chunks) == "intro\n" + first + second + "outro"


def test_an_indented_fence_keeps_its_indentation_when_reopened() -> None:
    text = "   ~~~ruby\n" + "puts 1\n" * 20 + "   ~~~\n"
    chunks = split_text_chunks(text, limit=64)
    assert chunks[1].reopen == "   ~~~ruby\n"
    assert chunks[0].close == "~~~"


def test_a_longer_fence_is_not_closed_by_a_shorter_run_inside() -> None:
    text = "````md\n" + "```\nnot a close\n" * 8 + "````\n"
    chunks = split_text_chunks(text, limit=64)
    assert chunks[0].close == "````"
    assert chunks[1].reopen == "````md\n"


def test_a_tilde_run_does_not_close_a_backtick_fence() -> None:
    text = "```\n" + "~~~\nline\n" * 10 + "```\n"
    chunks = split_text_chunks(text, limit=64)
    assert [c.close for c in chunks[:-1]] == ["```"] * (len(chunks) - 1)


def test_an_image_link_is_kept_whole() -> None:
    image = "![logo](https://img.example/logo.png)"
    text = "a" * 40 + image + " tail"
    parts = split_text(text, limit=64)
    assert any(image in part for part in parts)


def test_inline_code_is_kept_whole() -> None:
    code = "`some inline code here`"
    text = "a" * 50 + code + "b" * 30
    parts = split_text(text, limit=64)
    assert any(code in part for part in parts)


def test_a_long_chinese_text_is_cut_after_sentence_ends() -> None:
    sentence = "机器人收到了你的消息，并且正在处理。"  # 18 characters
    parts = split_text(sentence * 10, limit=64)
    assert all(part.endswith(("。", "，")) for part in parts[:-1])
    assert "".join(parts) == sentence * 10


def test_a_url_without_markdown_is_cut_only_if_it_is_longer_than_the_window() -> None:
    url = "https://example.com/" + "p" * 30
    text = "see " + url + " and " + "q" * 40
    parts = split_text(text, limit=64)
    assert any(url in part for part in parts)


def test_flags_and_skin_tones_stay_whole() -> None:
    for tail in ("🇯🇵🇨🇳", "👋🏿", "🧑🏽\u200d💻"):
        for pad in range(58, 64):
            text = "x" * pad + tail + "y"
            cuts = []
            pos = 0
            for chunk in split_text_chunks(text, limit=64)[:-1]:
                pos += len(chunk.body)
                cuts.append(pos)
            start = pad
            for cut in cuts:
                assert not start < cut < start + len(tail) or (
                    tail == "🇯🇵🇨🇳" and cut == start + 2), (tail, pad, cut)


@pytest.mark.parametrize("limit", [64, 100, 4000])
def test_text_exactly_at_the_limit_is_not_split(limit: int) -> None:
    assert split_text("z" * limit, limit=limit) == ["z" * limit]


def test_the_default_limit_is_4000_code_points_not_bytes() -> None:
    text = "汉" * 4000  # 12,000 bytes of UTF-8
    assert split_text(text) == [text]
    assert [len(p) for p in split_text(text + "字")] == [4000, 1]


def test_chunk_text_is_reopen_body_close() -> None:
    chunk = Chunk("```py\n", "x = 1", "\n```")
    assert chunk.text == "```py\nx = 1\n```"
