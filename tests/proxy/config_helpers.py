"""Helpers for the tokenway.proxy.config tests: write, load and parse configs, get problems."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from tokenway.proxy.config import ConfigError, ProxyConfig, load_config, parse_config

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
