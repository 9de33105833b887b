"""An end user's ``allowed_model_region`` against the real proxy, on SQLite and
PostgreSQL: its requests go only to deployments whose ``region_name`` is that region, the
answer names the region, and a model with no deployment there is a 400 naming it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import openai
import pytest
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY, running_proxy
from tests.proxy.virtual_key_helpers import MESSAGES, STORES, Management, sdk, store_url

from tokenway.emulator import Emulator
from tokenway.proxy.config import parse_config

pytestmark = pytest.mark.usefixtures("clean_emulator")

UPSTREAM = "inference/meta-llama/llama-3.1-8b-instruct/fp-16"


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request, tmp_path)


def _deployment(alias: str, ident: str, api_base: str, region: str | None) -> dict[str, Any]:
    params = {"model": UPSTREAM, "api_base": api_base, "api_key": UPSTREAM_KEY}
    return {
        "model_name": alias,
        "litellm_params": {**params, **({"region_name": region} if region else {})},
        "model_info": {"id": ident},
    }


def _config(api_base: str, database_url: str) -> Any:
    return parse_config(
        {
            "model_list": [
                _deployment("mixed", "in-eu", api_base, "eu"),
                _deployment("mixed", "anywhere", api_base, None),
                _deployment("mixed", "in-us", api_base, "us"),
                _deployment("us-only", "us-1", api_base, "us"),
            ],
            "general_settings": {"master_key": MASTER_KEY, "database_url": database_url},
            "router_settings": {"routing_strategy": "simple-shuffle"},
        },
        env={},
    )


def _served_by(client: openai.OpenAI, model: str, user: str | None) -> tuple[str, str | None]:
    extra = {"user": user} if user is not None else {}
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=MESSAGES, max_tokens=4, **extra
    )  # type: ignore[call-overload]
    return raw.headers["x-litellm-model-id"], raw.headers.get("x-litellm-model-region")


def test_an_end_users_requests_stay_in_its_region(emulator: Emulator, database_url: str) -> None:
    with running_proxy(_config(emulator.base_url, database_url)) as proxy:
        admin = Management(proxy)
        for user, region in (("eve", "eu"), ("sam", "us"), ("nat", None)):
            made = admin.post("/end_user/new", {"user_id": user, "allowed_model_region": region})
            assert made.status == 200 and "warnings" not in made.body, made.body
        client = sdk(proxy, admin.new_key()["key"])
        assert {_served_by(client, "mixed", "eve") for _ in range(12)} == {("in-eu", "eu")}
        assert {_served_by(client, "mixed", "sam") for _ in range(12)} == {("in-us", "us")}
        assert {_served_by(sdk(proxy, MASTER_KEY), "mixed", "eve") for _ in range(4)} == {
            ("in-eu", "eu")
        }  # whatever key sends it
        with client.chat.completions.with_streaming_response.create(
            model="mixed", messages=MESSAGES, max_tokens=4, stream=True, user="eve"
        ) as streamed:  # a stream too
            assert streamed.headers["x-litellm-model-region"] == "eu"
            assert streamed.headers["x-litellm-model-id"] == "in-eu"
            assert "data: [DONE]" in "".join(streamed.iter_lines())
        # No region (an end user without one, no end user, one without a record): every
        # deployment serves, and no region header is added.
        spread = Counter(_served_by(client, "mixed", user) for user in ("nat", None, "x") * 12)
        assert {ident for ident, _ in spread} == {"in-eu", "anywhere", "in-us"}
        assert {region for _, region in spread} == {None}


def test_a_model_without_a_deployment_in_the_region_is_a_400_naming_it(
    emulator: Emulator, database_url: str
) -> None:
    with running_proxy(_config(emulator.base_url, database_url)) as proxy:
        admin = Management(proxy)
        admin.post("/end_user/new", {"user_id": "eve", "allowed_model_region": "eu"})
        client = sdk(proxy, admin.new_key()["key"])
        with pytest.raises(openai.BadRequestError) as refused:
            _served_by(client, "us-only", "eve")
        assert refused.value.code == "no_deployment_in_region"
        assert "region 'eu'" in refused.value.message and "us-only" in refused.value.message
        assert _served_by(client, "us-only", None) == ("us-1", None)
        # A changed region is taken at once (the admin API tells the request path's cache).
        admin.post("/end_user/update", {"user_id": "eve", "allowed_model_region": "us"})
        assert _served_by(client, "us-only", "eve") == ("us-1", "us")
