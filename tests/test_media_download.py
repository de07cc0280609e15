"""qqproto.media's download call, URL policy and file names, sans-IO.

Requests are compared whole; time moves by arithmetic (``call.get_timer()``).
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qqproto._endpoints import Endpoints
from qqproto._http import HttpRequest, HttpResponse
from qqproto._secret import Secret
from qqproto.errors import (
    DownloadExpiredError,
    DownloadFailedError,
    DownloadRefusedError,
    DownloadTooLargeError,
    LocalProtocolError,
)
from qqproto.media import (
    MAX_NAME_BYTES,
    DownloadCall,
    DownloadState,
    MediaPolicy,
    attachment_filename,
    check_url,
    redact_url,
    safe_filename,
)
from qqproto.models import Attachment
from qqproto.rest import TokenState

CDN = "https://multimedia.nt.qq.com.cn"
URL = CDN + "/download/a.jpg?appid=1&fileid=F&rkey=SECRETKEY"
POLICY = MediaPolicy()
PLAIN = (("Accept", "*/*"), ("Accept-Encoding", "identity"))


def ok(body: bytes = b"data", **headers: str) -> HttpResponse:
    return HttpResponse(status=200, headers=tuple(headers.items()), body=body)


def redirect(location: str, status: int = 302) -> HttpResponse:
    return HttpResponse(status=status, headers=(("Location", location),))


# ----------------------------------------------------------------------------- policy

@pytest.mark.parametrize("url", [
    URL, "https://gchat.qpic.cn/x", "https://qpic.cn/x", "https://MULTIMEDIA.nt.qq.com.cn/a"])
def test_the_platform_media_hosts_are_allowed_over_https(url: str) -> None:
    check_url(url, POLICY)


@pytest.mark.parametrize(("url", "why"), [
    ("http://multimedia.nt.qq.com.cn/a", "https only"),
    ("https://evil.example/a", "not on the media allow-list"),
    ("https://qpic.cn.evil.example/a", "not on the media allow-list"),
    ("https://127.0.0.1/a", "IP literal"),
    ("https://[::1]/a", "IP literal"),
    ("https://2130706433/a", "IP literal"),
    ("https://0x7f.1/a", "IP literal"),
    ("https://user:pw@multimedia.nt.qq.com.cn/a", "user-info"),
    ("https://@multimedia.nt.qq.com.cn/a", "user-info"),
    ("file:///etc/passwd", "without a host"),
    ("https://multimedia.nt.qq.com.cn:99999/a", "not a URL"),
])
def test_the_policy_refuses_before_any_request(url: str, why: str) -> None:
    with pytest.raises(DownloadRefusedError, match=why):
        check_url(url, POLICY)
    call = DownloadCall(url, policy=POLICY)
    assert call.next_request(0.0) is None
    assert call.done and isinstance(call.error, DownloadRefusedError)


def test_an_explicit_origin_allows_plain_http_to_that_origin_only() -> None:
    policy = MediaPolicy(origins=("http://127.0.0.1:8080",))
    check_url("http://127.0.0.1:8080/cdn/x", policy)
    for other in ("http://127.0.0.1:8081/cdn/x", "https://127.0.0.1:8080/cdn/x"):
        with pytest.raises(DownloadRefusedError):
            check_url(other, policy)
    assert MediaPolicy.from_env({"QQBOT_MEDIA_ORIGINS": " http://a:1 ,http://b:2"}).origins \
        == ("http://a:1", "http://b:2")
    with pytest.raises(ValueError, match="origin"):
        MediaPolicy(origins=("ftp://x",))
    with pytest.raises(TypeError):
        MediaPolicy(hosts="qpic.cn")  # type: ignore[arg-type]


def test_errors_and_reprs_never_show_the_signed_query() -> None:
    assert redact_url(URL) == CDN + "/download/a.jpg"
    call = DownloadCall(URL, policy=POLICY)
    call.next_request(0.0)
    call.receive_response(HttpResponse(status=403), 0.0)
    error = call.error
    assert isinstance(error, DownloadExpiredError)
    assert "SECRETKEY" not in f"{error} {error.url} {call!r}"


# ----------------------------------------------------------------------------- requests

def test_the_request_is_a_plain_get_without_a_token() -> None:
    call = DownloadCall(URL, policy=POLICY)
    assert call.next_request(5.0) == HttpRequest(method="GET", url=URL, headers=PLAIN,
                                                 timeout=60.0)
    assert call.next_request(5.0) is None  # one request at a time
    assert call.response_started(200, [("Content-Length", "4"),
                                       ("Content-Type", "image/jpeg")], 5.0)
    assert call.storing and call.receive_data(b"da") and call.receive_data(b"ta")
    call.response_ended(5.5)
    result = call.result()
    assert (result.size, result.content_type, result.final_url, result.attempts,
            result.redirects) == (4, "image/jpeg", URL, 1, 0)


def test_a_host_on_the_token_list_gets_the_token_after_fetching_one() -> None:
    tokens = TokenState(app_id="1", secret=Secret("s"), endpoints=Endpoints())
    policy = MediaPolicy(token_hosts=("multimedia.nt.qq.com.cn",))
    call = DownloadCall(URL, policy=policy, token_state=tokens)
    token_request = call.next_request(0.0)
    assert token_request is not None and token_request.url == Endpoints().token_url
    assert call.state is DownloadState.AWAITING_TOKEN and not call.storing
    assert call.response_started(200, (), 0.0)
    assert call.receive_data(b'{"access_token":"TOK","expires_in":"7200"}')
    call.response_ended(0.0)
    request = call.next_request(0.0)
    assert request is not None and request.headers == (*PLAIN, ("Authorization", "QQBot TOK"))
    assert "TOK" not in repr(request)
    # Another host of the same policy never sees it.
    other = DownloadCall("https://gchat.qpic.cn/x", policy=policy, token_state=tokens)
    first = other.next_request(0.0)
    assert first is not None and first.headers == PLAIN


def test_a_token_host_without_a_token_state_is_a_local_error() -> None:
    call = DownloadCall(URL, policy=MediaPolicy(token_hosts=(".nt.qq.com.cn",)))
    with pytest.raises(LocalProtocolError):
        call.next_request(0.0)


def test_redirects_are_followed_only_to_allowed_urls() -> None:
    call = DownloadCall(URL, policy=POLICY)
    call.next_request(0.0)
    call.receive_response(redirect("/second?rkey=2", 301), 0.0)
    second = call.next_request(0.0)
    assert second is not None and second.url == CDN + "/second?rkey=2"
    call.receive_response(redirect("https://gchat.qpic.cn/third"), 0.0)
    third = call.next_request(0.0)
    assert third is not None and third.url == "https://gchat.qpic.cn/third"
    call.receive_response(redirect("https://evil.example/steal"), 0.0)
    assert call.next_request(0.0) is None
    with pytest.raises(DownloadRefusedError, match=r"redirect refused: host 'evil\.example'"):
        call.result()


def test_too_many_redirects_stop() -> None:
    call = DownloadCall(URL, policy=MediaPolicy(max_redirects=2))
    for _ in range(3):
        call.next_request(0.0)
        call.receive_response(redirect(URL), 0.0)
    with pytest.raises(DownloadRefusedError, match="more than 2 redirects"):
        call.result()


# ----------------------------------------------------------------------------- retries

def test_5xx_and_429_are_retried_after_the_policys_delays_then_given_up() -> None:
    call = DownloadCall(URL, policy=POLICY)
    call.next_request(10.0)
    call.receive_response(HttpResponse(status=503), 10.0)
    assert call.get_timer() == 11.5 and call.next_request(11.0) is None
    call.handle_timer(11.0)  # too early: nothing happens
    assert call.state is DownloadState.BACKING_OFF
    call.handle_timer(11.5)
    call.next_request(11.5)
    call.receive_response(HttpResponse(status=429), 11.5)
    assert call.get_timer() == 14.5
    call.handle_timer(14.5)
    call.next_request(14.5)
    call.receive_response(HttpResponse(status=500), 15.0)
    with pytest.raises(DownloadFailedError, match="gave up after 3 attempts") as caught:
        call.result()
    assert caught.value.retryable and caught.value.status == 500


def test_retry_after_is_honoured_up_to_the_bound() -> None:
    call = DownloadCall(URL, policy=MediaPolicy(max_retry_after=20.0))
    call.next_request(0.0)
    call.receive_response(HttpResponse(status=429, headers=(("Retry-After", "7"),)), 0.0)
    assert call.get_timer() == 7.0
    call.handle_timer(7.0)
    call.next_request(7.0)
    call.receive_response(HttpResponse(status=429, headers=(("Retry-After", "999"),)), 7.0)
    assert call.get_timer() == 27.0


def test_timeouts_and_broken_bodies_are_retried() -> None:
    call = DownloadCall(URL, policy=POLICY)
    call.next_request(0.0)
    call.transport_failed("ReadTimeout", 0.0)
    assert call.get_timer() == 1.5
    call.handle_timer(1.5)
    call.next_request(1.5)
    assert call.response_started(200, (("Content-Length", "10"),), 1.5)
    call.receive_data(b"12345")
    call.response_ended(1.5)  # 5 of 10 bytes: the transfer broke
    assert call.get_timer() == 4.5
    call.handle_timer(4.5)
    call.next_request(4.5)
    call.receive_response(ok(b"0123456789", **{"Content-Length": "10"}), 4.5)
    assert call.result().attempts == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_a_refused_signed_link_says_its_key_expired(status: int) -> None:
    call = DownloadCall(URL, policy=POLICY)
    call.next_request(0.0)
    call.receive_response(HttpResponse(status=status), 0.0)
    with pytest.raises(DownloadExpiredError, match="expired") as caught:
        call.result()
    assert caught.value.status == status and not caught.value.retryable


def test_other_4xx_are_final() -> None:
    for url, status in ((CDN + "/plain.jpg", 404), (URL, 418)):
        call = DownloadCall(url, policy=POLICY)
        call.next_request(0.0)
        call.receive_response(HttpResponse(status=status), 0.0)
        with pytest.raises(DownloadFailedError, match=f"HTTP {status}"):
            call.result()
        assert call.attempts == 1


def test_the_byte_limit_holds_with_and_without_content_length() -> None:
    policy = MediaPolicy(max_bytes=10)
    call = DownloadCall(URL, policy=policy)
    call.next_request(0.0)
    assert not call.response_started(200, (("Content-Length", "11"),), 0.0)
    with pytest.raises(DownloadTooLargeError) as caught:
        call.result()
    assert (caught.value.size, caught.value.limit) == (11, 10)
    call = DownloadCall(URL, policy=policy)
    call.next_request(0.0)
    assert call.response_started(200, (), 0.0)
    assert call.receive_data(b"123456")
    assert not call.receive_data(b"78901")  # stop reading: the call has failed
    assert call.done and not call.storing
    call.response_ended(0.0)  # harmless after the failure
    with pytest.raises(DownloadTooLargeError):
        call.result()


def test_misuse_is_a_local_error() -> None:
    call = DownloadCall(URL, policy=POLICY)
    with pytest.raises(LocalProtocolError):
        call.response_started(200, (), 0.0)
    with pytest.raises(LocalProtocolError):
        call.receive_data(b"x")
    with pytest.raises(LocalProtocolError):
        call.transport_failed("x", 0.0)
    with pytest.raises(LocalProtocolError, match="not finished"):
        call.result()


# ----------------------------------------------------------------------------- property

ANSWERS = st.sampled_from(["ok", "big", "redirect-ok", "redirect-bad", "429", "503", "404",
                           "timeout", "short"])


@given(st.lists(ANSWERS, min_size=1, max_size=30))
def test_any_sequence_of_answers_ends_typed_and_never_leaves_the_policy(
        answers: list[str]) -> None:
    policy = MediaPolicy(max_bytes=100, max_attempts=3, max_redirects=3)
    call = DownloadCall(URL, policy=policy)
    now, requests = 0.0, 0
    for answer in answers:
        if call.done:
            break
        request = call.next_request(now)
        if request is None:
            timer = call.get_timer()
            assert timer is not None and timer > now
            now = timer
            call.handle_timer(now)
            request = call.next_request(now)
        assert request is not None
        check_url(request.url, policy)  # never a request the policy refuses
        requests += 1
        if answer == "timeout":
            call.transport_failed("timeout", now)
        elif answer == "short":
            if call.response_started(200, (("Content-Length", "9"),), now):
                call.receive_data(b"abc")
            call.response_ended(now)
        else:
            call.receive_response({
                "ok": ok(b"x" * 50), "big": ok(b"x" * 101),
                "redirect-ok": redirect("https://gchat.qpic.cn/y?rkey=z"),
                "redirect-bad": redirect("http://gchat.qpic.cn/y"),
                "429": HttpResponse(status=429), "503": HttpResponse(status=503),
                "404": HttpResponse(status=404)}[answer], now)
    assert requests <= policy.max_attempts * (policy.max_redirects + 1)
    if call.done:
        if call.error is None:
            assert call.result().size == 50
        else:
            assert isinstance(call.error, DownloadRefusedError | DownloadFailedError |
                              DownloadExpiredError | DownloadTooLargeError)


# ----------------------------------------------------------------------------- names

@given(st.text(max_size=400))
def test_any_name_becomes_safe_to_join_to_a_directory(name: str) -> None:
    safe = safe_filename(name)
    if safe is None:
        return
    assert safe and "/" not in safe and "\\" not in safe and "\0" not in safe
    assert not safe.startswith(".") and not safe.endswith((".", " "))
    assert safe not in (".", "..")
    assert not any(unicodedata.category(c)[0] == "C" for c in safe)
    assert len(safe.encode("utf-8")) <= MAX_NAME_BYTES
    assert safe_filename(safe) == safe  # idempotent


@pytest.mark.parametrize(("name", "safe"), [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd", "passwd"),
    ("..\\..\\boot.ini", "boot.ini"),
    ("a\x00b\x1f\u202ec.txt", "abc.txt"),
    ('what?"*<>|.txt', "what______.txt"),
    ("CON.txt", "_CON.txt"),
    ("...", None),
    ("", None),
    (".bashrc", "bashrc"),
    ("x" * 300 + ".docx", "x" * (MAX_NAME_BYTES - 5) + ".docx"),
    ("语音" * 80 + ".silk", "语音" * 32 + "语.silk"),  # 195 bytes: 65 characters
])
def test_sanitised_names(name: str, safe: str | None) -> None:
    assert safe_filename(name) == safe


def test_the_name_comes_from_the_event_then_the_url_then_the_type() -> None:
    assert attachment_filename(Attachment(url=URL, filename="../x.jpg")) == "x.jpg"
    assert attachment_filename(Attachment(url=CDN + "/d/%E6%8A%A5%E5%91%8A.pdf?k=1")) \
        == "报告.pdf"
    assert attachment_filename(Attachment(url=CDN + "/", content_type="image/png")) \
        == "attachment.png"
    assert attachment_filename(Attachment(url=CDN + "/..", content_type="voice")) \
        == "attachment.silk"
    assert attachment_filename(Attachment(url=CDN + "/", content_type="file")) == "attachment"
