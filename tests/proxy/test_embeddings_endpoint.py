"""``POST /v1/embeddings`` through the pipeline: shapes, usage, cost, keys, fallbacks."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator

import openai
import pytest
from tests.proxy.conftest import MASTER_KEY, RunningProxy
from tests.proxy.endpoint_helpers import EMBED_PRICE, endpoints_proxy
from tests.proxy.routing_helpers import request
from tests.proxy.virtual_key_helpers import Management, flushed_rows, sdk

from tokenway.emulator import Emulator, FaultConfig

pytestmark = pytest.mark.usefixtures("clean_emulator")


@pytest.fixture(scope="module")
def proxy(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    db = tmp_path_factory.mktemp("embed") / "tokenway.db"
    with endpoints_proxy(emulator, f"sqlite:///{db}") as running:
        yield running


def test_a_string_and_a_list_embed_through_the_openai_sdk(proxy: RunningProxy) -> None:
    client = sdk(proxy, MASTER_KEY)
    one = client.embeddings.create(model="embed", input="hello world")
    assert one.model == "embed" and len(one.data) == 1
    assert len(one.data[0].embedding) == 2560
    two = client.embeddings.create(model="embed", input=["a cat", "a dog on a mat"])
    assert [d.index for d in two.data] == [0, 1]
    assert two.data[0].embedding != two.data[1].embedding
    assert two.usage.prompt_tokens > one.usage.prompt_tokens > 0
    assert two.usage.total_tokens == two.usage.prompt_tokens


def test_base64_and_dimensions_are_passed_to_the_deployment(proxy: RunningProxy) -> None:
    status, _, floats = request(
        proxy, "POST", "/v1/embeddings", {"model": "embed", "input": "x", "dimensions": 8}
    )
    assert status == 200 and len(floats["data"][0]["embedding"]) == 8
    status, _, packed = request(
        proxy,
        "POST",
        "/embeddings",  # the unversioned path too
        {"model": "embed", "input": "x", "dimensions": 8, "encoding_format": "base64"},
    )
    assert status == 200
    raw = base64.b64decode(packed["data"][0]["embedding"])
    values = struct.unpack("<8f", raw)
    assert values == pytest.approx(floats["data"][0]["embedding"], rel=1e-6)


def test_the_spend_row_is_priced_from_input_cost_per_token(proxy: RunningProxy) -> None:
    admin = Management(proxy)
    status, headers, body = request(
        proxy, "POST", "/v1/embeddings", {"model": "embed", "input": "priced words here"}
    )
    assert status == 200
    tokens = body["usage"]["prompt_tokens"]
    assert float(headers["x-tokenway-response-cost"]) == pytest.approx(tokens * EMBED_PRICE)
    request_id = headers["x-request-id"]
    (row,) = flushed_rows(admin, 1, lambda r: r["request_id"] == request_id)
    assert row["model"] == "embed" and row["prompt_tokens"] == tokens
    assert row["completion_tokens"] == 0 and row["usage_estimated"] is False
    assert row["spend"] == pytest.approx(tokens * EMBED_PRICE)


def test_bad_input_is_a_400_naming_it(proxy: RunningProxy) -> None:
    for body, param in (
        ({"model": "embed"}, "input"),
        ({"model": "embed", "input": ""}, "input"),
        ({"model": "embed", "input": ["ok", 3]}, "input[1]"),
        ({"model": "embed", "input": "x", "encoding_format": "hex"}, "encoding_format"),
        ({"model": "embed", "input": "x", "stream": True}, "stream"),
        ({"model": "embed", "input": "x", "api_base": "http://evil"}, "api_base"),
    ):
        status, _, answer = request(proxy, "POST", "/v1/embeddings", body)
        assert status == 400, body
        assert answer["error"]["param"] == param


def test_an_unreachable_deployment_falls_back(proxy: RunningProxy) -> None:
    status, headers, body = request(
        proxy, "POST", "/v1/embeddings", {"model": "embed-dead", "input": "x"}
    )
    assert status == 200, body
    assert headers["x-tokenway-model-group"] == "embed"
    assert headers["x-tokenway-attempted-fallbacks"] == "1"


def test_an_upstream_error_is_relayed_in_the_openai_shape(
    proxy: RunningProxy, clean_emulator: Emulator
) -> None:
    clean_emulator.faults = FaultConfig(error_rate=1, error_status=503)
    with pytest.raises(openai.InternalServerError) as caught:
        sdk(proxy, MASTER_KEY).embeddings.create(model="embed", input="x")
    assert caught.value.status_code == 503


def test_a_virtual_key_s_models_limits_and_spend_apply(proxy: RunningProxy) -> None:
    admin = Management(proxy)
    key = admin.new_key(models=["embed"], rpm_limit=2)["key"]
    client = sdk(proxy, key)
    client.embeddings.create(model="embed", input="one")
    client.embeddings.create(model="embed", input="two")
    with pytest.raises(openai.RateLimitError):
        client.embeddings.create(model="embed", input="three")
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    rows = flushed_rows(admin, 2, lambda r: r["http_status"] == 200, api_key=key)
    assert {r["model"] for r in rows} == {"embed"}
    info = admin.key_info(key)
    assert info["spend"] == pytest.approx(sum(r["spend"] for r in rows))


def test_a_budget_stops_embeddings_like_chat(proxy: RunningProxy) -> None:
    admin = Management(proxy)
    key = admin.new_key(models=["embed"], max_budget=1e-7)["key"]
    body = {"model": "embed", "input": "spend it all " * 40}
    # Nothing in flight: one request is admitted while the spend is under the budget.
    status, _, answer = request(proxy, "POST", "/v1/embeddings", body, key)
    assert status == 200, answer
    flushed_rows(admin, 1, api_key=key)
    status, _, answer = request(proxy, "POST", "/v1/embeddings", body, key)
    assert status == 400 and answer["error"]["code"] == "budget_exceeded"
