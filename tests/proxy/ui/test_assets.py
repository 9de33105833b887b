"""The UI's files ship inside the package: found through importlib.resources in the
source tree, and in a wheel built and installed from it (package data, not a checkout)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tokenway.proxy.ui.assets import STATIC_PREFIX, Template, asset_responses, static_files

ROOT = Path(__file__).resolve().parents[3]
NEEDED = {"shell.html", "login.html", "landing.html", "docs.html", "app.js", "app.css"}


def test_the_static_files_are_found_and_typed() -> None:
    files = static_files()
    assert set(files) >= NEEDED
    served = asset_responses(files)
    assert STATIC_PREFIX + "app.js" in served and STATIC_PREFIX + "app.css" in served
    assert STATIC_PREFIX + "shell.html" not in served  # pages are rendered, not served raw
    kinds = {dict(r.headers)["content-type"].split(";")[0] for r in served.values()}
    assert kinds <= {"text/javascript", "text/css", "image/svg+xml"}


def test_templates_escape_what_they_fill_in() -> None:
    page = Template(b"<p>{{name}}</p><ul>{{items}}</ul>")
    out = page.render({"items": "<li>ok</li>"}, name='<script>"x"</script>')
    assert out == "<p>&lt;script&gt;&quot;x&quot;&lt;/script&gt;</p><ul><li>ok</li></ul>"


def test_an_installed_wheel_carries_every_file(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("tokenway-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    source = ROOT / "src" / "tokenway" / "proxy" / "ui" / "static"
    for path in source.iterdir():
        assert f"tokenway/proxy/ui/static/{path.name}" in names
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)  # a wheel's files are laid out as installed
    probe = (
        "import tokenway, sys; from tokenway.proxy.ui.assets import static_files; "
        "print(tokenway.__file__); print(' '.join(sorted(static_files())))"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert ran.returncode == 0, ran.stderr
    where, found = ran.stdout.splitlines()
    assert where.startswith(str(target))
    assert set(found.split()) == {path.name for path in source.iterdir()}
