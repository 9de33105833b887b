"""Region-based routing: an end user with ``allowed_model_region`` (LiteLLM's "eu" or
"us") is served only by deployments whose ``litellm_params.region_name`` is that region,
in its model's group and in any fallback group; the answer says which region served it
(``x-litellm-model-region``). A group with no deployment in the region is skipped for its
fallbacks; when none is left the request gets a 400 naming the region (LiteLLM's "No
deployments available for selected model" words, so clients that look for them match).

Only a request naming an end user that has a region pays for any of this: the router
then takes its general loop with a filter (``acall_within``); every other request routes
as before.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from tokenway.errors import BadRequestError, TokenwayError
from tokenway.http.server import Response
from tokenway.proxy.models import Route
from tokenway.proxy.pipeline.routing import Send

REGION_HEADER = "x-litellm-model-region"


@functools.lru_cache(maxsize=64)
def in_region(region: str) -> Callable[[Route], bool]:
    """Whether a deployment serves ``region`` (one function per region, kept)."""

    def allows(route: Route) -> bool:
        return route.region == region

    return allows


@functools.lru_cache(maxsize=64)
def region_error(region: str) -> Callable[[str], TokenwayError]:
    """The error for a model with no deployment in ``region``."""

    def error(group: str) -> TokenwayError:
        return BadRequestError(
            f"No deployments available for selected model '{group}' in region '{region}' "
            "(the end user's allowed_model_region): no deployment of this model (or of its "
            f"fallbacks) sets litellm_params.region_name: {region}",
            param="model",
            code="no_deployment_in_region",
        )

    return error


def regional(send: Send) -> Send:
    """``send``, its answers saying which region served them."""

    async def attempt(route: Route, budget: float) -> Response:
        response = await send(route, budget)
        if route.region is not None:  # a config value, checked as a string at load
            response.headers.append((REGION_HEADER, route.region))
        return response

    return attempt
