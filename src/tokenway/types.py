"""Response and chunk objects in the OpenAI shapes.

Each object is a thin typed view over the JSON the upstream sent: attribute access for
the fields a caller reads, ``model_dump()`` for a plain dict, and every field the
upstream sent kept as is (unknown ones included), so nothing is lost or rewritten.
"""

from __future__ import annotations

import array
import base64
import copy
import sys
from typing import Any

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "Choice",
    "ChunkChoice",
    "Delta",
    "Embedding",
    "EmbeddingResponse",
    "Function",
    "Message",
    "TextChoice",
    "TextCompletion",
    "TextCompletionChunk",
    "ToolCall",
    "Usage",
]


class OpenAIObject:
    """A read-mostly view over one JSON object."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        # Fields without a typed property (vendor extras) are still reachable.
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __eq__(self, other: object) -> bool:
        if isinstance(other, OpenAIObject):
            return bool(self._data == other._data)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def model_dump(self) -> dict[str, Any]:
        """A deep copy of the object as plain dicts and lists."""
        return copy.deepcopy(self._data)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._data.items())
        return f"{type(self).__name__}({fields})"


def _opt(cls: type[OpenAIObject], value: Any) -> Any:
    return cls(value) if isinstance(value, dict) else None


class Function(OpenAIObject):
    __slots__ = ()

    @property
    def name(self) -> str | None:
        return self._data.get("name")

    @property
    def arguments(self) -> str:
        return self._data.get("arguments") or ""


class ToolCall(OpenAIObject):
    __slots__ = ()

    @property
    def id(self) -> str | None:
        return self._data.get("id")

    @property
    def index(self) -> int | None:
        return self._data.get("index")

    @property
    def type(self) -> str:
        return self._data.get("type") or "function"

    @property
    def function(self) -> Function:
        return Function(self._data.setdefault("function", {}))


class _MessageLike(OpenAIObject):
    __slots__ = ()

    @property
    def role(self) -> str | None:
        return self._data.get("role")

    @property
    def content(self) -> str | None:
        return self._data.get("content")

    @property
    def refusal(self) -> str | None:
        return self._data.get("refusal")

    @property
    def tool_calls(self) -> list[ToolCall] | None:
        calls = self._data.get("tool_calls")
        return [ToolCall(c) for c in calls] if calls else None


class Message(_MessageLike):
    __slots__ = ()


class Delta(_MessageLike):
    __slots__ = ()


class Usage(OpenAIObject):
    __slots__ = ()

    @property
    def prompt_tokens(self) -> int:
        return int(self._data.get("prompt_tokens") or 0)

    @property
    def completion_tokens(self) -> int:
        return int(self._data.get("completion_tokens") or 0)

    @property
    def total_tokens(self) -> int:
        total = self._data.get("total_tokens")
        return int(total) if total is not None else self.prompt_tokens + self.completion_tokens


class _ChoiceBase(OpenAIObject):
    __slots__ = ()

    @property
    def index(self) -> int:
        return int(self._data.get("index") or 0)

    @property
    def finish_reason(self) -> str | None:
        return self._data.get("finish_reason")

    @property
    def logprobs(self) -> Any:
        return self._data.get("logprobs")


class Choice(_ChoiceBase):
    __slots__ = ()

    @property
    def message(self) -> Message:
        return Message(self._data.setdefault("message", {}))


class ChunkChoice(_ChoiceBase):
    __slots__ = ()

    @property
    def delta(self) -> Delta:
        return Delta(self._data.setdefault("delta", {}))


class Result(OpenAIObject):
    """What every answer shares; ``cost`` is tokenway's, not the wire's."""

    __slots__ = ("_hidden_params", "cost", "response_headers")

    def __init__(self, data: dict[str, Any], cost: float | None = None) -> None:
        super().__init__(data)
        self.cost = cost
        self.response_headers: dict[str, str] = {}
        # LiteLLM's name: response_cost, api_base, custom_llm_provider, model_id, ...
        self._hidden_params: dict[str, Any] = {}

    @property
    def object(self) -> str:
        return str(self._data.get("object", ""))

    @property
    def model(self) -> str:
        return str(self._data.get("model", ""))

    @property
    def usage(self) -> Usage | None:
        return _opt(Usage, self._data.get("usage"))  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, cost={self.cost!r})"


class _Completion(Result):
    """What a completion and a chunk share (chat or text)."""

    __slots__ = ()

    @property
    def id(self) -> str:
        return str(self._data.get("id", ""))

    @property
    def created(self) -> int:
        return int(self._data.get("created") or 0)

    @property
    def system_fingerprint(self) -> str | None:
        return self._data.get("system_fingerprint")


class ChatCompletion(_Completion):
    __slots__ = ()

    @property
    def choices(self) -> list[Choice]:
        return [Choice(c) for c in self._data.get("choices") or ()]


class ChatCompletionChunk(_Completion):
    __slots__ = ()

    @property
    def choices(self) -> list[ChunkChoice]:
        return [ChunkChoice(c) for c in self._data.get("choices") or ()]


# ---- the legacy text completions API (openai's ``Completion``) ----------------------------


class TextChoice(_ChoiceBase):
    __slots__ = ()

    @property
    def text(self) -> str:
        return str(self._data.get("text") or "")


class TextCompletion(_Completion):
    """A ``text_completion`` answer: ``choices[i].text``, ``usage``, ``cost``."""

    __slots__ = ()

    @property
    def choices(self) -> list[TextChoice]:
        return [TextChoice(c) for c in self._data.get("choices") or ()]


class TextCompletionChunk(TextCompletion):
    """One streamed piece: the same shape as the answer, with a piece of text per choice."""

    __slots__ = ()


# ---- embeddings (openai's ``CreateEmbeddingResponse``) -----------------------------------


class Embedding(OpenAIObject):
    __slots__ = ()

    @property
    def index(self) -> int:
        return int(self._data.get("index") or 0)

    @property
    def embedding(self) -> list[float] | str:
        """As the provider sent it: floats, or a base64 string for ``encoding_format="base64"``."""
        return self._data.get("embedding") or []

    def floats(self) -> list[float]:
        """The vector as floats, decoding a base64 answer (little-endian float32, as OpenAI's)."""
        value = self._data.get("embedding") or []
        if not isinstance(value, str):
            return list(value)
        vector = array.array("f", base64.b64decode(value))
        if sys.byteorder != "little":
            vector.byteswap()
        return vector.tolist()


class EmbeddingResponse(Result):
    """An ``embedding()`` answer: ``data[i].embedding`` in input order, ``usage``, ``cost``."""

    __slots__ = ()

    @property
    def data(self) -> list[Embedding]:
        return [Embedding(e) for e in self._data.get("data") or ()]
