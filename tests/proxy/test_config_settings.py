"""The proxy's config loader: numbers, and settings with their fallbacks to the environment."""

from __future__ import annotations

from pathlib import Path

from tests.proxy.config_helpers import MASTER, model, parse, parse_problems, problems

from tokenway.http.limits import ServerLimits


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
          cooldown_time: -3
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
        "router_settings.cooldown_time: must be a number of 0 or more (got -3)",
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
    assert config.router.num_retries == 0
    assert config.request_timeout == 600.0
    assert config.max_request_body_bytes == 512 * 1024


def test_router_settings_win_over_litellm_settings_for_retries_and_timeout() -> None:
    config = parse(
        {
            "model_list": [model()],
            "litellm_settings": {"num_retries": 5, "request_timeout": 600, "drop_params": True},
            "router_settings": {"num_retries": 1, "timeout": 30},
        }
    )

    assert (config.router.num_retries, config.request_timeout, config.drop_params) == (
        1,
        30.0,
        True,
    )


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


def test_the_http_servers_limits_come_from_general_settings() -> None:
    defaults = parse({"model_list": [model()]}).server_limits
    config = parse(
        {
            "model_list": [model()],
            "general_settings": {
                "max_request_line_bytes": 4096,
                "max_header_line_bytes": "2048",
                "max_header_bytes": 16384,
                "max_header_count": 50,
                "header_timeout": 2.5,
                "body_timeout": 30,
                "min_body_rate": 1024,
                "max_connections": 500,
            },
        }
    )

    assert defaults == ServerLimits()
    assert config.server_limits == ServerLimits(
        max_request_line_bytes=4096,
        max_header_line_bytes=2048,
        max_header_bytes=16384,
        max_header_count=50,
        header_timeout=2.5,
        body_timeout=30.0,
        min_body_rate=1024,
        max_connections=500,
    )


def test_bad_http_server_limits_are_named_by_path() -> None:
    found = parse_problems(
        {
            "model_list": [model()],
            "general_settings": {"max_header_bytes": 0, "header_timeout": "soon"},
        }
    )

    assert sorted(found) == [
        "general_settings.header_timeout: "
        "must be a number greater than 0 (got text that is not a number)",
        "general_settings.max_header_bytes: must be a positive integer (got 0)",
    ]
