"""The quarterly portfolio report: counts that match the database, across two quarters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine

from .conftest import BODY, Cli, Database
from .test_reports import browser, not_blank, open_page  # noqa: F401 - the browser fixture

Q2 = ("2026-07-01T00:00:00Z", "2026-09-30T23:00:00Z")  # London quarter bounds in UTC (BST)
Q3 = ("2026-09-30T23:00:00Z", "2026-12-31T23:59:59Z")


@contextmanager
def on(day: str) -> Iterator[None]:
    """Run the CLI as if on that London day (the audit log's clock is the real one otherwise)."""
    with time_machine.travel(datetime.fromisoformat(day + "T11:00:00").replace(tzinfo=UTC), tick=False):
        yield


@pytest.fixture
def portfolio(run: Cli) -> Cli:
    with on("2026-08-10"):
        run("init")
        run("people", "add", "alice", "--email", "alice@council.gov.uk", "--role", "manager")
        run("people", "add", "chair", "--email", "chair@council.gov.uk", "--role", "approver", "--body", BODY)
        run("people", "add", "gill", "--email", "gill@council.gov.uk", "--role", "governance-lead")
        for key, model in (("a", "integrated"), ("b", "joint"), ("c", "joint")):
            run("project", "new", key, "--title", f"Service {key.upper()}", "--lead-commissioner", "CCGs",
                "--model", model, "--accountable-body", BODY, "--owner", "alice")
        run("milestone", "add", "b", "Needs assessment signed off", "--due", "2026-09-15")
        run("evidence", "add", "a", "needs-assessment", "--ref", "JSNA")
    with on("2026-09-01"):
        run("decision", "record", "a", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY, "--ref", "m1",
            user="chair")
        run("project", "advance", "a")
    with on("2026-10-20"):
        for name in ("service-specification", "eia", "performance-targets"):
            run("evidence", "add", "a", name, "--ref", f"{name} v1")
        run("gate", "waive", "a", "consultation", "--reason", "Consulted under the 2026 JSNA", user="gill")
        run("decision", "record", "a", "--gate", "plan-do", "--outcome", "go", "--body", BODY, "--ref", "m2",
            user="chair")
        run("project", "advance", "a")
        run("contract", "set", "a", "--provider", "Trust X", "--start", "2026-10-01", "--end", "2027-09-30",
            "--notice", "6 months", "--run-on", "12 months")
        run("project", "advance", "b", expect=3)
    with on("2026-11-05"):
        run("decision", "record", "c", "--gate", "analyse-plan", "--outcome", "stop", "--body", BODY, "--ref", "m3",
            user="chair")
    with on("2026-12-10"):
        run("review", "record", "a", "--quarter", "2026-Q3", "--held-on", "2026-12-10")
    return run


def _report(run: Cli, quarter: str) -> dict[str, Any]:
    with on("2027-01-15"):
        return run.json("report", "quarterly", "--quarter", quarter)


def _db_count(db: Database, where: str, bounds: tuple[str, str]) -> int:
    return db.rows(f"SELECT COUNT(*) FROM audit_entry WHERE {where} AND at >= :lo AND at < :hi",
                   {"lo": bounds[0], "hi": bounds[1]})[0][0]


def test_counts_match_the_database_across_two_quarters(portfolio: Cli, db: Database) -> None:
    q2, q3 = _report(portfolio, "2026-Q2"), _report(portfolio, "2026-Q3")
    moves = "to_stage IS NOT NULL AND action IN ('advance', 'decision.record')"
    for report, bounds in ((q2, Q2), (q3, Q3)):
        assert len(report["moves"]) == _db_count(db, moves, bounds)
        assert len(report["decisions"]) == _db_count(db, "action = 'decision.record'", bounds)
        assert len(report["waivers"]) == _db_count(db, "action = 'waiver.add'", bounds)
        assert report["refused_attempts"] == _db_count(db, "action LIKE '%.refused'", bounds)

    assert q2["projects"] == 3
    assert [(r["stage"], r["total"], r["models"]) for r in q2["by_stage"]] == [
        ("analyse", 2, {"joint": 2}), ("plan", 1, {"integrated": 1})]
    assert [(m["project"], m["to"]) for m in q2["moves"]] == [("a", "plan")]
    assert [(m["project"], m["milestone"]) for m in q2["milestones_slipped"]] == [("b", "Needs assessment signed off")]
    assert q2["reviews"] == [] and q2["waivers"] == []

    assert [(r["stage"], r["total"]) for r in q3["by_stage"]] == [("analyse", 1), ("do", 1), ("closed", 1)]
    assert [(m["project"], m["from"], m["to"]) for m in q3["moves"]] == [
        ("a", "plan", "do"), ("c", "analyse", "closed")]
    assert [(d["project"], d["outcome"]) for d in q3["decisions"]] == [("a", "go"), ("c", "stop")]
    assert [(w["project"], w["criterion"]) for w in q3["waivers"]] == [("a", "consultation")]
    assert q3["refused_attempts"] == 1
    assert q3["reviews"] == [{"project": "a", "title": "Service A", "quarter": "2026-Q3", "state": "held",
                            "held_on": "2026-12-10"}]
    assert [(c["project"], c["deadline"]) for c in q3["deadlines"]] == [("a", "2027-03-31")]
    assert q3["milestones_slipped"] == []
    assert {w["project"] for w in q3["waiting"]} == {"a", "b"}


def test_an_unheld_review_is_overdue_after_the_quarter(portfolio: Cli) -> None:
    q4 = _report(portfolio, "2026-Q4")  # a is still in do; nobody recorded the Q4 review
    with on("2027-04-02"):
        q4 = portfolio.json("report", "quarterly", "--quarter", "2026-Q4")
    assert q4["reviews"] == [{"project": "a", "title": "Service A", "quarter": "2026-Q4", "state": "overdue",
                            "held_on": None}]


def test_the_waiver_stands_out_in_the_quarterly_report(portfolio: Cli) -> None:
    with on("2027-01-15"):
        md = portfolio("report", "quarterly", "--quarter", "2026-Q3").stdout
        html = portfolio("report", "quarterly", "--quarter", "2026-Q3", "--format", "html").stdout
    assert "> **WAIVED** Service A (a), gate plan-do, criterion consultation: waived by gill on 2026-10-20" in md
    assert '<span class="tag waived">WAIVED</span> a, gate plan-do, criterion' in html


def test_bad_quarter_is_refused(portfolio: Cli) -> None:
    err = portfolio("report", "quarterly", "--quarter", "Q3 2026", expect=2).stderr
    assert err.startswith("Error: --quarter 'Q3 2026' is not a financial quarter; write YEAR-QN, e.g. 2026-Q3")


def test_quarterly_html_in_chromium(portfolio: Cli, browser: Any, tmp_path: Path) -> None:  # noqa: F811
    portfolio("project", "set", "b", "--title", "<script>window.pwned = 1</script>Short breaks")
    out = tmp_path / "q3.html"
    with on("2027-01-15"):
        portfolio("report", "quarterly", "--quarter", "2026-Q3", "--format", "html", "--out", str(out))
    page, errors, png = open_page(browser, out)
    assert errors == [] and not_blank(png)
    assert page.evaluate("window.pwned") is None
    assert page.title() == "Commissioning portfolio: 2026-Q3"
    assert "Projects by stage and commissioning model" in page.inner_text("body")
    page.close()


def test_a_decision_is_filed_under_the_quarter_of_its_meeting(portfolio: Cli) -> None:
    """Decided on 20 December (Q3), typed in on 5 January (Q4): it is a Q3 decision, and says when it was recorded."""
    with on("2027-01-05"):
        portfolio("decision", "record", "b", "--gate", "analyse-plan", "--outcome", "hold", "--body", BODY,
                  "--ref", "m4", "--date", "2026-12-20", user="chair")
    q3, q4 = _report(portfolio, "2026-Q3"), _report(portfolio, "2026-Q4")
    [late] = [d for d in q3["decisions"] if d["project"] == "b"]
    assert (late["date"], late["recorded"], late["outcome"]) == ("2026-12-20", "2027-01-05", "hold")
    assert [d["date"] for d in q3["decisions"]] == sorted(d["date"] for d in q3["decisions"])
    assert q4["decisions"] == []
    with on("2027-01-15"):
        md = portfolio("report", "quarterly", "--quarter", "2026-Q3").stdout
        html = portfolio("report", "quarterly", "--quarter", "2026-Q3", "--format", "html").stdout
    assert f"- 2026-12-20 Service B (b) analyse-plan: hold by {BODY} (m4), recorded 2027-01-05\n" in md
    assert '<td>2026-12-20<br><span class="muted">recorded 2027-01-05</span></td>' in html


def test_an_unreadable_entry_and_a_broken_chain_show_in_the_quarterly(portfolio: Cli, db: Database) -> None:
    seq = db.rows("SELECT seq FROM audit_entry WHERE action = 'waiver.add'")[0][0]
    db.drop_audit_triggers()
    db.execute("UPDATE audit_entry SET payload = '[]' WHERE seq = :seq", params={"seq": seq})
    with on("2027-01-15"):
        result = portfolio("report", "quarterly", "--quarter", "2026-Q3", "--json", expect=1)
        md = portfolio("report", "quarterly", "--quarter", "2026-Q3", expect=1).stdout
    q3 = json.loads(result.stdout)
    assert q3["chain"]["ok"] is False and q3["chain"]["bad_seq"] == seq
    assert result.stderr.startswith(f"Audit chain FAILED at entry {seq}: its hash does not match its contents")
    assert [(u["seq"], u["action"], u["problem"]) for u in q3["unreadable"]] == [
        (seq, "waiver.add", "a JSON list, not an object")]
    assert q3["waivers"] == []
    assert f"**Audit chain FAILED at entry {seq}**" in md
    assert f"> **UNREADABLE**: 1 audit entry recorded in the quarter could not be read: entry {seq} (a, " in md


def test_the_quarterly_checks_the_chain(portfolio: Cli) -> None:
    head = portfolio("audit", "checkpoint").stdout.strip()
    with on("2027-01-15"):
        md = portfolio("report", "quarterly", "--quarter", "2026-Q3", "--checkpoint", head).stdout
    assert f"**Audit chain verified**: {head.split(':')[0]} entries, head {head}. Checked against: {head}." in md
