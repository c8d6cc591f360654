#!/usr/bin/env python3
"""Run mypy over cycle as an installation lays it out: cli.py, commands/, notifications/ and reports/ sit beside
cycle/ in the repository, and inside it (cycle.cli, cycle.commands, ...) once installed (pyproject.toml's
package-dir). mypy cannot follow an editable install's import hook, so this links the checkout's files into
build/typecheck/cycle/ in that layout and checks that, with the [tool.mypy] settings of pyproject.toml.

    python scripts/typecheck.py            # what `make lint` runs
    python scripts/typecheck.py -- ARGS    # passed on to mypy
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "typecheck"


def main() -> int:
    package_dir = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    shutil.rmtree(TREE, ignore_errors=True)
    top = TREE / "cycle"
    top.mkdir(parents=True)
    for entry in (ROOT / package_dir["cycle"]).iterdir():
        if entry.name != "__pycache__":
            (top / entry.name).symlink_to(entry)
    for package, folder in package_dir.items():
        if package == "cycle":
            continue
        source = ROOT / folder
        link = TREE.joinpath(*package.split("."))
        link.with_suffix(".py" if not source.is_dir() else "").symlink_to(
            source if source.is_dir() else source.with_suffix(".py"))
    args = sys.argv[2:] if sys.argv[1:2] == ["--"] else sys.argv[1:]
    os.chdir(TREE)
    return subprocess.call([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                            "-p", "cycle", *args])


if __name__ == "__main__":
    sys.exit(main())
