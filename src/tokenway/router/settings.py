"""The router's settings, and reading them from LiteLLM-shaped config sections.

Fallbacks are written as LiteLLM writes them: ``[{"group-a": ["group-b", "group-c"]}]``;
the group ``"*"`` stands for every group without fallbacks of its own, like
``default_fallbacks``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tokenway.retry import DEFAULT_NUM_RETRIES, DEFAULT_TIMEOUT, Backoff
from tokenway.router.cooldown import CooldownPolicy

__all__ = ["DEFAULT_CAPACITY_WAIT", "RouterSettings", "fallback_map"]

DEFAULT_CAPACITY_WAIT = 5.0  # seconds a request waits for a saturated group to free up


@dataclass(frozen=True, slots=True)
class RouterSettings:
    routing_strategy: str = "simple-shuffle"
    num_retries: int = DEFAULT_NUM_RETRIES
    timeout: float = DEFAULT_TIMEOUT  # a whole call, retries and fallbacks included
    fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    context_window_fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default_fallbacks: tuple[str, ...] = ()
    cooldown: CooldownPolicy = field(default_factory=CooldownPolicy)
    max_wait_for_capacity: float = DEFAULT_CAPACITY_WAIT
    backoff: Backoff = field(default_factory=Backoff)

    def fallbacks_for(self, *groups: str) -> tuple[str, ...]:
        """The first of ``groups`` with fallbacks of its own (a wildcard-served model, then
        its pattern), else the default ones."""
        found = _first_entry(self.fallbacks, groups)
        return self.default_fallbacks if found is None else found

    def context_window_fallbacks_for(self, *groups: str) -> tuple[str, ...]:
        return _first_entry(self.context_window_fallbacks, groups) or ()

    def groups_named(self) -> set[str]:
        """Every group a fallback setting names (to check against the served groups)."""
        named = set(self.default_fallbacks)
        for mapping in (self.fallbacks, self.context_window_fallbacks):
            for source, targets in mapping.items():
                named.update(targets)
                named.add(source)
        return named

    @classmethod
    def from_litellm(
        cls,
        router_settings: Mapping[str, Any],
        litellm_settings: Mapping[str, Any],
        *,
        num_retries: int | None = None,
        timeout: float | None = None,
        backoff: Backoff | None = None,
    ) -> RouterSettings:
        """From a config's ``router_settings`` and ``litellm_settings`` (router wins)."""

        def first(key: str) -> Any:
            value = router_settings.get(key)
            return litellm_settings.get(key) if value is None else value

        fallbacks = fallback_map(first("fallbacks"))
        star = fallbacks.pop("*", ())
        policy = CooldownPolicy()
        return cls(
            routing_strategy=str(router_settings.get("routing_strategy") or "simple-shuffle"),
            num_retries=DEFAULT_NUM_RETRIES if num_retries is None else num_retries,
            timeout=timeout or DEFAULT_TIMEOUT,
            fallbacks=fallbacks,
            context_window_fallbacks=fallback_map(first("context_window_fallbacks")),
            default_fallbacks=tuple(_names(first("default_fallbacks"))) or star,
            cooldown=CooldownPolicy(
                allowed_fails=int(_get(router_settings, "allowed_fails", policy.allowed_fails)),
                cooldown_time=float(_get(router_settings, "cooldown_time", policy.cooldown_time)),
                disabled=bool(_get(router_settings, "disable_cooldowns", False)),
            ),
            max_wait_for_capacity=float(
                _get(router_settings, "max_wait_for_capacity", DEFAULT_CAPACITY_WAIT)
            ),
            backoff=backoff or Backoff(),
        )


def fallback_map(value: object) -> dict[str, tuple[str, ...]]:
    """``[{"a": ["b", "c"]}, ...]`` (or one mapping) as ``{"a": ("b", "c")}``."""
    entries = [value] if isinstance(value, Mapping) else value or []
    out: dict[str, tuple[str, ...]] = {}
    if not isinstance(entries, list):
        raise ValueError("fallbacks must be a list of {model_name: [fallback model_name, ...]}")
    for entry in entries:
        if isinstance(entry, Mapping):
            for source, targets in entry.items():
                out[str(source)] = (*out.get(str(source), ()), *_names(targets))
    return out


def _names(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError("fallback targets must be a model_name or a list of model_names")


def _first_entry(
    table: Mapping[str, tuple[str, ...]], groups: tuple[str, ...]
) -> tuple[str, ...] | None:
    for group in groups:
        found = table.get(group)
        if found is not None:
            return found
    return None


def _get(settings: Mapping[str, Any], key: str, default: Any) -> Any:
    value = settings.get(key)
    return default if value is None else value
