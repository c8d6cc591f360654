"""Long work shows progress on stderr when stderr is a terminal (a real pty here), and nothing at all when it is
piped: scripts and logs see exactly what they saw before."""

from __future__ import annotations

import os
import pty
import select
import subprocess

import pytest

from .conftest import CAMHS, Cli, Database, cycle_exe, go
from .test_streaming import many_entries


def on_a_terminal(args: list[str]) -> tuple[str, str, int]:
    """Run cycle with stderr on a pty (stdout piped): (stdout, what the terminal showed, exit code)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([*cycle_exe(), *args], stdout=subprocess.PIPE, stderr=slave, env=dict(os.environ))
    os.close(slave)
    shown = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    proc.stdout.close()
    return out, shown.decode(), proc.wait(timeout=120)


def piped(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cycle_exe(), *args], capture_output=True, text=True, env=dict(os.environ), timeout=120)


@pytest.fixture
def logged(run: Cli, db: Database) -> Cli:
    run("init")
    run(*CAMHS)
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA 2026")
    go(run, "camhs", "analyse-plan")
    run("project", "advance", "camhs")
    many_entries(db, 12000, project=None)
    return run


def test_audit_verify_shows_progress_on_a_terminal(logged: Cli) -> None:
    out, shown, code = on_a_terminal(["audit", "verify"])
    assert code == 0, shown
    assert out.startswith("Audit chain verified: ")
    assert "Checking the audit chain: " in shown and " entries" in shown
    assert "(100%)" in shown
    assert shown.endswith("\r\x1b[K")  # the progress line is cleared when the work is done


def test_audit_verify_shows_nothing_more_when_piped(logged: Cli) -> None:
    result = piped(["audit", "verify"])
    assert result.returncode == 0
    assert result.stderr == ""
    assert result.stdout.startswith("Audit chain verified: ")
    assert "\r" not in result.stdout


@pytest.mark.parametrize("report", [["gate-audit"], ["quarterly", "--quarter", "2026-Q3"]])
def test_reports_show_progress_on_a_terminal_and_nothing_when_piped(logged: Cli, report: list[str]) -> None:
    out, shown, code = on_a_terminal(["report", *report, "--format", "json"])
    assert code == 0, shown
    assert "Checking the audit chain: " in shown
    assert out.startswith("{")
    result = piped(["report", *report, "--format", "json"])
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == out.replace("\r\n", "\n")
