"""Module-level settings, as LiteLLM users write them: ``tokenway.drop_params = True``.

Setting one of ``SETTINGS``'s names on the ``tokenway`` module stores it here (checked);
the module functions (``completion()``, ``embedding()``, ...) read them at call time,
under whatever the call itself passes. Any other public name set on the module is
refused with an ``AttributeError`` naming the settings that exist: nothing is accepted
and then ignored.

=====================  ==========================================================
``drop_params``        drop parameters the provider does not take (else refuse them)
``num_retries``        retries of a failed call (the client's default otherwise)
``request_timeout``    seconds a call may take, retries included (``timeout=``)
``api_key``            key of every call that passes none (before the environment)
``api_base``           base URL of every call that passes none (before the environment)
``set_verbose``        ``True``: the ``tokenway`` logger logs at DEBUG to stderr
``success_callback``   functions / logger objects told of each successful call
``failure_callback``   ... of each failed call
``callbacks``          ... of both (``tokenway.reporting``)
=====================  ==========================================================
"""

from __future__ import annotations

from tokenway import _SETTINGS
from tokenway.callback_list import CallbackList

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = [
    "SETTINGS",
    "SETTING_NAMES",
    "ModuleSettings",
    "apply_settings",
    "reset",
    "set_setting",
]

# The names are the package's (``tokenway._SETTINGS``, which must not import this module).
SETTING_NAMES = _SETTINGS

# LiteLLM module attributes people set that tokenway has no equivalent of, with why.
_REFUSED_HINTS = {
    "cache": "tokenway has no response cache",
    "max_budget": "budgets are the proxy's (max_budget on a virtual key)",
    "input_callback": "tokenway calls callbacks after a call, not before it",
    "service_callback": "tokenway has no service callbacks",
    "modify_params": "tokenway never rewrites messages",
    "model_alias_map": "use a Router with model_name aliases",
    "telemetry": "tokenway sends no telemetry",
}


class ModuleSettings:
    """The values behind ``tokenway.<setting>``; ``None`` means not set."""

    __slots__ = SETTING_NAMES

    def __init__(self) -> None:
        self.drop_params = False
        self.num_retries: int | None = None
        self.request_timeout: float | None = None
        self.api_key: str | None = None
        self.api_base: str | None = None
        self.set_verbose = False
        self.success_callback = CallbackList("success_callback")
        self.failure_callback = CallbackList("failure_callback")
        self.callbacks = CallbackList("callbacks")


SETTINGS = ModuleSettings()


def reset() -> None:
    """Every setting back to its default (for tests)."""
    _verbose(False)
    SETTINGS.__init__()  # type: ignore[misc]


def refuse(name: str) -> AttributeError:
    hint = _REFUSED_HINTS.get(name)
    why = f" ({hint})" if hint else ""
    return AttributeError(
        f"tokenway has no module setting {name!r}{why}; the settings are: "
        f"{', '.join(SETTING_NAMES)}"
    )


def set_setting(name: str, value: Any) -> None:
    """Check ``value`` for setting ``name`` and store it; ``ValueError`` if it is wrong."""
    if name in ("drop_params", "set_verbose"):
        if not isinstance(value, bool):
            raise ValueError(f"tokenway.{name} must be True or False; got {value!r}")
        if name == "set_verbose":
            _verbose(value)
    elif name == "num_retries":
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 0
        ):
            raise ValueError(f"tokenway.num_retries must be an integer >= 0 or None; got {value!r}")
    elif name == "request_timeout":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        if value is not None and not ok:
            raise ValueError(f"tokenway.request_timeout must be seconds > 0 or None; got {value!r}")
        value = float(value) if value is not None else None
    elif name in ("api_key", "api_base"):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"tokenway.{name} must be a string or None")
    else:
        value = CallbackList(name, value)
    setattr(SETTINGS, name, value)


def apply_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with the module settings under it: a call's own value always wins."""
    merged = dict(params)
    s = SETTINGS
    if s.drop_params:
        merged.setdefault("drop_params", True)
    if s.num_retries is not None:
        merged.setdefault("num_retries", s.num_retries)
    if s.request_timeout is not None and merged.get("timeout") is None:
        merged["timeout"] = s.request_timeout
    if s.api_key is not None and not merged.get("api_key"):
        merged["api_key"] = s.api_key
    if s.api_base is not None and not (merged.get("api_base") or merged.get("base_url")):
        merged["api_base"] = s.api_base
    return merged


_verbose_handler: Any = None


def _verbose(on: bool) -> None:
    """LiteLLM's ``set_verbose``: the ``tokenway`` logger at DEBUG, to stderr."""
    import logging

    global _verbose_handler
    logger = logging.getLogger("tokenway")
    if on and _verbose_handler is None:
        _verbose_handler = logging.StreamHandler()
        _verbose_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(_verbose_handler)
        logger.setLevel(logging.DEBUG)
    elif not on and _verbose_handler is not None:
        logger.removeHandler(_verbose_handler)
        logger.setLevel(logging.NOTSET)
        _verbose_handler = None
