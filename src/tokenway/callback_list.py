"""A list of callbacks that checks every item put in it, however it is put there.

``tokenway.success_callback = [...]`` and ``tokenway.success_callback.append(...)`` both
land here, so a named integration (``"langfuse"``) is refused when it is added, not
skipped later. An item is a function ``(kwargs, response, start_time, end_time)`` (sync or
async) or an object in LiteLLM's ``CustomLogger`` shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import SupportsIndex

__all__ = ["LOGGER_METHODS", "CallbackList", "check_callback"]

LOGGER_METHODS = (
    "log_success_event",
    "log_failure_event",
    "async_log_success_event",
    "async_log_failure_event",
)


def check_callback(where: str, item: Any) -> Any:
    """``item`` if it can be called back; ``ValueError`` (named integration) or ``TypeError``."""
    if isinstance(item, str):
        raise ValueError(
            f"tokenway.{where}: {item!r} is one of LiteLLM's named integrations, which tokenway "
            "does not implement; pass a function (kwargs, response, start_time, end_time) or an "
            "object with log_success_event / log_failure_event (LiteLLM's CustomLogger shape), "
            "or send spend to the tokenway proxy's database"
        )
    if any(callable(getattr(item, m, None)) for m in LOGGER_METHODS) or callable(item):
        return item
    raise TypeError(
        f"tokenway.{where}: {item!r} is neither a function nor a logger object "
        f"(one with {', '.join(LOGGER_METHODS)})"
    )


class CallbackList(list[Any]):
    """A ``list`` whose every way of adding an item checks it with ``check_callback``."""

    def __init__(self, where: str, items: Iterable[Any] = ()) -> None:
        if items is None or isinstance(items, str) or not hasattr(items, "__iter__"):
            raise TypeError(f"tokenway.{where} must be a list of callbacks; got {items!r}")
        self.where = where
        super().__init__(check_callback(where, item) for item in items)

    def append(self, item: Any) -> None:
        super().append(check_callback(self.where, item))

    def insert(self, index: SupportsIndex, item: Any) -> None:
        super().insert(index, check_callback(self.where, item))

    def extend(self, items: Iterable[Any]) -> None:
        super().extend(check_callback(self.where, item) for item in items)

    def __iadd__(self, items: Iterable[Any]) -> CallbackList:  # type: ignore[misc]
        self.extend(items)
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            value = [check_callback(self.where, item) for item in value]
        else:
            value = check_callback(self.where, value)
        super().__setitem__(index, value)
