"""Response header lines, rendered so that no header can break the response (internal).

Every header line the server writes goes through here: ``Response.headers`` through
``header_lines``, ``Response.header_block`` through ``checked_block``, the configured
``server`` header through ``header_line``. A line goes out only when neither its name
nor its value holds a CR, LF or NUL (no response splitting), it encodes as latin-1 and
its value is at most ``MAX_VALUE`` bytes. A bad header is dropped, logged once per name,
and the response goes out without it.

The common case is a fixed number of C-level calls: one ``str.join`` per line (cheaper
than the f-string it replaces), three ``memchr`` scans of the lines joined without their
CRLFs, the encoding; only a list that fails is checked header by header. Measured with
callgrind (bench/vkey_inproc.py): +1.1k instructions per proxied request. Also checking
that each name is an RFC 9110 token (one set lookup per name of known-good names) cost
3.2k more, and a per-byte scan for every control character (``bytes.translate``, a
regex, ``count``) 5-12k: 1-3 % of a request for what only the code's own constants can
get wrong. Names are constants of the server's handlers; tests/security checks every
name the proxy sends. The proxy encodes the client input it echoes
(``tokenway.proxy.echo``).

A ``header_block`` is checked when its template is made (``BlockTemplate``), by the
stricter rules of a block (names are tokens, no framing header): what the template
renders is a ``CheckedBlock``, written as it is. Any other block is checked line by
line here (a regex: slow, correct) and dropped whole if one line is bad.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

logger = logging.getLogger("tokenway.http")

__all__ = [
    "MAX_VALUE",
    "TOKEN_CHARS",
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

# A block's lines: token names, no framing header (the server writes those; a second
# content-length could make the client read the body wrongly), no CR, LF or NUL.
# RFC 9110's token characters (header names), for every check that needs them.
TOKEN_CHARS = "!#$%&'*+.^_`|~0-9A-Za-z-"
_BLOCK = re.compile(
    rb"(?:(?!(?i:content-length|transfer-encoding|connection):)"
    rb"[" + TOKEN_CHARS.encode() + rb"]+:[^\x00\r\n]*\r\n)*"
)
_WARNED: set[str] = set()  # names already logged as dropped (bounded)
_MAX_WARNED = 1024
_name_colon_value = ": ".join


def header_lines(headers: list[tuple[str, str]]) -> bytes:
    """``headers`` as ``b"name: value\\r\\n"`` lines, in order, the bad ones left out."""
    try:  # the fast path, inline (a call costs as much as a check)
        lines = list(map(_name_colon_value, headers))  # TypeError: a value not a str
        flat = "".join(lines)  # so any CR, LF or NUL in it is a name's or a value's
        # (A total within MAX_VALUE bounds every value.)
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
    text = f"{name}: {value}"
    if "\n" in text or "\r" in text or "\0" in text:
        problem = "CR, LF or NUL in the name or the value"
    elif len(text) - len(f"{name}") - 2 > MAX_VALUE:
        problem = f"a value over {MAX_VALUE} bytes"
    else:
        try:
            return f"{text}\r\n".encode("latin-1")
        except UnicodeEncodeError:
            problem = "a character outside latin-1"
    _dropped(name, problem)
    return None


class CheckedBlock(bytes):
    """Header lines rendered by a ``BlockTemplate``: the server writes them as they are.
    Only ``BlockTemplate.render`` makes one."""

    __slots__ = ()


class BlockTemplate:
    """Header lines with ``%d`` fields (``b"x-a: %d\\r\\n"``), checked once, here, by the
    rules of a block (ValueError if one line is bad). A ``%d`` field renders digits and
    a sign only, so every block it renders is good without another look: the check of a
    hot path's block costs nothing per request."""

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
    if key in _WARNED or len(_WARNED) >= _MAX_WARNED:
        return
    _WARNED.add(key)
    logger.warning("response header %s dropped: %s (not logged again for this name)", key, problem)
