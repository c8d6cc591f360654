"""Workflows are data: each validation case gives one clear error naming the file and the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Cli

GOOD = """
name = "mini"
initial = "analyse"
stop = "closed"

[[stage]]
id = "analyse"

[[stage]]
id = "plan"

[[stage]]
id = "closed"
final = true

[[gate]]
id = "analyse-plan"
from = "analyse"
to = "plan"

  [[gate.criterion]]
  id = "needs"
  kind = "evidence"
  level = "must"

  [[gate.criterion]]
  id = "decision"
  kind = "decision"

[[gate]]
id = "plan-closed"
from = "plan"
to = "closed"

  [[gate.criterion]]
  id = "owner-set"
  kind = "field"
  field = "owner"
  level = "should"
"""

CASES = {
    "unknown stage": (GOOD.replace('to = "plan"\n', 'to = "plann"\n', 1),
                      "gate 'analyse-plan': unknown stage 'plann' in 'to'"),
    "unreachable stage": (GOOD.replace('[[stage]]\nid = "closed"', '[[stage]]\nid = "orphan"\nfinal = true\n\n'
                                                                   '[[stage]]\nid = "closed"'),
                          "stage 'orphan': unreachable: no gate leads to it from 'analyse'"),
    "no way out": (GOOD.replace('[[stage]]\nid = "closed"', '[[stage]]\nid = "limbo"\n\n[[stage]]\nid = "closed"')
                   .replace('to = "closed"', 'to = "limbo"'),
                   "stage 'limbo': no way out: add a gate from it, or mark it final = true"),
    "unknown criterion kind": (GOOD.replace('kind = "evidence"', 'kind = "evidense"'),
                               "gate 'analyse-plan' criterion 'needs': unknown kind 'evidense'; "
                               "expected one of: evidence, decision, field, date, link"),
    "duplicate criterion id": (GOOD.replace('id = "decision"', 'id = "needs"'),
                               "gate 'analyse-plan' criterion 'needs': duplicate id: another criterion of this "
                               "gate already uses it"),
    "duplicate stage id": (GOOD.replace('[[stage]]\nid = "plan"', '[[stage]]\nid = "analyse"\n\n[[stage]]\n'
                                                                  'id = "plan"'),
                           "stage 'analyse': duplicate id: another stage already uses it"),
    "duplicate gate id": (GOOD.replace('id = "plan-closed"', 'id = "analyse-plan"'),
                          "gate 'analyse-plan': duplicate id: another gate already uses it"),
    "unknown level": (GOOD.replace('level = "should"', 'level = "could"'),
                      "gate 'plan-closed' criterion 'owner-set': unknown level 'could'; expected must or should"),
    "misspelt key": (GOOD.replace('level = "must"', 'levle = "must"'),
                     "gate 'analyse-plan' criterion 'needs': unknown key 'levle'; allowed: body, by, date, "
                     "evidence, field, id, in, kind, level, link, outcome, stage, title, when"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_workflow_gives_one_line_naming_the_entry(run: Cli, tmp_path: Path, case: str) -> None:
    source, problem = CASES[case]
    path = tmp_path / "mini.toml"
    path.write_text(source)
    result = run("workflow", "check", str(path), expect=2)
    assert result.stderr == f"Error: {path}: {problem}\n"
    assert result.stdout == ""


def test_invalid_toml_names_the_line(run: Cli, tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\n[[stage]\n')
    err = run("workflow", "check", str(path), expect=2).stderr
    assert err.startswith(f"Error: {path}: not valid TOML: ") and "line 2" in err
    assert err.count("\n") == 1


def test_good_workflow_checks(run: Cli, tmp_path: Path) -> None:
    path = tmp_path / "mini.toml"
    path.write_text(GOOD)
    out = run("workflow", "check", str(path)).stdout
    assert out == f"OK: {path} defines workflow mini: 3 stages, 2 gates, 3 criteria.\n"


def test_builtin_commissioning_workflow(run: Cli) -> None:
    assert "commissioning" in run("workflow", "list").stdout
    wf = run.json("workflow", "show", "commissioning")
    assert [s["id"] for s in wf["stages"]] == ["analyse", "plan", "do", "review", "decommission", "closed"]
    out_of_review = {g["to"] for g in wf["gates"] if g["from"] == "review"}
    assert out_of_review == {"analyse", "decommission", "closed"}
    criteria = {c["id"]: c for g in wf["gates"] for c in g["criteria"]}
    for needed in ("needs-assessment", "policy-legal-duties", "market-analysis", "engagement-analyse", "eia",
                   "consultation", "service-specification", "performance-targets", "contract-award",
                   "outcomes-evaluation"):
        assert needed in criteria
    for g in wf["gates"]:
        if g["id"] == "decommission-closed":  # waits for the linked decommissioning project, which decides
            assert [c["kind"] for c in g["criteria"]] == ["link"]
            continue
        decisions = [c for c in g["criteria"] if c["kind"] == "decision"]
        assert decisions and all(c["must"] and c["body"] == "accountable" for c in decisions), g["id"]


def test_team_workflow_from_home_needs_no_code(run: Cli, home: Path) -> None:
    (home / "workflows").mkdir(parents=True)
    (home / "workflows" / "mini.toml").write_text(GOOD)
    run("init")
    assert any(w["name"] == "mini" for w in run.json("workflow", "list"))
    run("project", "new", "pilot", "--title", "Pilot", "--workflow", "mini", "--accountable-body", "Board")
    run("evidence", "add", "pilot", "needs", "--ref", "doc 1")
    run("decision", "record", "pilot", "--gate", "analyse-plan", "--outcome", "go", "--body", "Board", "--ref", "m1")
    run("project", "advance", "pilot")
    assert run.json("project", "show", "pilot")["stage"] == "plan"
    # an unmet should warns but does not block
    moved = run("project", "advance", "pilot")
    assert "warning: should-criterion owner-set not met" in moved.stderr
    assert run.json("project", "show", "pilot")["stage"] == "closed"


def test_a_broken_team_workflow_is_reported_when_used(run: Cli, home: Path) -> None:
    (home / "workflows").mkdir(parents=True)
    bad = home / "workflows" / "mini.toml"
    bad.write_text(CASES["unknown criterion kind"][0])
    run("init")
    err = run("project", "new", "pilot", "--title", "Pilot", "--workflow", "mini", expect=2).stderr
    assert err == f"Error: {bad}: {CASES['unknown criterion kind'][1]}\n"


def test_unknown_workflow_lists_the_choices(ready: Cli) -> None:
    err = ready("project", "new", "x", "--title", "X", "--workflow", "comissioning", expect=2).stderr
    assert err.startswith("Error: No workflow named 'comissioning'. Available: commissioning")
