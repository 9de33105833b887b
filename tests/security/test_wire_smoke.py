"""The raw client itself: a plain request through the proxy answers as any client sees it."""

from __future__ import annotations

from tests.proxy.conftest import RunningProxy
from tests.security.wire import send_json


def test_a_plain_chat_request_answers_200(proxy: RunningProxy) -> None:
    body = {"model": "llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "Hi"}]}
    response = send_json(proxy.port, "POST", "/v1/chat/completions", body)
    assert response.status == 200
    assert response.json()["model"] == "llama-3.1-8b-instruct"
    assert response.rest == b""
