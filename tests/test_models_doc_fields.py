"""Fields the autogen pages define beyond the conformance examples: join-request Q&A,
interaction types 13–20, nested message elements, the scene's auth token."""

from __future__ import annotations

from qqproto.events import Dispatch
from qqproto.gateway import EVENT_INTENTS, Intents, intents_for
from qqproto.models import (
    ArkData,
    AuthorizeData,
    C2CMessageCreate,
    GroupJoinRequest,
    InteractionCreate,
    MalformedEvent,
    MessageElement,
    VerifyInfo,
    parse_event,
    rich_text_plain,
)


def _parse(t: str, d: object) -> object:
    return parse_event(Dispatch(type=t, seq=1, id=f"{t}:1", data=d))


def test_a_join_request_answered_by_questions_keeps_each_pair() -> None:
    event = _parse("GROUP_JOIN_REQUEST", {
        "group_openid": "G", "join_request_id": "J", "member_openid": "M", "bot": False,
        "union_openid": "UN", "risk_tips": "top_tips",
        "verify_info": {"method": "admin_review_qa", "review_qa_list": [
            {"question": "who?", "answer": "me"}, {"question": "why?"}]}})
    assert isinstance(event, GroupJoinRequest)
    assert event.verify_info == VerifyInfo(method="admin_review_qa",
                                           review_qa=(("who?", "me"), ("why?", "")))
    assert (event.chat_id, event.bot, event.union_openid, event.risk_tips) == (
        "G", False, "UN", "top_tips")
    assert event.auto_approved is None and event.time is None


def test_a_join_request_without_its_id_is_malformed() -> None:
    event = _parse("GROUP_JOIN_REQUEST", {"group_openid": "G"})
    assert isinstance(event, MalformedEvent)
    assert event.error == "d.join_request_id: missing"


def test_join_requests_need_the_group_and_c2c_intent() -> None:
    assert EVENT_INTENTS["GROUP_JOIN_REQUEST"] is Intents.GROUP_AND_C2C_EVENT
    assert intents_for(["GROUP_JOIN_REQUEST"]) == 1 << 25


def test_a_feedback_interaction_carries_its_option_and_scene_ext() -> None:
    event = _parse("INTERACTION_CREATE", {
        "id": "I", "type": 13, "scene": "c2c", "user_openid": "U",
        "data": {"type": 13, "resolved": {
            "button_data": "cb", "message_id": "ROBOT1.0_m", "feedback_opt": "UNLIKE",
            "checked": 1, "message_scene": {"ext": ["disable_net_search=1"]}}}})
    assert isinstance(event, InteractionCreate)
    assert (event.interaction_type, event.feedback_opt, event.checked, event.scene_ext,
            event.message_id) == (13, "UNLIKE", 1, ("disable_net_search=1",), "ROBOT1.0_m")
    assert event.authorize_data is None and event.action is None


def test_story_and_authorisation_interactions() -> None:
    story = _parse("INTERACTION_CREATE", {"id": "I", "type": 15,
                                          "data": {"resolved": {"action": "ENTER_STORY"}}})
    assert isinstance(story, InteractionCreate) and story.action == "ENTER_STORY"
    group = _parse("INTERACTION_CREATE", {
        "id": "I", "type": 19, "scene": "group", "group_openid": "G",
        "data": {"resolved": {"authorize_data": {"opt_scene": "dialog",
                                                 "scope": "group_push"}}}})
    assert isinstance(group, InteractionCreate)
    assert group.authorize_data == AuthorizeData(opt_scene="dialog", scope="group_push")


def test_a_non_string_scene_ext_entry_is_malformed() -> None:
    event = _parse("INTERACTION_CREATE", {
        "id": "I", "data": {"resolved": {"message_scene": {"ext": [1]}}}})
    assert isinstance(event, MalformedEvent)
    assert event.error == "d.data.resolved.message_scene.ext[0]: expected a string, got number"


_C2C = {"id": "m", "author": {"user_openid": "U"}, "content": "x"}


def test_every_message_element_is_kept_with_its_nested_ones_and_cards() -> None:
    event = _parse("C2C_MESSAGE_CREATE", {**_C2C, "message_type": 102, "msg_elements": [
        {"content": "a", "author": {"user_openid": "U1"}},
        {"content": "b", "message_type": 3,
         "ark_data": {"ark_type": "map", "fields": {"address": "here"}},
         "msg_elements": [{"content": "c"}]}]})
    assert isinstance(event, C2CMessageCreate)
    first, second = event.message.elements
    assert first == MessageElement(content="a", author_id="U1")
    assert second.ark_data == ArkData(ark_type="map", fields={"address": "here"})
    assert second.elements == (MessageElement(content="c"),)
    # Only a 103 message quotes its first element.
    assert event.message.quoted is None


def test_elements_nest_only_so_deep() -> None:
    element: dict[str, object] = {"content": "leaf"}
    for depth in range(10):
        element = {"content": str(depth), "msg_elements": [element]}
    event = _parse("C2C_MESSAGE_CREATE", {**_C2C, "msg_elements": [element]})
    assert isinstance(event, C2CMessageCreate)
    level, depth = event.message.elements, 0
    while level:
        level, depth = level[0].elements, depth + 1
    assert depth == 4


def test_the_scene_auth_token_is_read_but_never_shown() -> None:
    event = _parse("C2C_MESSAGE_CREATE", {**_C2C, "message_scene": {
        "source": "default", "ext": ["auth_token=SECRET1", "msg_idx=REFIDX_a", "x=1"]}})
    assert isinstance(event, C2CMessageCreate)
    scene = event.message.scene
    assert scene is not None
    assert (scene.auth_token, scene.msg_idx, scene.get("x"), scene.get("y")) == (
        "SECRET1", "REFIDX_a", "1", None)
    assert "SECRET1" not in repr(event)


def test_rich_text_plain_reads_strings_and_rich_objects() -> None:
    assert rich_text_plain(None) == ""
    assert rich_text_plain("plain") == "plain"
    assert rich_text_plain(({"type": 1, "text_info": {"text": "a"}}, "junk",
                            {"type": 3, "url_info": {"url": "https://u"}},
                            {"type": 4, "emoji_info": {"id": 1}})) == "ahttps://u"


def test_a_forum_title_of_another_type_is_malformed() -> None:
    event = _parse("FORUM_THREAD_CREATE", {"thread_info": {"thread_id": "T", "title": 3}})
    assert isinstance(event, MalformedEvent)
    assert event.error == "d.thread_info.title: expected a string or an array, got number"
