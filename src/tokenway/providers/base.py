"""The provider seam: a vendor row (data) and the pure translation protocol.

A provider never does I/O. It turns a tokenway request into bytes for the upstream and
the upstream's bytes back into typed values; the transport (``tokenway.client``) moves
the bytes. Most vendors speak OpenAI's dialect and differ only in data, so they are
``ProviderSpec`` rows served by one ``OpenAICompatibleProvider``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tokenway.errors import TokenwayError
    from tokenway.types import ChatCompletion, ChatCompletionChunk

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


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One vendor, as data: where it lives, which key it needs, what it accepts."""

    name: str
    api_base: str | None
    api_key_env: str | None
    api_base_env: str | None = None
    supported_params: frozenset[str] = OPENAI_CHAT_PARAMS
    default_rpm: int | None = None
    key_required: bool = True
    key_hint: str = ""
    dialect: str = "openai"


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


class StreamDecoder(Protocol):
    """Turns the upstream's stream bytes into chunks; raises ``TokenwayError`` on error frames."""

    def feed(self, data: bytes) -> list[ChatCompletionChunk]: ...

    def close(self) -> list[ChatCompletionChunk]:
        """End of input: the last chunks; raises if the stream ended without its terminator."""
        ...

    @property
    def done(self) -> bool: ...


class Provider(Protocol):
    spec: ProviderSpec

    def build_request(self, body: dict[str, object], deployment: Deployment) -> UpstreamRequest: ...

    def parse_response(
        self, status: int, headers: Mapping[str, str], body: bytes
    ) -> ChatCompletion: ...

    def stream_decoder(self) -> StreamDecoder: ...

    def map_error(self, status: int, headers: Mapping[str, str], body: bytes) -> TokenwayError: ...
