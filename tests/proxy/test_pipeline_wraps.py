"""A step that wraps every endpoint's requests is added without editing the endpoints."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.proxy.conftest import MASTER_KEY, RunningProxy, running_proxy
from tests.proxy.endpoint_helpers import CHAT_MODEL, EMBED_MODEL, entry
from tests.proxy.routing_helpers import request

from tokenway.emulator import Emulator
from tokenway.http.server import Request, Response
from tokenway.proxy.config import parse_config
from tokenway.proxy.endpoints import ENDPOINTS
from tokenway.proxy.pipeline import CallContext, Endpoint, Handler

pytestmark = pytest.mark.usefixtures("clean_emulator")


class Recorder:
    """Counts each endpoint's requests and statuses; answers ``"cached"`` prompts itself."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def __call__(self, endpoint: Endpoint, handler: Handler) -> Handler:
        async def wrapped(request: Request, ctx: CallContext) -> Response:
            if b'"cached"' in request.body:
                return Response(200, [("content-type", "application/json")], b'{"cached":true}')
            response = await handler(request, ctx)
            self.seen.append((endpoint.name, response.status))
            return response

        return wrapped


@pytest.fixture
def wrapped_proxy(emulator: Emulator) -> Iterator[tuple[RunningProxy, Recorder]]:
    config = parse_config(
        {
            "model_list": [
                entry("chat", CHAT_MODEL, emulator.base_url),
                entry("embed", EMBED_MODEL, emulator.base_url),
            ],
            "general_settings": {"master_key": MASTER_KEY},
        },
        env={},
    )
    recorder = Recorder()
    with running_proxy(config, wraps=[recorder]) as running:
        yield running, recorder


def test_a_wrap_sees_every_endpoint_and_may_answer_itself(
    wrapped_proxy: tuple[RunningProxy, Recorder],
) -> None:
    proxy, recorder = wrapped_proxy
    chat = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    assert request(proxy, "POST", "/v1/chat/completions", chat)[0] == 200
    assert request(proxy, "POST", "/v1/embeddings", {"model": "embed", "input": "x"})[0] == 200
    assert request(proxy, "POST", "/v1/completions", {"model": "nope", "prompt": "x"})[0] == 404
    assert recorder.seen == [("chat", 200), ("embeddings", 200), ("completions", 404)]
    status, _, body = request(proxy, "POST", "/v1/embeddings", {"model": "cached", "input": "x"})
    assert (status, body) == (200, {"cached": True})
    assert len(recorder.seen) == 3  # answered by the wrap: the pipeline never ran


def test_every_endpoint_is_served_on_its_paths(proxy: RunningProxy) -> None:
    served = {path for endpoint in ENDPOINTS for path in endpoint.paths}
    assert served == {
        "/v1/chat/completions", "/chat/completions", "/v1/embeddings", "/embeddings",
        "/v1/completions", "/completions",
    }  # fmt: skip
    for path in served:  # each reaches its pipeline: an unknown model is its 404
        status, _, body = request(proxy, "POST", path, {"model": "nope"})
        assert status in (400, 404), (path, body)
        assert body["error"]["param"] in ("model", "messages", "input", "prompt"), body
