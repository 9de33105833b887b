"""One request, as the log and the metrics see it: its spend row and what the pipeline
said about it (the path, the deployment's retries and fallbacks, the upstream's time).

No key is in it: a virtual key appears by its alias and a prefix of its hash."""

from __future__ import annotations

from typing import NamedTuple

from tokenway.store.base import SpendRow

HASH_PREFIX = 16  # hex digits of a key's SHA-256 in a log line or a metric label


class RequestRecord(NamedTuple):
    row: SpendRow
    method: str
    path: str
    endpoint: str  # "chat", "embeddings", "completions"
    key_alias: str | None
    team_alias: str | None
    upstream_model: str | None  # what the deployment called it (its answer's header)
    retries: int
    fallbacks: int
    upstream_ms: float  # time spent waiting on the upstream (its answer, or its headers)
    first_byte_ms: float | None  # a stream's time to its first bytes, else None

    @property
    def key(self) -> str:
        """The key's hash prefix, or ``""`` for a caller without one."""
        key_hash = self.row.key_hash
        return key_hash[:HASH_PREFIX] if key_hash else ""

    def fields(self) -> dict[str, object]:
        """The log line's fields, in a stable order."""
        row = self.row
        return {
            "request_id": row.request_id,
            "method": self.method,
            "path": self.path,
            "status": row.status,
            "model": row.model_alias,
            "deployment": row.deployment,
            "upstream_model": self.upstream_model,
            "key_alias": self.key_alias,
            "key_hash": self.key or None,
            "team": row.team_id,
            "user": row.user_id,
            "stream": row.stream,
            "prompt_tokens": row.prompt_tokens,
            "completion_tokens": row.completion_tokens,
            "total_tokens": row.prompt_tokens + row.completion_tokens,
            "usage_estimated": row.usage_estimated,
            "cost": row.cost,
            "latency_ms": round(row.latency_ms, 3),
            "upstream_ms": round(self.upstream_ms, 3),
            "retries": self.retries,
            "fallbacks": self.fallbacks,
            "error_code": row.error_code,
        }
