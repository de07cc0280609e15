"""The simulator's media endpoints: single-call ``/files`` and the chunked upload, with
every hash checked (rest.md §3, §4).

Chunked, as the platform documents it (§4)::

    POST …/upload_prepare       {file_type, file_name, file_size, md5, sha1, md5_10m}
        → {upload_id, block_size, parts: [{index, presigned_url, block_size}],
           upload_config: {concurrency, retry_timeout, retry_delay}}
    PUT  /presigned/<upload_id>/<index>?sign=…   the part's raw bytes, no Authorization
    POST …/upload_part_finish   {upload_id, part_index, block_size, md5}   → {}
    POST …/files                {upload_id}  → {file_uuid, file_info, ttl}

The pre-signed URLs point back at the simulator (another "bucket" on the same server)
and carry their own ``sign``; a ``PUT`` that brings an ``Authorization`` header anyway is
counted in :attr:`UploadCounters.puts_with_authorization` (rest.md §4.13: the token must
not go there).  ``part_finish`` is accepted only for a part that was stored with exactly
``block_size`` bytes whose md5 is the announced one (§4.11, §4.16); completion only when
every part was finished and the assembled file has the ``md5``, ``sha1`` and ``md5_10m``
announced at prepare (§4.3–4.4).  Single-call ``/files`` takes a public ``url`` (not
fetched: a host under ``.invalid`` fails with 850026) or base64 ``file_data`` (§3.4).

The state (plans, parts, digests, records) lives in the
:class:`~qqproto.simulator.UploadStore` of :mod:`qqproto.simulator._uploads`; these
handlers parse and judge the requests and answer them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, urlsplit

from .._numbers import parse_int
from ..upload._hashing import FileHashes, hash_bytes
from ._records import SentMessage
from ._rest import (
    Route,
    SimRequest,
    SimResponse,
    bad_params,
    chat_json,
    error_response,
    json_response,
)
from ._uploads import PRESIGNED_MAX_BODY, OpenUpload, StoredMedia, UploadStore, sim_uploads

if TYPE_CHECKING:
    from ._platform import Platform

__all__ = ["FILES_MAX_BODY", "MAX_FILE_SIZE", "UPLOAD_ROUTES"]

_MIB: Final = 1024 * 1024
#: rest.md §3.7: the hard limit for every file type (850031 over it).
MAX_FILE_SIZE: Final = 200 * _MIB
#: ``/files`` takes base64 ``file_data``: 4 MiB of data (the inline rule) and its JSON.
FILES_MAX_BODY: Final = 8 * _MIB
#: How much of a ``/files`` body ``sim.requests`` keeps.
FILES_RECORD_BODY: Final = 4096

# rest.md §3.9, §4.17, §4.25.
UPLOAD_CHANNEL_BUSY: Final = 40093001
UPLOAD_DAILY_LIMIT: Final = 40093002
MEDIA_FETCH_FAILED: Final = 850026
FILE_TOO_LARGE: Final = 850031
ACTIVE_NOT_ALLOWED: Final = 40034105
_HEX: Final = re.compile(r"[0-9a-f]+\Z")


# ----------------------------------------------------------------------------- parsing

def _int(value: object) -> int | None:
    """A non-negative int from a JSON number or a decimal string (rest.md §4.5: both)."""
    return parse_int(value, minimum=0, maximum=10**18 - 1)


def _hex(value: object, length: int) -> str | None:
    if isinstance(value, str) and len(value) == length and _HEX.match(value):
        return value
    return None


def _file_type(body: dict[str, Any]) -> int | None:
    value = _int(body.get("file_type"))
    return value if value in (1, 2, 3, 4) else None  # rest.md §3.2


def _media_answer(sim: Platform, request: SimRequest, store: UploadStore, *, scope: str,
                  target: str, body: dict[str, Any], now: float
                  ) -> dict[str, Any] | SimResponse:
    """The answer for a stored file.  With ``srv_send_msg`` the media also goes out at
    once as an active message (rest.md §2.4.9), whose id the answer carries."""
    answer = {"file_uuid": sim.ids.uuid(), "file_info": "SIMFILE" + sim.ids.hex(24),
              "ttl": store.config.ttl}
    if body.get("srv_send_msg") is True:
        if not sim.allow_active_messages:
            return error_response(request, 400, ACTIVE_NOT_ALLOWED,
                                  "active messages are not allowed")
        message = SentMessage(id=sim.ids.message_id(), scope=scope, target=target, at=now,
                              body={"msg_type": 7, "media": {"file_info": answer["file_info"]}})
        sim.store_sent(message)
        answer["id"] = message.id
    return answer


# ----------------------------------------------------------------------------- handlers

def _prepare(sim: Platform, request: SimRequest, *, scope: str, target: str,
             body: dict[str, Any], now: float) -> SimResponse:
    store = sim_uploads(sim)
    if sim.faults.upload_daily_limit > 0:
        sim.faults.upload_daily_limit -= 1
        sim.counters.faults_fired += 1
        store.counters.daily_limit_answers += 1
        return error_response(request, 400, UPLOAD_DAILY_LIMIT,
                              "daily upload quota exceeded")
    file_type = _file_type(body)
    size = _int(body.get("file_size"))
    name = body.get("file_name")
    md5, sha1 = _hex(body.get("md5"), 32), _hex(body.get("sha1"), 40)
    md5_10m = _hex(body.get("md5_10m"), 32)
    if file_type is None or not size or not isinstance(name, str) or not name:
        return bad_params(request, "file_type, file_name and a positive file_size are required")
    if md5 is None or sha1 is None or md5_10m is None:
        return bad_params(request, "md5, sha1 and md5_10m must be lowercase hex digests")
    if size > MAX_FILE_SIZE:
        return error_response(request, 400, FILE_TOO_LARGE, "file too large")
    if not store.charge_quota(size):
        store.counters.daily_limit_answers += 1
        return error_response(request, 400, UPLOAD_DAILY_LIMIT,
                              "daily upload quota exceeded")
    store.counters.prepares += 1
    hashes = FileHashes(size=size, md5=md5, sha1=sha1, md5_10m=md5_10m)
    return json_response(store.open_upload(
        sim.ids, request.header("Host"), scope=scope, target=target, file_type=file_type,
        file_name=name, hashes=hashes))


def _presigned_put(sim: Platform, request: SimRequest, params: dict[str, str],
                   now: float) -> SimResponse:
    """The "bucket": stores one part; no token, its own ``sign`` (rest.md §4.13)."""
    store = sim_uploads(sim)
    counters = store.counters
    if request.header("Authorization") is not None:
        counters.puts_with_authorization += 1
        sim.log.warning("a pre-signed PUT carried an Authorization header")
    upload = store.find(params["upload_id"])
    number = _int(params["index"])
    part = upload.parts.get(number) if upload is not None and number is not None else None
    if upload is None or number is None or part is None:
        counters.parts_refused += 1
        return error_response(request, 404, 404, "no such upload or part")
    if parse_qs(request.query).get("sign") != [upload.sign]:
        counters.parts_refused += 1
        return error_response(request, 403, 403, "the pre-signed URL's sign does not match")
    data = request.body
    if len(data) != part.length:
        counters.parts_refused += 1
        return bad_params(request, f"part {number} must be {part.length} bytes, got {len(data)}")
    if not store.config.verify:
        part.md5 = ""
        counters.parts_put += 1
        counters.bytes_received += len(data)
        return SimResponse(status=200)
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    refused = store.store_part(upload, number, part, data, md5)
    if refused is not None:
        counters.parts_refused += 1
        return error_response(request, 503, 503, refused)
    counters.parts_put += 1
    counters.bytes_received += len(data)
    return SimResponse(status=200, headers=(("ETag", f'"{md5}"'),))


def _upload_for(store: UploadStore, request: SimRequest, scope: str, target: str,
                upload_id: object) -> OpenUpload | SimResponse:
    upload = store.find(upload_id)
    if upload is None or upload.scope != scope or upload.target != target:
        return bad_params(request, "unknown upload_id")
    return upload


def _part_finish(sim: Platform, request: SimRequest, *, scope: str, target: str,
                 body: dict[str, Any], now: float) -> SimResponse:
    store = sim_uploads(sim)
    if sim.faults.upload_busy > 0:  # rest.md §4.17: retry until retry_timeout
        sim.faults.upload_busy -= 1
        sim.counters.faults_fired += 1
        store.counters.busy_answers += 1
        return error_response(request, 400, UPLOAD_CHANNEL_BUSY,
                              "upload channel busy, retry")
    upload = _upload_for(store, request, scope, target, body.get("upload_id"))
    if isinstance(upload, SimResponse):
        return upload
    number, size = _int(body.get("part_index")), _int(body.get("block_size"))
    part = upload.parts.get(number) if number is not None else None
    if part is None or size is None or not isinstance(body.get("md5"), str):
        return bad_params(request, "part_index, block_size and md5 are required")
    if part.md5 is None:
        return bad_params(request, f"part {number} was not uploaded")
    checked = store.config.verify
    if size != part.length or (checked and body["md5"] != part.md5):  # §4.11, §4.16
        store.counters.part_mismatches += 1
        return bad_params(request, f"part {number}: block_size or md5 does not match the "
                             "stored bytes")
    part.finished = True
    store.counters.parts_finished += 1
    return json_response({})


def _complete(sim: Platform, request: SimRequest, *, scope: str, target: str,
              body: dict[str, Any], now: float) -> SimResponse:
    store = sim_uploads(sim)
    upload_id = body.get("upload_id")
    earlier = store.answer_for(upload_id)
    if earlier is not None:  # a retried completion gets the same file (rest.md §4.23)
        return json_response(earlier)
    upload = _upload_for(store, request, scope, target, upload_id)
    if isinstance(upload, SimResponse):
        return upload
    waiting = [n for n, part in upload.parts.items() if not part.finished]
    if waiting:
        return bad_params(request, f"{len(waiting)} part(s) not finished, first {waiting[0]}")
    problem = store.close(upload)
    record = StoredMedia(method="chunked", scope=scope, target=target,
                         file_type=upload.file_type, file_info=None,
                         upload_id=upload.upload_id, file_name=upload.file_name,
                         size=upload.size, hashes=upload.hashes, parts=len(upload.parts))
    if problem:
        store.counters.hash_mismatches += 1
        store.stored.append(replace(record, problem=problem))
        return bad_params(request, problem)
    store.counters.files_verified += store.config.verify
    answer = _media_answer(sim, request, store, scope=scope, target=target, body=body,
                           now=now)
    if isinstance(answer, SimResponse):
        return answer
    store.remember_answer(upload.upload_id, answer)
    store.stored.append(replace(
        record, file_info=answer["file_info"], file_uuid=answer["file_uuid"],
        verified=store.config.verify, message_id=answer.get("id"),
        problem="" if store.config.verify else "digests not checked (config.verify off)"))
    return json_response(answer)


def _files(sim: Platform, request: SimRequest, *, scope: str, target: str,
           body: dict[str, Any], now: float) -> SimResponse:
    store = sim_uploads(sim)
    if body.get("upload_id") is not None:  # rest.md §4.22: chunked completion
        return _complete(sim, request, scope=scope, target=target, body=body, now=now)
    file_type = _file_type(body)
    url, data = body.get("url"), body.get("file_data")
    if file_type is None or (not url) == (not data):
        return bad_params(request, "file_type and exactly one of url and file_data are required")
    record = StoredMedia(method="url", scope=scope, target=target, file_type=file_type,
                         file_info=None, file_name=_opt_str(body.get("file_name")))
    if url:
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            return bad_params(request, "url must be a public http(s) URL")
        if (urlsplit(url).hostname or "").endswith(".invalid"):
            return error_response(request, 400, MEDIA_FETCH_FAILED,
                                  "the platform could not fetch the media")
        record = replace(record, url=url)
    else:
        try:
            raw = base64.b64decode(data, validate=True) if isinstance(data, str) else b""
        except (binascii.Error, ValueError):
            raw = b""
        if not raw:
            return bad_params(request, "file_data must be non-empty base64")
        if len(raw) > MAX_FILE_SIZE:  # pragma: no cover - the body limit comes first
            return error_response(request, 400, FILE_TOO_LARGE, "file too large")
        hashes = hash_bytes(raw)
        record = replace(record, method="file_data", size=len(raw), hashes=hashes,
                          verified=True)
    answer = _media_answer(sim, request, store, scope=scope, target=target, body=body,
                           now=now)
    if isinstance(answer, SimResponse):
        return answer
    store.counters.single_uploads += 1
    store.stored.append(replace(record, file_info=answer["file_info"],
                                 file_uuid=answer["file_uuid"],
                                 message_id=answer.get("id")))
    return json_response(answer)


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


_SCOPES: Final = (("c2c", "/v2/users/{openid}", "openid"),
                  ("group", "/v2/groups/{group_openid}", "group_openid"))

UPLOAD_ROUTES: Final = (
    *(route for scope, base, param in _SCOPES for route in (
        Route("POST", base + "/upload_prepare", chat_json(scope, param, _prepare)),
        Route("POST", base + "/upload_part_finish", chat_json(scope, param, _part_finish)),
        Route("POST", base + "/files", chat_json(scope, param, _files),
              max_body=FILES_MAX_BODY, record_body=FILES_RECORD_BODY),
    )),
    Route("PUT", "/presigned/{upload_id}/{index}", _presigned_put, auth=False,
          max_body=PRESIGNED_MAX_BODY, record_body=0),
)

