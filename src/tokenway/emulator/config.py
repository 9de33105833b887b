"""Settings of an emulator: who may call it, how it answers, and which faults it injects."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ERROR_BODY_STYLES", "ERROR_STYLES", "EmulatorConfig", "FaultConfig"]

ERROR_STYLES = ("openai", "vllm")
ERROR_BODY_STYLES = ("json", "html", "empty")


@dataclass(frozen=True)
class FaultConfig:
    """Faults injected into `/v1/*` answers; the default injects none.

    `stream_cut_after` and `stream_error_after` count `data:` chunks and apply to
    streaming answers only. `seed` makes `error_rate` and jitter draws reproducible.
    """

    latency_ms: int = 0
    latency_jitter_ms: int = 0
    error_rate: float = 0.0
    error_status: int = 500
    error_body: str = "json"
    retry_after_s: int = 1
    fail_first_n: int = 0
    stream_cut_after: int | None = None
    stream_error_after: int | None = None
    chunk_delay_ms: int = 0
    hang: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("latency_ms", "latency_jitter_ms", "fail_first_n", "chunk_delay_ms", "seed"):
            _require_int(name, getattr(self, name), minimum=0)
        _require_int("retry_after_s", self.retry_after_s, minimum=1)
        for name in ("stream_cut_after", "stream_error_after"):
            if getattr(self, name) is not None:
                _require_int(name, getattr(self, name), minimum=0)
        _require_int("error_status", self.error_status, minimum=400)
        if self.error_status > 599:
            raise ValueError("error_status must be an HTTP error status (400-599)")
        rate = self.error_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ValueError("error_rate must be a number between 0 and 1")
        if self.error_body not in ERROR_BODY_STYLES:
            raise ValueError(f"error_body must be one of {', '.join(ERROR_BODY_STYLES)}")
        if not isinstance(self.hang, bool):
            raise ValueError("hang must be true or false")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FaultConfig:
        """Build from JSON-like data; unknown names and bad values raise `ValueError`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EmulatorConfig:
    """How an emulator is set up; `api_keys` are the only bearer tokens it accepts.

    `rpm` requests are allowed per `rate_window_s` seconds per key (a token bucket
    refilling continuously); a short window makes rate-limit tests quick.
    `max_output_tokens` switches on an output cap (4,096 on the real 2025 catalog):
    a larger `max_tokens` is then rejected with 400.
    """

    api_keys: tuple[str, ...]
    out_of_credit_keys: tuple[str, ...] = ()
    rpm: int = 500
    rate_window_s: float = 60.0
    error_style: str = "openai"
    include_pricing: bool = False
    max_output_tokens: int | None = None
    faults: FaultConfig = field(default_factory=FaultConfig)
    allow_fault_header: bool = True
    max_body_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        if not self.api_keys and not self.out_of_credit_keys:
            raise ValueError("an emulator needs at least one API key")
        if any(not key for key in (*self.api_keys, *self.out_of_credit_keys)):
            raise ValueError("API keys must be non-empty strings")
        if self.error_style not in ERROR_STYLES:
            raise ValueError(f"error_style must be one of {', '.join(ERROR_STYLES)}")
        _require_int("rpm", self.rpm, minimum=1)
        if self.rate_window_s <= 0:
            raise ValueError("rate_window_s must be positive")
        if self.max_output_tokens is not None:
            _require_int("max_output_tokens", self.max_output_tokens, minimum=1)


def _require_int(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}")
