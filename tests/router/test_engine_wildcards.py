"""The engine's wildcard groups and a call's own fallbacks, with scripted attempts."""

from __future__ import annotations

import random

import pytest
from tests.router.fakes import FAST, Clock, Handle, Script, handles

from tokenway.errors import InternalServerError, NotFoundError
from tokenway.router import RouterSettings, RouteTrace, RoutingEngine

BOOM = InternalServerError("boom")


def wild(
    deployments: list[Handle], settings: RouterSettings | None = None
) -> RoutingEngine[Handle]:
    return RoutingEngine(
        deployments,
        settings or RouterSettings(num_retries=0, backoff=FAST),
        clock=Clock(),
        rng=random.Random(1),
        wildcards=True,
    )


def test_a_model_no_group_names_goes_to_the_matching_pattern() -> None:
    router = wild([*handles("*", "star"), *handles("inference/*", "inf"), *handles("m", "exact")])
    script = Script()
    trace: RouteTrace[Handle] = RouteTrace("gpt-4o")
    result = router.call("gpt-4o", script, trace=trace)
    assert (result.value, result.group) == ("star", "*")
    assert trace.group == "gpt-4o"  # the attempt learns the model it serves from here
    assert router.call("inference/llama", script).value == "inf"
    assert router.call("m", script).value == "exact"


def test_the_models_of_a_pattern_share_its_deployments_cooldown() -> None:
    router = wild(handles("*", "star"))
    for name in ("m1", "m2", "m3", "m4"):  # allowed_fails=3: the 4th failure cools it down
        with pytest.raises(InternalServerError):
            router.call(name, Script({"star": BOOM}))
    assert router.stats("*")[0].cooldown_until > 1000.0


def test_without_wildcards_a_star_group_is_only_a_name() -> None:
    router = RoutingEngine(handles("*", "star"), RouterSettings(backoff=FAST), clock=Clock())
    with pytest.raises(NotFoundError):
        router.call("gpt-4o", Script())
    assert not router.wildcards


def test_a_wildcard_model_falls_back_as_its_pattern_says_and_to_other_wildcard_models() -> None:
    settings = RouterSettings(num_retries=0, backoff=FAST, fallbacks={"inference/*": ("safe",)})
    router = wild(
        [*handles("inference/*", "inf"), *handles("safe", "safe"), *handles("*", "star")], settings
    )
    result = router.call("inference/x", Script({"inf": BOOM}))
    assert (result.value, result.fallbacks) == ("safe", 1)
    trace: RouteTrace[Handle] = RouteTrace("inference/x")
    result = router.call("inference/x", Script({"inf": BOOM}), trace=trace, fallbacks=["gpt-4o"])
    assert (result.value, trace.group) == ("star", "gpt-4o")


def test_a_calls_own_fallbacks_replace_the_configured_ones() -> None:
    settings = RouterSettings(num_retries=0, backoff=FAST, fallbacks={"a": ("b",)})
    router = wild([*handles("a", "a1"), *handles("b", "b1"), *handles("c", "c1")], settings)
    failing = Script({"a1": BOOM})
    assert router.call("a", failing).value == "b1"
    assert router.call("a", failing, fallbacks=["c"]).value == "c1"
    with pytest.raises(InternalServerError):
        router.call("a", failing, fallbacks=[])


async def test_the_async_call_takes_its_own_fallbacks_too() -> None:
    router = wild([*handles("a", "a1"), *handles("c", "c1")])
    result = await router.acall("a", Script({"a1": BOOM}).async_, fallbacks=["c"])
    assert (result.value, result.fallbacks) == ("c1", 1)


def test_configured_fallbacks_may_name_models_a_pattern_serves() -> None:
    settings = RouterSettings(backoff=FAST, fallbacks={"a": ("gpt-4o",)})
    wild([*handles("a", "a1"), *handles("*", "star")], settings)  # no error
    with pytest.raises(ValueError, match="gpt-4o"):
        RoutingEngine([*handles("a", "a1")], settings, wildcards=True)
