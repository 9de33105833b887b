"""``tokenway.Router``: the module functions' surface over a LiteLLM-shaped ``model_list``.

Each ``model_list`` entry is one deployment; entries sharing a ``model_name`` form a
group, and ``Router.completion(model=<model_name>, ...)`` routes over it. Every attempt
is one ``Client`` call without retries of its own (the engine decides retries), so a
stream that fails before its first chunk fails over like any other call.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, Unpack, overload

from tokenway.client import Client
from tokenway.providers.base import OPENAI_CHAT_PARAMS
from tokenway.request import CompletionParams
from tokenway.retry import DEFAULT_NUM_RETRIES, DEFAULT_TIMEOUT, Backoff
from tokenway.router.call import Routed
from tokenway.router.cooldown import CooldownPolicy
from tokenway.router.engine import RoutingEngine
from tokenway.router.handles import DeploymentLimits
from tokenway.router.settings import DEFAULT_CAPACITY_WAIT, RouterSettings, fallback_map
from tokenway.router.state import RouterState
from tokenway.streaming import AsyncStream, Stream
from tokenway.tokens import prompt_floor
from tokenway.types import ChatCompletion, Usage

__all__ = ["Router", "SDKDeployment"]

R = TypeVar("R")

# litellm_params passed on to each call; the rest (rpm, weight, order, ...) are the router's.
_CALL_PARAMS = OPENAI_CHAT_PARAMS | {
    "api_base", "base_url", "api_key", "extra_headers", "extra_body", "drop_params",
    "input_cost_per_token", "output_cost_per_token",
}  # fmt: skip
_ACCESS_PARAMS = ("api_base", "base_url", "api_key")  # a call's own values never replace these


@dataclass(frozen=True, slots=True)
class SDKDeployment:
    """One ``model_list`` entry: what to call, with which defaults, within which limits."""

    deployment_id: str
    group: str
    model: str  # "provider/model-id"
    defaults: Mapping[str, Any] = field(repr=False)  # call parameters from litellm_params
    access: Mapping[str, Any] = field(repr=False)  # api_base / api_key
    limits: DeploymentLimits = field(default_factory=DeploymentLimits)


class Router:
    """Load balancing, retries, fallbacks and cooldowns over deployments, for SDK users."""

    def __init__(
        self,
        model_list: Sequence[Mapping[str, Any]],
        *,
        routing_strategy: str = "simple-shuffle",
        num_retries: int = DEFAULT_NUM_RETRIES,
        timeout: float = DEFAULT_TIMEOUT,
        fallbacks: list[dict[str, list[str]]] | None = None,
        context_window_fallbacks: list[dict[str, list[str]]] | None = None,
        default_fallbacks: list[str] | None = None,
        allowed_fails: int = 3,
        cooldown_time: float = 5.0,
        disable_cooldowns: bool = False,
        max_wait_for_capacity: float = DEFAULT_CAPACITY_WAIT,
        client: Client | None = None,
        backoff: Backoff | None = None,
        state: RouterState | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client if client is not None else Client()
        fallback_groups = fallback_map(fallbacks)
        settings = RouterSettings(
            routing_strategy=routing_strategy,
            num_retries=num_retries,
            timeout=timeout,
            fallbacks=fallback_groups,
            context_window_fallbacks=fallback_map(context_window_fallbacks),
            default_fallbacks=tuple(default_fallbacks or fallback_groups.pop("*", ())),
            cooldown=CooldownPolicy(allowed_fails, cooldown_time, disabled=disable_cooldowns),
            max_wait_for_capacity=max_wait_for_capacity,
            backoff=backoff or Backoff(),
        )
        deployments = [self._deployment(i, entry) for i, entry in enumerate(model_list)]
        self.engine: RoutingEngine[SDKDeployment] = RoutingEngine(
            deployments, settings, state=state, clock=clock, rng=rng
        )

    # ---- calls ----------------------------------------------------------------------

    @overload
    def completion(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        stream: Literal[True],
        **params: Unpack[CompletionParams],
    ) -> Stream: ...

    @overload
    def completion(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        stream: Literal[False] = False,
        **params: Unpack[CompletionParams],
    ) -> ChatCompletion: ...

    def completion(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        stream: bool = False,
        **params: Unpack[CompletionParams],
    ) -> ChatCompletion | Stream:
        """Call the group ``model`` (a ``model_name`` of the model list)."""
        call_params, retries, timeout = _split(params, stream)

        def attempt(d: SDKDeployment, budget: float) -> ChatCompletion | Stream:
            kwargs = _merge(d, call_params, budget)
            return self.client.completion(d.model, messages, **kwargs)

        routed = self.engine.call(
            model,
            attempt,
            needed_tokens=_needed_tokens(messages, call_params),
            timeout=timeout,
            num_retries=retries,
            hold=stream,  # a stream holds its deployment's slot until it ends
        )
        return self._finish(routed)

    @overload
    async def acompletion(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        stream: Literal[True],
        **params: Unpack[CompletionParams],
    ) -> AsyncStream: ...

    @overload
    async def acompletion(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        stream: Literal[False] = False,
        **params: Unpack[CompletionParams],
    ) -> ChatCompletion: ...

    async def acompletion(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        stream: bool = False,
        **params: Unpack[CompletionParams],
    ) -> ChatCompletion | AsyncStream:
        """The async ``completion()``."""
        call_params, retries, timeout = _split(params, stream)

        async def attempt(d: SDKDeployment, budget: float) -> ChatCompletion | AsyncStream:
            kwargs = _merge(d, call_params, budget)
            return await self.client.acompletion(d.model, messages, **kwargs)

        routed = await self.engine.acall(
            model,
            attempt,
            needed_tokens=_needed_tokens(messages, call_params),
            timeout=timeout,
            num_retries=retries,
            hold=stream,  # a stream holds its deployment's slot until it ends
        )
        return self._finish(routed)

    def model_names(self) -> list[str]:
        return self.engine.groups()

    def close(self) -> None:
        self.client.close()

    async def aclose(self) -> None:
        await self.client.aclose()

    # ---- helpers --------------------------------------------------------------------

    def _finish(self, routed: Routed[SDKDeployment, R]) -> R:
        """The answer, with the route it took in ``response_headers`` (as the proxy sends)."""
        value = routed.value
        if isinstance(value, Stream | AsyncStream):
            engine, deployment, release = self.engine, routed.deployment, routed.release

            def ended(usage: Usage | None) -> None:
                release()
                if usage is not None:
                    engine.add_tokens(deployment, usage.total_tokens)

            value.add_close_hook(ended)
            value._state.model_id = routed.deployment.deployment_id
        elif isinstance(value, ChatCompletion):
            value._hidden_params["model_id"] = routed.deployment.deployment_id
            usage = value.usage
            if usage is not None:
                self.engine.add_tokens(routed.deployment, usage.total_tokens)
            value.response_headers.update(
                {
                    "x-tokenway-model-group": routed.group,
                    "x-tokenway-deployment": routed.deployment.deployment_id,
                    "x-tokenway-attempted-retries": str(routed.retries),
                    "x-tokenway-attempted-fallbacks": str(routed.fallbacks),
                }
            )
        return value

    def _deployment(self, index: int, entry: Mapping[str, Any]) -> SDKDeployment:
        name = entry.get("model_name")
        params = entry.get("litellm_params")
        if not isinstance(name, str) or not isinstance(params, Mapping):
            raise ValueError(
                f"model_list[{index}] needs a model_name and litellm_params with a model"
            )
        model = params.get("model")
        if not isinstance(model, str):
            raise ValueError(f"model_list[{index}].litellm_params needs model='provider/model-id'")
        info = entry.get("model_info") or {}
        known = self.client.catalog.get(model)
        window = info.get("max_input_tokens") or (known.context_window if known else None)
        calls = {k: v for k, v in params.items() if k in _CALL_PARAMS and v is not None}
        return SDKDeployment(
            deployment_id=str(info.get("id") or f"{name}-{index}"),
            group=name,
            model=model,
            defaults={k: v for k, v in calls.items() if k not in _ACCESS_PARAMS},
            access={k: v for k, v in calls.items() if k in _ACCESS_PARAMS},
            limits=DeploymentLimits(
                rpm=params.get("rpm"),
                tpm=params.get("tpm"),
                weight=params.get("weight"),
                max_parallel_requests=params.get("max_parallel_requests"),
                timeout=params.get("timeout"),
                context_window=int(window) if window else None,
            ),
        )


def _split(
    params: Mapping[str, Any], stream: bool
) -> tuple[dict[str, Any], int | None, float | None]:
    """Each attempt's own parameters, and the call's retries and timeout (the engine's)."""
    call_params = dict(params)
    retries, timeout = call_params.pop("num_retries", None), call_params.pop("timeout", None)
    if stream:
        call_params["stream"] = True
    return call_params, retries, timeout


def _merge(d: SDKDeployment, params: Mapping[str, Any], budget: float) -> dict[str, Any]:
    return {**d.defaults, **params, **d.access, "num_retries": 0, "timeout": budget}


def _needed_tokens(messages: Any, params: Mapping[str, Any]) -> Callable[[], int]:
    def needed() -> int:
        completion = params.get("max_tokens") or params.get("max_completion_tokens") or 0
        return prompt_floor(messages, params.get("tools")) + int(completion)

    return needed
