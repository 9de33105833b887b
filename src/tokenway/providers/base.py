"""The provider seam: a vendor row (data) and the pure translation protocol.

A provider never does I/O. It turns a tokenway request into bytes for the upstream and
the upstream's bytes back into typed values; the transport (``tokenway.client``) moves
the bytes. Most vendors speak OpenAI's dialect and differ only in data, so they are
``ProviderSpec`` rows served by one ``OpenAICompatibleProvider``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from tokenway.errors import TokenwayError
    from tokenway.types import ChatCompletion

C = TypeVar("C")

# The OpenAI endpoints a provider serves, as paths under its api_base.
CHAT_PATH = "/chat/completions"
EMBEDDINGS_PATH = "/embeddings"
TEXT_COMPLETIONS_PATH = "/completions"
PATHS = (CHAT_PATH, EMBEDDINGS_PATH, TEXT_COMPLETIONS_PATH)

# The fields each endpoint's body is made of, besides its parameters.
BODY_FIELDS: dict[str, frozenset[str]] = {
    CHAT_PATH: frozenset({"model", "messages", "stream"}),
    EMBEDDINGS_PATH: frozenset({"model", "input"}),
    TEXT_COMPLETIONS_PATH: frozenset({"model", "prompt", "stream"}),
}

# The OpenAI chat parameters of the product brief's table plus the ones every
# OpenAI-compatible server (vLLM included) takes.
OPENAI_CHAT_PARAMS: frozenset[str] = frozenset(
    {
        "temperature", "top_p", "max_tokens", "max_completion_tokens", "frequency_penalty",
        "presence_penalty", "stop", "n", "tools", "tool_choice", "response_format", "seed",
        "user", "stream_options", "logprobs", "top_logprobs", "parallel_tool_calls",
        "logit_bias", "metadata",
    }
)  # fmt: skip

# OpenAI's embeddings parameters (besides model and input).
OPENAI_EMBEDDING_PARAMS: frozenset[str] = frozenset({"encoding_format", "dimensions", "user"})

# OpenAI's legacy completions parameters (besides model, prompt and stream).
OPENAI_TEXT_PARAMS: frozenset[str] = frozenset(
    {
        "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs", "max_tokens", "n",
        "presence_penalty", "seed", "stop", "stream_options", "suffix", "temperature", "top_p",
        "user",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One vendor, as data: where it lives, which key it needs, what it accepts."""

    name: str
    api_base: str | None
    api_key_env: str | None
    api_base_env: str | None = None
    supported_params: frozenset[str] = OPENAI_CHAT_PARAMS
    embedding_params: frozenset[str] = OPENAI_EMBEDDING_PARAMS
    text_completion_params: frozenset[str] = OPENAI_TEXT_PARAMS
    default_rpm: int | None = None
    key_required: bool = True
    key_hint: str = ""
    dialect: str = "openai"

    def params_for(self, path: str) -> frozenset[str]:
        """The parameters this vendor takes on the endpoint at ``path``."""
        if path == EMBEDDINGS_PATH:
            return self.embedding_params
        if path == TEXT_COMPLETIONS_PATH:
            return self.text_completion_params
        return self.supported_params


@dataclass(frozen=True, slots=True)
class Deployment:
    """A provider resolved for one call: the upstream model id, where, and with which key."""

    spec: ProviderSpec
    model: str
    api_base: str
    api_key: str | None
    extra_headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """Bytes ready for the transport."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes


class StreamDecoder(Protocol[C]):
    """Turns the upstream's stream bytes into chunks; raises ``TokenwayError`` on error frames."""

    def feed(self, data: bytes) -> list[C]: ...

    def close(self) -> list[C]:
        """End of input: the last chunks; raises if the stream ended without its terminator."""
        ...

    @property
    def done(self) -> bool: ...


class Provider(Protocol):
    spec: ProviderSpec

    def build_request(
        self, body: dict[str, object], deployment: Deployment, path: str = CHAT_PATH
    ) -> UpstreamRequest:
        """The request for one endpoint (``path``, a ``*_PATH`` constant; chat by default)."""
        ...

    def encode_body(self, body: Mapping[str, Any]) -> bytes:
        """The upstream's body bytes for a request body (what ``build_request`` sends)."""
        ...

    def decode_answer(self, raw: bytes) -> Any:
        """A successful answer's bytes as an OpenAI-shaped value; ``ValueError`` if unreadable."""
        ...

    def parse_response(
        self, status: int, headers: Mapping[str, str], body: bytes
    ) -> ChatCompletion: ...

    def parse_json(
        self, status: int, headers: Mapping[str, str], body: bytes, required: str
    ) -> dict[str, Any]:
        """A successful answer's JSON object, which must carry ``required``; raises otherwise."""
        ...

    def stream_decoder(self, chunk: Callable[[dict[str, Any]], C]) -> StreamDecoder[C]:
        """A decoder making each frame's JSON object into a chunk with ``chunk``."""
        ...

    def map_error(self, status: int, headers: Mapping[str, str], body: bytes) -> TokenwayError: ...
