"""Response header lines, rendered so that no header can break the response (internal).

Every header line the server writes goes through here: ``Response.headers`` through
``header_lines``, ``Response.header_block`` through ``checked_block``, the configured
``server`` header through ``header_line``. A line goes out only when its name is an
RFC 9110 token and not a framing header (content-length, transfer-encoding, connection:
the server writes those), and its value holds no CR, LF or NUL (no response splitting),
encodes as latin-1 and is at most ``MAX_VALUE`` bytes. A bad header is dropped, logged
once per name, and the response goes out without it.

Cost (callgrind, per response): good headers take a fixed number of C-level calls over
the joined lines (one set lookup per name, one join per line, three ``memchr`` scans),
a few hundred instructions more than rendering them unchecked; only a list that fails
is checked header by header. A regex or a per-byte scan (``count``, ``translate``) of
a ~400-byte head costs 5-12k instructions, about 1-3 % of a proxied request, so the fast
path checks only what can split a response; other control characters are the business
of the code that produces a value (the proxy encodes the client input it echoes).

A ``header_block`` is checked when its template is made (``BlockTemplate``): what the
template renders is a ``CheckedBlock``, written as it is. Any other block is checked
line by line here (a regex: slow, correct) and dropped whole if one line is bad.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from operator import itemgetter

logger = logging.getLogger("tokenway.http")

__all__ = [
    "MAX_VALUE",
    "BlockTemplate",
    "CheckedBlock",
    "checked_block",
    "header_line",
    "header_lines",
]

# Longer values are dropped. Clients cap a whole response head at 8-16 KiB (Node's http
# 16 KiB, many proxies' buffers 8 KiB), so a longer value would make the response
# unreadable to them; nothing the proxy sends comes near it.
MAX_VALUE = 8192

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# The framing headers the server writes itself; a second one from a handler could make
# the client read the body wrongly. (date and server are harmless twice.)
_FRAMING = frozenset(("content-length", "transfer-encoding", "connection"))
_BLOCK = re.compile(
    rb"(?:(?!(?i:content-length|transfer-encoding|connection):)"
    rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\x00\r\n]*\r\n)*"
)

# Names already found to be tokens: the fast path checks names by one set lookup each.
# Bounded, so a handler that makes up names cannot grow it; past the bound, new names
# just take the slow path. Framing names never get in, so they always take it.
_KNOWN_NAMES: set[str] = set()
_MAX_KNOWN = 1024
_WARNED: set[str] = set()  # names already logged as dropped (bounded like _KNOWN_NAMES)
_first = itemgetter(0)
_name_colon_value = ": ".join


def header_lines(headers: list[tuple[str, str]]) -> bytes:
    """``headers`` as ``b"name: value\r\n"`` lines, in order, the bad ones left out.

    The fast path, C-level calls only (inline: a call costs as much as a check): known
    names, each line joined once, three ``memchr`` scans of the lines without their
    CRLFs (so any CR, LF or NUL found is a name's or a value's), the encoding. A total
    within ``MAX_VALUE`` bounds every value. Anything else takes the slow path.
    """
    if _KNOWN_NAMES.issuperset(map(_first, headers)):
        try:
            lines = list(map(_name_colon_value, headers))  # TypeError: a value not a str
            flat = "".join(lines)
            if not ("\n" in flat or "\r" in flat or "\0" in flat or len(flat) > MAX_VALUE):
                lines.append("")  # the last line's CRLF
                return "\r\n".join(lines).encode("latin-1")
        except (TypeError, UnicodeEncodeError):
            pass
    return _slow_lines(headers)


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
        text = f"{value}"
        if "\n" in text or "\r" in text or "\0" in text:
            problem = "CR, LF or NUL in the value"
        elif len(text) > MAX_VALUE:
            problem = f"a value over {MAX_VALUE} bytes"
        else:
            try:
                return f"{name}: {text}\r\n".encode("latin-1")
            except UnicodeEncodeError:
                problem = "a character outside latin-1"
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


class CheckedBlock(bytes):
    """Header lines rendered by a ``BlockTemplate``: the server writes them as they are.
    Only ``BlockTemplate.render`` makes one."""

    __slots__ = ()


class BlockTemplate:
    """Header lines with ``%d`` fields (``b"x-a: %d\\r\\n"``), checked once, here, by the
    rules of every header line (ValueError if one is bad). A ``%d`` field renders digits
    and a sign only, so every block it renders is good without another look: the check
    of a hot path's block costs nothing per request."""

    __slots__ = ("_template",)

    def __init__(self, template: bytes) -> None:
        fields = template.count(b"%d")
        if template.count(b"%") != fields:
            raise ValueError("a header block template takes %d fields only")
        sample = template % ((-(10**18),) * fields)  # the longest likely figures
        if checked_block(sample, log=False) != sample:
            raise ValueError(f"not a good header block: {template!r}")
        self._template = template

    def render(self, *fields: int) -> CheckedBlock:
        return CheckedBlock(self._template % fields)


def checked_block(block: bytes, *, log: bool = True) -> bytes:
    """``Response.header_block`` when every line of it is good, else nothing at all.

    All or nothing: once one line of a block is malformed, the server cannot tell where
    its producer meant a value to end, and a line that looks good after a bad one (say
    ``content-length: 2`` after a forged status line) may be the attack. A block of over
    ``MAX_VALUE`` bytes in all is dropped as well.
    """
    if type(block) is CheckedBlock:
        return block
    if len(block) <= MAX_VALUE and _BLOCK.fullmatch(block) is not None:
        return block
    if log:
        _dropped("header_block", f"a bad line (or over {MAX_VALUE} bytes in all)")
    return b""


def _dropped(name: object, problem: str) -> None:
    """Log a dropped header once per name: a client that can make one header bad on
    every request must not be able to flood the log."""
    key = repr(name)[:80]
    if key in _WARNED or len(_WARNED) >= _MAX_KNOWN:
        return
    _WARNED.add(key)
    logger.warning("response header %s dropped: %s (not logged again for this name)", key, problem)
