"""The one-line command language of ``qqproto sim`` (sans-IO part)."""

from __future__ import annotations

import pytest

from qqproto.simulator._commands import COMMAND_HELP, CommandResult, run_command

from .test_sim_harness import GatewayClient, connect_ready, make_sim


def test_c2c_injects_a_message_with_the_rest_of_the_line_as_text() -> None:
    sim = make_sim()
    client, ready = connect_ready(sim)
    result = run_command(sim, "c2c USER_1   hello,  spaced  world ", 0.0)
    (frame,) = client.pump()
    assert frame["d"]["content"] == "hello,  spaced  world"
    assert frame["d"]["author"]["user_openid"] == "USER_1"
    assert result.ok and result.text == (
        f"C2C_MESSAGE_CREATE {frame['id']} -> {ready['d']['session_id']} s=2")


def test_group_channel_and_dm_inject_their_event_types() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim, intents=(1 << 25) | (1 << 30) | (1 << 12))
    run_command(sim, "group G1 M1 status please", 0.0)
    run_command(sim, "channel CH 1 U hi", 0.0)
    run_command(sim, "dm DMG U psst", 0.0)
    frames = client.pump()
    assert [f["t"] for f in frames] == ["GROUP_AT_MESSAGE_CREATE", "AT_MESSAGE_CREATE",
                                        "DIRECT_MESSAGE_CREATE"]
    assert frames[0]["d"]["content"] == " status please"
    assert frames[0]["d"]["author"]["member_openid"] == "M1"


def test_an_injection_without_a_session_says_it_is_queued() -> None:
    result = run_command(make_sim(), "c2c U hi", 0.0)
    assert result.text.endswith("-> queued")


@pytest.mark.parametrize("line", ["c2c", "c2c U", "group G M", "channel CH G", "dm G U"])
def test_an_injection_without_ids_or_text_is_a_usage_error(line: str) -> None:
    result = run_command(make_sim(), line, 0.0)
    assert not result.ok and result.text.startswith("error: ")
    assert "(type 'help')" in result.text


def test_button_injects_an_interaction_in_c2c_and_group() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim, intents=1 << 26)
    run_command(sim, "button c2c U approve:1", 0.0)
    run_command(sim, "button group G M", 0.0)
    c2c, group = client.pump()
    assert c2c["d"]["data"]["resolved"]["button_data"] == "approve:1"
    assert group["d"]["group_member_openid"] == "M"
    assert not run_command(sim, "button guild X", 0.0).ok


def test_fault_commands_reach_the_gateway_connections() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim)
    assert run_command(sim, "reconnect", 0.0).text == "sent op 7 on 1 connection(s)"
    assert run_command(sim, "invalid true", 0.0).text == "sent op 9 on 1 connection(s)"
    assert run_command(sim, "garbage binary", 0.0).text == (
        "sent binary garbage on 1 connection(s)")
    assert client.pump() == [{"op": 7}, {"op": 9, "d": True}, b"\x00\xffnot a text frame"]
    assert run_command(sim, "close 4009 going away now", 0.0).text == (
        "closed 1 connection(s) with 4009")
    client.pump()
    assert client.close is not None
    assert (client.close.code, client.close.reason) == (4009, "going away now")


def test_drop_and_tokens_commands() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim)
    assert run_command(sim, "drop", 0.0).text == "dropped 1 connection(s)"
    assert client.conn.should_abort
    assert run_command(sim, "tokens", 0.0).text == "every access token is now invalid"
    fresh = GatewayClient(sim)
    fresh.identify("stale-token")
    assert fresh.close is not None and fresh.close.code == 4004


@pytest.mark.parametrize("line", ["close", "close abc", "close 99", "close 5000",
                                  "invalid", "invalid maybe", "garbage poetry", "frobnicate"])
def test_malformed_commands_are_usage_errors(line: str) -> None:
    assert not run_command(make_sim(), line, 0.0).ok


@pytest.mark.parametrize("line", ["", "   ", "# a comment"])
def test_blank_and_comment_lines_do_nothing(line: str) -> None:
    assert run_command(make_sim(), line, 0.0) == CommandResult()


@pytest.mark.parametrize("line", ["quit", "exit", "STOP"])
def test_quit_stops(line: str) -> None:
    assert run_command(make_sim(), line, 0.0) == CommandResult(text="stopping", stop=True)


def test_help_lists_every_command() -> None:
    text = run_command(make_sim(), "help", 0.0).text
    assert text == COMMAND_HELP.rstrip("\n")
    for verb in ("c2c", "group", "channel", "dm", "button", "drop", "close", "reconnect",
                 "invalid", "garbage", "tokens", "status", "help", "quit"):
        assert any(line.startswith(verb) for line in text.splitlines()), verb


def test_status_shows_connections_sessions_and_non_zero_counters() -> None:
    sim = make_sim()
    connect_ready(sim)
    assert run_command(sim, "status", 0.0).text == (
        "open_connections=1 sessions=1 | connections=1 http_requests=1 websockets=1 "
        "tokens_issued=1 identifies=1")
