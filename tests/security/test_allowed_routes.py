"""Issue 12, item 5: ``general_settings.allowed_routes`` is enforced, not silently ignored.

LiteLLM's meaning: an exact-match list of the paths an authenticated request may use;
the unauthenticated probes (liveliness, readiness) stay reachable. Every other path, the
admin API included, is 403 ``route_not_allowed`` in the OpenAI envelope, whoever asks.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from tests.proxy.conftest import RunningProxy, proxy_config, running_proxy
from tests.security.wire import MASTER_AUTH, exchange, request_bytes, send_json

from tokenway.emulator import Emulator

CHAT = {"model": "llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def limited(emulator: Emulator) -> Iterator[RunningProxy]:
    config = proxy_config(emulator.base_url, allowed_routes=["/v1/chat/completions"])
    with running_proxy(config) as running:
        yield running


def _get(port: int, path: str, auth: str = MASTER_AUTH) -> tuple[int, dict[str, object]]:
    answer = exchange(port, request_bytes("GET", path, None, "Connection: close\r\n", auth=auth))
    return answer.status, orjson.loads(answer.body)


def test_a_listed_route_is_served(limited: RunningProxy) -> None:
    answer = send_json(limited.port, "POST", "/v1/chat/completions", CHAT)

    assert answer.status == 200
    assert orjson.loads(answer.body)["object"] == "chat.completion"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/chat/completions"),  # exact match: the /v1 form does not allow this one
        ("GET", "/v1/models"),
        ("GET", "/key/list"),  # the admin API, even with the master key
        ("GET", "/health"),
        ("GET", "/no/such/route"),
    ],
)
def test_any_other_route_is_403_route_not_allowed(
    limited: RunningProxy, method: str, path: str
) -> None:
    body = orjson.dumps(CHAT) if method == "POST" else None
    answer = exchange(limited.port, request_bytes(method, path, body, "Connection: close\r\n"))

    assert answer.status == 403
    error = orjson.loads(answer.body)["error"]
    assert error["code"] == "route_not_allowed"
    assert error["type"] == "permission_error"
    assert set(error) == {"message", "type", "param", "code"}
    assert path not in error["message"]


def test_a_refused_route_is_refused_without_a_key_too(limited: RunningProxy) -> None:
    status, body = _get(limited.port, "/v1/models", auth="")

    assert status == 403
    assert body["error"]["code"] == "route_not_allowed"  # type: ignore[index]


@pytest.mark.parametrize("path", ["/health/liveliness", "/health/readiness"])
def test_the_probes_stay_open(limited: RunningProxy, path: str) -> None:
    status, _ = _get(limited.port, path, auth="")

    assert status == 200


def test_without_the_setting_every_route_is_served(proxy: RunningProxy) -> None:
    status, body = _get(proxy.port, "/v1/models")

    assert status == 200
    assert body["object"] == "list"
