"""Wildcard group names, as LiteLLM's provider wildcard routing writes them.

A group named ``"*"`` takes any requested model; ``"inference/*"`` the models that start
with ``inference/``; each ``*`` matches one or more characters. A requested model is
matched against patterns only when no group has its exact name, and the most specific
pattern (the most literal characters; config order breaks ties) wins, so ``"*"`` comes
last. What each ``*`` matched is put in place of the ``*`` of a deployment's upstream
model (``model: openai/*`` serves ``gpt-4o`` as ``gpt-4o``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Pattern", "compile_patterns", "is_pattern", "match", "substitute"]


def is_pattern(name: str) -> bool:
    return "*" in name


@dataclass(frozen=True, slots=True)
class Pattern:
    name: str
    regex: re.Pattern[str]
    literal: int  # characters other than '*': the more, the more specific

    @classmethod
    def of(cls, name: str) -> Pattern:
        parts = [re.escape(part) for part in name.split("*")]
        regex = re.compile("(.+)".join(parts), re.DOTALL)
        return cls(name, regex, len(name) - name.count("*"))

    def captures(self, model: str) -> tuple[str, ...] | None:
        """What the ``*``s matched in ``model``, or None when it does not match."""
        found = self.regex.fullmatch(model)
        return None if found is None else found.groups()


def compile_patterns(names: Iterable[str]) -> tuple[Pattern, ...]:
    """The patterns among ``names``, most specific first (a stable sort keeps config order)."""
    patterns = [Pattern.of(name) for name in names if is_pattern(name)]
    return tuple(sorted(patterns, key=lambda p: -p.literal))


def match(patterns: Sequence[Pattern], model: str) -> Pattern | None:
    for pattern in patterns:
        if pattern.regex.fullmatch(model) is not None:
            return pattern
    return None


def substitute(template: str, captures: Sequence[str]) -> str:
    """``template`` with its ``*``s replaced by ``captures`` in order; a ``*`` left over
    (more of them than captures) takes the last capture, as ``model_name: "*"`` with
    ``model: openai/*`` takes the whole name."""
    if not captures or "*" not in template:
        return template
    pieces = template.split("*")
    out = [pieces[0]]
    for index, piece in enumerate(pieces[1:]):
        out.append(captures[min(index, len(captures) - 1)])
        out.append(piece)
    return "".join(out)
