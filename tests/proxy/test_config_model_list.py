"""The proxy's config loader: model_list entries, their providers, models and upstream access."""

from __future__ import annotations

import pytest
from tests.proxy.config_helpers import model, parse_problems

from tokenway.proxy.config import parse_config


def test_an_unknown_provider_is_named_with_a_suggestion_and_its_path() -> None:
    found = parse_problems({"model_list": [model(), model(model="infrence/meta-llama/x")]})

    assert len(found) == 1
    assert found[0].startswith(
        "model_list[1].litellm_params.model: unknown provider 'infrence' "
        "(did you mean 'inference'?); known providers: "
    )
    assert "inference" in found[0].split("known providers: ")[1]


def test_a_model_without_a_provider_prefix_is_a_problem() -> None:
    found = parse_problems({"model_list": [model(model="gpt-4o")]})

    assert found[0].startswith("model_list[0].litellm_params.model: model 'gpt-4o' has no provider")


@pytest.mark.parametrize("provider", ["openai_compatible", "litellm_proxy"])
def test_providers_without_a_default_url_need_api_base(provider: str) -> None:
    found = parse_problems({"model_list": [model(model=f"{provider}/some-model")]})

    assert len(found) == 1
    assert found[0].startswith("model_list[0].litellm_params.api_base: ")
    assert "needs api_base" in found[0]


def test_model_entries_need_a_name_and_litellm_params_model() -> None:
    found = parse_problems(
        {"model_list": [{"litellm_params": {"model": "inference/x"}}, {"model_name": "b"},
                        {"model_name": "c", "litellm_params": {}}, "not-a-mapping"]}
    )  # fmt: skip

    assert [p.split(":")[0] for p in found] == [
        "model_list[0].model_name",
        "model_list[1].litellm_params",
        "model_list[2].litellm_params.model",
        "model_list[3]",
    ]


def test_model_info_ids_must_be_unique() -> None:
    first, second = model("a"), model("b")
    first["model_info"] = {"id": "dep"}
    second["model_info"] = {"id": "dep"}

    found = parse_problems({"model_list": [first, second]})

    assert found == [
        "model_list[1].model_info.id: 'dep' is already the id of model_list[0]; ids must be unique"
    ]


def test_api_base_must_be_an_http_url() -> None:
    found = parse_problems({"model_list": [model(api_base="api.example.com/v1")]})

    assert found == ["model_list[0].litellm_params.api_base: must be an http:// or https:// URL"]


def test_a_deployment_with_no_key_anywhere_warns() -> None:
    config = parse_config({"model_list": [model()]}, env={})

    assert config.warnings == (
        "model_list[0].litellm_params.api_key: not set, and neither is INFERENCE_API_KEY; "
        "the upstream will reject calls to this deployment",
    )
