"""Transport failures (no HTTP answer) as tokenway errors, with a message that says what to do."""

from __future__ import annotations

from tokenway.errors import APIConnectionError, Timeout, TokenwayError
from tokenway.http.errors import ConnectError, ConnectTimeout, HTTPError, ReadTimeout
from tokenway.request import PreparedCall


def map_http_error(exc: HTTPError, call: PreparedCall) -> TokenwayError:
    spec = call.deployment.spec
    where = call.deployment.api_base
    base_env = f" (or {spec.api_base_env})" if spec.api_base_env else ""
    if isinstance(exc, ConnectTimeout | ReadTimeout):
        return Timeout(
            f"{spec.name} at {where} did not answer in time ({exc}); raise timeout= or retry later",
            llm_provider=spec.name,
            model=call.model,
        )
    if isinstance(exc, ConnectError):
        return APIConnectionError(
            f"could not connect to {spec.name} at {where}: {exc}. "
            f"Check that the server is up and that api_base{base_env} is right.",
            llm_provider=spec.name,
            model=call.model,
        )
    return APIConnectionError(
        f"the connection to {spec.name} at {where} failed mid-answer: {exc}",
        llm_provider=spec.name,
        model=call.model,
    )
