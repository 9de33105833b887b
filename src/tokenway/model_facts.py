"""LiteLLM's model helpers: ``token_counter``, ``get_supported_openai_params``,
``supports_*`` and ``model_cost``, answered from the catalog and the provider table.

Nothing here touches the network. ``token_counter`` is tokenway's offline estimate
(``tokenway.tokens``): no tokenizer for Inference.net's model families installs from
PyPI with its vocabulary inside, and tokenway never downloads one at run time (LiteLLM
fetches a Llama 3 tokenizer from Hugging Face for these models). Pass
``custom_tokenizer`` for exact counts with a tokenizer of your own.
"""

from __future__ import annotations

from typing import Any, Literal

from tokenway.catalog import ModelInfo
from tokenway.errors import UnknownProviderError
from tokenway.providers.base import ProviderSpec
from tokenway.providers.registry import PROVIDERS, split_model
from tokenway.tokens import prompt_likely, text_likely

__all__ = [
    "get_supported_openai_params",
    "model_cost_table",
    "supports_function_calling",
    "supports_parallel_function_calling",
    "supports_response_schema",
    "supports_vision",
    "token_counter",
]


def token_counter(
    model: str = "",
    custom_tokenizer: dict[str, Any] | None = None,
    text: str | list[str] | None = None,
    messages: list[dict[str, Any]] | None = None,
    count_response_tokens: bool = False,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: Any = None,
    use_default_image_token_count: bool = False,
    default_token_count: int | None = None,
) -> int:
    """Tokens of ``messages`` (framing and ``tools`` included) or of ``text``: an offline
    estimate (about 3.5 characters a token for English, within a few percent of Llama 3's
    tokenizer on prose; see the module's docstring). ``model`` is accepted for LiteLLM's
    signature; the estimate is the same for every model.

    ``custom_tokenizer`` is LiteLLM's ``{"type": "huggingface_tokenizer" |
    "openai_tokenizer", "tokenizer": <object with encode()>}``: the text is counted with it.
    ``count_response_tokens=True`` counts ``text`` alone, without message framing (as
    LiteLLM). ``tool_choice``, ``use_default_image_token_count`` and ``default_token_count``
    are accepted for LiteLLM's signature and change nothing (images count as a large
    high-detail image either way).
    """
    if text is None and messages is None:
        raise ValueError("token_counter needs text= or messages=")
    if custom_tokenizer is not None:
        return _custom_count(custom_tokenizer, text, messages)
    if messages is not None:
        return prompt_likely(messages, tools)
    texts = [text] if isinstance(text, str) else list(text or ())
    return sum(text_likely(t) for t in texts)


def _custom_count(
    tokenizer: dict[str, Any], text: str | list[str] | None, messages: list[dict[str, Any]] | None
) -> int:
    kind, encoder = tokenizer.get("type"), tokenizer.get("tokenizer")
    if kind not in ("huggingface_tokenizer", "openai_tokenizer") or encoder is None:
        raise ValueError(
            'custom_tokenizer must be {"type": "huggingface_tokenizer" or "openai_tokenizer", '
            '"tokenizer": <an object with encode()>}'
        )
    if messages is not None:
        parts = [str(m.get("content") or "") for m in messages if isinstance(m, dict)]
        texts = parts
    else:
        texts = [text] if isinstance(text, str) else list(text or ())
    total = 0
    for piece in texts:
        encoded = encoder.encode(piece)  # an object without encode() raises AttributeError
        total += len(encoded.ids if kind == "huggingface_tokenizer" else encoded)
    return total


def get_supported_openai_params(
    model: str,
    custom_llm_provider: str | None = None,
    request_type: Literal["chat_completion", "embeddings", "text_completion"] = "chat_completion",
) -> list[str] | None:
    """The OpenAI parameters ``model``'s provider takes, sorted; ``None`` for a provider
    tokenway does not know (as LiteLLM answers)."""
    spec = _spec(model, custom_llm_provider)
    if spec is None:
        return None
    if request_type == "embeddings":
        return sorted(spec.embedding_params)
    if request_type == "text_completion":
        return sorted(spec.text_completion_params | {"stream"})
    if request_type != "chat_completion":
        raise ValueError(
            "request_type must be 'chat_completion', 'embeddings' or 'text_completion'"
        )
    return sorted(spec.supported_params | {"stream"})


def supports_function_calling(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the catalog says ``model`` takes ``tools``; ``False`` for an unknown model."""
    info = _info(model, custom_llm_provider)
    return info is not None and info.supports_tools


def supports_parallel_function_calling(model: str, custom_llm_provider: str | None = None) -> bool:
    info = _info(model, custom_llm_provider)
    return info is not None and info.supports_parallel_function_calling


def supports_vision(model: str, custom_llm_provider: str | None = None) -> bool:
    info = _info(model, custom_llm_provider)
    return info is not None and info.supports_vision


def supports_response_schema(model: str, custom_llm_provider: str | None = None) -> bool:
    info = _info(model, custom_llm_provider)
    return info is not None and info.supports_response_schema


def model_cost_table() -> dict[str, dict[str, Any]]:
    """``tokenway.model_cost``: the default catalog as LiteLLM's ``model_cost`` dict, made
    afresh on each read (change prices with ``tokenway.register_model``)."""
    from tokenway.api import default_client

    catalog = default_client().catalog
    table = {}
    for name in catalog.names():
        info = catalog.get(name)
        if info is not None:
            table[name] = _cost_row(name, info)
    return table


def _cost_row(name: str, info: ModelInfo) -> dict[str, Any]:
    row: dict[str, Any] = {
        "max_input_tokens": info.context_window,
        "max_tokens": info.context_window,
        "input_cost_per_token": info.input_cost_per_token,
        "output_cost_per_token": info.output_cost_per_token,
        "litellm_provider": name.partition("/")[0],
        "mode": info.mode,
        "supports_function_calling": info.supports_tools,
        "supports_parallel_function_calling": info.supports_parallel_function_calling,
        "supports_response_schema": info.supports_response_schema,
        "supports_vision": info.supports_vision,
        "output_vector_size": info.output_vector_size,
    }
    return {k: v for k, v in row.items() if v is not None}


def _full_name(model: str, custom_llm_provider: str | None) -> str:
    if custom_llm_provider and not model.startswith(f"{custom_llm_provider}/"):
        return f"{custom_llm_provider}/{model}"
    return model


def _info(model: str, custom_llm_provider: str | None) -> ModelInfo | None:
    from tokenway.api import default_client

    return default_client().catalog.get(_full_name(model, custom_llm_provider))


def _spec(model: str, custom_llm_provider: str | None) -> ProviderSpec | None:
    if custom_llm_provider:
        return PROVIDERS.get(custom_llm_provider)
    try:
        return split_model(model)[0]
    except UnknownProviderError:
        return None
