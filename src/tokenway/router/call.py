"""One routed call's progress: the group it is in, what it tried, and what comes next.

The engine's sync and async loops only run attempts and sleep; every decision is made
here, once, for both: which deployment to try, whether an error ends the call, moves to
another deployment, waits a backoff first, or moves to the next fallback group.

Order: the group, with up to ``num_retries`` retries on another healthy deployment
(backing off only before trying the same one again); then the group's ``fallbacks`` (or
``default_fallbacks``) in order, each with its own retries. A context-window overflow
(found before sending, or by the upstream) goes to ``context_window_fallbacks`` only.
A client error (400 etc.) ends the call at once. A stream cut before any content is
tried once more at most, on another deployment if there is one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from tokenway.errors import BadRequestError, ContextWindowExceededError, Timeout, TokenwayError
from tokenway.retry import is_retryable
from tokenway.router.cooldown import CUT_BEFORE_CONTENT, counts_against_deployment
from tokenway.router.groups import saturated_error
from tokenway.router.handles import DeploymentLimits, Routable
from tokenway.router.state import DeploymentStats

if TYPE_CHECKING:
    from tokenway.router.engine import Group, RoutingEngine

__all__ = ["RouteTrace", "Routed", "RoutedCall", "attempt_budget", "routed"]

D = TypeVar("D", bound=Routable)
T = TypeVar("T")

SATURATION_POLL = 0.02  # seconds between looks for capacity in a saturated group

# What may follow a failed attempt within the group.
_ANY = 0  # nothing failed yet: any deployment
_OTHER = 1  # another deployment only (the last one's key or model is wrong)
_SAME_AFTER_BACKOFF = 2  # another one, or the same one after a backoff


@dataclass(slots=True)
class RouteTrace(Generic[D]):
    """Where a call went so far: filled in as it runs, readable after it failed."""

    group: str
    deployment: D | None = None  # the last one tried (the one that answered, on success)
    retries: int = 0
    fallbacks: int = 0


def _nothing() -> None:
    """What ``Routed.release`` does for a call that holds nothing."""


@dataclass(frozen=True, slots=True)
class Routed(Generic[D, T]):
    """A successful call: the answer, the deployment that gave it, and what it took."""

    value: T
    deployment: D
    group: str
    retries: int
    fallbacks: int
    # For a call made with ``hold=True`` (a stream): call once it ends, to free the slot.
    release: Callable[[], None] = _nothing


_new = object.__new__
# The slots' own setters, which a frozen dataclass's ``__setattr__`` does not guard.
_SET_VALUE, _SET_DEPLOYMENT, _SET_GROUP, _SET_RETRIES, _SET_FALLBACKS, _SET_RELEASE = (
    vars(Routed)[name].__set__
    for name in ("value", "deployment", "group", "retries", "fallbacks", "release")
)


def routed(
    value: T,
    deployment: D,
    group: str,
    retries: int,
    fallbacks: int,
    release: Callable[[], None] | None,
) -> Routed[D, T]:
    """``Routed(...)`` for the engine's hot path: the frozen dataclass's own ``__init__``
    sets each field through ``object.__setattr__`` and costs about twice as much."""
    result: Routed[D, T] = _new(Routed)
    _SET_VALUE(result, value)
    _SET_DEPLOYMENT(result, deployment)
    _SET_GROUP(result, group)
    _SET_RETRIES(result, retries)
    _SET_FALLBACKS(result, fallbacks)
    _SET_RELEASE(result, _nothing if release is None else release)
    return result


def attempt_budget(limits: DeploymentLimits, deadline: float, now: float) -> float:
    """Seconds an attempt may take: its deployment's timeout, or what is left of the call."""
    timeout = limits.timeout
    remaining = deadline - now
    return remaining if timeout is None or timeout > remaining else timeout


class RoutedCall(Generic[D]):
    """Decisions for one call: ``pick`` → attempt → ``failed`` (or the engine's success)."""

    __slots__ = (
        "_context_mode",
        "_cut",
        "_error",
        "_home",
        "_needed",
        "_needed_value",
        "_next",
        "_num_retries",
        "_origin",
        "_queue",
        "_saturated_until",
        "_tried",
        "_tries",
        "_visited",
        "deadline",
        "engine",
        "fallbacks",
        "first_choice_rejected",
        "group",
        "only",
        "only_error",
        "position",
        "stats",
        "trace",
    )

    def __init__(
        self,
        engine: RoutingEngine[D],
        group: str,
        deadline: float,
        num_retries: int,
        needed_tokens: Callable[[], int] | None,
        trace: RouteTrace[D] | None,
        needed_value: int | None = None,
    ) -> None:
        self.engine = engine
        self.group: Group[D] = engine.group_of(group)
        self.deadline = deadline
        self.trace: RouteTrace[D] = trace if trace is not None else RouteTrace(group)
        self.position = -1
        self.stats: DeploymentStats | None = None  # of the deployment picked, as picked
        self._origin = group  # the model asked for
        self._home = self.group.name  # its group's name: a pattern's, for a wildcard model
        self._num_retries = num_retries
        self._needed = needed_tokens
        self._needed_value = needed_value  # needed_tokens() once asked, else None
        self._tried: list[int] = []
        self._tries = 0
        self._next = _ANY
        self._error: TokenwayError | None = None  # the latest failure
        self._queue: list[str] | None = None
        self._context_mode = False
        self._cut = False  # a stream was cut before content once already
        self._visited = [group]
        self._saturated_until: float | None = None
        # The strategy's choice from the whole group was found unusable before this call
        # was made (by the engine's short way): the first pick asks only the filtered group.
        self.first_choice_rejected = False
        # A request's own fallbacks: when set, they replace the configured ones.
        self.fallbacks: tuple[str, ...] | None = None
        # The deployments this call may use (``RoutingEngine.acall``'s ``only``), and the
        # error for a group that has none of them (else a generic one).
        self.only: Callable[[D], bool] | None = None
        self.only_error: Callable[[str], TokenwayError] | None = None

    # ---- choosing (under the engine's lock) -----------------------------------------

    def pick(self, now: float) -> float:
        """Choose and begin the next attempt (``self.position``), or say how long to wait."""
        while True:
            remaining = self.deadline - now
            if remaining <= 0:
                raise self._out_of_time()
            group = self.group
            if group.context_window is not None and self._overflows(group.context_window):
                self._next_group(self._overflow_error(group.name, group.context_window))
                continue
            only = self.only
            if only is not None and not any(only(handle) for handle in group.handles):
                self._next_group(self._none_usable(group.name))
                continue
            stats = self.engine.state.view(group.name, now)
            position = self.engine.choose(
                group, stats, self._tried, now, self.first_choice_rejected, only
            )
            self.first_choice_rejected = False
            if position < 0:
                wait = self._wait_for_capacity(now, remaining)
                if wait is None:
                    continue  # moved on to a fallback group
                return wait
            self._saturated_until = None
            if self._next != _ANY and position in self._tried:
                delay = self._before_same_deployment(remaining)
                if delay is None:
                    continue  # moved on to a fallback group
                return delay
            self.position = position
            self.stats = stats[position]
            self.trace.deployment = group.handles[position]
            self._tried.append(position)
            self.engine.state.begin(group.ids[position], now)
            return 0.0

    def withdraw(self) -> None:
        """The attempt ``pick`` began was not sent (the engine's ``admission`` refused
        it): it is not a try, and the next pick looks again."""
        self._tried.pop()

    def adopt(self, position: int, stats: DeploymentStats) -> None:
        """Take over an attempt begun without this call (the engine's short way), as if
        ``pick`` had begun it; its outcome is reported next."""
        self.position = position
        self.stats = stats
        self.trace.deployment = self.group.handles[position]
        self._tried.append(position)

    @property
    def deployment_id(self) -> str:
        """The id of the deployment picked last."""
        return self.group.ids[self.position]

    @property
    def handle(self) -> D:
        """The deployment picked last."""
        return self.group.handles[self.position]

    def budget(self, now: float) -> float:
        """Seconds the attempt may take: its deployment's timeout, or what is left of the call."""
        return attempt_budget(self.group.limits[self.position], self.deadline, now)

    def result(self, value: T, release: Callable[[], None] | None = None) -> Routed[D, T]:
        trace = self.trace
        return routed(value, self.handle, self.group.name, trace.retries, trace.fallbacks, release)

    # ---- outcomes -------------------------------------------------------------------

    def failed(self, error: TokenwayError) -> None:
        """Decide what follows ``error``; raise it when nothing can."""
        self._error = error
        if isinstance(error, ContextWindowExceededError):
            self._next_group(error)
        elif error.code == CUT_BEFORE_CONTENT:
            if self._cut or self._tries >= self._num_retries:
                raise error
            self._cut = True
            self._tries += 1
            self.trace.retries += 1
            self._next = _OTHER if len(self.group.handles) > 1 else _SAME_AFTER_BACKOFF
        elif not counts_against_deployment(error):
            raise error  # the request itself is wrong: no other deployment will take it
        elif self._tries < self._num_retries:
            self._tries += 1
            self.trace.retries += 1
            self._next = _SAME_AFTER_BACKOFF if is_retryable(error) else _OTHER
        else:
            self._next_group(error)

    # ---- helpers --------------------------------------------------------------------

    def _before_same_deployment(self, remaining: float) -> float | None:
        """The seconds to back off before trying a deployment again (None: moved on)."""
        error = self._error
        assert error is not None
        if self._next == _OTHER:
            self._next_group(error)
            return None
        self._next = _ANY
        delay = self.engine.settings.backoff.delay(self._tries - 1, error)
        if delay >= remaining:
            raise error
        return delay

    def _wait_for_capacity(self, now: float, remaining: float) -> float | None:
        if self._saturated_until is None:
            self._saturated_until = now + min(self.engine.settings.max_wait_for_capacity, remaining)
        left = self._saturated_until - now
        if left > 0:
            return min(SATURATION_POLL, left)
        self._saturated_until = None
        self._next_group(saturated_error(self.group, self.engine.state, now))
        return None

    def _next_group(self, error: TokenwayError) -> None:
        """Move on to the next fallback group for ``error``, or raise it."""
        self._error = error
        if isinstance(error, ContextWindowExceededError) and not self._context_mode:
            self._context_mode = True
            self._queue = list(self.engine.settings.context_window_fallbacks_for(*self._names()))
        elif self._queue is None:
            fallbacks = self.fallbacks
            if fallbacks is None:
                fallbacks = self.engine.settings.fallbacks_for(*self._names())
            self._queue = list(fallbacks)
        queue = self._queue
        while queue:
            name = queue.pop(0)
            if name not in self._visited:
                break
        else:
            raise error
        self._visited.append(name)
        self.group = self.engine.group_of(name)
        self._tried = []
        self._tries = 0
        self._next = _ANY
        self.trace.group = name
        self.trace.fallbacks += 1

    def _names(self) -> tuple[str, ...]:
        """Whose configured fallbacks apply: the model asked for, then its pattern's."""
        return (self._origin,) if self._home == self._origin else (self._origin, self._home)

    def _overflows(self, window: int) -> bool:
        if self._needed is None:
            return False
        if self._needed_value is None:
            self._needed_value = self._needed()
        return self._needed_value > window

    def _none_usable(self, group: str) -> TokenwayError:
        """No deployment of ``group`` is one ``only`` allows."""
        if self.only_error is not None:
            return self.only_error(group)
        return BadRequestError(
            f"no deployment of model '{group}' may serve this request",
            param="model",
            code="no_usable_deployment",
        )

    def _overflow_error(self, group: str, window: int) -> ContextWindowExceededError:
        return ContextWindowExceededError(
            f"model '{group}' has a context window of {window} tokens, but this request needs "
            f"at least {self._needed_value}. Shorten the messages or lower max_tokens.",
            param="messages",
            code="context_length_exceeded",
            model=group,
        )

    def _out_of_time(self) -> TokenwayError:
        if self._error is not None:
            return self._error
        return Timeout(
            f"model '{self._origin}': no answer within the call's timeout (retries included)",
            model=self._origin,
        )
