"""A request's own ``fallbacks`` list (LiteLLM's client-side fallbacks) through the proxy."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.proxy.conftest import UPSTREAM_KEY, running_proxy
from tests.proxy.routing_helpers import deployment, post_chat, routing_config
from tests.proxy.virtual_key_helpers import Management

from tokenway.emulator import Emulator, EmulatorConfig, FaultConfig, run_emulator_in_thread


class Recorder(ThreadingHTTPServer):
    """An upstream that keeps every request body and answers one fixed completion."""

    bodies: list[dict[str, Any]]


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.server.bodies.append(body)
        answer = json.dumps(
            {
                "id": "r1", "object": "chat.completion", "created": 1, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "ok"}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            }
        ).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    server = Recorder(("127.0.0.1", 0), _Handler)
    server.bodies = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def failing() -> Iterator[Emulator]:
    config = EmulatorConfig(api_keys=(UPSTREAM_KEY,), faults=FaultConfig(error_rate=1))
    with run_emulator_in_thread(config) as emulator:
        yield emulator


def models(failing: Emulator, recorder: Recorder) -> list[Any]:
    base = f"http://127.0.0.1:{recorder.server_address[1]}/v1"
    return [
        deployment("broken", failing, "broken-1"),
        deployment("good", base, "good-1"),
        deployment("configured", base, "configured-1"),
    ]


def test_the_requests_fallbacks_are_tried_and_not_sent_upstream(
    failing: Emulator, recorder: Recorder
) -> None:
    config = routing_config(
        models(failing, recorder), {"num_retries": 0, "fallbacks": [{"broken": ["configured"]}]}
    )
    with running_proxy(config) as proxy:
        status, headers, body = post_chat(proxy, "broken", fallbacks=["good"])
        assert status == 200, body
        assert body["model"] == "good"
        assert headers["x-tokenway-deployment"] == "good-1"  # not the configured fallback
        assert headers["x-tokenway-attempted-fallbacks"] == "1"
        assert "fallbacks" not in recorder.bodies[-1]
        status, _, body = post_chat(proxy, "good", fallbacks=["broken"])
        assert status == 200 and "fallbacks" not in recorder.bodies[-1]
        status, headers, _ = post_chat(proxy, "broken")  # without: the configured ones
        assert status == 200 and headers["x-tokenway-deployment"] == "configured-1"
        status, _, body = post_chat(proxy, "broken", fallbacks=[])  # none for this call
        assert status == 500, body


@pytest.mark.parametrize(
    ("fallbacks", "says"),
    [
        (["nope"], "'nope'"),
        ("good", "must be a list"),
        ([{"model": "good", "temperature": 0}], "takes 'model' and optionally 'messages'"),
        ([{"model": "good", "messages": []}], "takes 'model' and optionally 'messages'"),
        ([{"model": 3}], "must be a list"),
        (["good"] * 17, "at most 16"),
    ],
)
def test_a_bad_fallbacks_list_is_a_400_naming_it(
    failing: Emulator, recorder: Recorder, fallbacks: Any, says: str
) -> None:
    with running_proxy(routing_config(models(failing, recorder))) as proxy:
        sent = len(recorder.bodies)
        status, _, body = post_chat(proxy, "good", fallbacks=fallbacks)
    assert status == 400, body
    assert body["error"]["param"] == "fallbacks" and says in body["error"]["message"]
    assert len(recorder.bodies) == sent  # refused before anything was sent


def test_a_key_may_fall_back_only_to_models_it_may_use(
    failing: Emulator, recorder: Recorder, tmp_path: Path
) -> None:
    general = {"database_url": f"sqlite:///{tmp_path / 'tw.db'}"}
    with running_proxy(routing_config(models(failing, recorder), general=general)) as proxy:
        key = Management(proxy).new_key(models=["broken", "configured"])["key"]
        status, _, body = post_chat(proxy, "broken", key=key, fallbacks=["good"])
        assert status == 403, body
        assert body["error"]["param"] == "fallbacks"
        assert body["error"]["code"] == "model_not_allowed"
        status, headers, body = post_chat(proxy, "broken", key=key, fallbacks=["configured"])
    assert status == 200, body
    assert headers["x-tokenway-deployment"] == "configured-1"


def test_an_object_fallback_sends_its_own_messages_to_that_model_only(
    failing: Emulator, recorder: Recorder
) -> None:
    config = routing_config(models(failing, recorder), {"num_retries": 0})
    own = [{"role": "assistant", "content": "a custom message"}]
    with running_proxy(config) as proxy:
        status, headers, body = post_chat(
            proxy, "broken", fallbacks=[{"model": "good", "messages": own}]
        )
        assert status == 200, body
        assert headers["x-tokenway-deployment"] == "good-1"
        assert recorder.bodies[-1]["messages"] == own
        status, _, _ = post_chat(proxy, "good", fallbacks=[{"model": "configured"}])
        assert status == 200 and recorder.bodies[-1]["messages"] != own  # the request's own


def test_num_retries_the_requests_then_the_deployments_then_the_routers(
    failing: Emulator, recorder: Recorder
) -> None:
    base = f"http://127.0.0.1:{recorder.server_address[1]}/v1"
    entries = [
        deployment("broken", failing, "broken-1", num_retries=3),
        deployment("good", base, "good-1", timeout=7),
    ]
    with running_proxy(routing_config(entries, {"num_retries": 1})) as proxy:
        status, headers, _ = post_chat(proxy, "broken")
        assert status == 500
        assert headers["x-tokenway-attempted-retries"] == "3"  # the deployment's
        assert headers["x-litellm-max-retries"] == "3"
        status, headers, _ = post_chat(proxy, "broken", num_retries=0)
        assert headers["x-litellm-attempted-retries"] == "0"  # the request's
        assert headers["x-litellm-max-retries"] == "0"
        status, headers, body = post_chat(proxy, "good")
        assert status == 200 and "num_retries" not in recorder.bodies[-1]
        assert headers["x-litellm-max-retries"] == "1"  # the router's
        assert headers["x-litellm-timeout"] == "7.0"  # the deployment's
        status, _, body = post_chat(proxy, "good", num_retries=-1)
        assert status == 400 and body["error"]["param"] == "num_retries"
