"""``qqproto send`` and ``qqproto upload`` against the simulator, on every transport:
what they print, what the simulator received, one-line errors and exit statuses."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qqproto._values import FileType
from qqproto.events import UploadPhase, UploadProgress
from qqproto.simulator._simulator import Simulator
from qqproto.simulator._uploads import sim_uploads
from qqproto_transports.cli import main
from qqproto_transports.cli._rest import ProgressPrinter, guess_file_type
from qqproto_transports.simulator import SimulatorThread

TRANSPORTS = ["asyncio", "trio", "threaded"]
MIB = 1024 * 1024


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread(Simulator(), lifetime=300) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh(sim: SimulatorThread) -> None:
    def reset(s: Simulator, now: float) -> None:
        s.faults.reset()
        s.allow_active_messages = True
        config = sim_uploads(s).config
        config.block_size, config.concurrency, config.daily_quota = MIB, 2, None
    sim.call(reset)


def run(sim: SimulatorThread | None, *argv: str, env: dict[str, str] | None = None,
        err: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), err if err is not None else io.StringIO()
    status = main(list(argv), env=env if env is not None else sim.env() if sim else {},
                  out=out, err=err)
    if sim is not None:  # nothing secret ever shows
        for secret in (sim.sim.secret.reveal(), *sim.call(lambda s, now: list(s._tokens))):
            assert secret not in out.getvalue() + err.getvalue()
    return status, out.getvalue(), err.getvalue()


def sent(sim: SimulatorThread) -> list[Any]:
    return sim.sent_messages()


# ----------------------------------------------------------------------------- send

@pytest.mark.parametrize("transport", TRANSPORTS)
def test_send_posts_a_text_message_and_prints_its_id(sim: SimulatorThread,
                                                     transport: str) -> None:
    status, out, err = run(sim, "send", "--to", "c2c:USER1", "hello there",
                           "--transport", transport)
    message = sent(sim)[-1]
    assert (status, err) == (0, "")
    assert out == f"sent c2c:USER1 id={message.id}\n"
    assert (message.scope, message.target, message.body) == (
        "c2c", "USER1", {"msg_type": 0, "content": "hello there"})
    assert not message.passive


def test_send_markdown_to_a_group(sim: SimulatorThread) -> None:
    status, out, _ = run(sim, "send", "--to", "group:G1", "**done**", "--markdown")
    message = sent(sim)[-1]
    assert status == 0 and out == f"sent group:G1 id={message.id}\n"
    assert message.body == {"msg_type": 2, "markdown": {"content": "**done**"}}


@pytest.mark.parametrize(("target", "scope"), [("channel:C9", "channel"), ("dm:D7", "dm")])
def test_send_to_guild_scenes(sim: SimulatorThread, target: str, scope: str) -> None:
    status, out, _ = run(sim, "send", "--to", target, "hi guild")
    message = sent(sim)[-1]
    assert status == 0 and out == f"sent {target} id={message.id}\n"
    assert (message.scope, message.body) == (scope, {"content": "hi guild"})


def test_send_reply_to_is_passive_with_msg_seq_from_1(sim: SimulatorThread) -> None:
    inbound = sim.inject_c2c_message("USER2", "ping")
    status, _, err = run(sim, "send", "--to", "c2c:USER2", "pong", "--reply-to",
                         inbound.data["id"])
    message = sent(sim)[-1]
    assert (status, err) == (0, "")
    assert (message.msg_id, message.msg_seq) == (inbound.data["id"], 1)


def test_a_long_text_goes_out_in_several_messages(sim: SimulatorThread) -> None:
    text = "\n\n".join(f"paragraph {i} " + "x" * 900 for i in range(9))
    before = len(sent(sim))
    status, out, _ = run(sim, "send", "--to", "c2c:U3", text)
    parts = sent(sim)[before:]
    assert status == 0 and len(parts) >= 2
    assert out.splitlines() == [f"sent c2c:U3 id={m.id}" for m in parts]
    assert "".join(m.content for m in parts).replace("\n", "") == text.replace("\n", "")


def test_send_refused_by_the_platform_is_one_line_and_exit_1(sim: SimulatorThread) -> None:
    sim.call(lambda s, now: setattr(s, "allow_active_messages", False))
    status, out, err = run(sim, "send", "--to", "c2c:U", "hi")
    assert (status, out) == (1, "")
    assert err.startswith("qqproto: request failed: active messages are not allowed "
                          "code=40034105 http=400")
    assert err.count("\n") == 1


def test_an_unknown_reply_target_is_refused(sim: SimulatorThread) -> None:
    status, _, err = run(sim, "send", "--to", "c2c:U", "hi", "--reply-to", "nope")
    assert status == 1 and "msg_id invalid" in err and err.count("\n") == 1


def test_a_network_failure_is_one_line_and_exit_1(sim: SimulatorThread) -> None:
    env = {**sim.env(), "QQBOT_API_BASE": "http://127.0.0.1:9",
           "QQBOT_TOKEN_URL": "http://127.0.0.1:9/app/getAppAccessToken"}
    status, out, err = run(None, "send", "--to", "c2c:U", "hi", env=env)
    assert (status, out) == (1, "")
    assert err.startswith("qqproto: request failed: token request failed: ConnectError")
    assert err.count("\n") == 1 and env["QQBOT_CLIENT_SECRET"] not in err


def test_missing_credentials_are_a_usage_error() -> None:
    status, out, err = run(None, "send", "--to", "c2c:U", "hi", env={})
    assert (status, out) == (2, "")
    assert err == "qqproto: set QQBOT_APP_ID and QQBOT_CLIENT_SECRET\n"


def test_an_empty_message_is_a_usage_error(sim: SimulatorThread) -> None:
    status, _, err = run(sim, "send", "--to", "c2c:U", "")
    assert status == 2 and err.startswith("qqproto: cannot send that:")


@pytest.mark.parametrize("target", ["c2c", "c2c:", "nowhere:x", ":x"])
def test_a_bad_target_is_rejected_by_the_parser(target: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["send", "--to", target, "hi"], env={})
    assert exited.value.code == 2
    assert "is not SCOPE:ID" in capsys.readouterr().err


# ----------------------------------------------------------------------------- upload

def write(path: Path, size: int) -> Path:
    path.write_bytes(bytes((i * 7 + i // 253) % 256 for i in range(size)))
    return path


@pytest.fixture(scope="module")
def three_mb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("cli") / "clip.bin", 3_000_000)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_upload_chunked_prints_file_info_and_plain_progress_lines(
        sim: SimulatorThread, three_mb: Path, transport: str) -> None:
    status, out, err = run(sim, "upload", str(three_mb), "--to", "c2c:U5", "--method",
                           "chunked", "--transport", transport)
    stored = sim.call(lambda s, now: sim_uploads(s).stored[-1])
    assert status == 0
    assert out == (f"file_info={stored.file_info} file_uuid={stored.file_uuid} "
                   "ttl=3600\n")
    assert (stored.method, stored.verified, stored.file_type, stored.file_name) == (
        "chunked", True, 4, "clip.bin")
    lines = err.splitlines()
    # Parts are in flight together: the second to finish is part 2 (2.1 MB done) or the
    # shorter last part (2.0 MB done), whichever the scheduler let through first.
    assert lines[2] in ("uploaded part 2/3 (2.1/3.0 MB)", "uploaded part 2/3 (2.0/3.0 MB)")
    assert lines[:2] + lines[3:] == [
        "hashing 100% (3.0/3.0 MB)",  # one 4 MiB step of the hashing pass
        "uploaded part 1/3 (1.0/3.0 MB)", "uploaded part 3/3 (3.0/3.0 MB)"]


def test_upload_send_sends_the_media_and_a_small_file_goes_inline(
        sim: SimulatorThread, tmp_path: Path) -> None:
    photo = write(tmp_path / "cat.jpg", 20_000)
    status, out, err = run(sim, "upload", str(photo), "--to", "group:G2", "--send")
    stored = sim.call(lambda s, now: sim_uploads(s).stored[-1])
    message = sent(sim)[-1]
    assert status == 0
    assert (stored.method, stored.file_type, stored.scope) == ("file_data", 1, "group")
    assert out.splitlines() == [
        f"file_info={stored.file_info} file_uuid={stored.file_uuid} ttl=3600",
        f"sent group:G2 id={message.id}"]
    assert message.body == {"msg_type": 7, "media": {"file_info": stored.file_info}}
    assert err == "uploaded part 1/1 (0.0/0.0 MB)\n"


def test_upload_draws_a_bar_on_a_terminal(sim: SimulatorThread, three_mb: Path) -> None:
    err = Tty()
    status, _, _ = run(sim, "upload", str(three_mb), "--to", "c2c:U", "--method",
                       "chunked", err=err)
    text = err.getvalue()
    assert status == 0 and "\r" in text and text.endswith("\n")
    lines = text.split("\n")
    assert lines[0].split("\r")[-1].startswith(
        "hashing   [########################] 100% 3.0/3.0 MB")
    assert lines[1].split("\r")[-1].startswith(
        "uploading [########################] 100% 3.0/3.0 MB 3/3 parts ")
    assert lines[1].endswith("MB/s") and lines[2] == ""


def test_upload_quiet_prints_no_progress(sim: SimulatorThread, three_mb: Path) -> None:
    status, out, err = run(sim, "upload", str(three_mb), "--to", "c2c:U", "--quiet",
                           "--type", "video")
    assert (status, err) == (0, "") and out.startswith("file_info=")
    assert sim.call(lambda s, now: sim_uploads(s).stored[-1].file_type) == 2


def test_the_daily_limit_is_one_line_and_exit_1(sim: SimulatorThread,
                                                three_mb: Path) -> None:
    sim.set_faults(upload_daily_limit=1)
    status, out, err = run(sim, "upload", str(three_mb), "--to", "c2c:U", "--method",
                           "chunked", "--quiet")
    assert (status, out) == (1, "")
    # The error names the file and its size (issue 11: structured upload errors).
    assert err.startswith("qqproto: request failed: clip.bin (2.9 MB): daily upload quota "
                          "exceeded code=40093002 http=400 trace_id=")
    assert err.count("\n") == 1


def test_40093001_during_a_cli_upload_is_ridden_out(sim: SimulatorThread,
                                                    three_mb: Path) -> None:
    sim.set_faults(upload_busy=1)
    status, out, _ = run(sim, "upload", str(three_mb), "--to", "c2c:U", "--method",
                         "chunked", "--quiet")
    assert status == 0 and out.startswith("file_info=")
    assert sim.call(lambda s, now: sim_uploads(s).counters.busy_answers) >= 1


@pytest.mark.parametrize(("argv", "message"), [
    (["--to", "channel:C"], "media uploads go to c2c or group, not channel"),
    (["--to", "dm:D"], "media uploads go to c2c or group, not dm"),
    (["--to", "c2c:U", "--reply-to", "m1"], "--reply-to needs --send"),
])
def test_upload_usage_errors(sim: SimulatorThread, three_mb: Path, argv: list[str],
                             message: str) -> None:
    status, out, err = run(sim, "upload", str(three_mb), *argv)
    assert (status, out) == (2, "")
    assert err.startswith(f"qqproto: {message}") and err.count("\n") == 1


def test_a_missing_or_empty_file_is_a_usage_error(sim: SimulatorThread,
                                                  tmp_path: Path) -> None:
    (tmp_path / "empty.bin").write_bytes(b"")
    for path, message in ((tmp_path / "nope.bin", "no such file"),
                          (tmp_path, "is a directory, not a file"),
                          (tmp_path / "empty.bin", "the file is empty")):
        status, _, err = run(sim, "upload", str(path), "--to", "c2c:U")
        assert status == 2 and err == f"qqproto: {path}: {message}\n"


def test_file_types_are_guessed_from_the_extension() -> None:
    assert [guess_file_type(name) for name in (
        "a.PNG", "b.jpeg", "c.mp4", "d.silk", "e.wav", "f.pdf", "g")] == [
        FileType.IMAGE, FileType.IMAGE, FileType.VIDEO, FileType.VOICE, FileType.VOICE,
        FileType.FILE, FileType.FILE]


def test_plain_lines_mark_each_quarter_of_the_hashing_pass() -> None:
    err = io.StringIO()
    lines = ProgressPrinter(err)
    for done in range(1, 11):
        lines(UploadProgress(phase=UploadPhase.HASHING, bytes_done=done * 1_000_000,
                             bytes_total=10_000_000))
    assert err.getvalue().splitlines() == [
        "hashing 10% (1.0/10.0 MB)", "hashing 30% (3.0/10.0 MB)",
        "hashing 50% (5.0/10.0 MB)", "hashing 80% (8.0/10.0 MB)",
        "hashing 100% (10.0/10.0 MB)"]


def test_the_bar_is_redrawn_at_most_ten_times_a_second() -> None:
    now = [0.0]
    err = Tty()
    bar = ProgressPrinter(err, clock=lambda: now[0], width=4)
    for done in range(1, 11):
        now[0] += 0.02
        bar(UploadProgress(phase=UploadPhase.UPLOADING, bytes_done=done * 100_000,
                           bytes_total=1_000_000, parts_done=done, parts_total=10))
    frames = err.getvalue().split("\r")[1:]
    assert len(frames) == 3  # the first, one 0.1 s later, and the last
    assert frames[-1] == "uploading [####] 100% 1.0/1.0 MB 10/10 parts 5.0 MB/s\n"


def test_no_secret_leaks_with_verbose_logs(sim: SimulatorThread, three_mb: Path) -> None:
    status, _, err = run(sim, "-vvv", "upload", str(three_mb), "--to", "c2c:U",
                         "--method", "chunked", "--quiet")
    assert status == 0 and "upload" in err  # library logs are on; run() checked secrets
