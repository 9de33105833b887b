"""The tokenway exception tree.

Every error a call can raise is a ``TokenwayError``; each class knows its HTTP status and
the OpenAI ``error.type`` it is reported as, so the proxy can answer with the same
envelope the SDK raises from::

    TokenwayError
    ├── APIConnectionError                     no response: refused, reset, DNS, cut stream
    │   └── Timeout (408)                      the call's deadline passed
    └── APIStatusError (status_code)           the upstream (or validation) answered an error
        ├── BadRequestError (400)
        │   ├── ContextWindowExceededError     prompt + max_tokens exceed the model's window
        │   ├── UnsupportedParamsError         a parameter the provider does not take
        │   └── UnknownProviderError           a model prefix no provider is registered for
        ├── AuthenticationError (401)
        ├── PaymentRequiredError (402)
        ├── PermissionDeniedError (403)
        ├── NotFoundError (404)
        ├── RateLimitError (429)               ``retry_after`` in seconds when the upstream said
        ├── InternalServerError (500)
        ├── BadGatewayError (502)
        └── ServiceUnavailableError (503)
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "ContextWindowExceededError",
    "InternalServerError",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServiceUnavailableError",
    "Timeout",
    "TokenwayError",
    "UnknownProviderError",
    "UnsupportedParamsError",
    "error_for_status",
]


class TokenwayError(Exception):
    """Base of every tokenway error."""

    status_code: int = 500
    error_type: ClassVar[str] = "api_error"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        param: str | None = None,
        code: str | None = None,
        llm_provider: str | None = None,
        model: str | None = None,
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.param = param
        self.code = code
        self.llm_provider = llm_provider
        self.model = model
        self.retry_after = retry_after
        self.body = body

    def __str__(self) -> str:
        return f"tokenway.{type(self).__name__}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI error envelope for this error."""
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


class APIConnectionError(TokenwayError):
    """No usable response arrived: the connection was refused, reset or cut."""

    status_code = 502
    error_type = "api_connection_error"


class Timeout(APIConnectionError):
    """The call's deadline passed before the answer was complete."""

    status_code = 408
    error_type = "timeout"


class APIStatusError(TokenwayError):
    """The upstream answered with an error status."""


class BadRequestError(APIStatusError):
    status_code = 400
    error_type = "invalid_request_error"


class ContextWindowExceededError(BadRequestError):
    pass


class UnsupportedParamsError(BadRequestError):
    pass


class UnknownProviderError(BadRequestError):
    pass


class AuthenticationError(APIStatusError):
    status_code = 401
    error_type = "authentication_error"


class PaymentRequiredError(APIStatusError):
    status_code = 402
    error_type = "insufficient_quota"


class PermissionDeniedError(APIStatusError):
    status_code = 403
    error_type = "permission_error"


class NotFoundError(APIStatusError):
    status_code = 404
    error_type = "invalid_request_error"


class RateLimitError(APIStatusError):
    status_code = 429
    error_type = "rate_limit_error"


class InternalServerError(APIStatusError):
    status_code = 500
    error_type = "server_error"


class BadGatewayError(APIStatusError):
    status_code = 502
    error_type = "server_error"


class ServiceUnavailableError(APIStatusError):
    status_code = 503
    error_type = "server_error"


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: BadRequestError,
    422: BadRequestError,
    429: RateLimitError,
    500: InternalServerError,
    502: BadGatewayError,
    503: ServiceUnavailableError,
}


def error_for_status(status: int) -> type[TokenwayError]:
    """The exception class for an HTTP error status (upstream's answer)."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status in (408, 504):
        return Timeout
    if status >= 500:
        return InternalServerError
    return APIStatusError


class BudgetExceededError(BadRequestError):
    """A key's, user's or team's budget is spent. 400, not 429: retrying cannot help
    before the budget window resets or an administrator raises ``max_budget``."""

    error_type = "budget_exceeded"

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("code", "budget_exceeded")
        super().__init__(message, **kwargs)
