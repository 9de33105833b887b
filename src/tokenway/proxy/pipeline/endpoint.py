"""An endpoint of the proxy, as data: what the pipeline needs to know about it.

The pipeline (``tokenway.proxy.pipeline.pipeline``) runs the same steps for every
endpoint; an ``Endpoint`` says what differs: its paths, how its body is checked, which
upstream path it maps to (whose parameters each deployment's provider lists,
``ProviderSpec.params_for``), how its prompt and answer are counted when the
upstream does not say, and whether it streams. Adding an OpenAI endpoint is writing one
of these (``tokenway.proxy.endpoints``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Body = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str  # "chat", "embeddings", "completions": in logs, rows and errors
    paths: tuple[str, ...]  # the proxy's own paths (POST)
    upstream_path: str  # the provider seam's path (``providers.base.*_PATH``)
    required: str  # the key a good answer carries ("choices", "data")
    validate: Callable[[Body], None]  # raises ``BadRequestError`` naming the parameter
    prompt_floor: Callable[[Body], int]  # a lower bound (context window checks, a 499's row)
    prompt_likely: Callable[[Body], int]  # likely (a stream the upstream did not count)
    answer_tokens: Callable[[Mapping[str, Any]], int]  # an answer's completion, from its text
    streams: bool = False  # may ask for ``stream: true``
    chunk_object: str = ""  # the ``object`` of its stream chunks
    completes: bool = True  # its usage has completion tokens (embeddings have none)
    default_output: int = 4096  # completion tokens reserved when max_tokens is not given
    mocks: bool = False  # takes mock_response & co (``pipeline.mocking``)
    bulky: bool = False  # answers are large: relayed as bytes when they can be (pipeline.bulk)
