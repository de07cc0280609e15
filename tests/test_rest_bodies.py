"""Properties of message bodies and keyboards over generated inputs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qqproto._endpoints import Endpoints
from qqproto._values import ChatScope
from qqproto.rest._keyboard import Button, Keyboard
from qqproto.rest._messages import (
    Markdown,
    MessageReference,
    OutgoingMessage,
    build_message,
    split_message,
)

EP = Endpoints(api_base="https://api.example.test", token_url="https://auth.example.test/t")
text = st.text(min_size=1, max_size=40)
ids = st.text(alphabet="ABCDEFabcdef0123456789_-./?#%", min_size=1, max_size=20)


@st.composite
def messages(draw: st.DrawFn, guild: bool) -> OutgoingMessage:
    kind = draw(st.sampled_from(["text", "markdown", "ark"] + (["embed"] if guild
                                                              else ["media"])))
    quote = draw(st.none() | st.builds(MessageReference, ids, st.booleans()))
    if kind == "text":
        return OutgoingMessage(content=draw(text), message_reference=quote)
    if kind == "markdown":
        keyboard = draw(st.none() | st.just(Keyboard([[Button(id="b", label="L",
                                                              data="d")]])))
        return OutgoingMessage(markdown=Markdown(draw(text)), keyboard=keyboard,
                               message_reference=quote)
    if kind == "ark":
        return OutgoingMessage(ark={"template_id": draw(st.integers(1, 99))},
                               content=draw(st.none() | text))
    if kind == "embed":
        return OutgoingMessage(embed={"title": draw(text)}, content=draw(st.none() | text))
    return OutgoingMessage(media=draw(ids), content=draw(st.none() | text))


@given(data=st.data(), scope=st.sampled_from(list(ChatScope)), target=ids,
       msg_id=st.none() | ids, msg_seq=st.none() | st.integers(1, 10**6))
def test_every_valid_message_becomes_one_json_object_with_its_fields(
        data: st.DataObject, scope: ChatScope, target: str, msg_id: str | None,
        msg_seq: int | None) -> None:
    message = data.draw(messages(scope.is_guild))
    request = build_message(EP, scope, target, message, msg_id=msg_id, msg_seq=msg_seq)
    body: dict[str, Any] = json.loads(request.body)
    # the target id can never escape its path segment
    path = request.url.removeprefix("https://api.example.test")
    assert path.count("/") == (4 if not scope.is_guild else 3)
    assert "?" not in path and "#" not in path
    assert ("msg_type" in body) is (not scope.is_guild)
    if not scope.is_guild:
        assert body["msg_type"] == message.msg_type
        assert body.get("msg_seq") == msg_seq
    else:
        assert "msg_seq" not in body
    assert body.get("msg_id") == msg_id
    if message.content:
        assert body["content"] == message.content
    if message.markdown is not None:
        assert body["markdown"] == {"content": message.markdown.content}
    assert ("keyboard" in body) is (message.keyboard is not None)
    assert body.get("media") == ({"file_info": message.media} if message.media else None)


@given(st.text(min_size=1, max_size=600), st.integers(64, 200), st.booleans())
def test_split_messages_rebuild_the_original_text(content: str, limit: int,
                                                  markdown: bool) -> None:
    kb = Keyboard([[Button(id="k", label="K", data="k")]])
    message = (OutgoingMessage(markdown=Markdown(content), keyboard=kb) if markdown
               else OutgoingMessage(content=content,
                                    message_reference=MessageReference("R")))
    parts = split_message(message, limit=limit)
    texts = [p.markdown.content if p.markdown else p.content or "" for p in parts]
    assert all(len(t) <= limit for t in texts)
    if "```" not in content and "~~~" not in content:
        assert "".join(texts) == content
    if markdown:
        assert [p.keyboard for p in parts] == [None] * (len(parts) - 1) + [kb]
    else:
        assert [p.message_reference for p in parts] == (
            [MessageReference("R")] + [None] * (len(parts) - 1))


button_ids = st.text(alphabet="abcdefgh", min_size=1, max_size=3)


@given(st.lists(st.lists(st.tuples(button_ids, st.text(min_size=1, max_size=12)),
                         max_size=7), max_size=7))
def test_keyboards_are_accepted_exactly_within_the_documented_limits(
        rows: list[list[tuple[str, str]]]) -> None:
    ids_flat = [bid for row in rows for bid, _ in row]
    valid = (1 <= len(rows) <= 5 and all(1 <= len(row) <= 5 for row in rows)
             and all(len(label) <= 10 for row in rows for _, label in row)
             and len(set(ids_flat)) == len(ids_flat))
    try:
        keyboard = Keyboard([[Button(id=bid, label=label, data="d") for bid, label in row]
                             for row in rows])
    except ValueError:
        assert not valid
        return
    assert valid
    content = keyboard.to_dict()["content"]["rows"]
    assert [[b["id"] for b in row["buttons"]] for row in content] == [
        [bid for bid, _ in row] for row in rows]


@pytest.mark.parametrize("scope", list(ChatScope))
def test_reply_by_event_id_in_every_scope(scope: ChatScope) -> None:
    request = build_message(EP, scope, "T", OutgoingMessage(content="x"),
                            event_id="GROUP_AT_MESSAGE_CREATE:abc", msg_seq=3)
    body = json.loads(request.body)
    assert body["event_id"] == "GROUP_AT_MESSAGE_CREATE:abc" and "msg_id" not in body
