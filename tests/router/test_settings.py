"""Router settings from LiteLLM-shaped config sections."""

from __future__ import annotations

import pytest

from tokenway.router import RouterSettings
from tokenway.router.settings import fallback_map


def test_fallbacks_in_litellm_form() -> None:
    value = [{"a": ["b", "c"]}, {"b": "c"}, {"a": ["d"]}]
    assert fallback_map(value) == {"a": ("b", "c", "d"), "b": ("c",)}
    assert fallback_map({"a": ["b"]}) == {"a": ("b",)}
    assert fallback_map(None) == {}
    with pytest.raises(ValueError, match="model_name"):
        fallback_map([{"a": [1]}])


def test_from_litellm_reads_router_settings_first() -> None:
    settings = RouterSettings.from_litellm(
        {
            "routing_strategy": "least-busy",
            "fallbacks": [{"a": ["b"]}, {"*": ["z"]}],
            "allowed_fails": 1,
            "cooldown_time": 30,
            "disable_cooldowns": True,
            "max_wait_for_capacity": 0.5,
        },
        {"context_window_fallbacks": [{"a": ["big"]}], "fallbacks": [{"x": ["y"]}]},
        num_retries=4,
        timeout=12.0,
    )
    assert settings.routing_strategy == "least-busy"
    assert (settings.num_retries, settings.timeout) == (4, 12.0)
    assert settings.fallbacks_for("a") == ("b",)
    assert settings.fallbacks_for("other") == ("z",)  # "*" is the default
    assert settings.context_window_fallbacks_for("a") == ("big",)
    assert settings.context_window_fallbacks_for("b") == ()
    assert (settings.cooldown.allowed_fails, settings.cooldown.cooldown_time) == (1, 30.0)
    assert settings.cooldown.disabled
    assert settings.max_wait_for_capacity == 0.5
    assert settings.groups_named() == {"a", "b", "z", "big"}


def test_defaults_when_nothing_is_set() -> None:
    settings = RouterSettings.from_litellm({}, {"default_fallbacks": ["safe"]})
    assert settings.routing_strategy == "simple-shuffle"
    assert settings.fallbacks_for("any") == ("safe",)
    assert (settings.cooldown.allowed_fails, settings.cooldown.cooldown_time) == (3, 5.0)
