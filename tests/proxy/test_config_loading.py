"""The proxy's config loader: LiteLLM-style files load unchanged into typed deployments."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.proxy.config_helpers import BRIEF_CONFIG, SECRET, load, model, parse, write

from tokenway.proxy.config import DeploymentConfig, load_config


def test_the_brief_config_loads_unchanged(tmp_path: Path) -> None:
    config = load(tmp_path, BRIEF_CONFIG)

    assert config.model_names() == [
        "llama-3.1-8b-instruct",
        "llama-3.2-3b-instruct",
        "mistral-nemo-12b-instruct",
    ]
    assert [d.upstream_model for d in config.deployments] == [
        "meta-llama/llama-3.1-8b-instruct/fp-16",
        "meta-llama/llama-3.2-3b-instruct/fp-16",
        "mistralai/mistral-nemo-12b-instruct/fp-8",
    ]
    first = config.deployments[0]
    assert first.model == "inference/meta-llama/llama-3.1-8b-instruct/fp-16"
    assert first.provider.name == "inference"
    assert {d.api_key for d in config.deployments} == {SECRET}
    assert first.api_base is None
    assert config.warnings == ()


def test_defaults_when_the_file_sets_nothing_else(tmp_path: Path) -> None:
    config = load(tmp_path, BRIEF_CONFIG)

    assert config.master_key is None
    assert config.database_url is None
    assert config.drop_params is False
    assert config.router.num_retries == 2
    assert config.request_timeout is None
    assert config.max_request_body_bytes == 8 * 1024 * 1024
    assert config.environment_variables == {}


def test_env_defaults_to_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFERENCE_API_KEY", SECRET)

    config = load_config(write(tmp_path, BRIEF_CONFIG))

    assert config.deployments[0].api_key == SECRET


def test_deployments_sharing_an_alias_form_one_group_and_get_distinct_ids() -> None:
    config = parse({"model_list": [model("fast"), model("fast"), model("slow")]})

    assert config.model_names() == ["fast", "slow"]
    assert [d.model_info["id"] for d in config.deployments] == ["fast-0", "fast-1", "slow-2"]


def test_deployment_fields_are_typed_and_only_implemented_extras_are_kept() -> None:
    entry = model(
        rpm="500", tpm=100000, timeout=30, input_cost_per_token="3e-08",
        output_cost_per_token=1e-07, rust=True, extra_headers={"X-Team": "a"}, temperature=0.2,
        weight=2, stream_timeout="9",
    )  # fmt: skip
    entry["model_info"] = {"id": "dep-1", "mode": "chat", "max_input_tokens": 16384}

    config = parse({"model_list": [entry]})
    deployment = config.deployments[0]

    assert (deployment.rpm, deployment.tpm, deployment.timeout) == (500, 100000, 30.0)
    # PyYAML reads 3e-08 (no dot) as a string; it is still a price.
    assert deployment.input_cost_per_token == pytest.approx(3e-08)
    assert deployment.output_cost_per_token == pytest.approx(1e-07)
    assert deployment.model_info == {"id": "dep-1", "mode": "chat", "max_input_tokens": 16384}
    # rust, extra_headers and temperature do nothing on the proxy: warned, not kept
    assert deployment.extra_litellm_params == {"weight": 2.0, "stream_timeout": 9.0}
    assert [w.split(": ")[0] for w in config.warnings] == [
        "model_list[0].litellm_params.rust",
        "model_list[0].litellm_params.extra_headers",
        "model_list[0].litellm_params.temperature",
    ]


def test_prices_in_model_info_are_used_when_litellm_params_has_none() -> None:
    entry = model(input_cost_per_token=1e-06)
    entry["model_info"] = {"input_cost_per_token": 9.0, "output_cost_per_token": 2e-06}

    deployment = parse({"model_list": [entry]}).deployments[0]

    assert deployment.input_cost_per_token == 1e-06
    assert deployment.output_cost_per_token == 2e-06


def test_the_upstream_model_id_is_passed_through_untouched() -> None:
    entry = model(model="openai_compatible/Qwen/Qwen2.5-72B:free", api_base="http://vllm:8000/v1")

    deployment = parse({"model_list": [entry]}).deployments[0]

    assert deployment.provider.name == "openai_compatible"
    assert deployment.upstream_model == "Qwen/Qwen2.5-72B:free"
    assert deployment.api_base == "http://vllm:8000/v1"


def test_deployment_config_is_hashable_for_use_as_a_key() -> None:
    deployment = parse({"model_list": [model()]}).deployments[0]

    assert {deployment: 1}[deployment] == 1
    assert isinstance(deployment, DeploymentConfig)


def test_the_shipped_example_config_loads() -> None:
    example = Path(__file__).parent.parent.parent / "config.example.yaml"
    env = {"INFERENCE_API_KEY": "k", "TOKENWAY_MASTER_KEY": "sk-example-master-0123"}
    config = load_config(example, env=env)
    assert config.model_names() == [
        "llama-3.1-8b-instruct",
        "llama-3.2-3b-instruct",
        "mistral-nemo-12b-instruct",
    ]
    assert config.master_key == "sk-example-master-0123" and not config.warnings
