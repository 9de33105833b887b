"""Which provider serves a ``prefix/model`` string: the one table that names providers."""

from __future__ import annotations

import difflib

from tokenway.errors import UnknownProviderError
from tokenway.providers.base import Provider, ProviderSpec
from tokenway.providers.openai_compatible import OpenAICompatibleProvider

# The product brief's parameter table, plus metadata (Inference.net documents it) and
# stream_options (tokenway asks for streamed usage); max_completion_tokens is sent as max_tokens.
INFERENCE_PARAMS = frozenset(
    {
        "temperature", "top_p", "max_tokens", "max_completion_tokens", "frequency_penalty",
        "presence_penalty", "stop", "n", "tools", "tool_choice", "response_format", "seed",
        "user", "metadata", "stream_options",
    }
)  # fmt: skip

# Inference.net documents encoding_format and metadata for embeddings; dimensions and user
# are OpenAI's, and its servers (and the emulator) take them.
INFERENCE_EMBEDDING_PARAMS = frozenset({"encoding_format", "dimensions", "user", "metadata"})

# The legacy completions API: the chat table's knobs that apply to a prompt, plus echo.
INFERENCE_TEXT_PARAMS = frozenset(
    {
        "temperature", "top_p", "max_tokens", "frequency_penalty", "presence_penalty", "stop",
        "n", "seed", "user", "metadata", "stream_options", "echo",
    }
)  # fmt: skip

_INFERENCE_HINT = "Get a key from the Inference.net dashboard (https://inference.net/dashboard)."

PROVIDERS: dict[str, ProviderSpec] = {
    spec.name: spec
    for spec in (
        ProviderSpec(
            name="inference",
            api_base="https://api.inference.net/v1",
            api_key_env="INFERENCE_API_KEY",
            api_base_env="INFERENCE_API_BASE",
            supported_params=INFERENCE_PARAMS,
            embedding_params=INFERENCE_EMBEDDING_PARAMS,
            text_completion_params=INFERENCE_TEXT_PARAMS,
            default_rpm=500,
            key_hint=_INFERENCE_HINT,
        ),
        ProviderSpec(
            name="openai",
            api_base="https://api.openai.com/v1",
            api_key_env="OPENAI_API_KEY",
            api_base_env="OPENAI_API_BASE",
        ),
        ProviderSpec(
            name="litellm_proxy",
            api_base=None,
            api_key_env="LITELLM_PROXY_API_KEY",
            api_base_env="LITELLM_PROXY_API_BASE",
            key_required=False,
            key_hint="Pass the proxy's key (its master key or a virtual key).",
        ),
        ProviderSpec(
            name="openai_compatible",
            api_base=None,
            api_key_env=None,
            key_required=False,
        ),
    )
}


def known_providers() -> list[str]:
    return sorted(PROVIDERS)


def get_provider_spec(name: str) -> ProviderSpec:
    """The row for ``name``; an ``UnknownProviderError`` listing the known ones otherwise."""
    spec = PROVIDERS.get(name)
    if spec is None:
        raise UnknownProviderError(
            unknown_provider_message(name), param="model", code="unknown_provider"
        )
    return spec


def unknown_provider_message(name: str) -> str:
    close = difflib.get_close_matches(name, PROVIDERS, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown provider '{name}'{hint}; known providers: {', '.join(known_providers())}"


def split_model(model: str) -> tuple[ProviderSpec, str]:
    """``"inference/meta-llama/x/fp-16"`` → (inference row, ``"meta-llama/x/fp-16"``).

    Everything after the first ``/`` is the upstream's model id, passed through untouched.
    """
    prefix, sep, rest = model.partition("/")
    if not sep or not rest:
        raise UnknownProviderError(
            f"model '{model}' has no provider prefix; write it as '<provider>/<model id>' "
            f"with one of: {', '.join(known_providers())}",
            param="model",
            code="unknown_provider",
        )
    return get_provider_spec(prefix), rest


# dialect name -> provider class; a new wire format adds a row here and a module beside this one.
_DIALECTS: dict[str, type[OpenAICompatibleProvider]] = {"openai": OpenAICompatibleProvider}
_INSTANCES: dict[str, Provider] = {}


def get_provider(spec: ProviderSpec) -> Provider:
    """The (stateless, shared) provider that speaks ``spec``'s dialect."""
    provider = _INSTANCES.get(spec.name)
    if provider is None or provider.spec is not spec:
        provider = _INSTANCES[spec.name] = _DIALECTS[spec.dialect](spec)
    return provider
