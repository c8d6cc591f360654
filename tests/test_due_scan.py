"""The due scan reads the portfolio in a few set-based queries (rules.Portfolio); the per-project queries it
replaced (kept here as the oracle, `OneByOne`) must find exactly the same reminders, problems and outbox states,
over random portfolios and any date. The oracle also decides whether a gate waits only on a decision as the scan
first did, from every criterion `gates.evaluate` finds (the scan asks gates.awaits_decision, which stops early)."""

from __future__ import annotations

import os
import tempfile
from datetime import date, timedelta
from typing import Any
from unittest.mock import patch

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cycle import contracts
from cycle.calendar import clock
from cycle.cli import cli
from cycle.db import rows
from cycle.db.rows import ContractRow, DecisionRow, EvidenceRow, LinkedProject, ProjectRow
from cycle.db.sql import Sql
from cycle.db.store import open_store
from cycle.projects import history
from cycle.reminders import rules
from cycle.workflow import gates

from .conftest import BODY, Cli

TODAY = clock.london_today()
PATH = [("analyse-plan", ["needs-assessment"]),
        ("plan-do", ["service-specification", "eia", "consultation", "performance-targets"]),
        ("do-review", ["contract-award"]), ("review-decommission", ["outcomes-evaluation"])]


class OneByOne:
    """The due scan's reads as they were: a query (or several) per project."""

    def __init__(self, sql: Sql, projects: list[ProjectRow], held: dict[int, list[ContractRow]]):
        self.sql = sql

    def entered(self, project: ProjectRow, stage: str | None, *, creation: bool) -> date | None:
        return history.entered_stage_on(self.sql, project, stage, creation=creation)

    def held(self, project: ProjectRow) -> dict[str, str]:
        return dict(self.sql.tuples("SELECT quarter, held_on FROM review_meeting WHERE project_id = :id",
                                    id=project.id))

    def decisions(self, project: ProjectRow) -> list[DecisionRow]:
        return rows.decisions(self.sql, project.id)

    def evidence(self, project: ProjectRow) -> list[EvidenceRow]:
        return rows.evidence(self.sql, project.id)

    def facts(self, project: ProjectRow, as_of: date) -> gates.Facts:
        return gates.facts(self.sql, project, as_of)

    def links(self, project: ProjectRow) -> list[LinkedProject]:
        return rows.links(self.sql, project.id)

    def status(self, holder: str, contract: ContractRow, as_of: date) -> contracts.Status:
        return contracts.status(holder, contract, as_of)


SPEC = st.fixed_dictionaries({
    "depth": st.integers(0, 4),  # gates passed along PATH (4: at decommission, with its linked project)
    "partial": st.booleans(),  # the next gate's evidence recorded (then it waits on a decision only)
    "hold": st.booleans(),  # a hold decision on the next gate
    "contract": st.sampled_from([None, "run-on", "ends", "incomplete"]),
    "end_years": st.integers(1, 4),
    "notice": st.sampled_from(["3 months", "6 months", "60 working days"]),
    "governance_lead": st.booleans(),
    "review": st.booleans(),  # the first quarter's review recorded
    "stop": st.booleans(),
})


def build(run: Any, specs: list[dict[str, Any]]) -> None:
    """A portfolio: one project per spec, moved along the commissioning path through the real CLI."""
    run("init")
    run("people", "add", "alice", "--email", "alice@council.example")
    run("people", "add", "gina", "--email", "gina@council.example")
    for i, spec in enumerate(specs):
        key = f"p{i}"
        run("project", "new", key, "--title", f"Project {i}", "--lead-commissioner", "CCGs", "--model", "integrated",
            "--accountable-body", BODY, "--owner", "alice")
        if spec["governance_lead"]:
            run("project", "set", key, "--governance-lead", "gina")
        if spec["contract"] is not None:
            end = date(TODAY.year + spec["end_years"], 3, 31).isoformat()
            terms = ["--provider", "Trust X", "--ref", f"C-{i}", "--start", "2025-04-01"]
            if spec["contract"] != "incomplete":
                terms += ["--end", end, "--notice", spec["notice"]]
                terms += ["--run-on", "12 months"] if spec["contract"] == "run-on" else ["--if-no-notice", "ends"]
            run("contract", "set", key, *terms)
        for gate, evidence in PATH[:spec["depth"]]:
            for name in evidence:
                run("evidence", "add", key, name, "--ref", "doc")
            run("decision", "record", key, "--gate", gate, "--outcome", "go", "--body", BODY, "--ref", "m")
            run("project", "advance", key, *(["--to", "decommission"] if gate == "review-decommission" else []))
        if spec["depth"] < len(PATH):
            gate, evidence = PATH[spec["depth"]]
            if spec["partial"]:
                for name in evidence:
                    run("evidence", "add", key, name, "--ref", "doc")
            if spec["hold"]:
                run("decision", "record", key, "--gate", gate, "--outcome", "hold", "--body", BODY, "--ref", "m")
            elif spec["stop"] and spec["depth"] == 2:
                run("decision", "record", key, "--gate", gate, "--outcome", "stop", "--body", BODY, "--ref", "m")
        if spec["review"] and spec["depth"] >= 2 and spec["contract"] in ("run-on", "ends"):
            q = "2026-Q3"
            run("review", "record", key, "--quarter", q, "--held-on", TODAY.isoformat())


def evaluated(wf: Any, gate: Any, project: ProjectRow, evidence: list[EvidenceRow], decisions: list[DecisionRow],
              facts: gates.Facts) -> bool:
    """Whether only a decision holds the gate shut, from every criterion evaluate finds (the scan's first way)."""
    unmet = gates.evaluate(wf, gate, project, evidence, decisions, facts).unmet_must
    return bool(unmet) and all(u.kind == "decision" for u in unmet)


def same(days: list[date]) -> tuple[int, set[str]]:
    """Both scans agree on each day; how many reminders and problems they found in all, and the reminders' kinds."""
    store = open_store()
    found, kinds = 0, set()
    try:
        for day in days:
            with store.read() as s:
                fast = rules.due(store, s, day).as_dict()
                with patch.object(rules, "awaits_decision", evaluated):
                    slow = rules.due(store, s, day, lookup=OneByOne).as_dict()
            assert fast == slow, day
            found += len(fast["reminders"]) + len(fast["problems"])
            kinds |= {r["kind"] for r in fast["reminders"]}
    finally:
        store.dispose()
    return found, kinds


DAYS = [TODAY + timedelta(days=n) for n in (0, 31, 95, 200, 400, 700, 1000, 1300, 1700)]


@pytest.mark.sqlite_only
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(SPEC, min_size=1, max_size=4), offsets=st.lists(st.integers(0, 1800), min_size=1, max_size=3))
def test_the_set_based_due_scan_finds_what_the_per_project_one_did(specs: list[dict[str, Any]],
                                                                    offsets: list[int]) -> None:
    runner = CliRunner()
    saved = {k: os.environ.get(k) for k in ("CYCLE_HOME", "CYCLE_USER", "CYCLE_DATABASE_URL")}
    with tempfile.TemporaryDirectory() as home:
        os.environ.update(CYCLE_HOME=home, CYCLE_USER="alice")
        os.environ.pop("CYCLE_DATABASE_URL", None)
        try:
            def run(*args: str) -> None:
                result = runner.invoke(cli, list(args))
                assert result.exit_code == 0, (args, result.stdout, result.stderr)

            build(run, specs)
            same([TODAY + timedelta(days=n) for n in offsets])
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def test_the_set_based_due_scan_agrees_on_a_mixed_portfolio(run: Cli) -> None:
    """The same on one fixed portfolio, on whichever database the suite runs on (PostgreSQL too)."""
    specs = [dict(depth=d, partial=p, hold=h, contract=c, end_years=1 + d % 3, notice="6 months",
                  governance_lead=g, review=True, stop=s)
             for d, p, h, c, g, s in ((0, True, False, "run-on", True, False), (1, True, True, None, False, False),
                                      (1, False, False, None, True, False),  # evidence missing: not waiting
                                      (2, False, False, "run-on", True, True), (2, True, False, "ends", True, False),
                                      (3, True, False, "run-on", False, False),
                                      (4, False, False, "run-on", True, False),
                                      (4, True, False, "incomplete", True, False))]
    build(lambda *args: run(*args, user="alice"), specs)
    found, kinds = same(DAYS)
    assert found > 20  # reviews, notices, gates waiting and problems: a comparison with something in it
    assert {"gate-waiting", "review-due", "review-overdue", "notice"} <= kinds
