"""Long reads stream: `audit log` and the listings print as they read, give the same output as before, and stop
early and cleanly when the reader goes away (`| head`). Memory and first-line latency are figures for bench/run.py,
not for tests."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from cycle.audit import chain
from cycle.db.store import open_store

from .conftest import BODY, CAMHS, Cli, Database, cycle_exe


def many_entries(db: Database, n: int, project: str | None = "camhs") -> None:
    """`n` more audit entries at once, in one transaction: gate requests, which change no row (so the records
    check has nothing more to compare)."""
    store = open_store(db.url())
    try:
        with store.writing() as sql:
            for i in range(n):
                chain.append(sql, actor="alice", action="gate.request", project=project,
                             payload={"gate": "analyse-plan", "note": f"request {i}"})
    finally:
        store.dispose()


@pytest.fixture
def long_log(run: Cli, db: Database) -> Cli:
    run("init")
    run(*CAMHS)
    many_entries(db, 3000)
    return run


def piped_head(args: list[str], lines: int = 2) -> tuple[list[str], int, str]:
    """`cycle ARGS | head -LINES` with a real pipe: read LINES lines, close the reading end, wait for cycle."""
    proc = subprocess.Popen([*cycle_exe(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ))
    assert proc.stdout is not None and proc.stderr is not None
    got = [proc.stdout.readline().decode() for _ in range(lines)]
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    return got, proc.wait(timeout=120), err


def test_audit_log_piped_to_head_ends_early_and_cleanly(long_log: Cli) -> None:
    got, code, err = piped_head(["audit", "log"])
    assert got[0].split()[0] == "1" and got[1].split()[0] == "2"
    assert err == ""  # no BrokenPipeError traceback, no "Exception ignored"
    assert code == 141  # 128 + SIGPIPE, as a command the closed pipe stopped


def test_audit_log_json_piped_to_head_ends_early_and_cleanly(long_log: Cli) -> None:
    got, code, err = piped_head(["audit", "log", "--json"], lines=3)
    assert got == ["[\n", "  {\n", '    "seq": 1,\n']
    assert (err, code) == ("", 141)


def test_project_list_piped_to_head_ends_early_and_cleanly(run: Cli, db: Database) -> None:
    run("init")
    run(*CAMHS)
    many_projects(db, 3000)
    got, code, err = piped_head(["project", "list"])
    assert got[0].startswith("camhs   analyse") and got[1].startswith("p00000  analyse")
    assert (err, code) == ("", 141)


def many_projects(db: Database, n: int) -> None:
    """`n` copies of project camhs, keyed p00000 and on, inserted on the record (an audit entry with their images)."""
    cols = [c for c in db.dicts("SELECT * FROM project WHERE key = 'camhs'")[0] if c != "id"]
    for series, source, number in numbers(db, n):
        picked = ", ".join(f"'p' || {number}" if c == "key" else c for c in cols)
        db.insert_on_record("project", f"{series}INSERT INTO project ({', '.join(cols)}) SELECT {picked} "
                                       f"FROM project, {source} WHERE key = 'camhs'")


def numbers(db: Database, n: int, chunk: int = 500) -> Iterator[tuple[str, str, str]]:
    """For INSERT ... SELECTs of `n` rows in all, `chunk` at a time (PostgreSQL checks each row against the entry
    that puts it on the record when it commits): the WITH each starts with (SQLite), the row source for its FROM,
    and each row's number as five digits (00000, 00001, ...)."""
    number = ("substr('00000' || CAST(g.i AS TEXT), -5, 5)" if db.dialect == "sqlite"
              else "lpad(CAST(g.i AS TEXT), 5, '0')")
    for start in range(0, n, chunk):
        end = min(start + chunk, n)
        if db.dialect == "sqlite":
            yield (f"WITH RECURSIVE g(i) AS (SELECT {start} UNION ALL SELECT i + 1 FROM g WHERE i + 1 < {end}) ", "g",
                   number)
        else:
            yield "", f"generate_series({start}, {end - 1}) AS g(i)", number


def many_rows(db: Database, table: str, n: int) -> None:
    """`n` rows of `table` (a listing's), numbered 00000 and on, inserted on the record."""
    for series, source, number in numbers(db, n):
        statement = {
            "person": f"INSERT INTO person (name, email, created_at) SELECT 'u' || {number}, "
                      f"'u' || {number} || '@council.example', 'now' FROM {source}",
            "milestone": f"INSERT INTO milestone (project_id, title, due, created_by, created_at) "
                         f"SELECT p.id, 'milestone ' || {number}, '2030-01-01', 'alice', 'now' "
                         f"FROM project p, {source} WHERE p.key = 'camhs'",
            "outbox": f"INSERT INTO outbox (project, kind, period, recipient, email, due_on, context, status, "
                      f"attempts, next_attempt_at, created_at) SELECT 'camhs', 'notice', 'p' || {number}, 'chair', "
                      f"'chair@council.example', '2027-06-10', '{{}}', 'pending', 0, 'now', 'now' FROM {source}",
        }[table]
        db.insert_on_record(table, series + statement)


LISTINGS = {  # a listing, what it lists, and its first two lines
    "people": (["people", "list"], "person", ["u00000           u00000@council.example           no roles",
                                              "u00001           u00001@council.example           no roles"]),
    "milestones": (["milestone", "list", "camhs", "--as-of", "2026-12-06"], "milestone",
                   ["#1    due 2030-01-01  open             milestone 00000",
                    "#2    due 2030-01-01  open             milestone 00001"]),
    "outbox": (["outbox", "list"], "outbox",
               ["#1    pending  notice          camhs p00000  to chair <chair@council.example>  attempts 0  "
                "not tried yet",
                "#2    pending  notice          camhs p00001  to chair <chair@council.example>  attempts 0  "
                "not tried yet"]),
}


@pytest.mark.parametrize("listing", sorted(LISTINGS))
def test_listings_piped_to_head_end_early_and_cleanly(run: Cli, db: Database, listing: str) -> None:
    args, table, first = LISTINGS[listing]
    run("init")
    run(*CAMHS)
    many_rows(db, table, 3000)
    got, code, err = piped_head(args)
    assert [line.rstrip("\n") for line in got] == first
    assert (err, code) == ("", 141)
    got, code, err = piped_head([*args, "--json"], lines=2)
    assert got == ["[\n", "  {\n"] and (err, code) == ("", 141)
    assert len(run.json(*args)) == 3000  # the whole list, read to its end, is still whole


def test_review_list_piped_to_head_ends_early_and_cleanly(run: Cli, db: Database) -> None:
    run("init")
    run(*CAMHS)
    many_projects(db, 3000)
    db.insert_on_record("review_meeting", "INSERT INTO review_meeting (project_id, quarter, held_on, recorded_by, "
                        "recorded_at) SELECT id, '2026-Q2', '2026-09-20', 'alice', 'now' FROM project")
    got, code, err = piped_head(["review", "list"])
    assert got == ["camhs                    2026-Q2  held on 2026-09-20  by alice\n",
                   "p00000                   2026-Q2  held on 2026-09-20  by alice\n"]
    assert (err, code) == ("", 141)
    reviews = run.json("review", "list")
    assert len(reviews) == 3001 and [r["project"] for r in reviews[:2]] == ["camhs", "p00000"]
    assert run.json("review", "list", "p02999") == [{**reviews[-1]}]


def expected_json(items: list[Any]) -> str:
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"


def test_streamed_audit_log_is_what_the_whole_list_gave(long_log: Cli, db: Database) -> None:
    from cycle.commands import output

    store = open_store(db.url())
    try:
        with store.reading() as sql:  # the whole list at once, as entries() reads it
            entries = chain.entries(sql)
            newest = chain.entries(sql, "camhs", 5)
    finally:
        store.dispose()
    assert long_log("audit", "log", "--json").stdout == expected_json([output.entry_dict(e) for e in entries])
    assert long_log("audit", "log").stdout == output.audit_entries(entries) + "\n"
    assert long_log("audit", "log", "camhs", "--limit", "5", "--json").stdout == \
        expected_json([output.entry_dict(e) for e in newest])
    assert [e.seq for e in newest] == [e.seq for e in entries[-5:]]


def test_empty_listings_keep_their_shape(run: Cli) -> None:
    run("init")
    assert run("project", "list", "--json").stdout == "[]\n"
    assert run("project", "list").stdout == "No projects yet. Create one with: cycle project new KEY --title TITLE\n"
    assert run("audit", "log", "--json").stdout.startswith("[\n  {")  # init's own entry
    run(*CAMHS)
    for args, text in ((["people", "list"], "Nobody yet. Start with an admin, who grants the other roles: "
                                            "cycle people add NAME --email ADDRESS --role admin\n"),
                       (["outbox", "list"], "The outbox is empty.\n"),
                       (["outbox", "list", "--status", "failed"], "No failed messages.\n"),
                       (["review", "list"], "No reviews recorded. Record one with: cycle review record KEY "
                                            "--quarter 2026-Q3 --held-on DATE\n"),
                       (["milestone", "list", "camhs"], "No milestones. Add one with: cycle milestone add camhs "
                                                        "TITLE --due YYYY-MM-DD\n")):
        assert (run(*args).stdout, run(*args, "--json").stdout) == (text, "[]\n")


def test_listings_of_an_unknown_project_say_so_before_printing_anything(run: Cli) -> None:
    run("init")
    for args in (["review", "list", "nosuch"], ["milestone", "list", "nosuch"]):
        for extra in ([], ["--json"]):
            result = run(*args, *extra, expect=2)
            assert result.stdout == ""
            assert result.stderr == "Error: No project with key 'nosuch'. See the keys with: cycle project list\n"


def test_audit_log_of_an_unknown_project_says_so_before_printing_anything(long_log: Cli) -> None:
    result = long_log("audit", "log", "nosuch", "--json", expect=2)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")


@pytest.mark.sqlite_only
def test_an_entry_that_is_not_utf8_deep_in_a_long_log_is_shown_and_the_rest_follow(long_log: Cli, db: Database) -> None:
    """Past the first batches read: the stream picks up again after the entries it already printed."""
    db.drop_audit_triggers()
    db.tamper("UPDATE audit_entry SET actor = CAST(X'ff41' AS TEXT) WHERE seq = 2500")
    lines = long_log("audit", "log").stdout.splitlines()
    assert [int(line.split()[0]) for line in lines] == list(range(1, len(lines) + 1))
    assert "(entry unreadable: actor is not UTF-8 text)" in lines[2499]
    entries = json.loads(long_log("audit", "log", "--json").stdout)
    assert [e["seq"] for e in entries] == list(range(1, len(lines) + 1))
    assert entries[2499]["payload_error"] == "actor is not UTF-8 text"
    newest = json.loads(long_log("audit", "log", "--limit", "600", "--json").stdout)
    assert [e["seq"] for e in newest] == list(range(len(lines) - 599, len(lines) + 1))


def test_a_writer_appending_while_the_log_streams_is_not_held_up(long_log: Cli, db: Database) -> None:
    """The read holds no lock a writer waits for, and the listing it gives is whole (no entry missed or doubled)."""
    proc = subprocess.Popen([*cycle_exe(), "audit", "log", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ))
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the read has begun
    many_entries(db, 50)
    out = proc.stdout.read()  # not communicate(): it would skip what readline() has buffered
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    proc.wait(timeout=120)
    entries = json.loads(first + out)
    seqs = [e["seq"] for e in entries]
    assert seqs == list(range(1, len(seqs) + 1))
    assert err == b"" and proc.returncode == 0


def test_an_entry_moved_to_a_seq_below_one_is_still_listed(long_log: Cli, db: Database) -> None:
    """Found by the property test: a stream that picked up "after seq 0" lost an entry whose seq was edited to
    a negative number; every row of the table is listed, whatever its seq holds."""
    count = len(json.loads(long_log("audit", "log", "--json").stdout))
    db.drop_audit_triggers()
    db.tamper("UPDATE audit_entry SET seq = -5 WHERE seq = 7")
    entries = json.loads(long_log("audit", "log", "--json").stdout)
    assert len(entries) == count and entries[0]["seq"] == -5
    assert len(long_log("audit", "log").stdout.splitlines()) == count


@pytest.mark.parametrize("fmt", ["json", "md", "html"])
def test_gate_audit_report_piped_to_head_ends_early_and_cleanly(run: Cli, db: Database, fmt: str) -> None:
    run("init")
    run(*CAMHS)
    many_projects(db, 3000)
    got, code, err = piped_head(["report", "gate-audit", "--format", fmt], lines=1)
    assert got[0] == {"json": "{\n", "md": "# Gate audit: all projects\n", "html": "<!DOCTYPE html>\n"}[fmt]
    assert (err, code) == ("", 141)


def test_streamed_gate_audit_report_lists_every_project_once_in_key_order(run: Cli, db: Database) -> None:
    """The projects are read beside their entries, evidence, decisions and waivers, a project at a time: each gets
    its own, and the counts at the top (read first) agree with what is listed."""
    run("init")
    run(*CAMHS)
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA 2026")
    run("project", "set", "camhs", "--accountable-body", "Health and Wellbeing Board")
    many_projects(db, 1200)
    run("evidence", "add", "p00007", "needs-assessment", "--ref", "JSNA p7")
    run("project", "set", "p01199", "--accountable-body", "Schools Forum")
    # copies made by hand, not by project.create: the check at the top fails (exit 1), and the report is whole
    report = json.loads(run("report", "gate-audit", "--format", "json", expect=1).stdout)
    assert report["chain"]["records"]["ok"] is False
    assert [p["key"] for p in report["projects"]] == ["camhs", *(f"p{i:05d}" for i in range(1200))]
    changed = {p["key"]: [(c["from"], c["to"]) for c in p["body_changes"]] for p in report["projects"]
               if p["body_changes"]}
    assert changed == {"camhs": [(BODY, "Health and Wellbeing Board")],
                       "p01199": [("Health and Wellbeing Board", "Schools Forum")]}  # the copies took camhs's body
    assert report["body_changes"] == 2
    assert report["stage_counts"] == {"commissioning": {"analyse": 1201}}
    entries = {p["key"]: p["entries"] for p in report["projects"]}
    assert (entries["camhs"], entries["p00007"], entries["p00008"], entries["p01199"]) == (3, 1, 0, 1)
    one = json.loads(run("report", "gate-audit", "p00007", "--format", "json", expect=1).stdout)
    assert [p["key"] for p in one["projects"]] == ["p00007"] and one["projects"][0]["entries"] == 1


def test_a_project_created_while_the_gate_audit_report_streams_is_not_half_in_it(run: Cli, db: Database) -> None:
    """The report reads one snapshot: a writer is not held up, and the report's count and list agree."""
    run("init")
    run(*CAMHS)
    many_projects(db, 3000)
    proc = subprocess.Popen([*cycle_exe(), "report", "gate-audit", "--format", "json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ))
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()  # the report is being written: its read has begun
    run("project", "new", "aaa-late", "--title", "Created meanwhile")
    out = proc.stdout.read()
    err = proc.stderr.read().decode()
    proc.stdout.close()
    proc.stderr.close()
    proc.wait(timeout=120)
    report = json.loads(first + out)
    keys = [p["key"] for p in report["projects"]]
    assert len(keys) == 3001 and "aaa-late" not in keys
    assert report["stage_counts"] == {"commissioning": {"analyse": 3001}}
    assert proc.returncode == 1 and err.startswith("Records FAILED")  # the copies were made by hand, not by cycle
