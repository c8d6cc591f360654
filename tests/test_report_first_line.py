"""The Markdown reports print their title at once, before the long check of the record, then the rest as it is
made; `| head -1` ends them early and cleanly. How soon the first line comes is a figure for bench/run.py [12],
not for tests."""

from __future__ import annotations

import os
import pty
import select
import shlex
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Cli, Database, cycle_exe
from .test_streaming import many_entries, many_projects, piped_head

REPORTS = [["report", "quarterly", "--quarter", "2026-Q4"], ["report", "gate-audit"]]
TITLES = ["# Commissioning portfolio, 2026-Q4", "# Gate audit: all projects"]


def on_a_terminal(args: list[str]) -> tuple[str, int]:
    """`cycle ARGS` with stdout and stderr on one terminal (a pty), as a person would run it: everything it
    wrote, in the order it wrote it, and its exit code."""
    main, child = pty.openpty()
    proc = subprocess.Popen([*cycle_exe(), *args], stdout=child, stderr=child, stdin=subprocess.DEVNULL,
                            env=dict(os.environ))
    os.close(child)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 1 << 16)
        except OSError:  # EIO: the terminal's other end is closed, the command has ended
            break
        if not chunk:
            break
        seen += chunk
    os.close(main)
    return seen.decode(), proc.wait(timeout=120)


@pytest.mark.parametrize(("args", "title"), list(zip(REPORTS, TITLES, strict=True)))
def test_the_title_comes_before_the_check_of_the_record(ready: Cli, args: list[str], title: str) -> None:
    # On a terminal the check shows its progress on stderr as it goes: the title is out before it began.
    seen, code = on_a_terminal(args)
    assert code == 0
    assert seen.startswith(title + "\r\n\r\n")
    checking = seen.index("Checking")
    assert seen.index(title) < checking < seen.index("**Audit chain verified**")


@pytest.mark.parametrize(("args", "title"), list(zip(REPORTS, TITLES, strict=True)))
def test_a_failed_check_is_still_at_the_top_of_the_body(ready: Cli, db: Database, args: list[str],
                                                        title: str) -> None:
    db.drop_audit_triggers()
    db.execute("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 2")
    result = ready(*args, expect=1)
    body = result.stdout.split("\n")
    assert body[0] == title and body[1] == ""
    assert next(line for line in body[2:] if line.startswith("**")).startswith("**Audit chain FAILED at entry 2**")
    assert result.stderr.startswith("Audit chain FAILED at entry 2:")


def test_bad_input_prints_no_title(ready: Cli) -> None:
    for args, error in (
            (["report", "gate-audit", "nope"], "Error: No project with key 'nope'."),
            (["report", "gate-audit", "--checkpoint", "12"], "Error: checkpoint '12' is not SEQ:HASH"),
            (["report", "quarterly", "--quarter", "2026-Q4", "--checkpoint", ""], "Error: checkpoint '' is not")):
        result = ready(*args, expect=2)
        assert result.stdout == ""
        assert result.stderr.startswith(error)


def test_the_other_formats_and_out_files_keep_their_order(ready: Cli, home: Path) -> None:
    assert ready("report", "gate-audit", "--json").stdout.startswith('{\n  "report": "gate-audit",')
    assert ready("report", "gate-audit", "--format", "html").stdout.startswith("<!DOCTYPE html>")
    ready("report", "gate-audit", "--out", str(home / "ga.md"))
    whole = (home / "ga.md").read_text()
    assert whole == ready("report", "gate-audit").stdout  # the same text, title once
    assert whole.count("# Gate audit: all projects") == 1


@pytest.mark.parametrize(("args", "title"), list(zip(REPORTS, TITLES, strict=True)))
def test_a_report_piped_to_head_ends_early_and_cleanly(ready: Cli, db: Database, args: list[str],
                                                       title: str) -> None:
    many_projects(db, 1000)  # more than a pipe holds: the report cannot have finished before the reader went
    got, code, err = piped_head(args, lines=1)
    assert got == [title + "\n"]
    assert (err, code) == ("", 141)


def test_the_watcher_ends_work_that_would_not_write_again(tmp_path: Path) -> None:
    # A report may be seconds from its next write when the reader goes: the watcher ends it then, not later.
    work = "from cycle.commands.pipe import watching\nprint('title', flush=True)\nwith watching():\n    while True:\n" \
           "        pass\n"
    proc = subprocess.Popen([sys.executable, "-c", work], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"title\n"
    proc.stdout.close()
    assert proc.wait(timeout=60) == 141  # without the watcher: never (the timeout fails the test)
    assert proc.stderr.read() == b""
    proc.stderr.close()


CLOSED = ("Error: cannot write the output: standard output is closed; send it to a file, a pipe or /dev/null "
          "(--out FILE where the command has it). Anything the command changed was recorded before its output was "
          "lost: see `cycle audit log --limit 5` before running it again.\n")


@pytest.mark.parametrize("args", [["report", "gate-audit"], ["report", "quarterly", "--quarter", "2026-Q4", "--json"],
                                  ["project", "list"], ["audit", "verify"]])
def test_a_command_with_stdout_closed_says_it_could_not_print(ready: Cli, args: list[str]) -> None:
    # `cycle project list >&-`, as a careless cron line might: nothing could be printed, and exit 0 would say all
    # went well. One line and exit 1, as a full disk gives (`> /dev/full`).
    done = subprocess.run(["sh", "-c", shlex.join([*cycle_exe(), *args]) + " >&-"], capture_output=True, text=True,
                          env=dict(os.environ), timeout=120)
    assert (done.returncode, done.stderr) == (1, CLOSED)


def test_a_report_with_stdout_closed_still_writes_its_out_file(ready: Cli, tmp_path: Path) -> None:
    out = tmp_path / "ga.md"
    done = subprocess.run(["sh", "-c", shlex.join([*cycle_exe(), "report", "gate-audit", "--out", str(out)]) + " >&-"],
                          capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert (done.returncode, done.stderr) == (1, CLOSED)  # only "Wrote the gate-audit report to ..." was lost
    assert out.read_text() == ready("report", "gate-audit").stdout


# --- bad input is its own line, whatever became of stdout's reader ------------------------------

BAD_INPUT = {
    "unknown key": (["report", "gate-audit", "nope"], "Error: No project with key 'nope'."),
    "checkpoint not SEQ:HASH": (["report", "gate-audit", "camhs", "--checkpoint", "12"],
                                "Error: checkpoint '12' is not SEQ:HASH"),
    "empty checkpoint": (["report", "gate-audit", "--checkpoint", ""], "Error: checkpoint '' is not"),
    "quarterly checkpoint not SEQ:HASH": (["report", "quarterly", "--quarter", "2026-Q4", "--checkpoint", "x:y:z"],
                                          "Error: checkpoint 'x:y:z' is not SEQ:HASH"),
    "quarterly empty checkpoint": (["report", "quarterly", "--quarter", "2026-Q4", "--checkpoint", ""],
                                   "Error: checkpoint '' is not"),
    "not a quarter": (["report", "quarterly", "--quarter", "2026-Q5"], "Error: --quarter '2026-Q5' is not"),
}


@pytest.mark.parametrize("fmt", [[], ["--json"], ["--format", "html"]], ids=["md", "json", "html"])
@pytest.mark.parametrize("bad", list(BAD_INPUT), ids=list(BAD_INPUT))
def test_bad_input_is_one_line_and_exit_2_when_stdouts_reader_has_gone(ready: Cli, bad: str,
                                                                     fmt: list[str]) -> None:
    # `cycle report gate-audit nope | true`: the reader may be gone before the report starts. The mistake is
    # still named, with exit 2, not a silent 141 from the pipe's watcher.
    args, error = BAD_INPUT[bad]
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([*cycle_exe(), *args, *fmt], stdout=write, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ), timeout=120)
    finally:
        os.close(write)
    assert done.returncode == 2, done
    assert done.stderr.startswith(error) and done.stderr.count("\n") == 1


# --- a damaged database file ----------------------------------------------------------------------

@pytest.mark.sqlite_only
@pytest.mark.parametrize("fmt", [[], ["--json"], ["--format", "html"], ["--out", "r.md"], ["--out", "r.html",
                                                                                          "--format", "html"]],
                         ids=["md", "json", "html", "out-md", "out-html"])
@pytest.mark.parametrize("args", REPORTS, ids=["quarterly", "gate-audit"])
def test_a_report_on_a_damaged_file_fails_as_audit_verify_does(ready: Cli, db: Database, home: Path,
                                                               args: list[str], fmt: list[str]) -> None:
    # A page of audit_entry overwritten with junk: SQLite says so as the chain is walked, through the DB-API
    # cursor. The report says what `audit verify` says, in one line with its exit code, never a traceback.
    many_entries(db, 1500)  # several pages of entries
    db.engine.dispose()
    path = home / "cycle.db"
    with sqlite3.connect(path) as conn:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        root, *leaves = [n for (n,) in conn.execute("SELECT pageno FROM dbstat WHERE name = 'audit_entry' "
                                                    "ORDER BY pageno")]
    conn.close()
    assert leaves
    data = bytearray(path.read_bytes())
    at = (leaves[len(leaves) // 2] - 1) * size
    data[at:at + size] = b"\xa5" * size
    path.write_bytes(bytes(data))
    said = (f"Audit FAILED: the database at {path} is damaged (database disk image is malformed), so nothing in it "
            f"can be vouched for. Restore it from a backup and verify again.\n")
    assert ready("audit", "verify", expect=1).stderr == said
    if "--out" in fmt:
        fmt = [*fmt[:1], str(home / fmt[1]), *fmt[2:]]
    result = ready(*args, *fmt, expect=1)
    assert result.stderr == said
    assert result.stdout == (TITLES[REPORTS.index(args)] + "\n\n" if not fmt else "")
    assert sorted(p.name for p in home.iterdir()) == ["cycle.db"]  # no report file, no .part


# --- `| head` on a terminal leaves no progress line behind ---------------------------------------

@pytest.mark.parametrize(("args", "title"), list(zip(REPORTS, TITLES, strict=True)))
def test_a_report_ended_by_head_clears_its_progress_line(ready: Cli, db: Database, args: list[str],
                                                          title: str) -> None:
    # `cycle report quarterly | head -1` on a terminal: stderr is the terminal, where the check shows its
    # progress. The reader goes mid-check; the report ends at once (141), and the line it showed is wiped.
    many_entries(db, 12000)
    main, child = pty.openpty()
    proc = subprocess.Popen([*cycle_exe(), *args], stdout=subprocess.PIPE, stderr=child, stdin=subprocess.DEVNULL,
                            env=dict(os.environ))
    os.close(child)
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().decode() == title + "\n"
        shown = b""
        while b"Checking" not in shown:  # the check has begun, and shows how it gets on
            assert select.select([main], [], [], 60)[0], shown
            shown += os.read(main, 1 << 16)
        proc.send_signal(signal.SIGSTOP)  # mid-check: the reader goes (`head` has its line) before it goes on
        proc.stdout.close()
        proc.send_signal(signal.SIGCONT)
        assert proc.wait(timeout=120) == 141
        while True:
            try:
                chunk = os.read(main, 1 << 16)
            except OSError:  # EIO: the command has ended and closed its end
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(main)
    text = shown.decode()
    assert text.endswith("\r\x1b[K"), repr(text[-200:])  # the last thing on the terminal: the line wiped
    assert "Traceback" not in text


# --- text a hand edit put in the database --------------------------------------------------------

def test_a_key_or_title_holding_terminal_controls_is_escaped_in_the_title_and_the_body(ready: Cli, db: Database,
                                                                                     home: Path) -> None:
    # `project new` refuses such a key; only a tampered database holds one. Printed to a terminal, ESC would be
    # the start of a command to it, and U+2028 a line break where none was written.
    key, title = "ca\x1b[2Jmhs\u2028x", "CAMHS\x1b]0;owned\x07\u2028Tiers"
    db.tamper("UPDATE project SET key = :key, title = :title WHERE key = 'camhs'",
              params={"key": key, "title": title})
    shown_key = "ca\\\\x1b\\[2Jmhs\\\\u2028x"  # escaped (\x1b), then Markdown's own escapes
    for args, first in ((["report", "gate-audit", key], f"# Gate audit: {shown_key}"),
                        (["report", "gate-audit"], "# Gate audit: all projects"),
                        (["report", "quarterly", "--quarter", "2026-Q4"], TITLES[0])):
        printed = ready(*args, expect=1).stdout  # 1: the records check finds the hand edit
        ready(*args, "--out", str(home / "r.md"), "--force", expect=1)
        for text in (printed, (home / "r.md").read_text()):
            assert text.split("\n")[0] == first
            assert not any(ch in text for ch in "\x1b\x07\u2028"), text
            assert shown_key in text and "CAMHS\\\\x1b\\]0;owned\\\\x07\\\\u2028Tiers" in text  # still named


def test_html_reports_and_the_site_show_terminal_controls_escaped(ready: Cli, db: Database, home: Path) -> None:
    """HTML printed to a terminal (`--format html`, no --out) or a site page opened with `cat`: ESC, BEL, U+2028, an
    override and C1 controls a hand edit put in the database are shown as escapes, as in Markdown."""
    title = "CAMHS\x1b]0;owned\x07\u2028Tiers \u202egnp.exe\x9b2J"
    db.tamper("UPDATE project SET title = :title WHERE key = 'camhs'", params={"title": title})
    shown = "CAMHS\\x1b]0;owned\\x07\\u2028Tiers \\u202egnp.exe\\x9b2J"
    for args in (["report", "gate-audit", "--format", "html"],
                 ["report", "quarterly", "--quarter", "2026-Q4", "--format", "html"]):
        printed = ready(*args, expect=1).stdout
        assert not any(ch in printed for ch in "\x1b\x07\u2028\u202e\x9b"), args
        assert shown in printed, args
    ready("site", "build", "--out", str(home / "site"), expect=None)
    for page in (home / "site").rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not any(ch in text for ch in "\x1b\x07\u2028\u202e\x9b"), page


def test_one_project_is_one_project(ready: Cli) -> None:
    assert "1 project at the quarter's end." in ready("report", "quarterly", "--quarter", "2026-Q4").stdout
    ready("project", "new", "respite", "--title", "Respite care", "--workflow", "commissioning")
    assert "2 projects at the quarter's end." in ready("report", "quarterly", "--quarter", "2026-Q4").stdout


# --- what docs/reports.md says comes first is what comes first -----------------------------------

def test_the_first_lines_are_as_the_docs_list_them(ready: Cli) -> None:
    docs = (Path(__file__).parent.parent / "docs" / "reports.md").read_text()
    assert "first thing under the title" not in docs
    listed = [line for line in docs.splitlines() if line[:3] in ("1. ", "2. ", "3. ", "4. ", "5. ")]
    assert [line[:3] for line in listed] == ["1. ", "2. ", "3. ", "4. ", "5. "]
    assert "title" in listed[0] and "Generated" in listed[1] and "**Audit chain verified**" in listed[2]
    assert "**Records match the log**" in listed[3]
    for args in REPORTS:
        lines = ready(*args).stdout.split("\n")
        assert lines[0].startswith("# ") and lines[1] == lines[3] == lines[5] == ""
        assert " Generated " in f" {lines[2]}" and "**Audit chain" not in lines[2]
        assert lines[4].startswith("**Audit chain verified**: ")
        assert lines[6].startswith("**Records match the log** (rows compared: ")


def test_a_report_written_to_a_file_is_not_ended_when_its_stdout_reader_goes(ready: Cli, tmp_path: Path) -> None:
    # `cycle report quarterly --out q.md | tee log` whose tee died: the report writes a file, not the pipe; the
    # watcher that ends a piped report must not kill it and leave a half-written temporary file behind.
    out = tmp_path / "q.md"
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the report starts
    try:
        done = subprocess.run([*cycle_exe(), "report", "quarterly", "--quarter", "2026-Q3", "--out", str(out)],
                              stdout=write, stderr=subprocess.PIPE, text=True, env=dict(os.environ), timeout=120)
    finally:
        os.close(write)
    assert done.returncode in (0, 141) and done.stderr == "", done  # 141: only its last line, "Wrote ...", was lost
    written = out.read_text()
    assert written.startswith("# ") and "\n## " in written
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["q.md"]  # no .part left
