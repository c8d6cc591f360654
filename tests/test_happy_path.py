"""The issue's walk-through, end to end through the real CLI on a real database (SQLite or PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cycle.db.store import open_store

from .conftest import BODY, CAMHS, Cli, Database, go, run_process


def test_init_is_idempotent(run: Cli, db: Database) -> None:
    assert "Created cycle database" in run("init").stdout
    assert "Already set up" in run("init").stdout
    assert "project" in db.tables()


@pytest.mark.sqlite_only
def test_init_creates_the_file(run: Cli, home: Path) -> None:
    run("init")
    assert (home / "cycle.db").exists()


def test_commands_before_init_say_how_to_start(run: Cli, home: Path, db: Database) -> None:
    result = run("project", "list", expect=2)
    where = open_store().describe()
    assert result.stderr.strip() == f"Error: No cycle database at {where}. Create it with: cycle init"
    if db.dialect == "sqlite":
        assert where == str(home / "cycle.db") and not (home / "cycle.db").exists()
    else:
        assert db.tables() == []


def test_walkthrough(ready: Cli) -> None:
    run = ready
    check = run.json("gate", "check", "camhs")
    assert check["open"] is False and check["gate"] == "analyse-plan" and check["to"] == "plan"
    unmet = {c["id"]: c for c in check["criteria"] if c["must"] and not c["met"]}
    assert set(unmet) == {"needs-assessment", "decision"}
    assert unmet["needs-assessment"]["hint"] == "cycle evidence add camhs needs-assessment --ref <REF>"
    assert unmet["decision"]["hint"] == (
        'cycle decision record camhs --gate analyse-plan --outcome go --body "Children\'s Trust Board" --ref <REF>')
    for c in check["criteria"]:
        assert {"id", "kind", "must", "met", "reason", "hint"} <= set(c)

    refused = run("project", "advance", "camhs", expect=3)
    assert "Refused: camhs stays at analyse" in refused.stderr
    assert "cycle evidence add camhs needs-assessment --ref <REF>" in refused.stderr

    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA 2026 children chapter")
    run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY,
        "--ref", "minutes 2026-10-14 item 5", user="bob")
    moved = run("project", "advance", "camhs")
    assert "camhs moved analyse -> plan" in moved.stdout

    shown = run.json("project", "show", "camhs")
    assert shown["stage"] == "plan" and shown["cycle"] == 1
    assert [p["key"] for p in run.json("project", "list")] == ["camhs"]
    assert "camhs  plan" in run("project", "list").stdout

    log = run.json("audit", "log", "camhs")
    assert [e["action"] for e in log] == ["project.create", "advance.refused", "evidence.add", "decision.record",
                                          "advance"]
    assert [e["actor"] for e in log] == ["alice", "alice", "alice", "bob", "alice"]
    last = log[-1]
    assert (last["from"], last["to"]) == ("analyse", "plan")
    snap = {c["id"]: c for c in last["payload"]["criteria"]}
    assert snap["needs-assessment"]["met"] and snap["needs-assessment"]["evidence_ids"] == [1]
    assert snap["decision"]["decision_ids"] == [1]
    assert snap["market-analysis"]["met"] is False  # a should: recorded as unmet, did not block
    assert "Audit chain verified: 8 entries" in run("audit", "verify").stdout



def test_list_filters_say_what_matched_and_catch_a_typo(ready: Cli) -> None:
    run = ready
    assert [p["key"] for p in run.json("project", "list", "--stage", "analyse")] == ["camhs"]
    assert run("project", "list", "--stage", "review").stdout == (
        "No projects at stage review. See them all with: cycle project list\n")
    assert run.json("project", "list", "--stage", "review") == []
    err = run("project", "list", "--stage", "reveiw", expect=2).stderr
    assert err == ("Error: no workflow has a stage 'reveiw'; the stages are: analyse, closed, decommission, do, "
                   "plan, review\n")
    err = run("project", "list", "--workflow", "decommissioning", "--stage", "decommission", expect=2).stderr
    assert err.startswith("Error: workflow decommissioning has no stage 'decommission'; the stages are: analyse,")
    err = run("project", "list", "--workflow", "decomissioning", expect=2).stderr
    assert err == ("Error: No workflow named 'decomissioning' is installed. Installed: commissioning, "
                   "decommissioning (see: cycle workflow list)\n")

def test_full_cycle_and_cycle_two_needs_its_own_evidence(ready: Cli) -> None:
    run = ready
    evidence = {"analyse-plan": ["needs-assessment"],
                "plan-do": ["service-specification", "eia", "consultation", "performance-targets"],
                "do-review": ["contract-award"], "review-analyse": ["outcomes-evaluation"]}
    for gate, names in evidence.items():
        for name in names:
            run("evidence", "add", "camhs", name, "--ref", f"{name} v1")
        go(run, "camhs", gate)
        args = ["--to", "analyse"] if gate == "review-analyse" else []
        run("project", "advance", "camhs", *args)
    shown = run.json("project", "show", "camhs")
    assert (shown["stage"], shown["cycle"]) == ("analyse", 2)
    check = run.json("gate", "check", "camhs")
    na = next(c for c in check["criteria"] if c["id"] == "needs-assessment")
    assert na["met"] is False
    assert na["reason"] == ("No 'needs-assessment' evidence recorded in cycle 2 "
                            "(an earlier cycle had one; each cycle needs its own)")
    run("project", "advance", "camhs", expect=3)


def test_review_needs_a_destination(ready: Cli) -> None:
    run = ready
    run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "recycle", "--to", "plan",
        "--body", BODY, "--ref", "x", expect=2)
    err = run("project", "advance", "camhs", "--to", "review", expect=2).stderr
    assert err.strip() == "Error: camhs cannot go from analyse to 'review'; from analyse it can go to: plan"


def test_at_review_each_command_hints_at_itself(ready: Cli, db: Database) -> None:
    """At review (three ways out) a hint repeats the command typed: pasting the one from a read-only
    `gate check` must not advance the project into cycle 2."""
    run = ready
    evidence = {"analyse-plan": ["needs-assessment"],
                "plan-do": ["service-specification", "eia", "consultation", "performance-targets"],
                "do-review": ["contract-award"], "review-analyse": ["outcomes-evaluation"]}
    for gate, names in evidence.items():
        for name in names:
            run("evidence", "add", "camhs", name, "--ref", f"{name} v1")
        go(run, "camhs", gate)
        if gate != "review-analyse":
            run("project", "advance", "camhs")
    before = db.dump()
    ways = ("Error: camhs is at review, which has 3 ways out (analyse, decommission, closed); "
            "choose one with --to, e.g.:")
    for typed, hint in (
            (["gate", "check", "camhs"], "cycle gate check camhs --to analyse"),
            (["gate", "check", "camhs", "--as-of", "2026-01-05"],
             "cycle gate check camhs --as-of 2026-01-05 --to analyse"),
            (["gate", "request", "camhs", "--note", "for the 14 October board"],
             'cycle gate request camhs --note "for the 14 October board" --to analyse'),
            (["gate", "waive", "camhs", "outcomes-evaluation", "--reason", "covered by the JSNA"],
             'cycle gate waive camhs outcomes-evaluation --reason "covered by the JSNA" --to analyse'),
            (["project", "advance", "camhs"], "cycle project advance camhs --to analyse")):
        assert run(*typed, expect=2).stderr == f"{ways} {hint}\n", typed
    assert db.dump() == before
    # the hint from gate check runs as printed, and reads only
    assert run.json("gate", "check", "camhs", "--to", "analyse")["gate"] == "review-analyse"
    assert db.dump() == before


def test_installed_command_runs_the_walkthrough(tmp_path: Path) -> None:
    env = {"CYCLE_HOME": str(tmp_path / "proc-home"), "CYCLE_USER": "alice"}
    assert run_process("init", env=env).returncode == 0
    assert run_process(*CAMHS, env=env).returncode == 0
    assert run_process("project", "advance", "camhs", env=env).returncode == 3
    assert run_process("--version", env=env).stdout.startswith("cycle, version ")
    verified = run_process("audit", "verify", env=env)
    assert verified.returncode == 0, verified.stderr
