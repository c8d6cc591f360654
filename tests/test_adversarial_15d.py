"""Adversarial review of issue 15's last fixes (reports' first line, closed stdout, damaged files, terminal
controls): a cron line with stdout closed, a team member with a text editor on the database, a report killed
while it writes its --out file. Each test goes through the real CLI and fails on the code it was written against."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from pathlib import Path

import pytest

from .conftest import Cli, Database, cycle_exe
from .test_streaming import many_entries, many_projects

HOSTILE = "CAMHS\x1b]8;;http://evil.example\x07link\x1b]8;;\x07\x1b[2J\u202eRTL\u2028LS\u2029PS\x85NEL end"
RAW = "\x1b\x07\u202e\u2028\u2029\x85"  # what must never reach a terminal, or a page, as it is


def _closed(command: list[str], redirect: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", shlex.join([*cycle_exe(), *command]) + redirect], capture_output=True,
                          text=True, env=dict(os.environ), timeout=120)


@pytest.mark.parametrize("redirect", [" >&-", " > /dev/full"], ids=["closed", "full"])
def test_a_change_whose_confirmation_was_lost_says_it_was_recorded(ready: Cli, db: Database, redirect: str) -> None:
    # `cycle evidence add camhs needs-assessment --ref "JSNA" >&-` from a cron line: exit 1, "Error: cannot write
    # the output: standard output is closed; send it to a file ...". The evidence WAS recorded; the person who
    # follows the advice and runs it again `> log` records it a second time (evidence add refuses no duplicate).
    args = ["evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA 2026"]
    before = db.rows("SELECT count(*) FROM evidence")[0][0]
    done = _closed(args, redirect)
    assert done.returncode == 1 and done.stderr.startswith("Error: cannot write the output")
    recorded = db.rows("SELECT count(*) FROM evidence")[0][0] - before
    # Either nothing was done (refused up front: stdout closed is known before the command starts), or the line
    # says the change was made, so that nobody makes it again.
    assert recorded == 0 or "recorded" in done.stderr, (recorded, done.stderr)


@pytest.mark.parametrize("args", [["report", "gate-audit", "camhs", "--format", "html"],
                                  ["report", "quarterly", "--quarter", "2026-Q4", "--format", "html"]],
                         ids=["gate-audit", "quarterly"])
def test_an_html_report_shows_terminal_controls_from_a_hand_edit_escaped(ready: Cli, db: Database,
                                                                       args: list[str]) -> None:
    # `cycle report gate-audit camhs --format html` printed to a terminal (or `| less -R`): an OSC 8 link to
    # evil.example, a screen clear and a right-to-left override from a title edited in the database. In a
    # browser U+202E reverses the rest of the heading. The Markdown report shows them as \x1b, \u202e.
    db.tamper("UPDATE project SET title = :t WHERE key = 'camhs'", params={"t": HOSTILE})
    printed = ready(*args, expect=1).stdout  # 1: the records check finds the hand edit
    assert not [ch for ch in RAW if ch in printed], [hex(ord(ch)) for ch in RAW if ch in printed]


def test_the_site_shows_terminal_controls_from_a_hand_edit_escaped(ready: Cli, db: Database, home: Path) -> None:
    db.tamper("UPDATE project SET title = :t WHERE key = 'camhs'", params={"t": HOSTILE})
    ready("site", "build", "--out", str(home / "site"), expect=1)
    page = (home / "site" / "projects" / "camhs.html").read_text()
    assert "CAMHS" in page
    assert not [ch for ch in RAW if ch in page], [hex(ord(ch)) for ch in RAW if ch in page]


@pytest.mark.parametrize("args", [["project", "list", "--json"], ["project", "show", "camhs", "--json"],
                                  ["report", "gate-audit", "camhs", "--json"]], ids=["list", "show", "report"])
def test_json_shows_terminal_controls_from_a_hand_edit_escaped(ready: Cli, db: Database, args: list[str]) -> None:
    # `cycle project list --json` on a terminal: U+202E reverses what follows on the line; the plain listing
    # shows it as \u202e. JSON's own \u202e escape is as valid to a program reading it.
    db.tamper("UPDATE project SET title = :t WHERE key = 'camhs'", params={"t": HOSTILE})
    printed = ready(*args, expect=None).stdout
    assert "CAMHS" in printed
    assert not [ch for ch in RAW if ch in printed], [hex(ord(ch)) for ch in RAW if ch in printed]


def test_audit_log_reads_the_entry_of_a_bundle_export(ready: Cli, home: Path) -> None:
    # `cycle demo` then `cycle audit log`: its last line says "(payload unreadable: no 'file' field)".
    ready("audit", "keygen")
    ready("audit", "checkpoint", "--sign")
    ready("audit", "export", "--bundle", str(home / "bundle"))
    last = ready("audit", "log").stdout.splitlines()[-1]
    assert "audit.export" in last
    assert "unreadable" not in last, last
    assert str(home / "bundle") in last


def test_a_report_terminated_while_writing_its_out_file_leaves_no_part_file(ready: Cli, db: Database,
                                                                          tmp_path: Path) -> None:
    # `timeout 60 cycle report quarterly --quarter 2026-Q4 --out q.md` in a cron line: timeout sends SIGTERM. The
    # half-written .q.md.XXXXXXXX.part stays in the folder for good.
    many_projects(db, 3000)
    folder = tmp_path / "out"
    folder.mkdir()
    proc = subprocess.Popen([*cycle_exe(), "report", "quarterly", "--quarter", "2026-Q4", "--out",
                             str(folder / "q.md")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ))
    try:
        while proc.poll() is None and not any(p.name.endswith(".part") for p in folder.iterdir()):
            pass  # the report has begun writing its file
        proc.send_signal(signal.SIGSTOP)
        assert any(p.name.endswith(".part") for p in folder.iterdir()), "the report ended before it could be stopped"
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGCONT)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert [p.name for p in folder.iterdir()] == []


@pytest.mark.postgresql_only
def test_audit_log_whose_server_connection_goes_away_is_one_line(ready: Cli, db: Database) -> None:
    # `cycle audit log | less` while the DBA restarts the server (pg_terminate_backend: "terminating connection due
    # to administrator command"). The log streams through a server-side cursor; the lost connection is handed back
    # to the pool, whose rollback fails again and is logged with its traceback, on stderr.
    many_entries(db, 20000)  # more than the first batch the cursor fetches
    proc = subprocess.Popen([*cycle_exe(), "audit", "log"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ))
    assert proc.stdout is not None and proc.stderr is not None
    try:
        assert b"db.init" in proc.stdout.readline()  # the first batch is out: the cursor is open on the server
        proc.send_signal(signal.SIGSTOP)
        assert db.server is not None
        db.server.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db.name}' "
                      f"AND pid <> pg_backend_pid()")
        proc.send_signal(signal.SIGCONT)
        proc.stdout.read()
        err = proc.stderr.read().decode()
    finally:
        proc.stdout.close()
        proc.stderr.close()
    code = proc.wait(timeout=120)
    assert "damaged" not in err  # it is not called a damaged file (it is not)
    assert (code, err) == (5, "Error: database error (terminating connection due to administrator command); "
                              "nothing was written.\n"), err
