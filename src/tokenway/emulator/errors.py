"""Error answers in the two wire styles the emulator speaks (reference §8.2, checklist 26).

`openai` style: `{"error": {"message", "type", "param", "code"}}` with a string `code`.
`vllm` style: the same four keys, `type` an exception name and `code` the HTTP status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "ApiError",
    "context_length_exceeded",
    "error_body",
    "html_error_page",
    "invalid_request",
]

_VLLM_TYPES = {
    400: "BadRequestError",
    401: "AuthenticationError",
    402: "PaymentRequiredError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    405: "MethodNotAllowedError",
    408: "RequestTimeoutError",
    413: "RequestTooLargeError",
    429: "RateLimitError",
    500: "InternalServerError",
    502: "BadGatewayError",
    503: "ServiceUnavailableError",
    504: "GatewayTimeoutError",
}
_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    429: "Too Many Requests",
}


@dataclass(eq=False)
class ApiError(Exception):
    """An error answer: HTTP status, the four envelope fields, and extra headers."""

    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def envelope(self, style: str) -> dict[str, Any]:
        if style == "vllm":
            vllm_type = _VLLM_TYPES.get(self.status, "APIError")
            error: dict[str, Any] = {
                "message": self.message,
                "type": vllm_type,
                "param": self.param,
                "code": self.status,
            }
        else:
            error = {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        return {"error": error}


def error_body(error: ApiError, style: str) -> bytes:
    return orjson.dumps(error.envelope(style))


def invalid_request(message: str, param: str | None = None) -> ApiError:
    """A 400 validation error naming the offending field."""
    return ApiError(400, message, "invalid_request_error", param, None)


def context_length_exceeded(
    window: int, prompt: int, completion: int, param: str = "messages"
) -> ApiError:
    """vLLM's wording with OpenAI's type, param and code (reference §8.2)."""
    message = (
        f"This model's maximum context length is {window} tokens. However, you requested "
        f"{prompt + completion} tokens ({prompt} in the messages, {completion} in the "
        "completion). Please reduce the length of the messages or completion."
    )
    return ApiError(400, message, "invalid_request_error", param, "context_length_exceeded")


def html_error_page(status: int) -> bytes:
    """What a load balancer in front of the API answers when the backend fails."""
    reason = _REASONS.get(status, "Error")
    return (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()
