"""RestCall under arbitrary schedules: a hypothesis state machine plays the driver and the
server, answers each request with a token, a success, an API error, a 401 or a transport
failure, lets another call refresh the shared token and moves time past its expiry, and
checks after every step that the call is where a small model of ``TRANSITIONS`` says it
is and that the token only ever goes to the OpenAPI origin."""

from __future__ import annotations

import json

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from qqproto._endpoints import Endpoints
from qqproto._http import HttpRequest, HttpResponse
from qqproto.errors import (
    ApiError,
    LocalProtocolError,
    NetworkError,
    RateLimitedError,
    TokenError,
    UnexpectedResponseError,
)
from qqproto.rest._call import (
    MAX_RATE_LIMIT_RETRIES,
    MAX_RATE_LIMIT_WAIT,
    TRANSITIONS,
    CallState,
    RestCall,
)
from qqproto.rest._errors import api_error_from_response, response_json_object
from qqproto.rest._token import TokenState

API = "https://api.example.test"
TOKEN_URL = "https://auth.example.test/token"
CDN = "https://cdn.example.test/file"

S = CallState
OUTSTANDING = (S.AWAITING_TOKEN, S.AWAITING_RESPONSE)

#: Answers to the call's own request: (status, body).
ANSWERS = st.sampled_from([
    (200, {"id": "m1"}), (200, {}), (200, {"code": 22009, "message": "slow"}),
    (401, {"message": "token expired"}), (401, {"code": 11241, "message": "bad token"}),
    (403, {"code": 40034105}), (500, b"<html>oops</html>"), (202, {"id": "x"}),
    (200, b"not json"),
    # Rate limits: a wait the call honours, one too long to honour, one not said.
    (429, {"retry_after": 2}), (429, {"retry_after": "1.5"}), (429, {"retry_after": 3600}),
    (429, {"message": "slow down"}), (429, {"retry_after": "\u00b2"}),
])


def _response(status: int, body: object) -> HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status=status, body=raw)


def _parse(response: HttpResponse) -> object:
    body = response_json_object(response)
    if body is None:
        raise UnexpectedResponseError("not a JSON object", status=response.status)
    return body


class RestCallMachine(RuleBasedStateMachine):
    @initialize(to_api=st.booleans(), have_token=st.booleans())
    def setup(self, to_api: bool, have_token: bool) -> None:
        self.tokens = TokenState(app_id="1001", secret="s",
                                 endpoints=Endpoints(api_base=API, token_url=TOKEN_URL))
        self.issued = 0
        self.now = 0.0
        if have_token:
            self._grant(self.now)
        self.url = API + "/v2/users/U/messages" if to_api else CDN
        self.to_api = to_api
        self.request = HttpRequest(method="POST", url=self.url, body=b'{"content":"hi"}')
        self.call: RestCall[object] = RestCall(self.request, _parse, token_state=self.tokens,
                                               name="send")
        self.model = S.NEED_TOKEN if to_api else S.READY
        self.retried = False
        self.used: str | None = None  # the token the outstanding call request carries
        self.sends = 0
        self.expected_error: type[ApiError] | None = None
        self.expected_result: object = None
        self.rate_limited = 0
        self.send_at: float | None = None  # when the rate limit lets the call go again

    def _grant(self, now: float) -> HttpResponse:
        self.issued += 1
        response = _response(200, {"access_token": f"T{self.issued}", "expires_in": 7200})
        self.tokens.receive_response(response, now)
        return response

    def _move(self, new: CallState, event: str) -> None:
        # The model follows the table by input name, so the table is what is tested.
        (expected,) = [n for (s, i), n in TRANSITIONS.items()
                       if s is self.model and i.name == event]
        assert expected is new
        self.model = new

    # --- the driver asks for the next request ---------------------------------------------

    @precondition(lambda self: self.model not in OUTSTANDING)
    @rule()
    def next_request(self) -> None:
        current = self.tokens.current(self.now)
        backoff = self.tokens.backoff_until(self.now)
        request = self.call.next_request(self.now)
        if self.model is S.DONE:
            assert request is None
            return
        if self.to_api and current is None and backoff is not None:
            # The token endpoint is backing off: the call fails at once, retryably.
            assert request is None
            self.expected_error = TokenError
            self._move(S.DONE, "TOKEN_BACKOFF")
            return
        assert request is not None
        if self.to_api and current is None:
            assert request == self.tokens.request()
            self._move(S.AWAITING_TOKEN, "FETCH_TOKEN")
            return
        wait = 0.0 if self.send_at is None else max(0.0, self.send_at - self.now)
        self.send_at = None
        assert request.delay == wait  # what is left of the rate limit's wait
        if not self.to_api:
            # Exactly as built: no token (and the wait, if one is owed).
            assert (request.url, request.headers, request.body) == (
                self.request.url, self.request.headers, self.request.body)
            assert wait or request is self.request
            self._move(S.AWAITING_RESPONSE, "SEND")
            self.sends += 1
        else:
            assert current is not None
            assert request.header("Authorization") == f"QQBot {current.reveal()}"
            assert request.header("X-Union-Appid") == "1001"
            assert (request.url, request.body) == (self.request.url, self.request.body)
            self.used = current.reveal()
            self._move(S.AWAITING_RESPONSE, "SEND")
            self.sends += 1

    @precondition(lambda self: self.model in OUTSTANDING)
    @rule()
    def asking_again_while_a_request_is_outstanding_is_misuse(self) -> None:
        with pytest.raises(LocalProtocolError, match="still outstanding"):
            self.call.next_request(self.now)

    # --- the server answers ------------------------------------------------------------------

    @precondition(lambda self: self.model is S.AWAITING_TOKEN)
    @rule(good=st.booleans())
    def token_answer(self, good: bool) -> None:
        if good:
            self.issued += 1
            response = _response(200, {"access_token": f"T{self.issued}",
                                       "expires_in": 7200})
        else:
            response = _response(500, {"code": 100007, "message": "busy"})
        self.call.receive_response(response, self.now)
        if good:
            self._move(S.READY, "TOKEN")
        else:
            self.expected_error = TokenError
            self._move(S.DONE, "FAIL")

    @precondition(lambda self: self.model is S.AWAITING_RESPONSE)
    @rule(answer=ANSWERS)
    def call_answer(self, answer: tuple[int, object]) -> None:
        status, body = answer
        response = _response(status, body)
        self.call.receive_response(response, self.now)
        if status == 401 and self.to_api and not self.retried:
            self.retried = True
            current = self.tokens.current(self.now)
            # Only the token the call used is dropped; a newer one survives.
            assert current is None or current.reveal() != self.used
            self._move(S.READY, "UNAUTHORIZED")
            return
        error = api_error_from_response(response)
        if (isinstance(error, RateLimitedError) and error.retry_after is not None
                and error.retry_after <= MAX_RATE_LIMIT_WAIT
                and self.rate_limited < MAX_RATE_LIMIT_RETRIES):
            self.rate_limited += 1
            self.send_at = self.now + error.retry_after
            self._move(S.READY, "RATE_LIMITED")
            return
        if error is not None:
            self.expected_error = type(error)
        elif isinstance(body, dict):
            self.expected_result = body
        else:
            self.expected_error = UnexpectedResponseError  # the parser's verdict
        self._move(S.DONE, "ANSWER")

    @precondition(lambda self: self.model in OUTSTANDING)
    @rule(reason=st.sampled_from(["connection reset", "timed out"]))
    def transport_failure(self, reason: str) -> None:
        what = "token request" if self.model is S.AWAITING_TOKEN else "send"
        self.call.transport_failed(reason, self.now)
        assert self.call.error is not None
        assert self.call.error.message == f"{what} failed: {reason}"
        self.expected_error = NetworkError
        self._move(S.DONE, "FAIL")

    @precondition(lambda self: self.model not in OUTSTANDING)
    @rule(status=st.sampled_from([200, 401]))
    def an_answer_nobody_asked_for_is_misuse(self, status: int) -> None:
        with pytest.raises(LocalProtocolError, match="no request is outstanding"):
            self.call.receive_response(_response(status, {}), self.now)
        with pytest.raises(LocalProtocolError, match="no request is outstanding"):
            self.call.transport_failed("reset", self.now)

    # --- the world around the call -----------------------------------------------------------

    @rule()
    def another_call_refreshes_the_shared_token(self) -> None:
        self._grant(self.now)

    @rule()
    def another_calls_token_request_fails(self) -> None:
        with pytest.raises(TokenError):
            self.tokens.receive_response(_response(502, b"bad gateway"), self.now)

    @rule(seconds=st.sampled_from([0.5, 1.0, 3600.0, 7200.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def the_call_is_where_the_table_says(self) -> None:
        assert self.call.state is self.model
        assert self.call.done is (self.model is S.DONE)

    @invariant()
    def at_most_one_retry_after_a_401(self) -> None:
        assert self.sends <= (2 if self.to_api else 1) + self.rate_limited

    @invariant()
    def a_finished_call_has_exactly_one_outcome(self) -> None:
        if self.model is not S.DONE:
            with pytest.raises(LocalProtocolError, match="not finished"):
                self.call.result()
            return
        if self.expected_error is None:
            assert self.call.error is None
            assert self.call.result() == self.expected_result
        else:
            assert isinstance(self.call.error, self.expected_error)
            with pytest.raises(self.expected_error):
                self.call.result()


RestCallMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=30,
                                             deadline=None)
TestRestCallMachine = RestCallMachine.TestCase
