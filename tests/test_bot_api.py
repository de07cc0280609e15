"""The bot API without a network: what ``bot.on`` accepts, what each handler receives,
what runs for an event (the auto-ACK first), and what ``bot.reply`` sends."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qqproto import InteractionResult, OutgoingMessage, Settings
from qqproto.events import ConnectionEnded, Dispatch, EndCause, Event, NextStep, Ready
from qqproto.models import (
    EVENT_CLASSES,
    C2CMessageCreate,
    GroupAtMessageCreate,
    InteractionCreate,
    MalformedEvent,
    MessageEvent,
    ModelEvent,
    UnknownEvent,
)
from qqproto_transports import _handlers
from qqproto_transports._api import SyncBotApi, interaction_id, seq_of
from qqproto_transports._handlers import KNOWN_DISPATCH_TYPES, Handlers
from qqproto_transports.asyncio import Bot

SETTINGS = Settings(app_id="102000001", secret="s3cret")
C2C = Dispatch(type="C2C_MESSAGE_CREATE", seq=3, id="EV1", data={
    "id": "MSG1", "content": "hi", "timestamp": "2026-12-07T12:00:00+08:00",
    "author": {"user_openid": "USER_A"}})
GROUP = Dispatch(type="GROUP_AT_MESSAGE_CREATE", seq=4, id="EV2", data={
    "id": "MSG2", "content": "hey", "group_openid": "G1",
    "author": {"member_openid": "M1"}})
TAP = Dispatch(type="INTERACTION_CREATE", seq=5, id="EV3", data={
    "id": "TAP1", "type": 11, "scene": "group", "group_openid": "G1",
    "group_member_openid": "M1", "data": {"resolved": {"button_data": "yes"}}})
BROKEN = Dispatch(type="C2C_MESSAGE_CREATE", seq=6, id="EV4", data={"id": 5})
NEW = Dispatch(type="SOME_FUTURE_EVENT", seq=7, id="EV5", data={})


def handlers_for(*registrations: Any) -> tuple[Handlers, list[tuple[str, Any]]]:
    """A registry with one recording handler per registration, named by its index."""
    handlers, seen = Handlers(), []
    for index, what in enumerate(registrations):
        handlers.on(what)(lambda event, index=index: seen.append((index, event)))
    return handlers, seen


def run(handlers: Handlers, event: Event) -> list[tuple[int, Any]]:
    calls, _ = handlers.route(event)
    return [(call[0].__defaults__[0], call[1]) for call in calls]  # type: ignore[index]


# -- registration -------------------------------------------------------------------------

def test_an_unknown_type_name_fails_at_registration_naming_the_closest() -> None:
    with pytest.raises(ValueError, match=r"'C2C_MESAGE_CREATE'; did you mean "
                                         r"'C2C_MESSAGE_CREATE'\?$"):
        Handlers().on("C2C_MESAGE_CREATE")


def test_a_name_with_no_close_match_still_fails() -> None:
    with pytest.raises(ValueError, match=r"^unknown dispatch type 'ZZZ'$"):
        Handlers().on("ZZZ")


@pytest.mark.parametrize("what", [42, object(), int, Settings, [Ready], b"READY", 1.5])
def test_anything_else_is_a_type_error(what: Any) -> None:
    with pytest.raises(TypeError, match=r"bot\.on\(\) takes a model class"):
        Handlers().on(what)


def test_a_handler_must_be_callable() -> None:
    with pytest.raises(TypeError, match="must be callable"):
        Handlers().on(Ready)("not a function")  # type: ignore[arg-type]


def test_every_known_type_is_accepted_and_every_model_class_too() -> None:
    handlers = Handlers()
    for name in KNOWN_DISPATCH_TYPES:
        handlers.on(name)(print)
    classes = {*EVENT_CLASSES.values(), MessageEvent, ModelEvent, UnknownEvent,
               MalformedEvent, Event, Dispatch, ConnectionEnded}
    for cls in classes:
        handlers.on(cls)(print)
    assert len(list(handlers)) == len(KNOWN_DISPATCH_TYPES) + len(classes)


@given(st.text(max_size=30))
def test_any_string_is_accepted_exactly_when_it_is_a_known_type(name: str) -> None:
    if name in KNOWN_DISPATCH_TYPES:
        Handlers().on(name)
    else:
        with pytest.raises(ValueError, match="unknown dispatch type"):
            Handlers().on(name)


# -- delivery -------------------------------------------------------------------------------

def test_each_registration_gets_the_form_it_asked_for_in_registration_order() -> None:
    handlers, _ = handlers_for(None, C2CMessageCreate, "C2C_MESSAGE_CREATE", Dispatch,
                               MessageEvent, GroupAtMessageCreate, Ready)
    delivered = run(handlers, C2C)
    assert [index for index, _ in delivered] == [0, 1, 2, 3, 4]
    raw = [event for index, event in delivered if index in (0, 3)]
    models = [event for index, event in delivered if index in (1, 2, 4)]
    assert raw == [C2C, C2C]
    assert all(isinstance(m, C2CMessageCreate) for m in models)
    assert models[0] is models[1] is models[2]  # parsed once
    assert models[0].message.content == "hi" and models[0].event_id == "EV1"


def test_a_dispatch_is_parsed_once_and_only_when_a_handler_wants_a_model(
        monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[Dispatch] = []
    real = _handlers.parse_event
    monkeypatch.setattr(_handlers, "parse_event", lambda d: parsed.append(d) or real(d))
    raw_only, _ = handlers_for(None, Dispatch)
    raw_only.route(C2C)
    assert parsed == []
    typed, _ = handlers_for(MessageEvent, C2CMessageCreate, "C2C_MESSAGE_CREATE")
    typed.route(C2C)
    assert parsed == [C2C]
    typed.route(GROUP)  # GROUP_AT_MESSAGE_CREATE is a MessageEvent: one more parse
    typed.route(Ready(type="READY", seq=1, id=None, data={}, version=1, session_id="S",
                      user=None, shard=None))  # no model handler can take READY
    assert parsed == [C2C, GROUP]


def test_a_malformed_payload_reaches_the_name_and_malformed_handlers_not_the_class() -> None:
    handlers, _ = handlers_for(C2CMessageCreate, "C2C_MESSAGE_CREATE", MalformedEvent)
    delivered = run(handlers, BROKEN)
    assert [index for index, _ in delivered] == [1, 2]
    assert all(isinstance(event, MalformedEvent) for _, event in delivered)


def test_an_unknown_type_reaches_unknown_event_and_raw_handlers() -> None:
    handlers, _ = handlers_for(UnknownEvent, MessageEvent, Dispatch, MalformedEvent)
    delivered = run(handlers, NEW)
    assert [index for index, _ in delivered] == [0, 2]
    assert isinstance(delivered[0][1], UnknownEvent) and delivered[1][1] is NEW


def test_lifecycle_events_reach_their_class_and_catch_all_handlers() -> None:
    ended = ConnectionEnded(cause=EndCause.LOCAL_CLOSE, next_step=NextStep.RESUME)
    handlers, _ = handlers_for(ConnectionEnded, MessageEvent, None, Ready)
    assert run(handlers, ended) == [(0, ended), (2, ended)]


def test_a_registration_after_delivery_is_seen_by_the_next_event() -> None:
    handlers, seen = handlers_for(Dispatch)
    handlers.route(C2C)
    handlers.on(C2CMessageCreate)(lambda event, index=9: seen.append((index, event)))
    assert [index for index, _ in run(handlers, C2C)] == [0, 9]


# -- the bot's plan and replies -------------------------------------------------------------

class FakeBot(SyncBotApi):
    """The bot API with its calls recorded instead of sent."""

    def __init__(self, **settings: Any) -> None:
        from qqproto.rest import TokenState

        tokens = TokenState(app_id="102000001", secret=SETTINGS.secret,
                            endpoints=SETTINGS.endpoints)
        self._init_api(SETTINGS.replace(**settings), lambda: tokens)
        self.sent: list[Any] = []
        self.clock = 0.0

    def _now(self) -> float:
        return self.clock

    def call(self, call: Any) -> Any:
        self.sent.append(call._request)
        return None


def test_a_tap_is_acked_before_any_handler_runs_when_auto_ack_is_on() -> None:
    bot = FakeBot()
    bot.on(InteractionCreate)(print)
    plan = bot._plan_delivery(TAP, now=0.0)
    assert plan[0] == (bot._auto_ack, TAP) and plan[1][0] is print
    assert [h for h, _ in FakeBot(auto_ack_interactions=False)._plan_delivery(TAP, 0.0)] == []
    assert bot._plan_delivery(C2C, 0.0) == []


def test_the_auto_ack_answers_success_and_a_handler_may_choose_a_code() -> None:
    bot = FakeBot()
    bot._auto_ack(TAP)
    bot.ack_interaction(TAP, InteractionResult.NO_PERMISSION)
    bot.ack_interaction("TAP2")
    assert [(r.method, r.url.rsplit("/", 1)[-1], r.body) for r in bot.sent] == [
        ("PUT", "TAP1", b'{"code":0}'), ("PUT", "TAP1", b'{"code":4}'),
        ("PUT", "TAP2", b'{"code":0}')]


def test_reply_to_a_message_handed_to_a_handler_uses_its_arrival_window() -> None:
    bot = FakeBot()
    bot.on(MessageEvent)(print)
    ((_, model),) = bot._plan_delivery(C2C, now=100.0)
    assert bot.replies.remaining("c2c", now=100.0, msg_id="MSG1") == 4
    bot.clock = 160.0
    bot.reply(model, "one")
    bot.reply(C2C, OutgoingMessage(content="two"))  # the raw dispatch works too
    assert [(r.url.rsplit("/", 2)[-2], r.body) for r in bot.sent] == [
        ("USER_A", b'{"msg_type":0,"content":"one","msg_id":"MSG1","msg_seq":1}'),
        ("USER_A", b'{"msg_type":0,"content":"two","msg_id":"MSG1","msg_seq":2}')]
    # The window opened at the delivery (t=100), not at the first reply.
    assert bot.replies.remaining("c2c", now=100.0 + 3590.0, msg_id="MSG1") == 0


def test_reply_to_a_tap_goes_by_event_id_without_any_received_call() -> None:
    bot = FakeBot()
    bot.on(InteractionCreate)(print)
    (_, (_, tap)) = bot._plan_delivery(TAP, now=0.0)
    bot.reply(tap, "thanks")
    [request] = bot.sent
    assert request.url.endswith("/v2/groups/G1/messages")
    assert request.body == b'{"msg_type":0,"content":"thanks","event_id":"EV3","msg_seq":1}'


def test_reply_to_anything_but_a_message_or_a_tap_is_a_type_error() -> None:
    bot = FakeBot()
    with pytest.raises(TypeError, match="not SOME_FUTURE_EVENT"):
        bot.reply(NEW, "?")
    with pytest.raises(TypeError, match="not ConnectionEnded"):
        bot.reply(ConnectionEnded(cause=EndCause.LOCAL_CLOSE, next_step=NextStep.STOP), "?")
    with pytest.raises(TypeError, match="not a button tap"):
        bot.ack_interaction(C2C)


def test_send_is_active_and_splits_long_text() -> None:
    bot = FakeBot()
    bot.send("group", "G9", "a" * 3000 + "\n\n" + "b" * 3000)
    assert [r.body.count(b"msg_id") for r in bot.sent] == [0, 0] and len(bot.sent) == 2


def test_interaction_ids_and_seqs_come_from_any_form() -> None:
    assert [interaction_id(x) for x in (TAP, "T9", "", C2C)] == ["TAP1", "T9", None, None]
    assert [seq_of(x) for x in (None, 7, C2C)] == [None, 7, 3]


def test_settings_are_pure_data_and_tls_is_a_driver_argument() -> None:
    assert not hasattr(SETTINGS, "ssl_context")
    with pytest.raises(ValueError, match="always verifies TLS"):
        import ssl

        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        Bot(SETTINGS, env={}, ssl_context=context)
