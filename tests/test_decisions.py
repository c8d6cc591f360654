"""Gate decisions: go, hold, recycle, stop; and a move never lands without its audit entry."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from cycle.calendar.clock import london_today

from .conftest import BODY, Cli, Database, go


def _decide(run: Cli, outcome: str, *extra: str, gate: str = "analyse-plan", body: str = BODY,
            expect: int = 0) -> str:
    result = run("decision", "record", "camhs", "--gate", gate, "--outcome", outcome, "--body", body,
                 "--ref", f"minutes {outcome}", *extra, user="clerk", expect=expect)
    return result.stdout + result.stderr


def _to_plan(run: Cli) -> None:
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA")
    go(run, "camhs", "analyse-plan")
    run("project", "advance", "camhs")


def test_hold_keeps_the_gate_shut_until_a_later_go(ready: Cli) -> None:
    run = ready
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA")
    _decide(run, "hold")
    check = run.json("gate", "check", "camhs")
    decision = next(c for c in check["criteria"] if c["id"] == "decision")
    assert not decision["met"]
    assert decision["reason"] == ("Latest decision is hold by Children's Trust Board (minutes hold); "
                                  "the gate needs a go")
    run("project", "advance", "camhs", expect=3)
    _decide(run, "go")
    run("project", "advance", "camhs")
    assert run.json("project", "show", "camhs")["stage"] == "plan"


def test_recycle_goes_back_and_needs_a_fresh_decision(ready: Cli) -> None:
    run = ready
    _to_plan(run)
    out = _decide(run, "recycle", "--to", "analyse", gate="plan-do")
    assert "camhs moved plan -> analyse" in out
    shown = run.json("project", "show", "camhs")
    assert (shown["stage"], shown["cycle"]) == ("analyse", 1)
    check = run.json("gate", "check", "camhs")
    met = {c["id"]: c["met"] for c in check["criteria"]}
    assert met["needs-assessment"] is True  # same cycle: the evidence still stands
    assert met["decision"] is False  # the old go was for the earlier visit
    entry = run.json("audit", "log", "camhs")[-1]
    assert (entry["action"], entry["from"], entry["to"]) == ("decision.record", "plan", "analyse")
    assert entry["payload"]["outcome"] == "recycle" and entry["payload"]["recycle_to"] == "analyse"


def test_recycle_only_to_an_earlier_stage(ready: Cli) -> None:
    run = ready
    _to_plan(run)
    err = _decide(run, "recycle", "--to", "review", gate="plan-do", expect=2)
    assert err == "Error: recycle goes back to an earlier stage; from plan that is: analyse\n"
    err = _decide(run, "recycle", gate="plan-do", expect=2)
    assert err.startswith("Error: --to STAGE goes with --outcome recycle")


def test_stop_closes_the_project(ready: Cli) -> None:
    run = ready
    out = _decide(run, "stop")
    assert "camhs moved analyse -> closed" in out
    assert run.json("project", "show", "camhs")["stage"] == "closed"
    err = run("project", "advance", "camhs", expect=2).stderr
    assert err == "Error: camhs is closed: there is no gate out of a final stage\n"
    assert "Audit chain verified" in run("audit", "verify").stdout


@pytest.mark.parametrize("outcome", ["go", "hold", "stop"])
def test_only_the_gates_body_can_decide_it(ready: Cli, outcome: str) -> None:
    run = ready
    before = run.json("audit", "log")
    err = _decide(run, outcome, body="Finance Sub-committee", expect=2)
    assert err == "Error: gate analyse-plan is decided by Children's Trust Board, not Finance Sub-committee\n"
    assert run.json("audit", "log") == before
    assert run.json("project", "show", "camhs")["decisions"] == []


def _dump(db: Database) -> dict[str, list[tuple[object, ...]]]:
    return db.dump(("project", "evidence", "decision", "audit_entry"))


def test_a_decision_dated_in_the_future_is_refused(ready: Cli, db: Database) -> None:
    """A body cannot have decided tomorrow: such a go would open the gate on a meeting not yet held."""
    run = ready
    before = _dump(db)
    tomorrow = (london_today() + timedelta(days=1)).isoformat()
    err = _decide(run, "go", "--date", tomorrow, expect=2)
    assert err == (f"Error: --date {tomorrow} is in the future; --date is the day the body decided, so record "
                   f"the decision once it has met, e.g. --date {london_today().isoformat()}\n")
    assert _dump(db) == before
    _decide(run, "go", "--date", london_today().isoformat())
    assert run.json("project", "show", "camhs")["decisions"][0]["decided_on"] == london_today().isoformat()


def test_a_move_whose_audit_entry_fails_is_not_written(ready: Cli, db: Database) -> None:
    run = ready
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA")
    go(run, "camhs", "analyse-plan")
    db.jam_audit("disk quota exceeded")  # a real failure at the last step of the transaction
    before = _dump(db)
    result = run("project", "advance", "camhs", expect=5)
    assert result.stderr == "Error: database error (disk quota exceeded); nothing was written.\n"
    assert _dump(db) == before
    db.unjam_audit()
    run("project", "advance", "camhs")
    assert run.json("project", "show", "camhs")["stage"] == "plan"


MINI = """
name = "mini"
initial = "analyse"
stop = "closed"

[[stage]]
id = "analyse"

[[stage]]
id = "closed"
final = true

[[gate]]
id = "analyse-closed"
from = "analyse"
to = "closed"

  [[gate.criterion]]
  id = "needs-assessment"
  kind = "evidence"
  title = "Needs assessment"
"""


def test_a_gate_with_no_decision_criterion_is_still_the_accountable_bodys(run: Cli, home: Path, db: Database) -> None:
    """Nobody may stop a project in the name of a body of their own choosing."""
    run("init")
    (home / "workflows").mkdir(parents=True)
    (home / "workflows" / "mini.toml").write_text(MINI)
    run("workflow", "install", str(home / "workflows" / "mini.toml"))
    run("project", "new", "p", "--title", "P", "--workflow", "mini")
    stop = ["decision", "record", "p", "--gate", "analyse-closed", "--outcome", "stop", "--ref", "x", "--body"]
    before = _dump(db)
    err = run(*stop, "Bob's Own Committee", user="bob", expect=2).stderr
    assert err == ("Error: p has no accountable body to decide gate analyse-closed; set one with: "
                   "cycle project set p --accountable-body <BODY>\n")
    assert _dump(db) == before
    run("project", "set", "p", "--accountable-body", BODY)
    before = _dump(db)
    err = run(*stop, "Bob's Own Committee", user="bob", expect=2).stderr
    assert err == "Error: gate analyse-closed is decided by Children's Trust Board, not Bob's Own Committee\n"
    assert _dump(db) == before
    run(*stop, BODY, user="chair")
    assert run.json("project", "show", "p")["stage"] == "closed"


def test_a_decision_dated_before_the_stage_was_entered_is_refused(ready: Cli, db: Database) -> None:
    """A decision counts only from the time the project entered its stage: an old go must not open the gate."""
    run = ready
    _to_plan(run)
    _decide(run, "recycle", "--to", "analyse", gate="plan-do")
    today = london_today().isoformat()
    before = _dump(db)
    for old in ((london_today() - timedelta(days=1)).isoformat(), "1990-01-01"):
        err = _decide(run, "go", "--date", old, expect=2)
        assert err == (f"Error: --date {old} is before camhs entered analyse on {today}, and a decision counts only "
                       f"from then; give the day the body decided, e.g. --date {today}\n")
    assert _dump(db) == before
    _decide(run, "go", "--date", today)  # the same day is fine
    run("project", "advance", "camhs")


def test_at_the_stage_it_was_created_at_a_project_takes_an_earlier_decision(ready: Cli) -> None:
    """A project put into cycle after its board met: the go it already has is recorded with its real date."""
    _decide(ready, "go", "--date", "2026-10-14")
    assert ready.json("project", "show", "camhs")["decisions"][0]["decided_on"] == "2026-10-14"
    ready("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA")
    ready("project", "advance", "camhs")
