"""``POST /v1/embeddings``: OpenAI's embeddings API through the pipeline.

``input`` is a string, a list of strings, a token array or a list of token arrays;
``encoding_format`` (``float`` or ``base64``) and ``dimensions`` are passed to the
deployment, whose vectors come back as it sent them. The usage has prompt tokens only,
charged at the deployment's ``input_cost_per_token``. Never streamed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokenway.embeddings import validate_embedding_body
from tokenway.providers.base import EMBEDDINGS_PATH
from tokenway.proxy.pipeline.endpoint import Endpoint
from tokenway.tokens import input_floor, input_likely


def _no_completion(answer: Mapping[str, Any]) -> int:
    return 0


EMBEDDINGS = Endpoint(
    name="embeddings",
    paths=("/v1/embeddings", "/embeddings"),
    upstream_path=EMBEDDINGS_PATH,
    required="data",
    validate=validate_embedding_body,
    prompt_floor=lambda body: input_floor(body["input"]),
    prompt_likely=lambda body: input_likely(body["input"]),
    answer_tokens=_no_completion,
    completes=False,
    default_output=0,
    bulky=True,
)
