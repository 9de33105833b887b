"""docs/CONFIG.md is the key table of tokenway.proxy.config.keys, regenerated."""

from __future__ import annotations

from pathlib import Path

from tokenway.proxy.config.doc import markdown
from tokenway.proxy.config.keys import TABLE

DOC = Path(__file__).parent.parent.parent / "docs" / "CONFIG.md"


def test_the_committed_doc_is_the_generated_one() -> None:
    assert DOC.read_text(encoding="utf-8") == markdown(), "run scripts/config_table"


def test_every_key_of_the_table_has_a_row() -> None:
    text = markdown()

    for title, section in TABLE.items():
        assert f"## `{title}`" in text
        for name in section:
            assert f"| `{name}` |" in text
