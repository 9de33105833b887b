"""Gauges read off the proxy's state when the metrics are flushed, never on a request's
path: what budget and rate limits the keys that called have left, each deployment's
state, and tokenway's own figures (spend rows waiting for the store, the spend writer's
lag, open connections).

A request only leaves its key's context and its answer's ``x-ratelimit-*`` lines in a
dict (``touch``); ``flush`` turns what was touched since the last flush into gauge values.

With ``--workers N`` each worker writes its own values and ``/metrics`` combines them per
gauge: a remaining budget reads the lowest of the workers' figures (each knows the
store's spend and the cost it settled itself), a deployment's state the worst, rate
limits (counted in one place for every worker) the most recent, the backlog and the
connections the sum of the live workers'.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Literal, Protocol

from prometheus_client import CollectorRegistry, Gauge

from tokenway.proxy.accounting.keys import Account, KeyContext
from tokenway.proxy.models import Route
from tokenway.router import RoutingEngine

Mode = Literal["livemin", "livemax", "livemostrecent", "livesum"]
PARTIAL_OUTAGE, OUTAGE = 1, 2  # litellm_deployment_state; 0 is healthy
_REMAINING_REQUESTS = b"x-ratelimit-remaining-requests: "
_REMAINING_TOKENS = b"x-ratelimit-remaining-tokens: "


class Backlog(Protocol):
    """The spend writer's figures (``SpendWriter``)."""

    rows_pending: int

    @property
    def queued_batches(self) -> int: ...

    def lag(self) -> float: ...


class StateGauges:
    def __init__(self, registry: CollectorRegistry, deployments: Mapping[str, tuple[str, ...]]):
        """``deployments``: each deployment id's labels (litellm_model_name, model_id,
        api_base, api_provider)."""
        self._deployments = deployments
        self.router: RoutingEngine[Route] | None = None
        self.writer: Backlog | None = None
        self.connections: Callable[[], int] | None = None  # the server's open ones
        self._keys: dict[str, tuple[KeyContext, str]] = {}  # touched: hash prefix -> ctx
        self._limits: dict[tuple[str, str, str], bytes] = {}  # (key, its alias, group)
        self.outcomes: dict[str, int] = {}  # deployment id -> its last requests' state
        self._shown: dict[str, int] = {}  # deployment id -> the state its gauge says
        key, team = ("hashed_api_key", "api_key_alias"), ("team", "team_alias")
        by_model = (*key, "model")

        def gauge(name: str, text: str, labels: tuple[str, ...], mode: Mode) -> Gauge:
            """``mode``: how ``--workers N`` combine (the live workers' values only)."""
            return Gauge(name, text, labels, registry=registry, multiprocess_mode=mode)

        self.key_remaining = gauge(
            "litellm_remaining_api_key_budget_metric", "A key's budget left (USD)", key, "livemin"
        )
        self.key_max = gauge("litellm_api_key_max_budget_metric", "A key's budget", key, "livemax")
        self.key_hours = gauge(
            "litellm_api_key_budget_remaining_hours_metric",
            "Hours until a key's budget resets", key, "livemin",
        )  # fmt: skip
        self.team_remaining = gauge(
            "litellm_remaining_team_budget_metric", "A team's budget left (USD)", team, "livemin"
        )
        self.team_max = gauge("litellm_team_max_budget_metric", "A team's budget", team, "livemax")
        self.team_hours = gauge(
            "litellm_team_budget_remaining_hours_metric",
            "Hours until a team's budget resets", team, "livemin",
        )  # fmt: skip
        self.requests_left = gauge(
            "litellm_remaining_api_key_requests_for_model",
            "Requests a key may still make this minute (its tightest rpm limit)",
            by_model, "livemostrecent",
        )  # fmt: skip
        self.tokens_left = gauge(
            "litellm_remaining_api_key_tokens_for_model",
            "Tokens a key may still use this minute (its tightest tpm limit)",
            by_model, "livemostrecent",
        )  # fmt: skip
        self.deployment_state = gauge(
            "litellm_deployment_state",
            "0 healthy, 1 partial outage (its last requests failed), 2 outage (cooled down)",
            ("litellm_model_name", "model_id", "api_base", "api_provider"), "livemax",
        )  # fmt: skip
        self.pending_rows = gauge(
            "tokenway_spend_pending_rows", "Spend rows journaled, not yet in the store", (),
            "livesum",
        )  # fmt: skip
        self.pending_batches = gauge(
            "tokenway_spend_journal_batches", "Journaled batches waiting for the store", (),
            "livesum",
        )  # fmt: skip
        self.writer_lag = gauge(
            "tokenway_spend_writer_lag_seconds",
            "Seconds since the store last took spend rows while some wait (0: none wait)",
            (), "livemax",
        )  # fmt: skip
        self.open_connections = gauge(
            "tokenway_open_connections", "Client connections open", (), "livesum"
        )

    def touch(self, key: str, ctx: KeyContext, alias: str, limits: bytes) -> None:
        """A virtual key's request ended: its key (hash prefix), records, the model group
        asked for, and its answer's ``x-ratelimit-*`` lines (empty without limits)."""
        self._keys[key] = (ctx, ctx.key.key_alias or "")
        if limits:
            self._limits[(key, ctx.key.key_alias or "", alias)] = limits

    def flush(self) -> None:
        if self._keys:
            keys, self._keys = self._keys, {}
            now = time.time()
            for key, (ctx, alias) in keys.items():
                self._budgets(key, alias, ctx, now)
        if self._limits:
            limits, self._limits = self._limits, {}
            for labels, block in limits.items():
                requests, tokens = _remaining(block)
                if requests is not None:
                    self.requests_left.labels(*labels).set(requests)
                if tokens is not None:
                    self.tokens_left.labels(*labels).set(tokens)
        self._states()
        writer = self.writer
        if writer is not None:
            self.pending_rows.set(writer.rows_pending)
            self.pending_batches.set(writer.queued_batches)
            self.writer_lag.set(writer.lag())
        if self.connections is not None:
            self.open_connections.set(self.connections())

    def _budgets(self, key: str, alias: str, ctx: KeyContext, now: float) -> None:
        """As LiteLLM: a key or team without a budget reads +Inf left."""
        team = ctx.team
        for account in ctx.accounts:
            if account.kind == "key":
                labels: tuple[str, str] = (key, alias)
                gauges = (self.key_remaining, self.key_max, self.key_hours)
            elif account.kind == "team" and team is not None:
                labels = (team.team_id, team.team_alias or "")
                gauges = (self.team_remaining, self.team_max, self.team_hours)
            else:
                continue
            remaining, budget, hours = _budget(account, now)
            for gauge, value in zip(gauges, (remaining, budget, hours), strict=True):
                if value is not None:
                    gauge.labels(*labels).set(value)

    def _states(self) -> None:
        """Each deployment's state, set when it changed (a tick with none costs a look
        at the router's stats and a dict per deployment)."""
        cooled = cooled_down(self.router) if self.router is not None else set()
        outcomes, shown = self.outcomes, self._shown
        for deployment, labels in self._deployments.items():
            state = OUTAGE if deployment in cooled else outcomes.get(deployment, 0)
            if shown.get(deployment) != state:
                shown[deployment] = state
                self.deployment_state.labels(*labels).set(state)


def cooled_down(router: RoutingEngine[Route]) -> set[str]:
    """The deployments the router keeps out of rotation right now."""
    now = router.clock()
    return {
        stats.deployment_id
        for group in router.groups()
        for stats in router.stats(group)
        if stats.cooldown_until > now
    }


def _budget(account: Account, now: float) -> tuple[float, float | None, float | None]:
    """(left, the budget, hours until it resets): +Inf left without a budget."""
    budget = account.max_budget
    if budget is None:
        return math.inf, None, None
    left = budget - account.spend - account.unflushed
    reset_at = account.reset_at
    hours = max(0.0, (reset_at - now) / 3600) if reset_at is not None else None
    return left, budget, hours


def _remaining(block: bytes) -> tuple[int | None, int | None]:
    """The remaining requests and tokens an answer's ``x-ratelimit-*`` lines said."""
    return _figure(block, _REMAINING_REQUESTS), _figure(block, _REMAINING_TOKENS)


def _figure(block: bytes, name: bytes) -> int | None:
    start = block.find(name)
    if start < 0:
        return None
    start += len(name)
    return int(block[start : block.index(b"\r\n", start)])
