"""One row of the config key table (:mod:`tokenway.proxy.config.keys`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from tokenway.proxy.config.rules import Rule

Status = Literal["implemented", "refused", "ignored"]


@dataclass(frozen=True, slots=True)
class Key:
    """What tokenway does with one key; ``note`` is the rule, the refusal or what is not done."""

    status: Status
    note: str
    rule: Rule | None = None
    nested: bool = False  # a mapping whose keys have their own table (resolved there)


def implemented(note: str, rule: Rule | None = None, *, nested: bool = False) -> Key:
    return Key("implemented", note, rule, nested)


def ignored(note: str, rule: Rule | None = None) -> Key:
    """``rule``: the value is still checked and kept, for a consumer still to come."""
    return Key("ignored", note, rule)


def refused(note: str) -> Key:
    return Key("refused", note)


Section = Mapping[str, Key]
