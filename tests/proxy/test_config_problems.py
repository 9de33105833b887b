"""The proxy's config loader: unreadable files, all problems at once, and no secrets shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.proxy.config_helpers import (
    BRIEF_CONFIG,
    MASTER,
    SECRET,
    model,
    parse_problems,
    problems,
    write,
)

from tokenway.proxy.config import ConfigError, load_config, parse_config


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
