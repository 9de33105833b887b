"""Per-deployment runtime stats behind a small protocol, and the in-memory implementation.

Strategies and the engine read ``DeploymentStats`` records and change them only through
``RouterState``, so a shared store (Redis) can implement the protocol later without
touching either. Time is always passed in (``now``), never read here: tests drive the
windows with a fake clock.

``MemoryState`` is not thread-safe on its own; the engine serialises calls into it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Protocol

from tokenway.router.handles import DeploymentLimits

__all__ = [
    "EWMA_ALPHA",
    "USAGE_WINDOW",
    "DeploymentStats",
    "MemoryState",
    "RouterState",
    "usage_scales",
]

USAGE_WINDOW = 60.0  # seconds: RPM and TPM are counted over the last minute, sliding
EWMA_ALPHA = 0.3  # weight of the newest latency sample


class DeploymentStats:
    """What is known about one deployment right now (a record, read by strategies)."""

    __slots__ = (
        "cooldown_until",
        "deployment_id",
        "failures",
        "full",
        "in_flight",
        "last_failed_at",
        "latency",
        "rpm_scale",
        "rpm_used",
        "tpm_scale",
        "tpm_used",
        "usage",
    )

    def __init__(self, deployment_id: str, rpm_scale: float = 1.0, tpm_scale: float = 1.0) -> None:
        self.deployment_id = deployment_id
        self.in_flight = 0
        # EWMA of seconds until the answer (for a stream: its first content); 0.0 = unmeasured,
        # so a deployment nobody has tried yet is tried first by latency-based routing.
        self.latency = 0.0
        self.rpm_used = 0  # requests begun in the last USAGE_WINDOW seconds
        self.tpm_used = 0  # tokens reported in the last USAGE_WINDOW seconds
        # The larger share used of its RPM or TPM limit (see ``usage_scales``); kept current
        # by the state on every change, so usage-based routing only compares numbers.
        self.usage = 0.0
        self.rpm_scale = rpm_scale
        self.tpm_scale = tpm_scale
        self.failures: deque[float] = deque()  # times of recent counted failures
        self.cooldown_until = 0.0
        self.last_failed_at = 0.0
        # At its limit in a count shared with other processes (``router.shared``), which
        # this process's own figures do not show.
        self.full = False

    def update_usage(self) -> None:
        rpm = self.rpm_used * self.rpm_scale
        tpm = self.tpm_used * self.tpm_scale
        self.usage = rpm if rpm > tpm else tpm

    def __repr__(self) -> str:
        return (
            f"DeploymentStats({self.deployment_id!r}, in_flight={self.in_flight}, "
            f"latency={self.latency:.4f}, rpm_used={self.rpm_used}, tpm_used={self.tpm_used}, "
            f"cooldown_until={self.cooldown_until:.3f})"
        )


class RouterState(Protocol):
    """Where deployment stats live. Every method is a short, non-blocking update."""

    def add_group(
        self, group: str, deployment_ids: Sequence[str], limits: Sequence[DeploymentLimits]
    ) -> None:
        """Declare a group: its deployments (in the order strategies see them), their limits."""

    def view(self, group: str, now: float) -> Sequence[DeploymentStats]:
        """Current stats of a group's deployments, in declared order."""

    def begin(self, deployment_id: str, now: float) -> None:
        """A request was sent: one more in flight, one more in the RPM window."""

    def end(self, deployment_id: str, latency: float | None, finished: bool = True) -> None:
        """The request answered (any outcome); ``latency`` is a sample for the EWMA, if any.
        ``finished=False``: a stream goes on, still in flight until ``release``."""

    def release(self, deployment_id: str) -> None:
        """A stream that ``end(..., finished=False)`` left in flight has ended."""

    def fail(self, deployment_id: str, now: float, window: float) -> int:
        """Record a counted failure; return how many happened in the last ``window`` seconds."""

    def add_tokens(self, deployment_id: str, now: float, tokens: int) -> None:
        """Tokens used by a request (for TPM), reported once its usage is known."""

    def cool_down(self, deployment_id: str, until: float) -> None:
        """Skip this deployment until ``until``; its failure count starts again."""

    def recover(self, deployment_id: str) -> None:
        """End a cooldown early (a health check passed, or a cooled deployment answered)."""

    def next_capacity(self, deployment_id: str, now: float) -> float | None:
        """Seconds until a request or tokens leave its usage window; None if none are in it."""


class MemoryState:
    """Stats of one process, in memory.

    Usage is counted in one-second buckets shared by all deployments, in time order, so
    memory is bounded (61 buckets) whatever the request rate, and ``view`` only drops the
    expired buckets: refreshing a group costs nothing per deployment. A request begun in
    second ``s`` leaves the window at ``s + 61``, that is after 60 to 61 seconds, so a
    deployment admitted only while ``rpm_used < rpm`` never gets more than ``rpm`` requests
    in any 60 seconds.
    """

    def __init__(self, alpha: float = EWMA_ALPHA, window: float = USAGE_WINDOW) -> None:
        self._alpha = alpha
        self._lifetime = int(window) + 1
        self._stats: dict[str, DeploymentStats] = {}
        self._groups: dict[str, list[DeploymentStats]] = {}
        # (expires_at, {stats: [requests, tokens]}) for each second that saw usage
        self._buckets: deque[tuple[int, dict[DeploymentStats, list[int]]]] = deque()
        self._bucket: dict[DeploymentStats, list[int]] = {}
        self._bucket_expiry = -1

    def add_group(
        self, group: str, deployment_ids: Sequence[str], limits: Sequence[DeploymentLimits]
    ) -> None:
        scales = usage_scales(limits)
        records = [
            self._stats.setdefault(i, DeploymentStats(i, *scale))
            for i, scale in zip(deployment_ids, scales, strict=True)
        ]
        self._groups[group] = records

    def view(self, group: str, now: float) -> Sequence[DeploymentStats]:
        buckets = self._buckets
        while buckets and buckets[0][0] <= now:
            for stats, (requests, tokens) in buckets.popleft()[1].items():
                stats.rpm_used -= requests
                stats.tpm_used -= tokens
                stats.update_usage()
        return self._groups[group]

    def begin(self, deployment_id: str, now: float) -> None:
        stats = self._stats[deployment_id]
        stats.in_flight += 1
        stats.rpm_used += 1
        rpm = stats.rpm_used * stats.rpm_scale  # update_usage, inlined (usage only grows)
        if rpm > stats.usage:
            stats.usage = rpm
        self._counters(stats, now)[0] += 1

    def end(self, deployment_id: str, latency: float | None, finished: bool = True) -> None:
        stats = self._stats[deployment_id]
        if finished:
            stats.in_flight -= 1
        if latency is not None:
            old = stats.latency
            stats.latency = latency if old == 0.0 else old + self._alpha * (latency - old)

    def release(self, deployment_id: str) -> None:
        self._stats[deployment_id].in_flight -= 1

    def fail(self, deployment_id: str, now: float, window: float) -> int:
        stats = self._stats[deployment_id]
        failures = stats.failures
        failures.append(now)
        stats.last_failed_at = now
        while failures[0] <= now - window:
            failures.popleft()
        return len(failures)

    def add_tokens(self, deployment_id: str, now: float, tokens: int) -> None:
        if tokens > 0:
            stats = self._stats[deployment_id]
            stats.tpm_used += tokens
            tpm = stats.tpm_used * stats.tpm_scale  # update_usage, inlined (usage only grows)
            if tpm > stats.usage:
                stats.usage = tpm
            self._counters(stats, now)[1] += tokens

    def cool_down(self, deployment_id: str, until: float) -> None:
        stats = self._stats[deployment_id]
        stats.cooldown_until = max(stats.cooldown_until, until)
        stats.failures.clear()

    def recover(self, deployment_id: str) -> None:
        self._stats[deployment_id].cooldown_until = 0.0

    def next_capacity(self, deployment_id: str, now: float) -> float | None:
        stats = self._stats[deployment_id]
        for expires_at, usage in self._buckets:
            if stats in usage:
                return max(0.0, expires_at - now)
        return None

    def _counters(self, stats: DeploymentStats, now: float) -> list[int]:
        """The [requests, tokens] counters of ``stats`` in the bucket of this second."""
        bucket = self._bucket
        expiry = int(now) + self._lifetime
        if expiry != self._bucket_expiry:
            bucket = self._bucket = {}
            self._bucket_expiry = expiry
            self._buckets.append((expiry, bucket))
        counters = bucket.get(stats)
        if counters is None:
            counters = bucket[stats] = [0, 0]
        return counters


def usage_scales(limits: Sequence[DeploymentLimits]) -> list[tuple[float, float]]:
    """(1 / rpm, 1 / tpm) per deployment: ``rpm_used * scale`` is the share of its limit used.

    A deployment without a limit is scaled by the largest limit in its group, so usage
    still compares across the group (and without any limits, by raw counts).
    """
    rpm = _scales([lim.rpm for lim in limits])
    tpm = _scales([lim.tpm for lim in limits])
    return list(zip(rpm, tpm, strict=True))


def _scales(limits: Sequence[int | None]) -> list[float]:
    known = [limit for limit in limits if limit]
    default = max(known) if known else 1
    return [1.0 / (limit or default) for limit in limits]
