"""The store seam: one async protocol for keys, users, teams and spend, two dialects.

Records are plain dataclasses (a spend row: a named tuple); times are UNIX epoch seconds
(floats) in every dialect, so both stores behave alike and the proxy never converts.
Keys are only ever stored as their SHA-256 hex digest
(``tokenway.proxy.auth.hash_key``).

``add_spend`` is idempotent by ``request_id``: replaying a spend journal after a crash
inserts each row once and adds its cost to the key/user/team totals once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

if TYPE_CHECKING:
    from tokenway.store.entities import BudgetRecord, EndUserRecord, OrganizationRecord
    from tokenway.store.entity_ops import TeamKeyTotal
    from tokenway.store.models import ModelRecord

GroupBy = Literal["key", "user", "team", "model"]
Bucket = Literal["hour", "day"]  # usage_totals' time buckets (UTC)


class StoreError(Exception):
    """The store cannot be reached or refused an operation (not a caller's mistake)."""


class ConflictError(Exception):
    """A record with this identity already exists (``what`` names the field)."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__(message)
        self.what = what


@dataclass(slots=True)
class Limits:
    """Budget and rate limits shared by keys, users and teams (``None`` = no limit)."""

    max_budget: float | None = None
    budget_duration: str | None = None  # "30s", "1h", "1d", "30d"
    budget_reset_at: float | None = None  # when spend next returns to 0
    spend: float = 0.0
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel_requests: int | None = None


@dataclass(slots=True)
class KeyRecord:
    key_hash: str
    key_name: str  # a display form such as "sk-...wxyz"; never the key itself
    key_alias: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    models: list[str] = field(default_factory=list)  # empty: every model the team allows
    limits: Limits = field(default_factory=Limits)
    expires_at: float | None = None
    blocked: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # LiteLLM fields kept as given


@dataclass(slots=True)
class UserRecord:
    user_id: str
    user_email: str | None = None
    user_role: str | None = None
    team_id: str | None = None
    models: list[str] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # LiteLLM fields kept as given


@dataclass(slots=True)
class TeamRecord:
    team_id: str
    team_alias: str | None = None
    models: list[str] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    blocked: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # LiteLLM fields kept as given
    # LiteLLM's members_with_roles: {"user_id", "user_email", "role", ...settings}
    members_with_roles: list[dict[str, Any]] = field(default_factory=list)
    organization_id: str | None = None  # the organization the team belongs to


class SpendRow(NamedTuple):
    """One request's spend. A named tuple, not a dataclass: one is built per request on
    the event loop (a third of a frozen dataclass's cost), and it already is the row that
    SQLite inserts, in column order."""

    request_id: str
    key_hash: str | None
    user_id: str | None
    team_id: str | None
    model_alias: str
    deployment: str | None  # the deployment id (model_info.id) that answered, if any
    prompt_tokens: int
    completion_tokens: int
    cost: float | None  # None when the price is unknown
    latency_ms: float
    status: int  # the HTTP status the client got (a stream cut short: 200 + error_code)
    error_code: str | None
    stream: bool
    started_at: float
    payload: str | None = None  # JSON of messages/response, only when the config asks
    # The token counts are the proxy's estimate: the upstream sent none it could trust.
    usage_estimated: bool = False
    organization_id: str | None = None  # the key's team's organization
    end_user: str | None = None  # the request's ``user`` field (LiteLLM's end user)
    metadata: str | None = None  # JSON of the request's ``metadata`` object, if it had one
    response_id: str | None = None  # the answer's ``id`` (``chatcmpl-...``), if it had one


@dataclass(frozen=True, slots=True)
class SpendFilter:
    key_hash: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    model_alias: str | None = None
    start: float | None = None  # started_at >= start
    end: float | None = None  # started_at < end
    request_id: str | None = None  # one request's row (its own id or its answer's id)
    failed: bool | None = None  # only errors (True) or only successes (False)


@dataclass(frozen=True, slots=True)
class SpendTotal:
    day: str  # YYYY-MM-DD (UTC)
    group: str | None  # the key hash, user id, team id or model alias
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: float


@dataclass(frozen=True, slots=True)
class UsageTotal:
    bucket: float | None  # the bucket's start (epoch seconds), None when not bucketed
    group: str | None  # key hash, user id, team id or model alias; None when not grouped
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    errors: int  # an error status, or a stream cut short by an error


@dataclass(frozen=True, slots=True)
class UsageSlice:
    """Usage of one (time bucket, model, key, team): the overview's one scan."""

    bucket: float
    model: str
    key_hash: str | None
    team_id: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    errors: int


class Store(Protocol):
    dialect: str  # "sqlite" or "postgresql"

    async def open(self) -> None:
        """Connect and apply pending migrations."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise ``StoreError`` unless the store answers now."""

    # keys
    async def create_key(self, key: KeyRecord) -> None: ...
    async def get_key(self, key_hash: str) -> KeyRecord | None: ...
    async def update_key(self, key_hash: str, changes: Mapping[str, Any]) -> KeyRecord | None:
        """Set top-level fields of the record (``limits`` fields by their own names)."""

    async def rehash_key(self, old_hash: str, new_hash: str, key_name: str) -> KeyRecord | None: ...
    async def delete_keys(self, key_hashes: Sequence[str]) -> int: ...
    async def list_keys(
        self,
        *,
        user_id: str | None = None,
        team_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[KeyRecord]: ...

    # users
    async def create_user(self, user: UserRecord) -> None: ...
    async def get_user(self, user_id: str) -> UserRecord | None: ...
    async def update_user(self, user_id: str, changes: Mapping[str, Any]) -> UserRecord | None: ...
    async def delete_users(self, user_ids: Sequence[str]) -> int: ...
    async def list_users(self, *, offset: int = 0, limit: int = 100) -> list[UserRecord]: ...

    # teams
    async def create_team(self, team: TeamRecord) -> None: ...
    async def get_team(self, team_id: str) -> TeamRecord | None: ...
    async def update_team(self, team_id: str, changes: Mapping[str, Any]) -> TeamRecord | None: ...
    async def delete_teams(self, team_ids: Sequence[str]) -> int: ...
    async def list_teams(self, *, offset: int = 0, limit: int = 100) -> list[TeamRecord]: ...

    # models added through the management API (``tokenway.store.models``)
    async def create_model(self, model: ModelRecord) -> ModelRecord: ...
    async def get_model(self, model_id: str) -> ModelRecord | None: ...
    async def replace_model(self, model: ModelRecord) -> ModelRecord | None: ...
    async def delete_model(self, model_id: str) -> bool: ...
    async def list_models(self) -> list[ModelRecord]: ...

    # spend
    async def add_spend(self, rows: Sequence[SpendRow]) -> int:
        """Insert rows not yet stored (by request_id) and add their cost to the spend of
        their key, user and team, all in one transaction; return how many were new."""

    async def spend_logs(
        self, where: SpendFilter, *, offset: int = 0, limit: int = 100
    ) -> list[SpendRow]:
        """Newest first."""

    async def spend_totals(self, group_by: GroupBy, where: SpendFilter) -> list[SpendTotal]:
        """Per UTC day and group, oldest day first."""

    async def usage_totals(
        self, where: SpendFilter, *, group_by: GroupBy | None = None, bucket: Bucket | None = None
    ) -> list[UsageTotal]:
        """Requests, tokens, cost and errors per time bucket (oldest first) and group,
        aggregated by the database; without ``bucket``/``group_by``, over the whole range."""

    async def usage_slices(self, where: SpendFilter, bucket: Bucket) -> list[UsageSlice]:
        """Usage per (bucket, model, key, team), oldest bucket first: every view of a
        period (over time, by model, by key, by team) from one scan of its rows."""

    async def reset_budgets(self, now: float) -> int:
        """Start the next window of every key, user and team whose ``budget_reset_at`` <=
        now: move it on by whole ``budget_duration``s (past ``now``) and set spend to what
        rows already stored in the new window cost (0 unless some were flushed between
        the window's start and this sweep); return how many were reset."""

    # budgets, organizations, end users (``tokenway.store.entity_ops``)
    async def create_budget(self, budget: BudgetRecord) -> None: ...
    async def get_budget(self, budget_id: str) -> BudgetRecord | None: ...
    async def update_budget(
        self, budget_id: str, changes: Mapping[str, Any]
    ) -> BudgetRecord | None: ...
    async def delete_budgets(self, budget_ids: Sequence[str]) -> int: ...
    async def list_budgets(self, *, offset: int = 0, limit: int = 100) -> list[BudgetRecord]: ...
    async def create_organization(self, org: OrganizationRecord) -> None: ...
    async def get_organization(self, organization_id: str) -> OrganizationRecord | None: ...
    async def update_organization(
        self, organization_id: str, changes: Mapping[str, Any]
    ) -> OrganizationRecord | None: ...
    async def delete_organizations(self, organization_ids: Sequence[str]) -> int: ...
    async def list_organizations(
        self, *, offset: int = 0, limit: int = 100
    ) -> list[OrganizationRecord]: ...
    async def create_end_user(self, end_user: EndUserRecord) -> None: ...
    async def get_end_user(self, user_id: str) -> EndUserRecord | None: ...
    async def update_end_user(
        self, user_id: str, changes: Mapping[str, Any]
    ) -> EndUserRecord | None: ...
    async def delete_end_users(self, user_ids: Sequence[str]) -> int: ...
    async def list_end_users(self, *, offset: int = 0, limit: int = 100) -> list[EndUserRecord]: ...
    async def reset_end_user_budgets(self, now: float) -> int:
        """``reset_budgets`` for end users whose budget has a ``budget_duration``."""

    async def spend_by_team_and_key(self, where: SpendFilter) -> list[TeamKeyTotal]:
        """Per (UTC day, team, key) totals, oldest day first (spend reports)."""
