"""``tokenway.proxy.cors``: its config rule and answers, and what stays as it was."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai import OpenAI
from tests.proxy.conftest import MASTER_KEY, RunningProxy, proxy_config, running_proxy
from tests.security.test_cors import APP, CHAT, _chat_from, _cors_headers, _preflight
from tests.security.wire import send_json

from tokenway.emulator import Emulator
from tokenway.proxy.config import ConfigError, parse_config
from tokenway.proxy.config.rules import origin_list
from tokenway.proxy.config.settings import CorsSettings
from tokenway.proxy.cors import DEFAULT_ALLOW_HEADERS, Cors


@pytest.fixture(scope="module")
def cors_proxy(emulator: Emulator) -> Iterator[RunningProxy]:
    with running_proxy(proxy_config(emulator.base_url, cors_allow_origins=[APP])) as running:
        yield running


def test_origin_list_takes_origins_and_star() -> None:
    assert origin_list("*") == ["*"]
    assert origin_list(["HTTPS://App.Example", "http://localhost:3000", "http://[::1]:8080"]) == [
        "https://app.example",
        "http://localhost:3000",
        "http://[::1]:8080",
    ]
    for bad in (
        "https://app.example/",
        "app.example",
        "https://a.example/path",
        [],
        [3],
        "ftp://x",
    ):
        with pytest.raises(ValueError):
            origin_list(bad)


def test_a_bad_origin_stops_the_start() -> None:
    data = {"model_list": [], "general_settings": {"cors_allow_origins": ["https://a.example/"]}}
    with pytest.raises(ConfigError, match="cors_allow_origins"):
        parse_config(data, env={})


def test_cors_is_built_only_when_configured() -> None:
    assert CorsSettings.of({}) is None
    settings = CorsSettings.of({"cors_allow_origins": [APP], "cors_max_age": 5})
    assert settings == CorsSettings((APP,), 5)
    cors = Cors(settings.origins, settings.max_age)
    assert cors.allow_origin("https://APP.example") == APP
    assert cors.allow_origin("https://other.example") is None
    assert Cors(["*"]).allow_origin("https://anything.example") == "*"


def test_unclean_requested_headers_fall_back_to_a_fixed_list() -> None:
    from tokenway.proxy.cors import _allow_headers

    assert _allow_headers({"access-control-request-headers": "X-A,x-b"}) == "x-a, x-b"
    assert _allow_headers({}) == DEFAULT_ALLOW_HEADERS
    assert _allow_headers({"access-control-request-headers": "x-a,"}) == DEFAULT_ALLOW_HEADERS


def test_off_by_default_options_is_405_and_no_cors_headers(proxy: RunningProxy) -> None:
    refused = _preflight(proxy.port, APP)
    assert refused.status == 401 and not _cors_headers(refused)  # as before: no credentials
    refused = _preflight(proxy.port, APP, auth=f"Authorization: Bearer {MASTER_KEY}\r\n")
    assert refused.status == 405 and refused.header("allow") == "POST"
    assert not _cors_headers(refused)
    served = _chat_from(proxy.port, APP)
    assert served.status == 200 and not _cors_headers(served)


def test_the_openai_sdk_is_unaffected(cors_proxy: RunningProxy) -> None:
    client = OpenAI(base_url=f"{cors_proxy.url}/v1", api_key=MASTER_KEY, max_retries=0)
    reply = client.chat.completions.with_raw_response.create(**CHAT)  # type: ignore[call-overload]
    assert reply.http_response.status_code == 200
    assert "access-control-allow-origin" not in reply.headers
    assert reply.parse().choices[0].message.content
    # a non-preflight OPTIONS (no Origin) is routed as before
    plain = send_json(cors_proxy.port, "OPTIONS", "/v1/chat/completions", b"")
    assert plain.status == 405
