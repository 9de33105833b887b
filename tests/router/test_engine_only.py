"""``acall_within``: a call restricted to some deployments (an end user's region) uses no
other, in its group and in its fallback groups, retries among the allowed ones, and skips
a group with none of them."""

from __future__ import annotations

import pytest
from tests.router.fakes import FAST, Handle, Script, counts, engine, handles

from tokenway.errors import BadRequestError, InternalServerError, TokenwayError
from tokenway.router import RouterSettings, RoutingEngine

EU = frozenset({"a-eu-1", "a-eu-2", "c-eu"})


def _in_eu(handle: Handle) -> bool:
    return handle.deployment_id in EU


def _none_in_eu(group: str) -> TokenwayError:
    return BadRequestError(f"no deployment of '{group}' in eu", code="no_deployment_in_region")


def _router() -> RoutingEngine[Handle]:
    deployments = [
        *handles("a", "a-eu-1", "a-us", "a-eu-2", "a-any"),
        *handles("b", "b-us"),
        *handles("c", "c-eu", "c-us"),
    ]
    settings = RouterSettings(num_retries=3, fallbacks={"a": ("b", "c")}, backoff=FAST)
    return engine(deployments, settings)


async def test_only_the_allowed_deployments_are_picked() -> None:
    router = engine([*handles("a", "a-eu-1", "a-us", "a-eu-2", "a-any")])
    script = Script()
    for _ in range(200):
        routed = await router.acall_within(_in_eu, _none_in_eu, "a", script.async_)
        assert routed.value in EU
    assert set(counts(script.calls)) == {"a-eu-1", "a-eu-2"}  # both used, nothing else
    plain = Script()
    for _ in range(200):
        await router.acall("a", plain.async_)
    assert set(counts(plain.calls)) == {"a-eu-1", "a-us", "a-eu-2", "a-any"}


async def test_retries_and_fallbacks_stay_within_the_allowed_deployments() -> None:
    router = _router()
    failing: dict[str, TokenwayError] = {
        name: InternalServerError("down") for name in ("a-eu-1", "a-eu-2")
    }
    script = Script(failing)
    routed = await router.acall_within(_in_eu, _none_in_eu, "a", script.async_)
    # a's allowed deployments fail; b has none in the region (skipped); c's eu one answers
    assert routed.value == "c-eu"
    assert set(script.calls) == {"a-eu-1", "a-eu-2", "c-eu"}


async def test_a_group_with_no_allowed_deployment_is_only_errors_answer() -> None:
    router = engine([*handles("b", "b-us")], RouterSettings(backoff=FAST))
    script = Script()
    with pytest.raises(BadRequestError) as refused:
        await router.acall_within(_in_eu, _none_in_eu, "b", script.async_)
    assert refused.value.code == "no_deployment_in_region" and "'b'" in refused.value.message
    assert script.calls == []
