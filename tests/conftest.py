"""Every test gets its own CYCLE_HOME (a real SQLite file under tmp_path) and a known actor."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli import cli

CAMHS = ["project", "new", "camhs", "--title", "CAMHS Tiers 2 and 3", "--workflow", "commissioning",
         "--lead-commissioner", "CCGs", "--model", "integrated", "--accountable-body", "Children's Trust Board",
         "--owner", "alice"]
BODY = "Children's Trust Board"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("CYCLE_HOME", str(h))
    monkeypatch.setenv("CYCLE_USER", "alice")
    monkeypatch.delenv("CYCLE_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return h


class Cli:
    """Runs the real CLI in-process and returns click's Result (exit code, stdout, stderr)."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, user: str | None = None, expect: int | None = 0) -> Result:
        env = {"CYCLE_USER": user} if user else None
        result = self.runner.invoke(cli, list(args), env=env, prog_name="cycle")
        if expect is not None and result.exit_code != expect:
            raise AssertionError(f"cycle {' '.join(args)} exited {result.exit_code}, expected {expect}\n"
                                 f"stdout: {result.stdout}\nstderr: {result.stderr}\n{result.exception!r}")
        return result

    def json(self, *args: str, **kw: Any) -> Any:
        return json.loads(self(*args, "--json", **kw).stdout)


@pytest.fixture
def run() -> Cli:
    return Cli()


@pytest.fixture
def ready(run: Cli) -> Cli:
    """A database with the camhs project at analyse."""
    run("init")
    run(*CAMHS)
    return run


def go(run: Cli, key: str, gate: str, ref: str = "minutes item 1", user: str = "clerk") -> None:
    run("decision", "record", key, "--gate", gate, "--outcome", "go", "--body", BODY, "--ref", ref, user=user)


def cycle_exe() -> list[str]:
    """The installed `cycle` console script next to this interpreter (falls back to python -m cli)."""
    exe = Path(sys.executable).parent / "cycle"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("cycle")
    return [found] if found else [sys.executable, "-m", "cli"]


def run_process(*args: str, env: dict[str, str] | None = None, **kw: Any) -> subprocess.CompletedProcess[str]:
    """The real `cycle` command in a separate process, with this test's environment."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*cycle_exe(), *args], capture_output=True, text=True, env=full_env, timeout=120, **kw)
