"""From a ``completion()`` call to bytes for the upstream, without any I/O.

Everything that can be wrong with a call is found here, before the network: an unknown
provider, a missing key or base URL, a bad parameter, an unsupported one, a prompt that
clearly overflows the model's context window.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypedDict

from tokenway.catalog import Catalog, ModelInfo
from tokenway.errors import (
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    UnknownProviderError,
    UnsupportedParamsError,
)
from tokenway.mock import MOCK_PARAMS, Mock, mock_of
from tokenway.params import validate_chat_body
from tokenway.providers.base import CHAT_PATH, Deployment, Provider, ProviderSpec, UpstreamRequest
from tokenway.providers.registry import get_provider, get_provider_spec, split_model
from tokenway.tokens import prompt_floor, prompt_likely
from tokenway.types import ChatCompletion, ChatCompletionChunk, Result


class CallKnobs(TypedDict, total=False):
    """tokenway's own knobs, taken by every call and never sent upstream."""

    timeout: float
    api_key: str
    api_base: str
    num_retries: int
    drop_params: bool
    extra_headers: dict[str, str]
    extra_body: dict[str, Any]
    input_cost_per_token: float
    output_cost_per_token: float
    rpm: int
    custom_llm_provider: str


class CompletionParams(CallKnobs, total=False):
    """Everything ``completion()`` takes besides ``model``, ``messages`` and ``stream``."""

    temperature: float
    top_p: float
    max_tokens: int
    max_completion_tokens: int
    frequency_penalty: float
    presence_penalty: float
    stop: str | list[str]
    n: int
    tools: list[dict[str, Any]]
    tool_choice: str | dict[str, Any]
    response_format: dict[str, Any]
    seed: int
    user: str
    logprobs: bool
    top_logprobs: int
    parallel_tool_calls: bool
    logit_bias: dict[str, float]
    metadata: dict[str, Any]
    stream_options: dict[str, Any]
    mock_response: str | BaseException
    mock_tool_calls: list[dict[str, Any]]
    mock_timeout: bool


CONTROL_PARAMS = frozenset(
    {
        "timeout", "api_key", "api_base", "base_url", "num_retries", "drop_params",
        "extra_headers", "extra_body", "input_cost_per_token", "output_cost_per_token", "rpm",
        "custom_llm_provider", *MOCK_PARAMS,
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CallKind:
    """One OpenAI endpoint as the SDK calls it: where, and what its answers are made into."""

    name: str  # "chat", "embedding" or "text_completion"
    path: str  # under the provider's api_base
    required: str  # the key a successful answer always carries
    result: Callable[[dict[str, Any]], Result]
    chunk: Callable[[dict[str, Any]], Result] | None = None  # None: never streamed


CHAT = CallKind("chat", CHAT_PATH, "choices", ChatCompletion, ChatCompletionChunk)


@dataclass(frozen=True, slots=True)
class PreparedCall:
    model: str  # as the caller wrote it, provider prefix included
    provider: Provider
    deployment: Deployment
    request: UpstreamRequest
    stream: bool
    caller_wants_usage: bool
    info: ModelInfo | None
    input_cost_per_token: float | None
    output_cost_per_token: float | None
    timeout: float | None
    num_retries: int | None
    rpm: int | None
    kind: CallKind = CHAT
    mock: Mock | None = None  # answered without the network (tokenway.mock)


def prepare_call(
    model: str,
    messages: Any,
    params: Mapping[str, Any],
    *,
    catalog: Catalog,
    drop_params: bool,
    env: Mapping[str, str] = os.environ,
) -> PreparedCall:
    model = with_provider(model, params)
    spec, upstream_model = split_model(model)
    mocked = any(params.get(name) is not None for name in MOCK_PARAMS)
    deployment = resolve_deployment(spec, upstream_model, params, env, mocked=mocked)
    body = _body(upstream_model, messages, params, spec, params.get("drop_params", drop_params))
    info = catalog.get(model)
    if info is not None:
        check_context_window(model, info, body)
    call = finish_call(model, deployment, body, params, info, CHAT)
    if not mocked:
        return call
    prompt = prompt_likely(messages, body.get("tools"))
    mock = mock_of(params, upstream_model, prompt, call.stream)
    return replace(call, mock=mock)


def with_provider(model: str, params: Mapping[str, Any]) -> str:
    """``model`` with the ``custom_llm_provider`` prefix (LiteLLM's parameter), unless it
    has it already: ``"meta-llama/x"`` with ``"inference"`` → ``"inference/meta-llama/x"``."""
    provider = params.get("custom_llm_provider")
    if provider is None:
        return model
    if not isinstance(provider, str) or not provider:
        raise UnknownProviderError(
            "custom_llm_provider must be a provider name", param="custom_llm_provider"
        )
    get_provider_spec(provider)  # an unknown one: the error that lists the known ones
    return model if model.startswith(f"{provider}/") else f"{provider}/{model}"


def prepare_endpoint(
    model: str,
    field: str,
    value: Any,
    params: Mapping[str, Any],
    kind: CallKind,
    supported: Callable[[ProviderSpec], frozenset[str]],
    validate: Callable[[Mapping[str, Any]], None],
    *,
    catalog: Catalog,
    drop_params: bool,
    env: Mapping[str, str],
) -> PreparedCall:
    """A call other than chat: ``{"model": ..., field: value}`` plus the parameters the
    provider supports for ``kind`` (others dropped or refused), checked by ``validate``,
    then ``extra_body`` on top."""
    for name in MOCK_PARAMS:
        if params.get(name) is not None:
            raise UnsupportedParamsError(
                f"{name} is taken by completion() only, not by the {kind.name} endpoint",
                param=name,
                code="unsupported_parameter",
            )
    model = with_provider(model, params)
    spec, upstream_model = split_model(model)
    deployment = resolve_deployment(spec, upstream_model, params, env)
    body: dict[str, Any] = {"model": upstream_model, field: value}
    add_params(body, params, supported(spec), spec, params.get("drop_params", drop_params))
    validate(body)
    extra = params.get("extra_body")
    if extra:
        body.update(extra)
    return finish_call(model, deployment, body, params, catalog.get(model), kind)


def resolve_deployment(
    spec: ProviderSpec,
    upstream_model: str,
    params: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    mocked: bool = False,
) -> Deployment:
    """Where a call goes; a mocked call goes nowhere, so it needs no key and no base URL."""
    if mocked:
        env = {}
        params = {"api_key": "mock-key", "api_base": _MOCK_BASE, **params}
    return Deployment(
        spec=spec,
        model=upstream_model,
        api_base=_api_base(spec, params, env),
        api_key=_api_key(spec, params, env),
        extra_headers=params.get("extra_headers") or {},
    )


_MOCK_BASE = "http://mock.invalid/v1"  # a mocked call's base when it names none: never used


def finish_call(
    model: str,
    deployment: Deployment,
    body: dict[str, Any],
    params: Mapping[str, Any],
    info: ModelInfo | None,
    kind: CallKind,
) -> PreparedCall:
    """The call for a checked ``body`` (``extra_body`` already merged) of any endpoint."""
    caller_wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    if body.get("stream"):
        # Always ask for usage so streamed calls get a cost; the extra chunk is hidden
        # from a caller who did not ask for it.
        body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    provider = get_provider(deployment.spec)
    return PreparedCall(
        model=model,
        provider=provider,
        deployment=deployment,
        request=provider.build_request(body, deployment, kind.path),
        stream=bool(body.get("stream")),
        caller_wants_usage=caller_wants_usage,
        info=info,
        input_cost_per_token=params.get("input_cost_per_token"),
        output_cost_per_token=params.get("output_cost_per_token"),
        timeout=params.get("timeout"),
        num_retries=params.get("num_retries"),
        rpm=params.get("rpm"),
        kind=kind,
    )


def add_params(
    body: dict[str, Any],
    params: Mapping[str, Any],
    supported: frozenset[str],
    spec: ProviderSpec,
    drop_params: bool,
) -> None:
    """Put the upstream parameters of ``params`` in ``body``; an unsupported one is dropped
    (``drop_params``) or refused with ``UnsupportedParamsError`` naming it."""
    unsupported = []
    for name, value in params.items():
        if value is None or name in CONTROL_PARAMS:
            continue
        if name != "stream" and name not in supported:
            unsupported.append(name)
            continue
        body[name] = value
    if unsupported and not drop_params:
        raise _unsupported(spec, unsupported)


def _unsupported(spec: ProviderSpec, names: list[str]) -> UnsupportedParamsError:
    listed = ", ".join(sorted(names))
    return UnsupportedParamsError(
        f"provider '{spec.name}' does not support: {listed}. "
        "Remove them, or pass drop_params=True to drop them.",
        param=sorted(names)[0],
        code="unsupported_parameter",
    )


def check_context_window(model: str, info: ModelInfo, body: Mapping[str, Any]) -> None:
    window = info.context_window
    if window is None:
        return
    prompt = prompt_floor(body["messages"], body.get("tools"))
    completion = body.get("max_tokens") or body.get("max_completion_tokens") or 0
    if prompt + completion > window:
        raise ContextWindowExceededError(
            f"{model} has a context window of {window} tokens, but this request needs at least "
            f"{prompt + completion} ({prompt} in the messages, {completion} for the completion). "
            "Shorten the messages or lower max_tokens.",
            param="messages",
            code="context_length_exceeded",
            model=model,
        )


def _api_base(spec: ProviderSpec, params: Mapping[str, Any], env: Mapping[str, str]) -> str:
    base = params.get("api_base") or params.get("base_url")
    if not base and spec.api_base_env:
        base = env.get(spec.api_base_env)
    base = base or spec.api_base
    if not base:
        via = f" or set {spec.api_base_env}" if spec.api_base_env else ""
        raise BadRequestError(
            f"provider '{spec.name}' needs a base URL: pass api_base='http://host:port/v1'{via}",
            param="api_base",
        )
    if not base.startswith(("http://", "https://")):
        raise BadRequestError(f"api_base must be an http(s) URL; got {base!r}", param="api_base")
    return str(base)


def _api_key(spec: ProviderSpec, params: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    key = params.get("api_key") or (env.get(spec.api_key_env) if spec.api_key_env else None)
    if not key and spec.key_required:
        raise AuthenticationError(
            f"no API key for provider '{spec.name}': set {spec.api_key_env} or pass api_key=... "
            f"{spec.key_hint}".rstrip(),
            llm_provider=spec.name,
        )
    return str(key) if key else None


def _body(
    upstream_model: str,
    messages: Any,
    params: Mapping[str, Any],
    spec: ProviderSpec,
    drop_params: bool,
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": upstream_model, "messages": messages}
    add_params(body, params, spec.supported_params, spec, drop_params)
    if "max_completion_tokens" in body and "max_tokens" not in body:
        # Inference.net documents max_tokens only.
        body["max_tokens"] = body.pop("max_completion_tokens")
    validate_chat_body(body)
    extra = params.get("extra_body")
    if extra:
        body.update(extra)
    return body


def hidden_params(
    call: PreparedCall,
    cost: float | None,
    headers: Mapping[str, str] | None = None,
    model_id: str | None = None,
) -> dict[str, Any]:
    """LiteLLM's ``response._hidden_params`` keys that tokenway knows the values of."""
    hidden: dict[str, Any] = {
        "custom_llm_provider": call.deployment.spec.name,
        "api_base": call.deployment.api_base,
        "model_id": model_id,  # a Router's deployment id
        "response_cost": cost,
        "litellm_model_name": call.model,
    }
    if headers is not None:
        hidden["additional_headers"] = dict(headers)
    return hidden
