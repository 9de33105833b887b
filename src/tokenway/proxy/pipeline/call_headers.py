"""The answer's LiteLLM call headers: ``x-litellm-timeout`` and ``x-litellm-max-retries``
(numbers, never the client's text), and ``x-litellm-key-spend``."""

from __future__ import annotations

from tokenway.proxy.models import Route
from tokenway.proxy.pipeline.intake import MAX_RETRIES_HEADER, TIMEOUT_HEADER
from tokenway.router.settings import RouterSettings

KEY_SPEND_HEADER = "x-litellm-key-spend"


class CallHeaders:
    """Made once per deployment for the usual request (no timeout or retries of its own);
    ``settings``: the router's (its ``num_retries``)."""

    def __init__(self, settings: RouterSettings) -> None:
        self._settings = settings
        self._usual: dict[str, tuple[int | None, list[tuple[str, str]]]] = {}

    def __call__(
        self, route: Route | None, timeout: float | None, asked: int | None, retries: int | None
    ) -> list[tuple[str, str]]:
        """``x-litellm-timeout``/``-max-retries``: made once per deployment for the usual
        request (no timeout or retries of its own)."""
        if timeout is None and asked is None and route is not None:
            usual = self._usual.get(route.deployment_id)
            if usual is None or usual[0] != retries:  # a fallback's group may retry otherwise
                usual = self._usual[route.deployment_id] = (
                    retries,
                    self._made(route, None, retries),
                )
            return usual[1]
        return self._made(route, timeout, retries)

    def _made(
        self, route: Route | None, timeout: float | None, retries: int | None
    ) -> list[tuple[str, str]]:
        """LiteLLM's x-litellm-timeout (the request's, else the deployment's) and
        x-litellm-max-retries (the request's, else the group's, else the router's):
        numbers, never the client's text."""
        if retries is None:
            retries = self._settings.num_retries
        headers = [(MAX_RETRIES_HEADER, str(retries))]
        if timeout is None and route is not None:
            timeout = route.timeout
        if timeout is not None:
            headers.append((TIMEOUT_HEADER, str(timeout)))
        return headers


def key_spend_header(spent: float) -> tuple[str, str]:
    """LiteLLM's: the key's spend as this instance knows it."""
    return (KEY_SPEND_HEADER, _dollars(spent))


def _dollars(amount: float) -> str:
    """``f"{amount:.10f}"`` for an amount >= 0, in integer arithmetic: a float's own
    formatting costs several thousand instructions, this a few hundred."""
    units = int(amount * 1e10 + 0.5)
    return f"{units // _TEN_DIGITS}.{units % _TEN_DIGITS:010d}"


_TEN_DIGITS = 10**10
