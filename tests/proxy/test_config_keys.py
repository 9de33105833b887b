"""The proxy's config loader: keys in the wrong place stop start-up, unknown keys only warn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.proxy.config_helpers import BRIEF_CONFIG, MASTER, load, model, parse, parse_problems


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


def test_accepted_but_ignored_keys_warn_with_what_is_not_done() -> None:
    config = parse(
        {
            "model_list": [model()],
            "general_settings": {"alerting": ["slack"]},
            "litellm_settings": {"cache": True, "json_logs": True},
        }
    )

    assert config.warnings == (
        "litellm_settings.cache: ignored: response caching is not implemented in tokenway; "
        "requests are not cached",
        "general_settings.alerting: ignored: alerting is not implemented in tokenway; "
        "no alert is sent",
    )


def test_auth_keys_tokenway_does_not_implement_stop_start_up() -> None:
    found = parse_problems(
        {
            "model_list": [model()],
            "general_settings": {"enable_jwt_auth": True, "custom_auth": "my.module.auth",
                                 "allow_client_side_credentials": True},
        }
    )  # fmt: skip

    assert [problem.split(": ")[0] for problem in found] == [
        "general_settings.enable_jwt_auth",
        "general_settings.custom_auth",
        "general_settings.allow_client_side_credentials",
    ]
    assert all(": not supported: " in problem and "remove this key" in problem for problem in found)
