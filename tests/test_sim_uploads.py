"""The simulator's media endpoints, sans-IO: chunked upload (prepare, pre-signed PUT,
part_finish, completion), single-call ``/files``, hash checks, bounded memory, faults.

Requests are built by hand with the h11 harness (not with qqproto's UploadSession): the
simulator is checked against rest.md §3–4, not against the client it will later test.
"""

from __future__ import annotations

import base64
import hashlib
import random
from typing import Any

import pytest

from qqproto.simulator._faults import HttpFault
from qqproto.simulator._simulator import Simulator
from qqproto.simulator._upload_routes import FILES_MAX_BODY
from qqproto.simulator._uploads import (
    MAX_PARTS,
    PRESIGNED_MAX_BODY,
    StoredMedia,
    UploadStore,
    sim_uploads,
)

from .test_sim_harness import HOST, HttpClient, Reply, make_sim, token_for

PREFIX = 10_002_432  # rest.md §4.4


def blob(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def announce(data: bytes, **changes: Any) -> dict[str, Any]:
    body = {"file_type": 4, "file_name": "r.bin", "file_size": len(data), "md5": md5(data),
            "sha1": hashlib.sha1(data).hexdigest(), "md5_10m": md5(data[:PREFIX])}
    return {**body, **changes}


class Platform:
    """One keep-alive connection with a valid token, and the upload store."""

    def __init__(self, sim: Simulator | None = None, *, block: int = 1000,
                 concurrency: int = 2) -> None:
        self.sim = sim or make_sim()
        self.store: UploadStore = sim_uploads(self.sim)
        self.store.config.block_size = block
        self.store.config.concurrency = concurrency
        self.token = token_for(self.sim)
        self.http = HttpClient(self.sim)

    def post(self, path: str, body: Any, scope: str = "users/U") -> Reply:
        return self.http.request("POST", f"/v2/{scope}/{path}", json_body=body,
                                 token=self.token)

    def prepare(self, data: bytes, scope: str = "users/U", **changes: Any) -> Reply:
        return self.post("upload_prepare", announce(data, **changes), scope)

    def put(self, url: str, data: bytes, headers: list[tuple[str, str]] | None = None
            ) -> Reply:
        assert url.startswith(f"http://{HOST}/")
        return self.http.request("PUT", url[len(f"http://{HOST}"):], body=data,
                                 headers=headers)

    def finish(self, plan: dict[str, Any], index: int, data: bytes,
               scope: str = "users/U") -> Reply:
        return self.post("upload_part_finish", {"upload_id": plan["upload_id"],
                                                "part_index": index,
                                                "block_size": len(data), "md5": md5(data)},
                         scope)

    def complete(self, plan: dict[str, Any], scope: str = "users/U", **extra: Any) -> Reply:
        return self.post("files", {"upload_id": plan["upload_id"], **extra}, scope)

    def upload(self, data: bytes, scope: str = "users/U") -> tuple[dict[str, Any], Reply]:
        plan = self.prepare(data, scope).json()
        for index, part in self.parts(plan, data):
            assert self.put(self.url(plan, index), part).status == 200
            assert self.finish(plan, index, part, scope).json() == {}
        return plan, self.complete(plan, scope)

    @staticmethod
    def parts(plan: dict[str, Any], data: bytes) -> list[tuple[int, bytes]]:
        block = int(plan["block_size"])
        base = min(int(p["index"]) for p in plan["parts"])
        return [(int(p["index"]), data[(int(p["index"]) - base) * block:
                                       (int(p["index"]) - base + 1) * block])
                for p in plan["parts"]]

    @staticmethod
    def url(plan: dict[str, Any], index: int) -> str:
        return str(next(p["presigned_url"] for p in plan["parts"]
                        if int(p["index"]) == index))


# --------------------------------------------------------------------------- prepare

def test_prepare_answers_a_plan_shaped_like_od2() -> None:
    platform = Platform(block=1000, concurrency=3)
    data = blob(2500)
    reply = platform.prepare(data)
    assert reply.status == 200
    plan = reply.json()
    upload_id = plan["upload_id"]
    sign = plan["parts"][0]["presigned_url"].rsplit("sign=", 1)[1]
    assert plan == {
        "upload_id": upload_id, "block_size": "1000",
        "parts": [{"index": i, "presigned_url":
                   f"http://{HOST}/presigned/{upload_id}/{i}?sign={sign}",
                   "block_size": size} for i, size in ((1, "1000"), (2, "1000"), (3, "500"))],
        "upload_config": {"concurrency": 3, "retry_timeout": 300, "retry_delay": 1},
    }
    assert upload_id.startswith("UP") and platform.store.open_uploads == 1
    assert platform.store.counters.prepares == 1


def test_the_index_base_and_number_spelling_are_configurable() -> None:
    platform = Platform(block=1000)
    platform.store.config.index_base = 0
    platform.store.config.numbers_as_strings = False
    platform.store.config.presigned_base = "http://cos.example.test/"
    plan = platform.prepare(blob(1500)).json()
    assert plan["block_size"] == 1000
    assert [(p["index"], p["block_size"]) for p in plan["parts"]] == [(0, 1000), (1, 500)]
    assert plan["parts"][0]["presigned_url"].startswith(
        f"http://cos.example.test/presigned/{plan['upload_id']}/0?sign=")


def test_a_zero_based_plan_uploads_and_verifies() -> None:
    platform = Platform(block=1000)
    platform.store.config.index_base = 0
    data = blob(2100)
    plan, done = platform.upload(data)
    assert [int(p["index"]) for p in plan["parts"]] == [0, 1, 2]
    assert done.status == 200 and platform.store.stored[-1].verified


def test_file_size_may_be_a_decimal_string_as_od2_declares() -> None:
    platform = Platform()
    data = blob(1200)
    assert platform.prepare(data, file_size="1200").status == 200


@pytest.mark.parametrize("changes", [
    {"file_type": 5}, {"file_type": True}, {"file_size": 0}, {"file_size": -3},
    {"file_size": "12x"}, {"file_name": ""}, {"file_name": 7}, {"md5": "ABC"},
    {"md5": "A" * 32}, {"sha1": "0" * 32}, {"md5_10m": None},
])
def test_prepare_refuses_an_incomplete_announcement(changes: dict[str, Any]) -> None:
    platform = Platform()
    reply = platform.prepare(blob(100), **changes)
    assert reply.status == 400 and reply.json()["code"] == 40061001
    assert platform.store.open_uploads == 0


def test_prepare_refuses_a_body_that_is_not_a_json_object() -> None:
    platform = Platform()
    reply = platform.http.request("POST", "/v2/users/U/upload_prepare", body=b"[1]",
                                  token=platform.token)
    assert reply.status == 400 and reply.json()["code"] == 40061001


def test_a_file_over_200_mib_gets_850031() -> None:
    platform = Platform()
    reply = platform.prepare(b"x", file_size=200 * 1024 * 1024 + 1)
    assert reply.json()["code"] == 850031


def test_a_huge_file_gets_a_larger_block_instead_of_too_many_parts() -> None:
    platform = Platform(block=1024)
    size = 200 * 1024 * 1024
    plan = platform.prepare(b"x", file_size=size).json()
    assert len(plan["parts"]) <= MAX_PARTS
    assert int(plan["block_size"]) * len(plan["parts"]) >= size


def test_prepare_needs_the_token() -> None:
    platform = Platform()
    reply = platform.http.request("POST", "/v2/users/U/upload_prepare",
                                  json_body=announce(b"abc"))
    assert reply.status == 401


# ------------------------------------------------------------------ the whole saga

def test_a_chunked_upload_is_verified_end_to_end() -> None:
    platform = Platform(block=1000)
    data = blob(2500)
    plan, done = platform.upload(data, scope="groups/G")
    assert done.status == 200
    answer = done.json()
    assert set(answer) == {"file_uuid", "file_info", "ttl"} and answer["ttl"] == 3600
    stored = platform.store.stored[-1]
    assert stored == StoredMedia(
        method="chunked", scope="group", target="G", file_type=4,
        file_info=answer["file_info"], file_uuid=answer["file_uuid"],
        upload_id=plan["upload_id"], file_name="r.bin", size=2500,
        hashes=stored.hashes, parts=3, verified=True)
    assert stored.hashes is not None and stored.hashes.md5 == md5(data)
    counters = platform.store.counters
    assert (counters.parts_put, counters.parts_finished, counters.files_verified) == (3, 3, 1)
    assert counters.bytes_received == 2500 and counters.puts_with_authorization == 0
    assert platform.store.open_uploads == 0 and platform.store.buffered_bytes == 0


def test_md5_10m_is_checked_over_the_first_10002432_bytes() -> None:
    platform = Platform(block=4 * 1024 * 1024)
    data = blob(PREFIX + 4096)
    plan = platform.prepare(data, md5_10m=md5(data[:10 * 1024 * 1024])).json()  # NB's prefix
    for index, part in platform.parts(plan, data):
        platform.put(platform.url(plan, index), part)
        platform.finish(plan, index, part)
    reply = platform.complete(plan)
    assert reply.status == 400
    assert "md5_10m of the assembled file" in reply.json()["message"]
    assert platform.store.stored[-1].problem.startswith("the md5_10m")
    assert platform.store.counters.hash_mismatches == 1
    # The right prefix passes.
    assert Platform(block=4 * 1024 * 1024).upload(data)[1].status == 200


def test_a_wrong_whole_file_digest_fails_completion_and_forgets_the_upload() -> None:
    platform = Platform(block=1000)
    data = blob(1800)
    plan = platform.prepare(data, sha1="0" * 40).json()
    for index, part in platform.parts(plan, data):
        platform.put(platform.url(plan, index), part)
        platform.finish(plan, index, part)
    reply = platform.complete(plan)
    assert reply.status == 400 and "sha1" in reply.json()["message"]
    stored = platform.store.stored[-1]
    assert not stored.verified and stored.file_info is None
    assert platform.complete(plan).json()["message"] == "unknown upload_id"


def test_a_retried_completion_gets_the_same_file_info() -> None:
    platform = Platform(block=1000)
    plan, done = platform.upload(blob(1500))
    assert platform.complete(plan).json() == done.json()
    assert platform.store.counters.files_verified == 1


def test_completion_waits_for_every_part_finish() -> None:
    platform = Platform(block=1000)
    data = blob(2000)
    plan = platform.prepare(data).json()
    (i1, p1), (i2, p2) = platform.parts(plan, data)
    platform.put(platform.url(plan, i1), p1)
    platform.put(platform.url(plan, i2), p2)
    platform.finish(plan, i1, p1)
    reply = platform.complete(plan)
    assert reply.status == 400 and reply.json()["message"] == (
        "1 part(s) not finished, first 2")
    platform.finish(plan, i2, p2)
    assert platform.complete(plan).status == 200


def test_completion_is_bound_to_the_prepare_s_chat() -> None:
    platform = Platform(block=1000)
    data = blob(500)
    plan = platform.prepare(data, scope="users/U").json()
    platform.put(platform.url(plan, 1), data)
    assert platform.finish(plan, 1, data, scope="users/OTHER").json()["message"] == (
        "unknown upload_id")
    platform.finish(plan, 1, data)
    assert platform.complete(plan, scope="groups/U").status == 400
    assert platform.complete(plan, scope="users/U").status == 200


def test_completion_with_srv_send_msg_sends_the_media_actively() -> None:
    platform = Platform(block=1000)
    data = blob(300)
    plan = platform.prepare(data).json()
    platform.put(platform.url(plan, 1), data)
    platform.finish(plan, 1, data)
    answer = platform.complete(plan, srv_send_msg=True).json()
    sent = platform.sim.sent_messages[-1]
    assert answer["id"] == sent.id and not sent.passive
    assert sent.body == {"msg_type": 7, "media": {"file_info": answer["file_info"]}}
    assert platform.store.stored[-1].message_id == sent.id


# ------------------------------------------------------------------ pre-signed PUT

def test_parts_arriving_out_of_order_are_hashed_in_file_order() -> None:
    platform = Platform(block=1000, concurrency=4)
    data = blob(3500)
    plan = platform.prepare(data).json()
    parts = platform.parts(plan, data)
    for index, part in reversed(parts):
        assert platform.put(platform.url(plan, index), part).status == 200
    assert platform.store.counters.peak_buffered == 2500  # parts 4, 3, 2 waited for 1
    assert platform.store.buffered_bytes == 0
    for index, part in parts:
        platform.finish(plan, index, part)
    assert platform.complete(plan).status == 200
    assert platform.store.stored[-1].verified


def test_the_out_of_order_backlog_is_bounded_by_concurrency_times_block() -> None:
    platform = Platform(block=1000, concurrency=2)
    data = blob(4000)
    plan = platform.prepare(data).json()
    parts = dict(platform.parts(plan, data))
    assert platform.put(platform.url(plan, 2), parts[2]).status == 200
    assert platform.put(platform.url(plan, 3), parts[3]).status == 200
    refused = platform.put(platform.url(plan, 4), parts[4])
    assert refused.status == 503  # a retryable answer: the client tries again later
    assert platform.store.buffered_bytes == 2000
    assert platform.store.counters.parts_refused == 1
    platform.put(platform.url(plan, 1), parts[1])
    assert platform.store.buffered_bytes == 0
    assert platform.put(platform.url(plan, 4), parts[4]).status == 200


def test_the_store_wide_backlog_cap_applies_across_uploads() -> None:
    platform = Platform(block=1000, concurrency=4)
    platform.store.config.max_buffered = 1500
    data = blob(3000)
    plan = platform.prepare(data).json()
    parts = dict(platform.parts(plan, data))
    assert platform.put(platform.url(plan, 2), parts[2]).status == 200
    assert platform.put(platform.url(plan, 3), parts[3]).status == 503


def test_a_retried_put_replaces_a_waiting_part() -> None:
    platform = Platform(block=1000, concurrency=3)
    data = blob(3000)
    plan = platform.prepare(data).json()
    parts = dict(platform.parts(plan, data))
    platform.put(platform.url(plan, 2), b"\0" * 1000)
    platform.put(platform.url(plan, 2), parts[2])
    assert platform.store.buffered_bytes == 1000
    for index in (1, 3):
        platform.put(platform.url(plan, index), parts[index])
    for index in (1, 2, 3):
        assert platform.finish(plan, index, parts[index]).json() == {}
    assert platform.complete(plan).status == 200


def test_a_part_stored_again_with_other_bytes_after_hashing_fails_completion() -> None:
    platform = Platform(block=1000)
    data = blob(2000)
    plan = platform.prepare(data).json()
    parts = dict(platform.parts(plan, data))
    platform.put(platform.url(plan, 1), parts[1])
    platform.put(platform.url(plan, 1), parts[1])  # the same bytes again: harmless
    assert platform.store._open[plan["upload_id"]].problem == ""
    platform.put(platform.url(plan, 1), b"\1" * 1000)
    platform.put(platform.url(plan, 2), parts[2])
    platform.finish(plan, 1, b"\1" * 1000)
    platform.finish(plan, 2, parts[2])
    reply = platform.complete(plan)
    assert reply.status == 400 and "stored again" in reply.json()["message"]


def test_a_put_carrying_authorization_is_counted() -> None:
    platform = Platform(block=1000)
    data = blob(10)
    plan = platform.prepare(data).json()
    reply = platform.put(platform.url(plan, 1), data,
                         headers=[("Authorization", f"QQBot {platform.token}")])
    assert reply.status == 200
    assert platform.store.counters.puts_with_authorization == 1


def test_a_put_answers_like_a_bucket() -> None:
    platform = Platform(block=1000)
    data = blob(10)
    plan = platform.prepare(data).json()
    reply = platform.put(platform.url(plan, 1), data)
    assert reply.status == 200 and reply.body == b""
    assert reply.headers["etag"] == f'"{md5(data)}"'
    recorded = platform.sim.requests[-1]
    assert recorded.method == "PUT" and recorded.body == b""  # parts are not kept


@pytest.mark.parametrize(("mangle", "status"), [
    (lambda url: url.replace("sign=", "sign=x"), 403),
    (lambda url: url.split("?")[0], 403),
    (lambda url: url.replace("/presigned/UP", "/presigned/XX"), 404),
    (lambda url: url.replace("/1?", "/9?"), 404),
    (lambda url: url.replace("/1?", "/one?"), 404),
])
def test_a_put_to_a_wrong_url_is_refused(mangle: Any, status: int) -> None:
    platform = Platform(block=1000)
    data = blob(10)
    plan = platform.prepare(data).json()
    reply = platform.put(mangle(platform.url(plan, 1)), data)
    assert reply.status == status
    assert platform.store.counters.parts_refused == 1


def test_a_put_of_the_wrong_length_is_refused() -> None:
    platform = Platform(block=1000)
    data = blob(1500)
    plan = platform.prepare(data).json()
    reply = platform.put(platform.url(plan, 1), data[:999])
    assert reply.status == 400 and reply.json()["message"] == (
        "part 1 must be 1000 bytes, got 999")


def test_only_the_presigned_route_takes_large_bodies() -> None:
    sim = make_sim()
    token = token_for(sim)
    big = b"x" * (2 << 20)
    reply = HttpClient(sim).request("POST", "/v2/users/U/messages", body=big, token=token)
    assert reply.status == 413  # the simulator's default limit (1 MiB) still holds
    platform = Platform(sim, block=2 << 20)
    plan = platform.prepare(big).json()
    assert platform.put(platform.url(plan, 1), big).status == 200


@pytest.mark.parametrize(("path", "limit"), [
    ("/presigned/UPx/1?sign=s", PRESIGNED_MAX_BODY),
    ("/v2/users/U/files", FILES_MAX_BODY),
])
def test_bodies_over_the_route_limit_get_413_from_the_length_header(path: str,
                                                                   limit: int) -> None:
    sim = make_sim()
    http = HttpClient(sim)
    method = "PUT" if path.startswith("/presigned") else "POST"
    head = (f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n"
            f"Content-Length: {limit + 1}\r\n\r\n").encode()
    reply = http.decode(http.raw(head))
    assert reply.status == 413 and http.conn.should_close


# ------------------------------------------------------------------ part_finish

def test_part_finish_checks_the_md5_and_size_of_the_stored_part() -> None:
    platform = Platform(block=1000)
    data = blob(1000)
    plan = platform.prepare(data).json()
    assert platform.finish(plan, 1, data).json()["message"] == "part 1 was not uploaded"
    platform.put(platform.url(plan, 1), data)
    wrong = platform.post("upload_part_finish", {"upload_id": plan["upload_id"],
                                                 "part_index": 1, "block_size": 1000,
                                                 "md5": md5(b"other")})
    assert wrong.status == 400 and "md5 does not match" in wrong.json()["message"]
    short = platform.post("upload_part_finish", {"upload_id": plan["upload_id"],
                                                 "part_index": "1", "block_size": "999",
                                                 "md5": md5(data)})
    assert short.status == 400
    assert platform.store.counters.part_mismatches == 2
    ok = platform.post("upload_part_finish", {"upload_id": plan["upload_id"],
                                              "part_index": "1", "block_size": "1000",
                                              "md5": md5(data)})
    assert ok.json() == {}  # string numbers, as OD2 declares them, are accepted


@pytest.mark.parametrize("body", [
    {"part_index": 1, "block_size": 10},
    {"part_index": 7, "block_size": 10, "md5": "x"},
    {"part_index": True, "block_size": 10, "md5": "x"},
    {"part_index": 1, "md5": "x"},
])
def test_part_finish_refuses_incomplete_bodies(body: dict[str, Any]) -> None:
    platform = Platform(block=1000)
    plan = platform.prepare(blob(10)).json()
    reply = platform.post("upload_part_finish", {"upload_id": plan["upload_id"], **body})
    assert reply.status == 400 and reply.json()["code"] == 40061001


def test_upload_busy_answers_40093001_n_times_then_accepts() -> None:
    platform = Platform(block=1000)
    platform.sim.faults.upload_busy = 2
    data = blob(100)
    plan = platform.prepare(data).json()
    platform.put(platform.url(plan, 1), data)
    codes = [platform.finish(plan, 1, data).json().get("code") for _ in range(3)]
    assert codes == [40093001, 40093001, None]
    assert platform.store.counters.busy_answers == 2
    assert platform.sim.faults.upload_busy == 0 and platform.sim.counters.faults_fired == 2


# ------------------------------------------------------------------ daily limit

def test_the_daily_limit_fault_answers_40093002_on_prepare() -> None:
    platform = Platform()
    platform.sim.faults.upload_daily_limit = 1
    first = platform.prepare(blob(10))
    assert (first.status, first.json()["code"]) == (400, 40093002)
    assert platform.prepare(blob(10)).status == 200
    assert platform.store.counters.daily_limit_answers == 1


def test_the_daily_quota_counts_prepared_bytes_until_reset() -> None:
    platform = Platform()
    platform.store.config.daily_quota = 2500
    assert platform.prepare(blob(2000)).status == 200
    assert platform.prepare(blob(501)).json()["code"] == 40093002
    assert platform.prepare(blob(500)).status == 200
    assert platform.store.quota_used == 2500
    platform.store.reset_quota()
    assert platform.prepare(blob(2000)).status == 200


# ------------------------------------------------------------------ single call

def test_files_by_url_hands_out_a_file_info() -> None:
    platform = Platform()
    reply = platform.post("files", {"file_type": 1, "url": "https://img.example/a.png",
                                    "srv_send_msg": False}, scope="groups/G")
    assert reply.status == 200 and set(reply.json()) == {"file_uuid", "file_info", "ttl"}
    stored = platform.store.stored[-1]
    assert (stored.method, stored.scope, stored.url) == ("url", "group",
                                                         "https://img.example/a.png")
    assert platform.store.counters.single_uploads == 1


def test_a_url_the_platform_cannot_fetch_gets_850026() -> None:
    reply = Platform().post("files", {"file_type": 1, "url": "https://cdn.invalid/a.png"})
    assert reply.json()["code"] == 850026


def test_files_by_file_data_records_the_digests() -> None:
    platform = Platform()
    data = blob(30_000)
    reply = platform.post("files", {"file_type": 4, "file_name": "a.bin",
                                    "file_data": base64.b64encode(data).decode()})
    assert reply.status == 200
    stored = platform.store.stored[-1]
    assert stored.method == "file_data" and stored.size == 30_000 and stored.verified
    assert stored.hashes is not None and stored.hashes.sha1 == hashlib.sha1(data).hexdigest()
    assert stored.file_name == "a.bin" and stored.file_info == reply.json()["file_info"]
    assert len(platform.sim.requests[-1].body) == 4096  # the recorded body is capped


def test_files_with_srv_send_msg_sends_an_active_message() -> None:
    platform = Platform()
    reply = platform.post("files", {"file_type": 1, "url": "https://img.example/a.png",
                                    "srv_send_msg": True})
    assert reply.json()["id"] == platform.sim.sent_messages[-1].id
    platform.sim.allow_active_messages = False
    refused = platform.post("files", {"file_type": 1, "url": "https://img.example/a.png",
                                      "srv_send_msg": True})
    assert refused.json()["code"] == 40034105


@pytest.mark.parametrize("body", [
    {"file_type": 1},
    {"file_type": 1, "url": "https://a.example/x", "file_data": "eHg="},
    {"file_type": 9, "url": "https://a.example/x"},
    {"file_type": 1, "url": "file:///etc/passwd"},
    {"file_type": 1, "url": 5},
    {"file_type": 4, "file_data": "not base64!"},
    {"file_type": 4, "file_data": 17},
])
def test_files_refuses_bad_bodies(body: dict[str, Any]) -> None:
    reply = Platform().post("files", body)
    assert reply.status == 400 and reply.json()["code"] == 40061001


# ------------------------------------------------------------------ scripted HTTP faults

@pytest.mark.parametrize(("fault", "status", "code"), [
    (HttpFault(path="/upload_prepare", status=413), 413, 413),
    (HttpFault(path="/upload_prepare", status=401, code=11244), 401, 11244),
    (HttpFault(path="/upload_prepare", status=429), 429, 429),
    (HttpFault(path="/upload_prepare", status=200, code=850027), 200, 850027),
])
def test_a_scripted_fault_answers_once_with_a_json_error(fault: HttpFault, status: int,
                                                         code: int) -> None:
    platform = Platform()
    platform.sim.faults.http_errors = (fault,)
    reply = platform.prepare(blob(10))
    assert reply.status == status
    assert reply.json() == {"code": code, "message": "injected fault", "err_code": code,
                            "trace_id": reply.headers["x-tps-trace-id"]}
    assert not platform.sim.faults.http_errors
    assert platform.prepare(blob(10)).status == 200
    assert platform.sim.counters.faults_fired == 1


def test_a_bare_5xx_fault_answers_with_an_html_page() -> None:
    platform = Platform()
    data = blob(10)
    plan = platform.prepare(data).json()
    platform.sim.faults.http_errors = (HttpFault(path="/presigned/", status=502, times=2),)
    first = platform.put(platform.url(plan, 1), data)
    assert first.status == 502 and first.headers["content-type"] == "text/html"
    assert b"<h1>502</h1>" in first.body
    assert platform.sim.faults.http_errors == (
        HttpFault(path="/presigned/", status=502, times=1),)
    assert platform.put(platform.url(plan, 1), data).status == 502
    assert platform.put(platform.url(plan, 1), data).status == 200


def test_faults_match_method_and_path_and_keep_their_order() -> None:
    platform = Platform()
    platform.sim.faults.http_errors = (
        HttpFault(path="/files", status=500, code=850027, method="GET"),
        HttpFault(path="/upload_part_finish", status=200, code=40093001),
        HttpFault(path="/files", status=503, code=503),
    )
    reply = platform.post("files", {"file_type": 1, "url": "https://a.example/x"})
    assert (reply.status, reply.json()["code"]) == (503, 503)
    assert [f.path for f in platform.sim.faults.http_errors] == ["/files",
                                                                 "/upload_part_finish"]


def test_faults_apply_to_every_built_in_route_but_only_after_authentication() -> None:
    sim = make_sim()
    sim.faults.http_errors = (HttpFault(path="/gateway", status=503, code=503),)
    http = HttpClient(sim)
    assert http.request("GET", "/gateway").status == 401  # no token: auth comes first
    assert http.request("GET", "/gateway", token=token_for(sim)).status == 503


# ------------------------------------------------------------------ memory and bounds

def test_open_uploads_are_capped_and_the_oldest_forgotten() -> None:
    platform = Platform(block=1000, concurrency=3)
    platform.store.config.max_open_uploads = 2
    data = blob(3000)
    first = platform.prepare(data).json()
    platform.put(platform.url(first, 2), data[1000:2000])
    assert platform.store.buffered_bytes == 1000
    platform.prepare(data)
    platform.prepare(data)
    assert platform.store.open_uploads == 2
    assert platform.store.buffered_bytes == 0  # the forgotten upload's backlog is freed
    assert platform.put(platform.url(first, 1), data[:1000]).status == 404


def test_the_store_is_made_once_per_simulator() -> None:
    a, b = make_sim(), make_sim()
    assert sim_uploads(a) is sim_uploads(a)
    assert sim_uploads(a) is not sim_uploads(b)
    assert repr(sim_uploads(a)) == "UploadStore(open=0, stored=0, buffered=0)"


def test_with_verification_off_parts_are_stored_unhashed_and_completion_is_unchecked(
        ) -> None:
    platform = Platform(block=1000)
    platform.store.config.verify = False
    data = blob(1500)
    plan = platform.prepare(data, sha1="0" * 40).json()  # a wrong digest goes unnoticed
    for index, part in platform.parts(plan, data):
        reply = platform.put(platform.url(plan, index), part)
        assert reply.status == 200 and "etag" not in reply.headers
        platform.post("upload_part_finish", {"upload_id": plan["upload_id"],
                                             "part_index": index,
                                             "block_size": len(part), "md5": "x"})
    assert platform.complete(plan).status == 200
    stored = platform.store.stored[-1]
    assert (stored.verified, stored.problem) == (False,
                                                 "digests not checked (config.verify off)")
    assert platform.store.counters.files_verified == 0
    assert platform.store.counters.parts_put == 2
