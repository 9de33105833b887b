"""The proxy's config loader: os.environ/ references and the environment_variables section."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.proxy.config_helpers import (
    BRIEF_CONFIG,
    MASTER,
    SECRET,
    load,
    model,
    parse,
    parse_problems,
    write,
)

from tokenway.proxy.config import ConfigError, load_config


def test_references_are_resolved_at_any_depth_in_every_section(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        model_list:
          - model_name: m
            litellm_params:
              model: inference/x
              api_key: os.environ/INFERENCE_API_KEY
              stream_timeout: os.environ/STREAM_TIMEOUT
        general_settings:
          master_key: os.environ/MASTER
          database_url: os.environ/DB
          allowed_routes: [os.environ/ROUTE]
        router_settings:
          fallbacks: [{m: [os.environ/FALLBACK]}]
        litellm_settings:
          num_retries: os.environ/RETRIES
        """,
        MASTER=MASTER,
        DB="postgresql://u:p@db/tokenway",
        ROUTE="/v1/chat/completions",
        RETRIES="3",
        FALLBACK="m",
        STREAM_TIMEOUT="7",
    )

    assert config.master_key == MASTER
    assert config.database_url == "postgresql://u:p@db/tokenway"
    assert config.general_settings["master_key"] == MASTER
    assert config.allowed_routes == frozenset({"/v1/chat/completions"})
    assert config.router_settings["fallbacks"] == [{"m": ["m"]}]
    assert config.router.num_retries == 3
    assert config.deployments[0].extra_litellm_params["stream_timeout"] == 7.0


def test_an_ignored_key_naming_an_unset_variable_only_warns(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        model_list:
          - model_name: m
            litellm_params:
              model: inference/x
              api_key: os.environ/INFERENCE_API_KEY
              organization: os.environ/OPENAI_ORG_ID
        router_settings:
          cache_kwargs: {host: os.environ/REDIS_HOST}
          alerting_config: {webhook: os.environ/SLACK_WEBHOOK_URL}
        litellm_settings:
          cache_params: {password: os.environ/REDIS_PASSWORD}
          default_team_settings: [{langfuse_secret: os.environ/LANGFUSE_SECRET}]
        files_settings:
          - api_key: os.environ/AZURE_API_KEY
        """,
    )

    assert len(config.warnings) == 6
    assert all("ignored: " in warning for warning in config.warnings)
    assert "cache_kwargs" not in config.router_settings
    assert "organization" not in config.deployments[0].extra_litellm_params


def test_a_missing_variable_names_the_path_and_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, BRIEF_CONFIG)

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    assert caught.value.problems[0] == (
        "model_list[0].litellm_params.api_key: environment variable INFERENCE_API_KEY is not set "
        "(export it, or define it under environment_variables)"
    )
    assert len(caught.value.problems) == 3
    assert str(caught.value).startswith(f"invalid config {path}:\n  - model_list[0]")


def test_a_missing_variable_deep_in_a_list_names_its_index() -> None:
    found = parse_problems(
        {"model_list": [model()], "router_settings": {"fallbacks": [{"m": ["os.environ/GONE"]}]}}
    )

    assert found == [
        "router_settings.fallbacks[0].m[0]: environment variable GONE is not set "
        "(export it, or define it under environment_variables)"
    ]


def test_environment_variables_feed_references(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """\
            environment_variables:
              INFERENCE_API_KEY: os.environ/VAULT_INFERENCE_KEY
              REGION: eu
              PORT: 4000
              VERBOSE: true
            model_list:
              - model_name: m
                litellm_params:
                  model: inference/x
                  api_key: os.environ/INFERENCE_API_KEY
                  stream_timeout: os.environ/PORT
            """,
        ),
        env={"VAULT_INFERENCE_KEY": SECRET},
    )

    assert config.deployments[0].api_key == SECRET
    assert config.deployments[0].extra_litellm_params["stream_timeout"] == 4000.0
    assert config.environment_variables == {
        "INFERENCE_API_KEY": SECRET,
        "REGION": "eu",
        "PORT": "4000",
        "VERBOSE": "true",
    }


def test_environment_variables_override_the_given_environment() -> None:
    config = parse(
        {"environment_variables": {"INFERENCE_API_KEY": "from-file"}, "model_list": [model()]},
        INFERENCE_API_KEY="from-env",
    )

    assert config.environment_variables["INFERENCE_API_KEY"] == "from-file"


def test_a_missing_variable_inside_environment_variables_is_named() -> None:
    found = parse_problems(
        {"environment_variables": {"A": "os.environ/NOPE"}, "model_list": [model()]}
    )

    assert found == [
        "environment_variables.A: environment variable NOPE is not set "
        "(export it, or define it under environment_variables)"
    ]
