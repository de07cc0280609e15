"""The README's Python samples are real: each runs as a script against the simulator on
127.0.0.1 and does what the README says, and Ctrl-C ends it cleanly."""

from __future__ import annotations

import re
from pathlib import Path

from qqproto.simulator import Simulator
from qqproto_transports.simulator import SimulatorThread

from .example_scripts import ROOT, BotScript, acks, sent_count


def readme_samples() -> list[str]:
    text = (ROOT / "README.md").read_text("utf-8")
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


def sample_script(tmp_path: Path, index: int) -> Path:
    samples = readme_samples()
    assert len(samples) == 2, "the README has two Python samples: the echo bot and buttons"
    script = tmp_path / f"readme_sample_{index}.py"
    script.write_text(samples[index], encoding="utf-8")
    return script


def test_the_readme_echo_bot_answers_a_private_and_a_group_message(tmp_path: Path) -> None:
    with SimulatorThread(Simulator(), lifetime=60) as sim, \
            BotScript(sample_script(tmp_path, 0), sim) as bot:
        bot.until(lambda: sim.counters().identifies, "the bot to connect")
        private = sim.inject_c2c_message("READER", "does the README work?")
        bot.until(sent_count(sim, 1), "the first reply")
        group = sim.inject_group_at_message("GROUP_1", "MEMBER_1", "and in a group?")
        sent = bot.until(sent_count(sim, 2), "the second reply")
        status, _out, err = bot.interrupt()

    assert [(m.scope, m.target, m.content, m.msg_id, m.msg_seq) for m in sent] == [
        ("c2c", "READER", "does the README work?", private.data["id"], 1),
        ("group", "GROUP_1", "and in a group?", group.data["id"], 1),
    ]
    assert (status, "Traceback" in err) == (0, False), err


def test_the_readme_buttons_reach_the_user_and_a_tap_is_acked_and_answered(
        tmp_path: Path) -> None:
    with SimulatorThread(Simulator(), lifetime=60) as sim, \
            BotScript(sample_script(tmp_path, 1), sim) as bot:
        bot.until(lambda: sim.counters().identifies, "the bot to connect")
        message = sim.inject_c2c_message("READER", "poll")
        [question] = bot.until(sent_count(sim, 1), "the question")
        tap = sim.inject_interaction("c2c", user_openid="READER", button_id="yes",
                                     button_data="vote:yes")
        answer = bot.until(sent_count(sim, 2), "the answer to the tap")[1]
        acked = bot.until(lambda: acks(sim), "the ACK")
        status, _out, err = bot.interrupt()

    assert (question.msg_id, question.msg_seq, question.body["msg_type"]) == (
        message.data["id"], 1, 2)
    assert question.body["markdown"] == {"content": "**Ship it?**"}
    [row] = question.body["keyboard"]["content"]["rows"]
    assert [(b["id"], b["render_data"]["label"], b["action"]["type"], b["action"]["data"])
            for b in row["buttons"]] == [("yes", "Ship it", 1, "vote:yes"),
                                         ("no", "Not yet", 1, "vote:no")]  # 1: callback
    assert acked == [(tap.data["id"], 0)]  # 0: success (rest.md §5.6)
    assert (answer.scope, answer.target, answer.content) == ("c2c", "READER",
                                                             "you chose vote:yes")
    assert (answer.event_id, answer.msg_id, answer.msg_seq) == (tap.id, None, 1)
    assert (status, "Traceback" in err) == (0, False), err
