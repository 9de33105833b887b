"""``docs/CONFIG.md``: the key table of :mod:`tokenway.proxy.config.keys` as Markdown.

``python -m tokenway.proxy.config.doc`` prints it (``scripts/config_table`` writes the
file); a test checks that the committed file is what this prints.
"""

from __future__ import annotations

import sys

from tokenway.proxy.config.keys import TABLE, Key

_STATUS = {"implemented": "implemented", "refused": "**refused**", "ignored": "ignored (warned)"}

_INTRO = """\
# Config keys

Generated from `src/tokenway/proxy/config_keys.py` by `scripts/config_table`; do not edit.

tokenway reads LiteLLM's `config.yaml`. Every key below is one of:

* **implemented**: tokenway does what the key says (the note says how).
* **refused**: start-up stops with this note; remove the key or do what it says.
  Authentication, route and guardrail keys tokenway does not implement are refused,
  never ignored.
* **ignored (warned)**: accepted so that LiteLLM configs load, and warned about once at
  start with what is not done. Its `os.environ/` references are not resolved, so an unset
  variable there does not stop start-up.

A key in no table is warned about as an unknown key. `master_key` and `database_url`
anywhere but under `general_settings` stop start-up.
"""


def _row(name: str, key: Key) -> str:
    note = key.note.replace("|", "\\|")
    return f"| `{name}` | {_STATUS[key.status]} | {note} |"


def markdown() -> str:
    parts = [_INTRO]
    for title, section in TABLE.items():
        rows = "\n".join(_row(name, key) for name, key in section.items())
        parts.append(
            f"## `{title}`\n\n| key | status | what tokenway does |\n|---|---|---|\n{rows}\n"
        )
    return "\n".join(parts)


def main() -> None:
    sys.stdout.write(markdown())


if __name__ == "__main__":
    main()
