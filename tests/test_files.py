"""Files that are not what they seem, and settings out of range: one line, exit 2, never a hang or a traceback.

Every file a person names is read by cycle.files: a regular file only (not a FIFO, a device, a folder), under
a size limit, UTF-8, and TOML no deeper than tomllib can read. Every string in a workflow is checked as text
(cycle.inputs). Workflows live in the database once installed, so a team's file going away changes nothing
for the projects on it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cycle.workflow.definition import builtin_dir

from .conftest import Cli, Database

DEEP = "[reminders]\nnotice_ladder = " + "[" * 10_000 + "]" * 10_000 + "\n"


def _one_line(result: object) -> str:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def _team_workflow(home: Path, name: str, title: str = "Fast track", stage_title: str = "Plan") -> Path:
    text = (builtin_dir() / "commissioning.toml").read_text(encoding="utf-8")
    text = text.replace('name = "commissioning"', f'name = "{name}"', 1)
    text = text.replace('title = "Plan"', f'title = "{stage_title}"', 1)
    folder = home / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- reminders.toml -----------------------------------------------------------------------------

@pytest.mark.parametrize("make, problem", [
    pytest.param(lambda p: p.write_text(DEEP, encoding="utf-8"),
                 "not valid TOML: its arrays or tables are nested too deeply to read", id="nested 50,000 deep"),
    pytest.param(lambda p: os.mkfifo(p), "not a regular file; give the path of a settings file", id="FIFO"),
    pytest.param(lambda p: p.symlink_to("/dev/zero"), "not a regular file; give the path of a settings file",
                 id="symlink to /dev/zero"),
    pytest.param(lambda p: p.write_bytes(b"[reminders]\n# caf\xe9\n"),
                 "not UTF-8 text (invalid continuation byte at byte 17)", id="not UTF-8"),
    pytest.param(lambda p: p.write_text("#" * 200_000, encoding="utf-8"),
                 "200000 bytes, more than a settings file may have (100000); is it the right file?", id="too big"),
])
def test_a_reminders_toml_that_is_not_a_small_text_file_is_one_line(ready: Cli, db: Database, home: Path,
                                                                    make: object, problem: str) -> None:
    path = home / "reminders.toml"
    make(path)  # type: ignore[operator]
    before = db.dump()
    for args in (["remind", "--dry-run"], ["remind", "run"], ["outbox", "send"]):
        assert _one_line(ready(*args, expect=2)) == f"Error: {path}: {problem}", args
    assert db.dump() == before


@pytest.mark.parametrize("toml, key, rule", [
    ("[reminders]\nreview_lead_days = 100000", "[reminders] review_lead_days",
     "must be a whole number of days, from 0 to 366"),
    ("[reminders]\nreview_grace_days = -1", "[reminders] review_grace_days",
     "must be a whole number of days, from 0 to 366"),
    ("[reminders]\nnotice_ladder = [99999999999]", "[reminders] notice_ladder",
     "must be a list of days before the deadline, each from 0 to 3660, e.g. [120, 90, 60, 30, 7]"),
    ("[reminders]\ngate_wait_days = 99999999999999999999", "[reminders] gate_wait_days",
     "must be a whole number of days, from 0 to 3660"),
    ("[scheduler]\ndrain_every_minutes = 1000000000000", "[scheduler] drain_every_minutes",
     "must be a whole number of minutes, from 1 to 1440"),
])
def test_settings_out_of_range_are_refused(ready: Cli, db: Database, home: Path, toml: str, key: str,
                                           rule: str) -> None:
    (home / "reminders.toml").write_text(toml + "\n", encoding="utf-8")
    before = db.dump()
    for args in (["remind", "--dry-run"], ["scheduler", "run"]):
        assert _one_line(ready(*args, expect=2)) == f"Error: {home / 'reminders.toml'}: {key} {rule}", args
    assert db.dump() == before


def test_an_smtp_port_out_of_range_in_the_environment_is_refused(ready: Cli, db: Database, home: Path) -> None:
    before = db.dump()
    result = ready.runner.invoke(_cli(), ["outbox", "send"], prog_name="cycle",
                                 env={"CYCLE_SMTP_HOST": "127.0.0.1", "CYCLE_SMTP_PORT": "99999999999999999999"})
    assert result.exit_code == 2
    assert _one_line(result) == (f"Error: SMTP port '99999999999999999999' is out of range; give a port number "
                                 f"from 1 to 65535, e.g. 587 (CYCLE_SMTP_PORT or [smtp] port in "
                                 f"{home.parent / 'xdg-config' / 'cycle' / 'reminders.toml'})")
    assert db.dump() == before


@pytest.mark.parametrize("make, problem", [
    pytest.param(lambda p: os.mkfifo(p), "not a regular file; give the path of a password file", id="FIFO"),
    pytest.param(lambda p: p.symlink_to("/dev/zero"), "not a regular file; give the path of a password file",
                 id="/dev/zero"),
    pytest.param(lambda p: p.write_text("x" * 5000), "5000 bytes, more than a password file may have (4096); is it "
                                                      "the right file?", id="too big"),
])
def test_a_password_file_that_is_not_a_small_text_file_is_one_line(ready: Cli, db: Database, tmp_path: Path,
                                                                   make: object, problem: str) -> None:
    secret = tmp_path / "password"
    make(secret)  # type: ignore[operator]
    result = ready.runner.invoke(_cli(), ["outbox", "send"], prog_name="cycle",
                                 env={"CYCLE_SMTP_HOST": "127.0.0.1", "CYCLE_SMTP_PASSWORD_FILE": str(secret)})
    assert result.exit_code == 2
    assert _one_line(result) == f"Error: cannot read the SMTP password file {secret}: {problem}"


def _cli():  # type: ignore[no-untyped-def]
    from cycle.cli import cli

    return cli


# --- workflow files -------------------------------------------------------------------------------

def test_a_nul_or_an_escape_in_a_stage_title_is_refused_by_check_and_install(ready: Cli, db: Database,
                                                                           home: Path) -> None:
    path = _team_workflow(home, "fast", stage_title="Pl\\u0000an")
    before = db.dump()
    line = (f"Error: {path}: stage[2].title: must be a single line of text (no control characters: tab, newline, "
            f"escape ...); found 'Pl\\x00an'")
    assert _one_line(ready("workflow", "check", str(path), expect=2)) == line
    assert _one_line(ready("workflow", "install", str(path), expect=2)) == line
    path = _team_workflow(home, "fast", stage_title="\\u001b[2JPlan")
    assert _one_line(ready("workflow", "check", str(path), expect=2)).startswith(f"Error: {path}: stage[2].title: ")
    assert db.dump() == before


def test_one_bad_workflow_file_does_not_hide_the_others(ready: Cli, home: Path) -> None:
    good = _team_workflow(home, "fast")
    deep = home / "workflows" / "deep.toml"
    deep.write_text("x = " + "[" * 50_000 + "]" * 50_000 + "\n", encoding="utf-8")
    (home / "workflows" / "zero.toml").symlink_to("/dev/zero")
    os.mkfifo(home / "workflows" / "pipe.toml")
    result = ready("workflow", "list", expect=2)
    assert f"{good} is not installed; install it with: " in result.stdout
    assert f"{deep} CANNOT BE INSTALLED: {deep}: its arrays or tables are nested too deeply to read" in result.stdout
    assert (f"{home / 'workflows' / 'zero.toml'} CANNOT BE INSTALLED: {home / 'workflows' / 'zero.toml'}: not a "
            f"regular file") in result.stdout
    assert f"{home / 'workflows' / 'pipe.toml'} CANNOT BE INSTALLED: " in result.stdout
    assert result.stderr.startswith("Error: 3 workflow files cannot be installed")
    assert "Traceback" not in result.output
    assert _one_line(ready("workflow", "check", str(deep), expect=2)).startswith(f"Error: {deep}: its arrays")


def test_reports_keep_working_when_a_team_workflow_file_is_gone(ready: Cli, home: Path) -> None:
    """Workflows are read from the database once installed: only `workflow list/check/install` (and `init`,
    for files not yet installed) read files. Removing the file the projects run on changes nothing for them."""
    path = _team_workflow(home, "fast")
    ready("workflow", "install", str(path))
    ready("project", "new", "quick", "--title", "Quick service", "--workflow", "fast")
    ready("evidence", "add", "quick", "needs-assessment", "--ref", "JSNA")
    path.unlink()
    home.joinpath("workflows").rmdir()
    ready("report", "quarterly", "--quarter", "2026-Q3", "--format", "md")
    ready("report", "gate-audit", "quick")
    ready("gate", "check", "quick")
    ready("project", "show", "quick")
    ready("workflow", "show", "fast")
    assert "Plan" in ready("workflow", "diagram", "fast", "--format", "mermaid").stdout
    ready("workflow", "list")
