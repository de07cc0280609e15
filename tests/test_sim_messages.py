"""Message endpoints: bodies, passive-reply rules (rest.md §2.4), recall, interaction ACKs."""

from __future__ import annotations

from typing import Any

import pytest

from qqproto.simulator._simulator import Simulator

from .test_sim_harness import HttpClient, Reply, make_sim, token_for


class Bot:
    """An HTTP client with a token, as a bot would hold it."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.http = HttpClient(sim)

    def call(self, method: str, path: str, body: Any = None, *, now: float = 0.0) -> Reply:
        return self.http.request(method, path, json_body=body, token=token_for(self.sim, now),
                                 now=now)

    def c2c(self, openid: str, body: Any, now: float = 0.0) -> Reply:
        return self.call("POST", f"/v2/users/{openid}/messages", body, now=now)

    def group(self, group: str, body: Any, now: float = 0.0) -> Reply:
        return self.call("POST", f"/v2/groups/{group}/messages", body, now=now)


def text(content: str, **extra: Any) -> dict[str, Any]:
    return {"msg_type": 0, "content": content, **extra}


def error(reply: Reply) -> tuple[int, int]:
    body = reply.json()
    assert body["code"] == body["err_code"]
    assert body["trace_id"] == reply.headers["x-tps-trace-id"]
    return reply.status, body["code"]


# ------------------------------------------------------------------ sending

def test_an_active_c2c_message_is_accepted_and_stored() -> None:
    sim = make_sim()
    reply = Bot(sim).c2c("USER_A", text("hello"), now=3.0)
    body = reply.json()
    assert reply.status == 200
    assert body["id"].startswith("ROBOT1.0_")
    assert body["timestamp"] == "2025-01-01T00:00:03+08:00"
    assert body["ext_info"]["ref_idx"].startswith("REFIDX_")
    (sent,) = sim.sent_messages
    assert (sent.id, sent.scope, sent.target, sent.body) == (body["id"], "c2c", "USER_A",
                                                             text("hello"))
    assert (sent.passive, sent.content, sent.at) == (False, "hello", 3.0)


def test_a_reply_to_an_injected_message_is_passive() -> None:
    sim = make_sim()
    inbound = sim.inject_c2c_message("USER_A", "hi", now=0.0)
    msg_id = inbound.data["id"]
    reply = Bot(sim).c2c("USER_A", text("hi back", msg_id=msg_id, msg_seq=1))
    assert reply.status == 200
    sent = sim.sent_messages[-1]
    assert (sent.passive, sent.msg_id, sent.msg_seq) == (True, msg_id, 1)


def test_a_reused_msg_id_and_msg_seq_pair_answers_40054005_under_http_200() -> None:
    sim = make_sim()
    msg_id = sim.inject_c2c_message("U", "hi", now=0.0).data["id"]
    bot = Bot(sim)
    assert bot.c2c("U", text("one", msg_id=msg_id, msg_seq=1)).status == 200
    duplicate = bot.c2c("U", text("two", msg_id=msg_id, msg_seq=1))
    assert error(duplicate) == (200, 40054005)
    assert len(sim.sent_messages) == 1


def test_msg_seq_defaults_to_1_so_two_replies_without_it_collide() -> None:
    sim = make_sim()
    msg_id = sim.inject_c2c_message("U", "hi", now=0.0).data["id"]
    bot = Bot(sim)
    assert bot.c2c("U", text("one", msg_id=msg_id)).status == 200
    assert error(bot.c2c("U", text("two", msg_id=msg_id, msg_seq=1))) == (200, 40054005)


@pytest.mark.parametrize(("scope", "limit"), [("c2c", 4), ("group", 5)])
def test_the_reply_count_per_msg_id_is_limited(scope: str, limit: int) -> None:
    sim = make_sim()
    bot = Bot(sim)
    if scope == "c2c":
        msg_id = sim.inject_c2c_message("U", "hi", now=0.0).data["id"]
        send = lambda body: bot.c2c("U", body)  # noqa: E731
    else:
        msg_id = sim.inject_group_at_message("G", "M", "hi", now=0.0).data["id"]
        send = lambda body: bot.group("G", body)  # noqa: E731
    for seq in range(1, limit + 1):
        assert send(text(str(seq), msg_id=msg_id, msg_seq=seq)).status == 200
    assert error(send(text("over", msg_id=msg_id, msg_seq=limit + 1))) == (400, 40034128)


@pytest.mark.parametrize(("scope", "window"), [("c2c", 3600.0), ("group", 300.0)])
def test_the_reply_window_closes_after_60_or_5_minutes(scope: str, window: float) -> None:
    sim = make_sim()
    bot = Bot(sim)
    if scope == "c2c":
        msg_id = sim.inject_c2c_message("U", "hi", now=10.0).data["id"]
        assert bot.c2c("U", text("in time", msg_id=msg_id), now=10.0 + window).status == 200
        late = bot.c2c("U", text("late", msg_id=msg_id, msg_seq=2), now=10.0 + window + 0.5)
    else:
        msg_id = sim.inject_group_at_message("G", "M", "hi", now=10.0).data["id"]
        assert bot.group("G", text("in time", msg_id=msg_id), now=10.0 + window).status == 200
        late = bot.group("G", text("late", msg_id=msg_id, msg_seq=2), now=10.0 + window + 0.5)
    assert error(late) == (400, 40034005)


def test_a_msg_id_from_another_chat_or_unknown_is_refused() -> None:
    sim = make_sim()
    msg_id = sim.inject_c2c_message("U", "hi", now=0.0).data["id"]
    bot = Bot(sim)
    assert error(bot.c2c("OTHER", text("x", msg_id=msg_id))) == (400, 40034024)
    assert error(bot.group("U", text("x", msg_id=msg_id))) == (400, 40034024)
    assert error(bot.c2c("U", text("x", msg_id="ROBOT1.0_made_up"))) == (400, 40034024)


def test_a_reply_by_event_id_to_friend_add_is_allowed() -> None:
    sim = make_sim()
    event = sim.dispatch("FRIEND_ADD", {"openid": "U", "timestamp": 1}, now=0.0)
    reply = Bot(sim).c2c("U", text("welcome", event_id=event.id))
    assert reply.status == 200 and sim.sent_messages[-1].event_id == event.id


def test_a_reply_by_event_id_to_a_message_event_is_refused() -> None:
    sim = make_sim()
    event = sim.inject_c2c_message("U", "hi", now=0.0)
    assert error(Bot(sim).c2c("U", text("x", event_id=event.id))) == (400, 40034027)


def test_an_unknown_or_expired_event_id_is_refused() -> None:
    sim = make_sim()
    event = sim.dispatch("GROUP_ADD_ROBOT", {"group_openid": "G", "op_member_openid": "M",
                                             "timestamp": 1}, now=0.0)
    bot = Bot(sim)
    assert error(bot.group("G", text("x", event_id="GROUP_ADD_ROBOT:nope"))) == (400, 40034025)
    assert error(bot.group("G", text("x", event_id=event.id), now=301.0)) == (400, 40034026)


def test_an_interaction_id_is_usable_as_event_id() -> None:
    sim = make_sim()
    event = sim.inject_interaction("group", now=0.0, group_openid="G", member_openid="M")
    reply = Bot(sim).group("G", text("tapped", event_id=event.data["id"]))
    assert reply.status == 200


def test_active_messages_can_be_forbidden() -> None:
    sim = make_sim(allow_active_messages=False)
    assert error(Bot(sim).c2c("U", text("hi"))) == (400, 40034105)


@pytest.mark.parametrize(("body", "code"), [
    ({"content": "no msg_type"}, 40061001),
    ({"msg_type": 99, "content": "x"}, 40061001),
    ({"msg_type": True, "content": "x"}, 40061001),
    ({"msg_type": 0, "content": ""}, 22006),
    ({"msg_type": 0, "content": 5}, 40061001),
    ({"msg_type": 2, "content": "x"}, 22006),
    ({"msg_type": 3}, 22006),
    ({"msg_type": 4, "embed": {}}, 22006),
    ({"msg_type": 7, "media": {}}, 22006),
    ({"msg_type": 7, "media": "FI"}, 22006),
    ({"msg_type": 0, "content": "x", "msg_id": 5}, 40061001),
    ({"msg_type": 0, "content": "x", "msg_seq": "1"}, 40061001),
    ({"msg_type": 0, "content": "x", "msg_seq": -1}, 40061001),
])
def test_malformed_c2c_bodies_are_refused(body: dict[str, Any], code: int) -> None:
    sim = make_sim()
    assert error(Bot(sim).c2c("U", body)) == (400, code)
    assert list(sim.sent_messages) == []


def test_a_body_that_is_not_a_json_object_is_refused() -> None:
    sim = make_sim()
    bot = Bot(sim)
    assert error(bot.c2c("U", [1, 2])) == (400, 40061001)
    raw = bot.http.request("POST", "/v2/users/U/messages", body=b"{not json",
                           token=token_for(sim))
    assert error(raw) == (400, 40061001)


def test_media_markdown_and_typing_messages_are_accepted_where_allowed() -> None:
    sim = make_sim()
    bot = Bot(sim)
    msg_id = sim.inject_c2c_message("U", "hi", now=0.0).data["id"]
    assert bot.c2c("U", {"msg_type": 7, "media": {"file_info": "FI"}}).status == 200
    assert bot.group("G", {"msg_type": 2, "markdown": {"content": "**x**"}}).status == 200
    typing = {"msg_type": 6, "input_notify": {"input_type": 1, "input_second": 60},
              "msg_id": msg_id, "msg_seq": 1}
    assert bot.c2c("U", typing).status == 200
    assert error(bot.group("G", typing)) == (400, 22006)


def test_a_channel_message_answers_with_the_message_object() -> None:
    sim = make_sim()
    inbound = sim.inject_channel_message("CH", "1", "U", "hi", now=0.0)
    reply = Bot(sim).call("POST", "/channels/CH/messages",
                          {"content": "pong", "msg_id": inbound.data["id"]})
    body = reply.json()
    assert reply.status == 200
    assert (body["channel_id"], body["content"], body["author"]["bot"]) == ("CH", "pong", True)
    assert sim.sent_messages[-1].scope == "channel"


def test_a_dm_reply_goes_to_the_dm_guild() -> None:
    sim = make_sim()
    inbound = sim.inject_dm_message("DMG", "U", "hi", now=0.0)
    bot = Bot(sim)
    reply = bot.call("POST", "/dms/DMG/messages", {"content": "hey",
                                                  "msg_id": inbound.data["id"]})
    assert reply.status == 200 and reply.json()["guild_id"] == "DMG"
    wrong = bot.call("POST", "/dms/OTHER/messages", {"content": "hey",
                                                    "msg_id": inbound.data["id"]})
    assert error(wrong) == (400, 40034024)


@pytest.mark.parametrize("body", [{}, {"content": ""}, {"content": 5}, {"msg_id": "x"}])
def test_a_guild_body_without_usable_content_is_refused(body: dict[str, Any]) -> None:
    sim = make_sim()
    assert error(Bot(sim).call("POST", "/channels/CH/messages", body)) == (400, 40061001)


# ------------------------------------------------------------------ recall

def test_a_c2c_message_can_be_recalled_within_two_minutes() -> None:
    sim = make_sim()
    bot = Bot(sim)
    sent = bot.c2c("U", text("oops"), now=0.0).json()["id"]
    reply = bot.call("DELETE", f"/v2/users/U/messages/{sent}", now=120.0)
    assert (reply.status, reply.body) == (204, b"")
    assert [m.id for m in sim.recalled_messages] == [sent]
    again = bot.call("DELETE", f"/v2/users/U/messages/{sent}", now=121.0)
    assert error(again) == (400, 40061002)


def test_a_group_message_older_than_two_minutes_cannot_be_recalled() -> None:
    sim = make_sim()
    bot = Bot(sim)
    sent = bot.group("G", text("oops"), now=0.0).json()["id"]
    late = bot.call("DELETE", f"/v2/groups/G/messages/{sent}", now=120.5)
    assert error(late) == (400, 40064004)


def test_recall_checks_the_chat_and_guild_recall_has_no_time_limit() -> None:
    sim = make_sim()
    bot = Bot(sim)
    sent = bot.call("POST", "/channels/CH/messages", {"content": "x"}).json()["id"]
    assert error(bot.call("DELETE", f"/channels/OTHER/messages/{sent}")) == (400, 40061002)
    assert error(bot.call("DELETE", f"/dms/CH/messages/{sent}")) == (400, 40061002)
    ok = bot.call("DELETE", f"/channels/CH/messages/{sent}?hidetip=true", now=9999.0)
    assert ok.status == 204


# ------------------------------------------------------------------ interactions

def test_an_interaction_ack_is_recorded() -> None:
    sim = make_sim()
    event = sim.inject_interaction("c2c", now=0.0, user_openid="U")
    reply = Bot(sim).call("PUT", f"/interactions/{event.data['id']}", {"code": 0}, now=1.0)
    assert (reply.status, reply.body) == (204, b"")
    (ack,) = sim.interaction_acks
    assert (ack.interaction_id, ack.code, ack.at) == (event.data["id"], 0, 1.0)


@pytest.mark.parametrize("body", [{"code": 6}, {"code": "0"}, {}, [0]])
def test_an_interaction_ack_with_a_bad_code_is_refused(body: Any) -> None:
    sim = make_sim()
    event = sim.inject_interaction("c2c", now=0.0, user_openid="U")
    reply = Bot(sim).call("PUT", f"/interactions/{event.data['id']}", body)
    assert error(reply) == (400, 40061001)


def test_an_ack_for_an_unknown_interaction_is_refused() -> None:
    sim = make_sim()
    assert error(Bot(sim).call("PUT", "/interactions/nope", {"code": 0})) == (400, 40034025)


def test_the_oldest_inbound_ids_are_forgotten_beyond_the_tracking_limit() -> None:
    sim = make_sim(max_tracked_messages=2)
    first = sim.inject_c2c_message("U", "1", now=0.0).data["id"]
    sim.inject_c2c_message("U", "2", now=0.0)
    sim.inject_c2c_message("U", "3", now=0.0)
    assert error(Bot(sim).c2c("U", text("late", msg_id=first))) == (400, 40034024)


def test_a_guild_interaction_can_be_answered_in_its_channel_by_event_id() -> None:
    sim = make_sim()
    event = sim.inject_interaction("guild", now=0.0, guild_id="1", channel_id="CH",
                                   user_id="U")
    reply = Bot(sim).call("POST", "/channels/CH/messages",
                          {"content": "ok", "event_id": event.id})
    assert reply.status == 200


def test_events_without_a_chat_or_an_id_are_not_reply_targets() -> None:
    sim = make_sim()
    odd = sim.dispatch("INTERACTION_CREATE", {"id": "I1", "scene": "space"}, now=0.0)
    nameless = sim.dispatch("C2C_MESSAGE_CREATE", {"author": {"user_openid": "U"}}, now=0.0)
    bot = Bot(sim)
    assert error(bot.c2c("U", text("x", event_id=odd.id))) == (400, 40034025)
    assert error(bot.call("PUT", "/interactions/I1", {"code": 0})) == (400, 40034025)
    assert error(bot.c2c("U", text("x", event_id=nameless.id))) == (400, 40034027)
