"""`audit verify` in bounded memory: the log and the tables are read a page at a time, and what the replay keeps per
row lives in a Spill on disk (cycle.db.spill) with only its last few writes held back in memory.

The figures (peak RSS at 10,000 and 100,000 projects) are bench [6]'s; here, that a tiny page and no writes held
back change nothing verify says: every hand edit is still caught, on either side of a page's edge.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys

import pytest

from cycle.audit import records
from cycle.db import spill

from .conftest import BODY, Cli, Database
from .test_quarterly import on, portfolio  # noqa: F401 - a fixture
from .test_records import (  # noqa: F401 - fixtures, and tests run again here with tiny pages (see `tiny`)
    fuller,
    history,
    test_a_deleted_project_and_its_rows_are_each_named,
    test_a_forged_decision_opens_a_gate_but_verify_names_it,
    test_a_raw_edit_of_any_column_is_named,
    test_a_role_removed_then_put_back_by_hand_is_named,
    test_a_row_written_by_hand_then_changed_by_cycle_is_named,
    test_a_row_written_outside_cycle_is_named_in_any_table,
    test_an_edit_carried_on_by_an_advance_is_named_at_that_entry,
    test_an_edit_carried_on_by_the_next_command_is_named_at_that_entry,
)


@pytest.fixture(autouse=True)
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every row its own page, every write to the spill at once: each row is read across a page's edge."""
    monkeypatch.setattr(records, "_PAGE", 1)
    monkeypatch.setattr(spill, "PENDING", 1)


def made(run: Cli, n: int) -> None:
    run("init")
    for i in range(1, n + 1):
        run("project", "new", f"p{i}", "--title", f"Service {i}", "--lead-commissioner", "CCGs", "--model", "joint",
            "--accountable-body", BODY, "--owner", "alice")


def problems(run: Cli) -> list[str]:
    data = run.json("audit", "verify", expect=1)
    assert data["chain_ok"] and not data["ok"]
    return [d["problem"] for d in data["records"]["discrepancies"]]


@pytest.mark.parametrize("page, held", [(1, 1), (2, 1), (3, 2), (2000, 2000)])
def test_edits_on_every_side_of_a_page_edge_are_each_named(run: Cli, db: Database, monkeypatch: pytest.MonkeyPatch,
                                                           page: int, held: int) -> None:
    """Seven projects read two or three to a page: the first, rows either side of an edge, the last, a row deleted
    and one written past the end are each named, exactly as with the page the command uses."""
    monkeypatch.setattr(records, "_PAGE", page)
    monkeypatch.setattr(spill, "PENDING", held)
    made(run, 7)
    seq = {key: s for key, s in db.rows("SELECT project, max(seq) FROM audit_entry WHERE action = 'project.create' "
                                        "GROUP BY project")}
    db.tamper("UPDATE project SET title = 'Renamed' WHERE key IN ('p1', 'p2', 'p3', 'p7')",
              "UPDATE project SET stage = 'do' WHERE key = 'p4'",
              "DELETE FROM project WHERE key = 'p5'",
              "INSERT INTO project (id, key, title, workflow, workflow_version, stage, cycle, visit, attrs, "
              "created_at, updated_at, version) SELECT 99, 'ghost', 'Ghost', workflow, workflow_version, stage, "
              "cycle, visit, attrs, created_at, updated_at, version FROM project WHERE key = 'p6'")
    renamed = [f"project p{i} differs from its audit entry: title is 'Renamed' but entry {seq[f'p{i}']} recorded "
               f"'Service {i}'" for i in (1, 2, 3)]
    assert problems(run) == [
        *renamed,
        f"project p4 differs from its audit entry: stage is 'do' but entry {seq['p4']} recorded 'analyse'",
        f"project p7 differs from its audit entry: title is 'Renamed' but entry {seq['p7']} recorded 'Service 7'",
        "project ghost has no project.create audit entry: it was written outside cycle",
        f"project p5 (#5), recorded by entry {seq['p5']}, is missing from the project table",
    ]


def test_the_spill_is_a_dict_for_the_keys_a_replay_uses() -> None:
    """Equal keys are one key (1, 1.0, True), text and numbers apart, an unhashable key refused as a dict refuses
    it, values back as they went in, items in key order; writes held back are read as written."""
    with spill.Spill() as s:
        m = s.map()
        m[2] = {"a": [1, 2.5, None, True], "b": "x"}
        m[1] = (3, b"\x00\xff")
        m["1"] = "text"
        m[None] = "none"
        m[2 ** 70] = "huge"
        assert m[1.0] == m[True] == (3, b"\x00\xff") and m["1"] == "text" and m[None] == "none"
        assert m.get(2) == {"a": [1, 2.5, None, True], "b": "x"} and m.get(3) is None and 2 ** 70 in m
        with pytest.raises(TypeError):
            m.get([1])
        assert m.pop(2) is not None and 2 not in m and m.pop(2, "gone") == "gone"
        assert list(m.keys())[:2] == [1, "1"] and len(m) == 4
        by = s.map(indexed=True)
        by.put(5, {"project_id": 1}, 1)
        by.put(4, {"project_id": 1.0}, 1.0)
        by.put(6, {"project_id": 2}, 2)
        by.put(4, {"project_id": 2}, 2)  # moved to another project: listed under it only
        assert by.of(1) == [{"project_id": 1}] and by.of(2) == [{"project_id": 2}, {"project_id": 2}]


def test_a_full_temporary_disk_is_one_clear_line_not_a_traceback(run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The spill cannot grow (its pages capped, as a full disk caps them): exit 5 and what to do, for verify and
    for a report, which runs it first; nothing is written."""
    made(run, 3)
    monkeypatch.setattr(spill, "_MAX_PAGES", 2)
    said = ("Error: the temporary file this check keeps its working state in failed (database or disk is full); "
            "nothing was written. Free some space in the temporary folder, or set TMPDIR to a folder with room.")
    assert run("audit", "verify", expect=5).stderr.splitlines() == [said]
    assert run("report", "gate-audit", "--format", "json", expect=5).stderr.splitlines() == [said]


def test_the_quarterly_report_reads_the_same_from_a_spill_written_a_row_at_a_time(
        portfolio: Cli, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """The report's lists and each project's detail are kept on disk and read back as they are written (the HTML
    reads the projects once per programme): with every row written at once, and with the usual batches, every
    format says the same, programmes and all."""
    run = portfolio
    with on("2026-10-21"):
        run("programme", "add", "mh", "--title", "Mental health")
        run("project", "set", "b", "--programme", "mh")
    said = {}
    for held in (2000, 1):
        monkeypatch.setattr(spill, "PENDING", held)
        with on("2027-01-15"):
            said[held] = [run("report", "quarterly", "--quarter", "2026-Q3", "--format", f).stdout
                          for f in ("json", "html", "md")]
    assert said[1] == said[2000]
    data = json.loads(said[1][0])
    assert [(g["programme"], g["projects"]) for g in data["by_programme"]] == [("mh", ["b"]), (None, ["a", "c"])]
    assert [p["project"] for p in data["by_project"]] == ["b", "a", "c"]
    assert [(m["project"], m["title"]) for m in data["moves"]] == [("a", "Service A"), ("c", "Service C")]
    assert data["by_project"][1]["waivers"][0]["criterion"] == "consultation"
    html = said[1][1]
    assert html.index("<h3>Service B <span") < html.index("<h3>Service A <span") < html.index("<h3>Service C <span")


@pytest.mark.parametrize("command, shown", [
    (["people", "list"], "alice@council.gov.uk"), (["outbox", "list"], "The outbox is empty."),
    (["review", "list"], "camhs"), (["milestone", "list", "camhs"], "Specification agreed")])
def test_the_other_lists_start_without_the_orm(ready: Cli, command: list[str], shown: str) -> None:
    """What brings their first line within a second at 100,000 rows (bench [6]): they read in plain SQL, so SQLModel
    and its pydantic stay unloaded, as for `project list`."""
    ready("people", "add", "alice", "--email", "alice@council.gov.uk", "--role", "admin")
    ready("milestone", "add", "camhs", "Specification agreed", "--due", "2027-01-31")
    ready("contract", "set", "camhs", "--provider", "Trust X", "--start", "2025-04-01", "--end", "2028-03-31",
          "--notice", "6 months")
    ready("review", "record", "camhs", "--quarter", "2026-Q2", "--held-on", "2026-09-20")
    code = ("import sys\nfrom cycle import cli\n"
            f"try:\n    cli.cli.main({command!r}, prog_name='cycle')\nexcept SystemExit as e:\n    assert not e.code\n"
            "heavy = [m for m in ('sqlmodel', 'sqlalchemy.orm', 'pydantic', 'transitions') if m in sys.modules]\n"
            "print('heavy=' + ','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "heavy="


def test_decisions_of_a_day_stay_in_sequence_order_whatever_their_numbers(portfolio: Cli,  # noqa: F811
                                                                          db: Database) -> None:
    """Sequence numbers edited into negatives (the chain then fails, and the report still says what it can): the
    report's decisions of one day are listed in the order of those numbers, as before the spill."""
    with on("2026-11-05"):
        portfolio("decision", "record", "b", "--gate", "analyse-plan", "--outcome", "hold", "--body", BODY, "--ref",
                  "m4", user="chair")
    seqs = dict(db.rows("SELECT seq, payload FROM audit_entry WHERE action = 'decision.record'"))
    m3 = next(s for s, p in seqs.items() if '"m3"' in p)
    m4 = next(s for s, p in seqs.items() if '"m4"' in p)
    db.drop_audit_triggers()
    db.execute("UPDATE audit_entry SET seq = -3 WHERE seq = :s", params={"s": m3})
    db.execute("UPDATE audit_entry SET seq = -20 WHERE seq = :s", params={"s": m4})
    with on("2027-01-15"):
        data = json.loads(portfolio("report", "quarterly", "--quarter", "2026-Q3", "--json", expect=1).stdout)
    assert [(d["date"], d["ref"], d["seq"]) for d in data["decisions"]] == [
        ("2026-10-20", "m2", data["decisions"][0]["seq"]), ("2026-11-05", "m4", -20), ("2026-11-05", "m3", -3)]


def test_a_read_left_half_way_when_the_spill_closes_says_nothing() -> None:
    """`report quarterly | head -2`: the reader goes away while the report reads its lists back; the spill closes
    under the half-read list, and nothing is printed about it (no "Exception ignored" on stderr)."""
    with spill.Spill() as s:
        bag, kept = s.bag(), s.map()
        for i in range(3000):
            bag.add(i)
            kept[i] = i
        read, keys = iter(bag), kept.items()
        assert next(read) == 0 and next(keys) == (0, 0)
    del read, keys
    gc.collect()
