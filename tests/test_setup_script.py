"""``scripts/setup``: installs once, then only when pyproject.toml or Python changes.

Run on a copy of the script in a scratch checkout whose Python is a stand-in: ``-m venv``
makes a ``.venv`` of stand-ins, ``-m pip`` only notes the call; anything else runs the
real interpreter. So no test here installs anything or touches the network.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "scripts" / "setup"

STAND_IN = """#!/bin/sh
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  echo "pip $*" >> "$here/../../pip.log"
  touch "$here/tokenway" && chmod +x "$here/tokenway"
  exit 0
fi
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  mkdir -p "$3/bin" && cp "$0" "$3/bin/python" && exit 0
fi
exec {python} "$@"
"""


def _checkout(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, root / "scripts" / "setup")
    (root / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1"\n')
    python = tmp_path / "python3"
    python.write_text(STAND_IN.format(python=sys.executable))
    python.chmod(0o755)
    return root, python


def _setup(root: Path, python: Path) -> tuple[str, int]:
    """Run the script; its messages and how many pip calls it made."""
    done = subprocess.run(
        [str(root / "scripts" / "setup")],
        env={"PATH": "/usr/bin:/bin", "PYTHON": str(python)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    log = root / "pip.log"
    return done.stderr, len(log.read_text().splitlines()) if log.exists() else 0


def test_installs_once_then_skips_until_pyproject_changes(tmp_path: Path) -> None:
    root, python = _checkout(tmp_path)
    said, pips = _setup(root, python)
    assert "creating .venv" in said and "about 30 s" in said  # the slow first set-up says so
    assert pips == 2  # pip itself, then tokenway
    said, again = _setup(root, python)
    assert again == pips and said == ""  # nothing changed: no install, nothing said
    (root / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "2"\n')
    said, after = _setup(root, python)
    assert after == pips + 2 and "installing tokenway" in said
    assert _setup(root, python)[1] == after


def test_an_install_cut_short_is_redone(tmp_path: Path) -> None:
    root, python = _checkout(tmp_path)
    _setup(root, python)
    (root / ".venv" / ".setup-stamp").unlink()  # as after a failed or interrupted pip
    assert _setup(root, python)[1] == 4
    (root / ".venv" / "bin" / "tokenway").unlink()  # or an entry point gone
    assert _setup(root, python)[1] == 6
