"""Response header lines, rendered so that no header can break the response (internal).

Every header line the server writes goes through here: ``Response.headers`` through
``header_lines``, ``Response.header_block`` through ``checked_block``, the configured
``server`` header through ``header_line``. A line goes out only when its name is an
RFC 9110 token and not a framing header (content-length, transfer-encoding, connection:
the server writes those), its value holds no control character but HTAB (so no CR, LF
or NUL: no response splitting), encodes as latin-1 and is at most ``MAX_VALUE`` bytes.
A bad header is dropped, logged once per name, and the response goes out without it.

The common case costs a constant number of C-level calls over the joined lines (the
fast path); only when one of them fails are the headers checked one by one (the slow
path), which gives the same bytes for good headers and drops the bad ones.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from operator import itemgetter

logger = logging.getLogger("tokenway.http")

__all__ = ["MAX_VALUE", "checked_block", "header_line", "header_lines"]

# Longer values are dropped. Clients cap a whole response head at 8-16 KiB (Node's http
# 16 KiB, many proxies' buffers 8 KiB), so a longer value would make the response
# unreadable to them; nothing the proxy sends comes near it.
MAX_VALUE = 8192

# Every control byte but HTAB. In lines this module built itself, each line holds exactly
# two of them (its CRLF), so a count says whether a value smuggles any in.
_CONTROLS = bytes([*range(0x09), *range(0x0A, 0x20), 0x7F])
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# The framing headers the server writes itself; a second one from a handler could make
# the client read the body wrongly. (date and server are harmless twice.)
_FRAMING = frozenset(("content-length", "transfer-encoding", "connection"))
_BLOCK = re.compile(
    rb"(?:(?!(?i:content-length|transfer-encoding|connection):)"
    rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\x00-\x08\x0a-\x1f\x7f]*\r\n)*"
)

# Names already found to be tokens: the fast path checks names by one set lookup each.
# Bounded, so a handler that makes up names cannot grow it; past the bound, new names
# just take the slow path.
_KNOWN_NAMES: set[str] = set()
_MAX_KNOWN = 1024
_WARNED: set[str] = set()  # names already logged as dropped (bounded like _KNOWN_NAMES)
_first = itemgetter(0)


def header_lines(headers: list[tuple[str, str]]) -> bytes:
    """``headers`` as ``b"name: value\\r\\n"`` lines, in order, the bad ones left out."""
    data = _fast_lines(headers)
    return data if data is not None else _slow_lines(headers)


def _fast_lines(headers: list[tuple[str, str]]) -> bytes | None:
    """The lines when every header is good (a few C calls), else ``None``."""
    if not _KNOWN_NAMES.issuperset(map(_first, headers)):
        return None
    try:
        data = "".join([f"{name}: {value}\r\n" for name, value in headers]).encode("latin-1")
    except UnicodeEncodeError:
        return None
    # Exactly one CRLF per line means no control character in any value; a total within
    # MAX_VALUE bounds every value.
    controls = len(data) - len(data.translate(None, _CONTROLS))
    if controls != 2 * len(headers) or len(data) > MAX_VALUE:
        return None
    return data


def _slow_lines(headers: Iterable[tuple[str, str]]) -> bytes:
    """Each header checked on its own; the reference the fast path must agree with."""
    good: list[bytes] = []
    for name, value in headers:
        line = header_line(name, value)
        if line is not None:
            good.append(line)
    return b"".join(good)


def header_line(name: str, value: str) -> bytes | None:
    """One header line, or ``None`` (logged once per name) when it must not be sent."""
    problem = _name_problem(name)
    if problem is None:
        try:
            line = f"{name}: {value}\r\n".encode("latin-1")
        except UnicodeEncodeError:
            problem = "a character outside latin-1"
        else:
            problem = _value_problem(line, len(line) - len(name) - 4)
            if problem is None:
                return line
    _dropped(name, problem)
    return None


def _name_problem(name: str) -> str | None:
    if name in _KNOWN_NAMES:
        return None
    if not isinstance(name, str) or _TOKEN.fullmatch(name) is None:
        return "a name that is not an RFC 9110 token"
    if name.lower() in _FRAMING:
        return "a framing header, which the server writes itself"
    if len(_KNOWN_NAMES) < _MAX_KNOWN:
        _KNOWN_NAMES.add(name)
    return None


def _value_problem(line: bytes, value_size: int) -> str | None:
    if value_size > MAX_VALUE:
        return f"a value over {MAX_VALUE} bytes"
    if len(line) - len(line.translate(None, _CONTROLS)) != 2:
        return "a control character (CR, LF, NUL, ...) in the value"
    return None


def checked_block(block: bytes) -> bytes:
    """``Response.header_block`` when every line of it is good, else nothing at all.

    All or nothing: a block is rendered by its producer, so once one line is malformed
    the server cannot tell where that producer meant a value to end, and a line that
    looks good after a bad one (say ``content-length: 2`` after a forged status line)
    may be the attack. Blocks carry numbers rendered by the proxy's own code, a few
    hundred bytes; one over ``MAX_VALUE`` bytes in all is dropped as well.
    """
    if len(block) <= MAX_VALUE and _BLOCK.fullmatch(block) is not None:
        return block
    problem = (
        f"over {MAX_VALUE} bytes"
        if _BLOCK.fullmatch(block) is not None
        else "a line that is no header line, a framing header or a control character"
    )
    _dropped("header_block", problem)
    return b""


def _dropped(name: object, problem: str) -> None:
    """Log a dropped header once per name: a client that can make one header bad on
    every request must not be able to flood the log."""
    key = repr(name)[:80]
    if key in _WARNED or len(_WARNED) >= _MAX_KNOWN:
        return
    _WARNED.add(key)
    logger.warning("response header %s dropped: %s (not logged again for this name)", key, problem)
