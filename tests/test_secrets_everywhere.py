"""No secret in any repr, str, exception or log record.

The walk: every class a public module of ``qqproto`` or ``qqproto_transports`` exports
is inspected; each constructor parameter whose name says it may hold a credential
(``secret``, ``token``, ``password``, ``authorization``, ``key`` …), typed as a
``Secret``, a ``TokenState``, ``Settings``, an ``HttpRequest``/``HttpResponse`` or HTTP
``headers`` gets a sentinel secret; the object is built (generically, or by a factory
below when its constructor needs more) and its ``repr`` and ``str`` must not show the
sentinel.  A field whose name only *looks* secret is listed in :data:`NOT_SECRETS`
with the reason, so a new class with a real secret cannot slip through unbuilt.

Then the paths that handle the access token end to end — the token answer, a REST call
with a 401, the gateway Identify, failures at each step — run with DEBUG logging, and no
record, exception or event shows the token or the client secret.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import json
import logging
import pkgutil
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import qqproto
import qqproto_transports
from qqproto import Secret, Settings
from qqproto._endpoints import Endpoints
from qqproto.errors import ApiError
from qqproto.rest import HttpRequest, HttpResponse, RestCall, TokenState

SECRET = "S3CR3T-sentinel-7f3a"
SECRETISH = re.compile(r"secret|token|password|passwd|credential|authorization|(^|_)key$",
                       re.IGNORECASE)

#: Field names that look secret and are not, with the reason.
NOT_SECRETS: dict[str, str] = {
    "refresh_token": "a flag: the session should fetch a new token",
    "plain_token": "op 13's challenge: public by protocol, echoed in the answer (§9.4)",
    "token_url": "the token endpoint's URL",
    "token_hosts": "hosts a download may send the token to",
    "replay_key": "an event id / signature digest, already public on the wire",
    "key": "an approval's button key: sent to every chat member in the button data",
    "tokens_issued": "a simulator counter",
    "with_authorization": "a simulator counter",
    "puts_with_authorization": "a simulator counter",
    "reject_credentials": "a simulator fault switch",
    "session_key": "an approval's session key: carried in the button data",
}
#: Classes whose ``headers`` are a peer's answer, which holds none of the bot's secrets.
PEER_HEADERS = {"TunnelEstablished", "SimResponse"}


def _public_modules() -> list[str]:
    names = []
    for package in (qqproto, qqproto_transports):
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not any(part.startswith("_") for part in info.name.split(".")[1:]):
                names.append(info.name)
    return names


def _public_classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for name in _public_modules():
        module = importlib.import_module(name)
        for attribute in getattr(module, "__all__", ()):
            value = getattr(module, attribute, None)
            if inspect.isclass(value):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def _params(cls: type) -> list[tuple[str, str, bool]]:
    """(name, annotation text, required) of what the constructor takes."""
    if dataclasses.is_dataclass(cls):
        return [(f.name, str(f.type), f.default is dataclasses.MISSING
                 and f.default_factory is dataclasses.MISSING)
                for f in dataclasses.fields(cls) if f.init]
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return []
    return [(p.name, str(p.annotation), p.default is inspect.Parameter.empty)
            for p in signature.parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _first(annotation: str) -> str:
    return annotation.split("|", maxsplit=1)[0].strip()


def _secret_value(cls: type, name: str, annotation: str) -> object | None:
    """A value carrying the sentinel for a parameter that may hold a secret, else None."""
    kind = _first(annotation)
    if kind == "TokenState":
        return TokenState(app_id="1001", secret=SECRET)
    if kind == "Settings":
        return Settings(app_id="1001", secret=SECRET)
    if kind == "HttpResponse":
        return token_answer()
    if kind == "HttpRequest":
        return HttpRequest(method="POST", url="https://api.example.test/x",
                           headers=(("Authorization", f"QQBot {SECRET}"),),
                           body=json.dumps({"clientSecret": SECRET}).encode())
    if name == "headers" and cls.__name__ not in PEER_HEADERS:
        return (("Authorization", f"QQBot {SECRET}"), ("Cookie", SECRET))
    if SECRETISH.search(name) and name not in NOT_SECRETS:
        if "Secret" in annotation and kind != "str":
            return Secret(SECRET)
        return SECRET.encode() if kind == "bytes" else SECRET
    return None


_PLAIN = {"int": 1, "float": 1.0, "bool": False, "str": "x", "bytes": b"", "tuple": (),
          "list": [], "dict": {}}


def _build(cls: type) -> tuple[Any, bool]:
    """An instance with the sentinel in every secret-capable parameter, and whether it
    has any; raises when the generic recipe does not fit the constructor."""
    kwargs: dict[str, Any] = {}
    holds = False
    for name, annotation, required in _params(cls):
        value = _secret_value(cls, name, annotation)
        if value is not None:
            kwargs[name], holds = value, True
        elif required:
            kwargs[name] = next((v for t, v in _PLAIN.items()
                                 if _first(annotation).startswith(t)), None)
    return (cls(**kwargs) if holds else None), holds


def token_answer() -> HttpResponse:
    return HttpResponse(status=200, headers=(("Set-Cookie", f"sid={SECRET}"),),
                        body=json.dumps({"access_token": SECRET, "expires_in": 7200}).encode())


def _proxy() -> Any:
    from qqproto.proxy._config import parse_proxy_url
    return parse_proxy_url(f"http://user:{SECRET}@proxy.example:3128")


def _tunnel(kind: str) -> Any:
    import qqproto.proxy as proxy
    from qqproto.proxy._config import parse_proxy_url
    cls = getattr(proxy, kind)
    config = parse_proxy_url(
        f"{'socks5' if kind.startswith('Socks') else 'http'}://user:{SECRET}@proxy.example:1080")
    return cls("gw.example", 443, config)


def _gateway_connection() -> Any:
    from qqproto.gateway import GatewayConnection
    return GatewayConnection(url="wss://gw.example/websocket", token=SECRET)


def _onboard() -> Any:
    from qqproto.onboarding import OnboardSession
    return OnboardSession(key=SECRET.encode().ljust(32, b"k")[:32])


def _simulator() -> Any:
    from qqproto.simulator import Simulator
    return Simulator(secret=SECRET)


def _upload() -> Any:
    from qqproto import FileType
    from qqproto.upload import UploadSession
    return UploadSession(token_state=TokenState(app_id="1001", secret=SECRET), scope="c2c",
                         target_id="U", file_type=FileType.FILE, file_name="f", file_size=9)


#: Classes that hold a secret but need more than the generic recipe to be built.
FACTORIES: dict[str, Callable[[], Any]] = {
    "qqproto.proxy._config.ProxyConfig": _proxy,
    "qqproto.proxy._tunnels.ConnectTunnel": lambda: _tunnel("ConnectTunnel"),
    "qqproto.proxy._tunnels.Socks5Tunnel": lambda: _tunnel("Socks5Tunnel"),
    "qqproto.gateway._connection.GatewayConnection": _gateway_connection,
    "qqproto.onboarding._session.OnboardSession": _onboard,
    "qqproto.simulator._simulator.Simulator": _simulator,
    "qqproto.upload._session.UploadSession": _upload,
}


def test_no_public_class_shows_a_secret_in_its_repr_or_str(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.chdir(tmp_path)  # a store built from a path writes its file here
    checked, unbuilt = [], []
    for qualname, cls in sorted(_public_classes().items()):
        if issubclass(cls, enum.Enum | BaseException) or inspect.isabstract(cls) \
                or getattr(cls, "_is_protocol", False):
            continue
        factory = FACTORIES.get(qualname)
        try:
            if factory is not None:
                instance, holds = factory(), True
            else:
                instance, holds = _build(cls)
        except Exception as exc:
            if any(_secret_value(cls, n, a) is not None for n, a, _ in _params(cls)):
                unbuilt.append(f"{qualname}: {type(exc).__name__}: {exc}"[:200])
            continue
        if not holds:
            continue
        text = repr(instance) + str(instance)
        assert SECRET not in text, f"{qualname} shows a secret: {text[:300]}"
        assert SECRET not in text.replace("-", ""), qualname
        checked.append(qualname)
    assert not unbuilt, "add a factory to FACTORIES for:\n" + "\n".join(unbuilt)
    # The walk reaches the classes that matter most.
    for must in ("qqproto._http.HttpRequest", "qqproto._http.HttpResponse",
                 "qqproto.settings.Settings", "qqproto.rest._token.TokenState",
                 "qqproto.proxy._config.ProxyConfig", "qqproto.rest._call.RestCall",
                 "qqproto.gateway._connection.GatewayConnection"):
        assert must in checked, must


def test_the_token_answer_and_request_show_no_secret() -> None:
    response = token_answer()
    assert SECRET not in repr(response) + str(response)
    assert repr(response) == (f"HttpResponse(status=200, headers=[Set-Cookie], "
                              f"body={len(response.body)} bytes)")
    tokens = TokenState(app_id="1001", secret=SECRET)
    request = tokens.request()
    assert SECRET not in repr(request) + str(request)
    assert tokens.receive_response(response, 0.0) == Secret(SECRET)
    assert SECRET not in repr(tokens) + str(tokens)


BAD_TOKEN_ANSWERS = [
    {"access_token": SECRET, "expires_in": "soon"},
    {"access_token": SECRET, "expires_in": 7200, "code": "\u00b2"},
    {"access_token": SECRET, "code": 100016, "message": "bad secret"},
    {"access_token": SECRET, "code": 500, "message": "busy"},
]


@pytest.mark.parametrize("body", BAD_TOKEN_ANSWERS)
def test_token_failures_name_no_secret(body: dict[str, object],
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = TokenState(app_id="1001", secret=SECRET)
    with pytest.raises(ApiError) as caught:
        tokens.receive_response(HttpResponse(status=200, body=json.dumps(body).encode()), 0.0)
    error = caught.value
    assert SECRET not in str(error) + repr(error) + repr(error.args)
    assert SECRET not in caplog.text


def test_a_rest_call_with_a_401_retry_logs_and_shows_no_token(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    endpoints = Endpoints(api_base="https://api.example.test",
                          token_url="https://bots.example.test/token")
    tokens = TokenState(app_id="1001", secret=SECRET, endpoints=endpoints)
    call: RestCall[object] = RestCall(
        HttpRequest(method="POST", url="https://api.example.test/v2/users/U/messages",
                    body=b"{}"), lambda r: r.json(), token_state=tokens, name="send")
    seen: list[object] = []
    answers = [token_answer(), HttpResponse(status=401, body=b'{"code":11241}'),
               token_answer(), HttpResponse(status=500, body=json.dumps(
                   {"code": 50001, "message": "x", "echo": SECRET}).encode())]
    for answer in answers:
        request = call.next_request(0.0)
        assert request is not None
        seen.append(request)
        call.receive_response(answer, 0.0)
    assert call.done and call.error is not None
    for value in (*seen, call, call.error):
        assert SECRET not in repr(value) + str(value)
    assert SECRET not in caplog.text


def test_the_gateway_identify_and_its_events_show_no_token(
        caplog: pytest.LogCaptureFixture) -> None:
    from .gateway_peer import drain, open_ready

    caplog.set_level(logging.DEBUG)
    from qqproto.gateway import GatewayConnection
    conn = GatewayConnection(url="wss://gw.example/websocket", token=SECRET)
    peer = open_ready(conn)
    identify = peer.raw_texts[0]
    assert SECRET in identify  # it does go on the wire, once, to the gateway
    conn.close(4000, "bye")
    assert all(SECRET not in repr(e) for e in drain(conn))
    assert SECRET not in repr(conn) and SECRET not in caplog.text


def test_settings_from_the_environment_show_no_secret() -> None:
    settings = Settings.from_env({"QQBOT_APP_ID": "1001", "QQBOT_CLIENT_SECRET": SECRET},
                                 store=f"redis://:{SECRET}@127.0.0.1:6379/0",
                                 proxy=f"http://u:{SECRET}@proxy.example:3128")
    assert SECRET not in repr(settings) + str(settings)
