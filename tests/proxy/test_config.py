"""The proxy's config loader: LiteLLM-style config.yaml files load unchanged, and a config
that cannot work stops start-up with every problem named by its path."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from tokenway.proxy.config import (
    ConfigError,
    DeploymentConfig,
    ProxyConfig,
    load_config,
    parse_config,
)

SECRET = "sk-inference-DO-NOT-LEAK-4f9a"
MASTER = "sk-master-DO-NOT-LEAK-77c1"

# The product brief's config.yaml, verbatim.
BRIEF_CONFIG = (Path(__file__).parent.parent / "fixtures" / "brief" / "config.yaml").read_text()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, **env: str) -> ProxyConfig:
    return load_config(write(tmp_path, text), env={"INFERENCE_API_KEY": SECRET, **env})


def problems(tmp_path: Path, text: str, **env: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, **env)
    return caught.value.problems


def model(name: str = "m", **params: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": "inference/x/y", **params}}


def parse(data: dict[str, Any], **env: str) -> ProxyConfig:
    return parse_config(data, env={"INFERENCE_API_KEY": SECRET, **env})


def parse_problems(data: object, **env: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, env={"INFERENCE_API_KEY": SECRET, **env})
    return caught.value.problems


# --- the brief's config ---------------------------------------------------------------


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
    assert config.num_retries == 2
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


def test_deployment_fields_are_typed_and_extras_are_kept() -> None:
    entry = model(
        rpm="500", tpm=100000, timeout=30, input_cost_per_token="3e-08",
        output_cost_per_token=1e-07, rust=True, extra_headers={"X-Team": "a"}, temperature=0.2,
    )  # fmt: skip
    entry["model_info"] = {"id": "dep-1", "mode": "chat", "max_tokens": 16384}

    deployment = parse({"model_list": [entry]}).deployments[0]

    assert (deployment.rpm, deployment.tpm, deployment.timeout) == (500, 100000, 30.0)
    # PyYAML reads 3e-08 (no dot) as a string; it is still a price.
    assert deployment.input_cost_per_token == pytest.approx(3e-08)
    assert deployment.output_cost_per_token == pytest.approx(1e-07)
    assert deployment.model_info == {"id": "dep-1", "mode": "chat", "max_tokens": 16384}
    assert deployment.extra_litellm_params == {
        "rust": True,
        "extra_headers": {"X-Team": "a"},
        "temperature": 0.2,
    }


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


# --- os.environ/ references -----------------------------------------------------------


def test_references_are_resolved_at_any_depth_in_every_section(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        model_list:
          - model_name: m
            litellm_params:
              model: inference/x
              api_key: os.environ/INFERENCE_API_KEY
              extra_headers: {X-Tenant: os.environ/TENANT}
        general_settings:
          master_key: os.environ/MASTER
          database_url: os.environ/DB
        router_settings:
          redis_password: os.environ/REDIS_PASSWORD
          retry_policy: {RateLimitErrorRetries: os.environ/RETRIES}
          fallbacks: [{m: [os.environ/FALLBACK]}]
        litellm_settings:
          callbacks: [os.environ/CALLBACK]
        """,
        MASTER=MASTER,
        DB="postgresql://u:p@db/tokenway",
        REDIS_PASSWORD="redis-pw",
        RETRIES="3",
        FALLBACK="m",
        TENANT="acme",
        CALLBACK="prometheus",
    )

    assert config.master_key == MASTER
    assert config.database_url == "postgresql://u:p@db/tokenway"
    assert config.general_settings["master_key"] == MASTER
    assert config.router_settings["redis_password"] == "redis-pw"
    assert config.router_settings["retry_policy"] == {"RateLimitErrorRetries": "3"}
    assert config.router_settings["fallbacks"] == [{"m": ["m"]}]
    assert config.litellm_settings["callbacks"] == ["prometheus"]
    assert config.deployments[0].extra_litellm_params["extra_headers"] == {"X-Tenant": "acme"}


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
                  region_name: os.environ/REGION
            """,
        ),
        env={"VAULT_INFERENCE_KEY": SECRET},
    )

    assert config.deployments[0].api_key == SECRET
    assert config.deployments[0].extra_litellm_params["region_name"] == "eu"
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


# --- providers and models -------------------------------------------------------------


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


# --- numbers --------------------------------------------------------------------------


def test_bad_numbers_are_named_by_path(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        model_list:
          - model_name: m
            litellm_params:
              model: inference/x
              rpm: -1
              tpm: lots
              timeout: 0
              input_cost_per_token: -0.5
        router_settings:
          redis_port: 99999
        litellm_settings:
          num_retries: 1.5
        """,
    )

    assert sorted(found) == [
        "litellm_settings.num_retries: must be an integer of 0 or more (got 1.5)",
        "model_list[0].litellm_params.input_cost_per_token: "
        "must be a number of 0 or more (got -0.5)",
        "model_list[0].litellm_params.rpm: must be a positive integer (got -1)",
        "model_list[0].litellm_params.timeout: must be a number greater than 0 (got 0)",
        "model_list[0].litellm_params.tpm: "
        "must be a positive integer (got text that is not a number)",
        "router_settings.redis_port: must be a port number (1-65535) (got 99999)",
    ]


def test_numbers_written_as_strings_are_accepted() -> None:
    config = parse(
        {
            "model_list": [model(rpm="500", timeout="12.5")],
            "litellm_settings": {"num_retries": "0", "request_timeout": "600"},
            "general_settings": {"max_request_size_mb": "0.5"},
        }
    )

    assert config.deployments[0].rpm == 500
    assert config.deployments[0].timeout == 12.5
    assert config.num_retries == 0
    assert config.request_timeout == 600.0
    assert config.max_request_body_bytes == 512 * 1024


# --- settings -------------------------------------------------------------------------


def test_router_settings_win_over_litellm_settings_for_retries_and_timeout() -> None:
    config = parse(
        {
            "model_list": [model()],
            "litellm_settings": {"num_retries": 5, "request_timeout": 600, "drop_params": True},
            "router_settings": {"num_retries": 1, "timeout": 30},
        }
    )

    assert (config.num_retries, config.request_timeout, config.drop_params) == (1, 30.0, True)


def test_master_key_database_url_and_drop_params_fall_back_to_the_environment() -> None:
    config = parse(
        {"model_list": [model()]},
        LITELLM_MASTER_KEY=MASTER,
        DATABASE_URL="postgresql://db/x",
        LITELLM_DROP_PARAMS="True",
    )

    assert config.master_key == MASTER
    assert config.database_url == "postgresql://db/x"
    assert config.drop_params is True


def test_the_file_wins_over_the_environment() -> None:
    config = parse(
        {
            "model_list": [model()],
            "general_settings": {"master_key": "sk-from-file", "database_url": "sqlite:///t.db"},
            "litellm_settings": {"drop_params": False},
        },
        LITELLM_MASTER_KEY=MASTER,
        DATABASE_URL="postgresql://db/x",
        LITELLM_DROP_PARAMS="1",
    )

    assert (config.master_key, config.database_url) == ("sk-from-file", "sqlite:///t.db")
    assert config.drop_params is False


def test_an_empty_master_key_is_a_problem() -> None:
    from_file = parse_problems({"model_list": [model()], "general_settings": {"master_key": ""}})
    from_env = parse_problems({"model_list": [model()]}, LITELLM_MASTER_KEY="")

    assert from_file == ["general_settings.master_key: must not be empty"]
    assert from_env[0].startswith("general_settings.master_key: not set in the file and ")


def test_an_unknown_routing_strategy_is_a_problem_with_a_suggestion() -> None:
    found = parse_problems(
        {"model_list": [model()], "router_settings": {"routing_strategy": "simple_shuffle"}}
    )

    assert found[0].startswith("router_settings.routing_strategy: must be one of: simple-shuffle")
    assert found[0].endswith("(did you mean 'simple-shuffle'?)")


# --- keys in the wrong place, unknown keys --------------------------------------------


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"litellm_settings": {"master_key": MASTER}}, "litellm_settings.master_key"),
        ({"master_key": MASTER}, "master_key"),
        ({"router_settings": {"master_key": MASTER}}, "router_settings.master_key"),
        ({"model_list": [model(master_key=MASTER)]}, "model_list[0].litellm_params.master_key"),
    ],
)
def test_a_misplaced_master_key_is_an_error(data: dict[str, Any], path: str) -> None:
    found = parse_problems({"model_list": [model()], **data})

    assert found == [
        f"{path}: master_key belongs under general_settings; here it would be ignored "
        "and leave the proxy unauthenticated"
    ]


def test_a_misplaced_database_url_is_an_error() -> None:
    found = parse_problems(
        {"model_list": [model()], "litellm_settings": {"database_url": "postgresql://x"}}
    )

    assert found[0].startswith(
        "litellm_settings.database_url: database_url belongs under general_settings"
    )


def test_an_unknown_key_is_one_warning_and_the_config_still_loads(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        BRIEF_CONFIG
        + "litellm_settings:\n  foo: 1\n  drop_params: true\ngeneral_settings:\n  bar: [1, 2]\n",
    )

    assert config.warnings == (
        "litellm_settings.foo: unknown key, ignored",
        "general_settings.bar: unknown key, ignored",
    )
    assert config.drop_params is True


def test_unknown_keys_in_model_entries_warn_per_path() -> None:
    entry = model(api_bse="http://typo")
    entry["model_inf"] = {}

    config = parse({"model_list": [entry, model()]})

    assert config.warnings == (
        "model_list[0].model_inf: unknown key, ignored",
        "model_list[0].litellm_params.api_bse: unknown key, ignored",
    )


def test_accepted_but_unsupported_keys_warn_that_they_are_not_supported() -> None:
    config = parse(
        {
            "model_list": [model()],
            "general_settings": {"alerting": ["slack"], "enable_jwt_auth": True,
                                 "custom_auth": "my.module.auth"},
        }
    )  # fmt: skip

    assert len(config.warnings) == 3
    assert all("not supported" in w for w in config.warnings)
    assert config.warnings[0].startswith("general_settings.alerting: ")


# --- files that cannot be read --------------------------------------------------------


def test_a_yaml_syntax_error_reports_its_line(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        model_list:
          - model_name: m
            litellm_params:
              model: inference/x
             api_key: sk-literal-secret-in-a-broken-line
        """,
    )

    assert len(found) == 1
    assert found[0].startswith("line 5, column ")
    assert "YAML syntax error" in found[0]
    assert "sk-literal-secret" not in found[0]


def test_duplicate_keys_are_a_problem_not_a_silent_overwrite(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        BRIEF_CONFIG
        + "general_settings:\n  master_key: os.environ/M\n"
        + "general_settings:\n  database_url: sqlite:///x.db\n",
        M=MASTER,
    )

    assert found == [
        "line 18: duplicate key 'general_settings'; YAML keeps only the last one, "
        "so the earlier one would be silently ignored"
    ]


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml", env={})

    assert caught.value.problems == [
        "file: not found; pass the path of a LiteLLM-style config.yaml"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "<top level>: must be a mapping with a model_list section; the file is empty"),
        ("- a\n- b\n", "<top level>: must be a mapping with a model_list section"),
        ("model_list: []\n", "model_list: must be a list with at least one model"),
        ("model_list:\n", "model_list: must be a list with at least one model"),
        ("litellm_settings: {}\n", "model_list: must be a list with at least one model"),
    ],
)
def test_a_file_without_models_is_a_config_error(tmp_path: Path, text: str, expected: str) -> None:
    assert problems(tmp_path, text) == [expected]


def test_a_section_that_is_not_a_mapping_is_a_problem() -> None:
    found = parse_problems({"model_list": [model()], "router_settings": ["simple-shuffle"]})

    assert found == ["router_settings: must be a mapping"]


# --- all problems at once, and no secrets ---------------------------------------------


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        model_list:
          - model_name: a
            litellm_params:
              model: infrence/x
          - model_name: b
            litellm_params:
              model: inference/y
              api_key: os.environ/MISSING_KEY
              rpm: zero
        litellm_settings:
          master_key: sk-oops
        """,
    )

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    paths = [p.split(":")[0] for p in caught.value.problems]
    assert sorted(paths) == [
        "litellm_settings.master_key",
        "model_list[0].litellm_params.model",
        "model_list[1].litellm_params.api_key",
        "model_list[1].litellm_params.rpm",
    ]
    assert str(caught.value).count("\n  - ") == 4


def test_no_secret_value_appears_in_errors_warnings_or_reprs(tmp_path: Path) -> None:
    env = {
        "INFERENCE_API_KEY": SECRET,
        "LITELLM_MASTER_KEY": MASTER,
        "DATABASE_URL": "postgresql://admin:pg-DO-NOT-LEAK@db/x",
    }
    good = load_config(write(tmp_path, BRIEF_CONFIG), env=env)
    bad = {
        "model_list": [model(api_key=SECRET, rpm=SECRET, api_base=SECRET, timeout=SECRET)],
        "litellm_settings": {"master_key": MASTER},
        "general_settings": {"master_key": 12345, "database_url": ["x"]},
        "environment_variables": {"TOKEN": MASTER},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(bad, env=env)

    shown = "\n".join(
        [repr(good), str(good), str(caught.value), repr(caught.value), *good.warnings]
    )
    for secret in (SECRET, MASTER, "pg-DO-NOT-LEAK"):
        assert secret not in shown
    assert good.master_key == MASTER
    assert len(caught.value.problems) == 6
