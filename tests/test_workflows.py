"""Workflows are data: each validation case gives one clear error naming the file and the entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Cli, Database

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
                               "expected one of: evidence, decision, field, date, link, procurement, kpi, review"),
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
                     "gate 'analyse-plan' criterion 'needs': unknown key 'levle'; allowed: body, by, contract, date, "
                     "evidence, field, id, in, kind, level, link, outcome, quarters, require, rule, stage, title, "
                     "when"),
    # every value has its type checked: a quoted "false" is not false
    "quoted boolean": (GOOD.replace('to = "plan"\n', 'to = "plan"\nexplicit = "false"\n', 1),
                       "gate 'analyse-plan': explicit must be true or false (no quotes), not \"false\""),
    "numeric boolean": (GOOD.replace("final = true", "final = 1"),
                        "stage 'closed': final must be true or false (no quotes), not 1"),
    "new_cycle as text": (GOOD.replace('to = "closed"\n', 'to = "closed"\nnew_cycle = "yes"\n'),
                          "gate 'plan-closed': new_cycle must be true or false (no quotes), not \"yes\""),
    "title not a string": (GOOD.replace('[[stage]]\nid = "plan"', '[[stage]]\nid = "plan"\ntitle = 2'),
                           "stage 'plan': title must be a non-empty string in quotes, not 2"),
    "stop as a list": (GOOD.replace('stop = "closed"', 'stop = ["closed"]'),
                       "top level: stop must be a non-empty string in quotes, not [\"closed\"]"),
    "id not a string": (GOOD.replace('id = "needs"', "id = 7"),
                        "gate 'analyse-plan' criterion[0]: id must be a non-empty string in quotes, not 7"),
    "body not a string": (GOOD.replace('kind = "decision"', 'kind = "decision"\n  body = 5'),
                          "gate 'analyse-plan' criterion 'decision': body must be a body in quotes, or a list of "
                          "them each of which must decide (e.g. body = [\"accountable\", \"NHS North Central London "
                          "ICB\"]), not 5"),
    "gate as a table": (GOOD.split("[[gate]]")[0] + '[gate]\nid = "x"\n',
                        "gate: must be [[gate]] entries, not a table"),
    "link as a list": (GOOD.replace('kind = "evidence"', 'kind = "link"\n  link = ["replaces"]\n  stage = "closed"'),
                       "gate 'analyse-plan' criterion 'needs': a link criterion needs link = one of: decommissions, "
                       "decommissioned-by, replaces, replaced-by"),
    # a gate that opens a linked project names a workflow there is
    "opens no such workflow": (GOOD.replace('to = "plan"\n', 'to = "plan"\nopens = "nosuchworkflow"\n', 1),
                               "gate 'analyse-plan': opens 'nosuchworkflow', but there is no workflow of that "
                               "name; the workflows are: commissioning, decommissioning, mini"),
    # a misspelt `when` field would leave its must criterion "not required" for ever
    "when names no field": (GOOD.replace('kind = "decision"', 'kind = "decision"\n'
                                         '  when = { field = "reasn", in = ["unaffordable"] }'),
                            "gate 'analyse-plan' criterion 'decision': when names field 'reasn', which is neither "
                            "a project field nor one this workflow declares with [[field]]; the fields are: "
                            "title, lead_commissioner, model, accountable_body, owner, sro, lead, governance_lead, "
                            "start_date, end_date, aim, scope, benefits, metrics"),
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
    run("init")
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
    assert not any(w["name"] == "mini" for w in run.json("workflow", "list")["workflows"])
    run("workflow", "install", str(home / "workflows" / "mini.toml"))
    assert any(w["name"] == "mini" for w in run.json("workflow", "list")["workflows"])
    run("project", "new", "pilot", "--title", "Pilot", "--workflow", "mini", "--accountable-body", "Board")
    run("evidence", "add", "pilot", "needs", "--ref", "doc 1")
    run("decision", "record", "pilot", "--gate", "analyse-plan", "--outcome", "go", "--body", "Board", "--ref", "m1")
    run("project", "advance", "pilot")
    assert run.json("project", "show", "pilot")["stage"] == "plan"
    # an unmet should warns but does not block
    moved = run("project", "advance", "pilot")
    assert "warning: should-criterion owner-set not met" in moved.stderr
    assert run.json("project", "show", "pilot")["stage"] == "closed"


def test_a_broken_team_workflow_is_reported_when_installed(run: Cli, home: Path, db: Database) -> None:
    (home / "workflows").mkdir(parents=True)
    bad = home / "workflows" / "mini.toml"
    bad.write_text(CASES["unknown criterion kind"][0])
    run("init")
    before = db.dump()
    err = run("workflow", "install", str(bad), expect=2).stderr
    assert err == f"Error: {bad}: {CASES['unknown criterion kind'][1]}\n"
    assert db.dump() == before
    err = run("project", "new", "pilot", "--title", "Pilot", "--workflow", "mini", expect=2).stderr
    assert err == ("Error: No workflow named 'mini' is installed. Installed: commissioning, decommissioning; to "
                   f"install the team's file: cycle workflow install {bad} (see: cycle workflow list)\n")


def test_unknown_workflow_lists_the_choices(ready: Cli) -> None:
    err = ready("project", "new", "x", "--title", "X", "--workflow", "comissioning", expect=2).stderr
    assert err == ("Error: No workflow named 'comissioning' is installed. Installed: commissioning, decommissioning "
                   "(see: cycle workflow list)\n")


def test_when_may_name_a_core_field_or_one_the_workflow_declares(run: Cli, tmp_path: Path) -> None:
    path = tmp_path / "mini.toml"
    declared = '[[field]]\nid = "reason"\nchoices = ["unaffordable", "other"]\n\n[[stage]]'
    for when in ('{ field = "reason", in = ["unaffordable"] }', '{ field = "model", in = ["integrated"] }'):
        path.write_text(GOOD.replace("[[stage]]", declared, 1)
                        .replace('kind = "decision"', f'kind = "decision"\n  when = {when}'))
        assert run("workflow", "check", str(path)).stdout.startswith("OK: ")


def test_opens_may_name_a_workflow_drafted_beside_it(run: Cli, tmp_path: Path) -> None:
    (tmp_path / "mini.toml").write_text(GOOD.replace('to = "plan"\n', 'to = "plan"\nopens = "follow-up"\n', 1))
    run("workflow", "check", str(tmp_path / "mini.toml"), expect=2)
    (tmp_path / "follow-up.toml").write_text(GOOD.replace('name = "mini"', 'name = "follow-up"'))
    assert run("workflow", "check", str(tmp_path / "mini.toml")).stdout.startswith("OK: ")


def test_check_reports_a_name_that_is_not_the_file_name(run: Cli, tmp_path: Path) -> None:
    copy = tmp_path / "my-commissioning.toml"
    copy.write_text((Path(__file__).parents[1] / "workflows" / "commissioning.toml").read_text())
    err = run("workflow", "check", str(copy), expect=2).stderr
    assert err == (f"Error: {copy}: name: says 'commissioning' but the file is my-commissioning.toml, and a "
                   f"workflow is known by its file name: set name = \"my-commissioning\", or rename the file "
                   f"commissioning.toml\n")


def test_one_broken_team_file_does_not_hide_the_other_workflows(run: Cli, home: Path) -> None:
    (home / "workflows").mkdir(parents=True)
    (home / "workflows" / "mini.toml").write_text(GOOD)
    bad = home / "workflows" / "my-commissioning.toml"
    bad.write_text(GOOD)  # says name = "mini"
    problem = (f"{bad}: name: says 'mini' but the file is my-commissioning.toml, and a workflow is known by its "
               f"file name: set name = \"my-commissioning\", or rename the file mini.toml")
    last = f"Error: 1 workflow file cannot be installed; fix it, then check with: cycle workflow check {bad}\n"
    run("init")
    listed = run("workflow", "list", expect=2)
    mini = home / "workflows" / "mini.toml"
    assert listed.stdout.splitlines()[2:] == [
        f"{mini} is not installed; install it with: cycle workflow install {mini}",
        f"{bad} CANNOT BE INSTALLED: {problem}"]
    assert [line.split()[0] for line in listed.stdout.splitlines()[:2]] == ["commissioning", "decommissioning"]
    assert listed.stderr == last
    result = run("workflow", "list", "--json", expect=2)
    assert result.stderr == last
    files = {f["name"]: (f["state"], f["error"]) for f in json.loads(result.stdout)["files"]}
    assert files == {"commissioning": ("installed", None), "decommissioning": ("installed", None),
                     "mini": ("not installed", None), "my-commissioning": ("broken", problem)}
    err = run("workflow", "install", str(bad), expect=2).stderr
    assert err == f"Error: {problem}\n"
    bad.unlink()
    run("workflow", "install", str(mini))
    assert [f["state"] for f in run.json("workflow", "list")["files"]] == ["installed"] * 3


FAST = """
name = "fast"
initial = "analyse"
stop = "closed"

[[stage]]
id = "analyse"

[[stage]]
id = "closed"
final = true

[[gate]]
id = "urgent-close"
from = "analyse"
to = "closed"
explicit = true

  [[gate.criterion]]
  id = "decision"
  kind = "decision"
"""


def test_a_stage_whose_only_way_out_is_explicit_names_the_gate(run: Cli, home: Path, db: Database) -> None:
    (home / "workflows").mkdir(parents=True)
    (home / "workflows" / "fast.toml").write_text(FAST)
    run("init")
    run("workflow", "install", str(home / "workflows" / "fast.toml"))
    run("project", "new", "f1", "--title", "F", "--workflow", "fast", "--accountable-body", "Board")
    before = db.dump()
    only = "f1 is at analyse, whose only way out is gate urgent-close (to closed), taken only when named; name it with:"
    assert run("gate", "check", "f1", expect=2).stderr == f"Error: {only} cycle gate check f1 --to urgent-close\n"
    assert run("project", "advance", "f1", expect=2).stderr == (
        f"Error: {only} cycle project advance f1 --to urgent-close\n")
    # the destination is not the gate's name: an explicit gate is taken only when named
    assert run("project", "advance", "f1", "--to", "closed", expect=2).stderr == (
        "Error: f1 can go from analyse to closed only through gate urgent-close, taken only when named; name it "
        "with: cycle project advance f1 --to urgent-close\n")
    assert run("project", "advance", "f1", "--to", "plan", expect=2).stderr == (
        "Error: f1 cannot go from analyse to 'plan'; from analyse it can go to: gate urgent-close (to closed), "
        "taken only when named\n")
    assert db.dump() == before  # nothing written, not even a refusal
    assert run.json("gate", "check", "f1", "--to", "urgent-close")["gate"] == "urgent-close"
    run("decision", "record", "f1", "--gate", "urgent-close", "--outcome", "go", "--body", "Board", "--ref", "m1")
    run("project", "advance", "f1", "--to", "urgent-close")
    assert run.json("project", "show", "f1")["stage"] == "closed"
