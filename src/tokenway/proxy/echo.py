"""Client input that the proxy echoes in response headers, bounded and encoded first.

Three values come back to a client in a header: the ``model`` alias it asked for
(``x-tokenway-model-group``), its own ``x-request-id``, and, with CORS on, the header
names a browser's preflight asks for (``access-control-allow-headers``). The server drops
any header line that could split the response (CR, LF, NUL; ``tokenway.http._headers``);
these rules keep the echoed values printable ASCII (no other control character either, which strict
clients refuse) and short, so that the headers go out and say something useful.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from tokenway.http._headers import TOKEN_CHARS

__all__ = [
    "MAX_ALIAS_ECHO",
    "echoable_host",
    "echoable_request_id",
    "echoable_token_list",
    "header_alias",
]

MAX_ALIAS_ECHO = 256

# Printable ASCII but space and "%": what stays as it is in an echoed alias.
_ALIAS_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")

# A client's x-request-id is echoed (and keys its spend row) only in this conservative
# form (UUIDs, ULIDs, "req_..." ids, W3C trace ids fit); anything else gets a fresh id.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# A comma-separated list of header names (RFC 9110 tokens), bounded in length.
_TOKEN_LIST = re.compile(rf"[{TOKEN_CHARS}]+(?:[ \t]*,[ \t]*[{TOKEN_CHARS}]+)*")
_MAX_TOKEN_LIST = 1024  # characters: a real browser's list is far shorter


def header_alias(alias: str) -> str:
    """The alias as its header value: the alias itself when it is printable ASCII without
    space or "%" and at most ``MAX_ALIAS_ECHO`` characters; otherwise its percent-encoded
    UTF-8 (``urllib.parse.quote`` keeping exactly those characters, so ``unquote`` gives
    the alias back), cut to ``MAX_ALIAS_ECHO`` characters at the end of a character."""
    if (
        len(alias) <= MAX_ALIAS_ECHO
        and alias.isascii()
        and alias.isprintable()
        and " " not in alias
        and "%" not in alias
    ):
        return alias  # the common case: a few C calls, no copy
    # Every character encodes to at least one, so the first MAX_ALIAS_ECHO are enough
    # (and a 1 MB alias costs no more than a short one).
    encoded = quote(alias[:MAX_ALIAS_ECHO], safe=_ALIAS_SAFE, errors="replace")
    return encoded if len(encoded) <= MAX_ALIAS_ECHO else _cut(encoded)


def _cut(encoded: str) -> str:
    """``encoded`` cut to ``MAX_ALIAS_ECHO`` characters, neither inside an escape nor
    inside the escapes of one character (a UTF-8 character is up to four of them)."""
    cut = encoded[:MAX_ALIAS_ECHO]
    escape = cut.rfind("%", -2)
    if escape != -1:
        cut = cut[:escape]
    for _ in range(3):
        try:
            unquote(cut, errors="strict")
        except UnicodeDecodeError:  # only its end can be unfinished
            cut = cut[:-3]
        else:
            break
    return cut


def echoable_request_id(value: str) -> bool:
    """Whether a client's x-request-id may be echoed and used as the request's id."""
    return _REQUEST_ID.fullmatch(value) is not None


def echoable_token_list(value: str) -> str | None:
    """A client's list of header names, lower-cased and re-joined, when every item is a
    token and the list is short; None otherwise (the caller sends its own list)."""
    if len(value) <= _MAX_TOKEN_LIST and _TOKEN_LIST.fullmatch(value):
        return ", ".join(name.strip().lower() for name in value.split(","))
    return None


# A Host header as the landing page may print it in its snippets: a DNS name or an IPv4
# or bracketed IPv6 address, with an optional port; nothing that could leave the quotes
# of a shell command or an HTML attribute.
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?"
)


def echoable_host(value: str | None) -> str | None:
    """The request's ``Host`` when it is a plain host[:port], else None."""
    if value and _HOST.fullmatch(value):
        return value
    return None
