"""The wheel is what a team installs: built from this checkout, installed into a new virtualenv, and run with the
checkout nowhere on the path, it sets up a database and walks the demo round the cycle.

It carries what cycle reads at run time (migrations, templates, the built-in workflows) and puts one name into
site-packages, `cycle`: the checkout's cli.py, notifications/, reports/ and workflows/ go in under it. Building and
installing take a while, so this runs in the SQLite run only (it is not about the database).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def _clean_env(home: Path) -> dict[str, str]:
    """The environment of someone who installed the wheel: no PYTHONPATH, no CYCLE_* of the test run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CYCLE_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(CYCLE_HOME=str(home), CYCLE_USER="alice")
    return env


@pytest.mark.sqlite_only
def test_the_wheel_installs_alone_and_runs_init_and_the_demo(tmp_path: Path) -> None:
    # From a copy: setuptools builds in the source folder, and this one is the developer's.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "dist", "*.egg-info", "__pycache__"))
    # ... and what an earlier build of an older layout left there must not go in.
    for stale in ("build/lib/cli.py", "build/lib/notifications/__init__.py", "build/lib/cycle/reports.py"):
        (source / stale).parent.mkdir(parents=True, exist_ok=True)
        (source / stale).write_text("raise ImportError('left from an old build')\n")
    built = _run(sys.executable, "-m", "pip", "wheel", "--verbose", "--no-deps", "--wheel-dir", tmp_path / "dist",
                 source, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    # No warning from the build (a folder shipped but not listed among the packages is one; setuptools still
    # ships it today, so only the warning shows it), bar setuptools' note that it does not byte-compile.
    warned = [line.strip() for line in (built.stdout + built.stderr).splitlines() if "warn" in line.lower()
              and "byte-compiling is disabled" not in line and not line.lstrip().startswith("WARNING: Location")]
    assert not warned, warned
    [wheel] = (tmp_path / "dist").glob("cycle-*.whl")
    shutil.rmtree(source)  # nothing installed may read the checkout it was built from

    with zipfile.ZipFile(wheel) as z:
        record = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
        files = [row[0] for row in csv.reader(io.StringIO(z.read(record).decode()))]
    assert {f.split("/")[0] for f in files} == {"cycle", record.split("/")[0]}
    assert "cycle/reports.py" not in files  # the stale build/lib/cycle/reports.py
    for shipped in ("cycle/cli.py", "cycle/py.typed", "cycle/db/migrations/env.py",
                    "cycle/db/migrations/script.py.mako", "cycle/db/migrations/versions/0001_engine.py",
                    "cycle/notifications/templates/notice.txt", "cycle/reports/templates/gate-audit.html.j2",
                    "cycle/workflows/commissioning.toml"):
        assert shipped in files

    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path).returncode == 0
    installed = _run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet", wheel,
                     cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert not [p.name for p in site.iterdir() if p.name.split(".")[0] in (
        "cli", "commands", "notifications", "reports", "workflows")]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _clean_env(tmp_path / "home")
    where = _run(venv / "bin" / "python", "-c", "import cycle.cli; print(cycle.cli.__file__)", cwd=elsewhere, env=env)
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr

    from cycle import __version__

    version = _run(venv / "bin" / "cycle", "--version", cwd=elsewhere, env=env)
    assert (version.returncode, version.stdout) == (0, f"cycle, version {__version__}\n"), version.stderr
    for pth in site.glob("*.pth"):  # no path back to a checkout (as an editable install has)
        assert str(ROOT) not in pth.read_text() and str(source) not in pth.read_text(), pth.name

    init = _run(venv / "bin" / "cycle", "init", cwd=elsewhere, env=env)
    assert init.returncode == 0, init.stderr
    assert init.stdout.startswith(f"Created cycle database at {tmp_path / 'home' / 'cycle.db'} (schema revision ")
    assert ("Installed workflows commissioning version 1 (built-in), decommissioning version 1 (built-in)."
            in init.stdout)

    listed = _run(venv / "bin" / "cycle", "workflow", "list", cwd=elsewhere, env=env)
    assert listed.returncode == 0 and listed.stdout.startswith("commissioning "), listed.stdout + listed.stderr

    demo = _run(venv / "bin" / "cycle", "demo", "--home", tmp_path / "demo", cwd=elsewhere, env=env)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr
    assert "Audit chain verified: " in demo.stdout
    assert len(list((tmp_path / "demo" / "mail" / "new").iterdir())) == 2  # the request and the reminder
    assert (tmp_path / "demo" / "gate-audit.html").read_text().startswith("<!DOCTYPE html>")

    # PostgreSQL is an extra: without it, a postgresql URL says what to install (and nothing is written).
    no_driver = _run(venv / "bin" / "cycle", "project", "list", cwd=elsewhere,
                     env={**env, "CYCLE_DATABASE_URL": "postgresql+psycopg://alice@127.0.0.1:9/cycle"})
    assert (no_driver.returncode, no_driver.stdout) == (2, "")
    assert no_driver.stderr == ("Error: CYCLE_DATABASE_URL names a PostgreSQL database, and its driver (psycopg) is "
                                "not installed; install it with: pip install 'cycle[postgresql]'\n")
