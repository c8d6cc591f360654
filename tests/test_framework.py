"""The built-in workflows say what the framework says (issue 20): risk, engagement at every stage, feedback,
the full set of decommissioning reasons; and a database made on the earlier built-ins keeps working."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import cycle.workflow.definition

from .conftest import BODY, CAMHS, Cli, Database, go
from .test_decommissioning import (
    COMMISSIONING,
    SERVICE_REVIEW,
    TODAY,
    TRANSFER,
    D,
    _criterion,
    _decommission,
    _evidence,
    _to_do,
)

ROOT = Path(__file__).resolve().parent.parent
BEFORE = Path(__file__).with_name("data") / "builtin-before-issue-20"


def _line(run: Cli, key: str, cid: str, *args: str) -> list[str]:
    """The lines of `gate check` text output for one criterion: its status line, reason and hint."""
    lines = run("gate", "check", key, *args, expect=None).stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if f" {cid}: " in line)
    return lines[at:at + 3]


# --- part 1: risk ------------------------------------------------------------------------------------

def test_a_risk_assessment_is_asked_for_at_analyse_and_warns_without_blocking(ready: Cli) -> None:
    run = ready
    assert _line(run, "camhs", "risk-assessment") == [
        '  [warn] should risk-assessment: Risk assessment: "assess resilience/risk factors", "legal duties/risks" '
        '(sections 4, 7); the risk register or assessment',
        "                No 'risk-assessment' evidence recorded in cycle 1",
        "                record it with: cycle evidence add camhs risk-assessment --ref <REF>"]
    _evidence(run, "camhs", ["needs-assessment"])
    go(run, "camhs", "analyse-plan")
    assert run("project", "advance", "camhs").exit_code == 0  # a should criterion warns; it does not block
    entry = run.json("audit", "log", "camhs")[-1]
    risk = next(c for c in entry["payload"]["criteria"] if c["id"] == "risk-assessment")
    assert (risk["must"], risk["met"]) == (False, False)


def test_a_risk_assessment_once_recorded_meets_the_criterion(ready: Cli) -> None:
    ready("evidence", "add", "camhs", "risk-assessment", "--ref", "Risk register v3")
    assert _criterion(ready, "camhs", "risk-assessment")["reason"] == "Recorded in cycle 1: Risk register v3"


def test_decommissioning_cannot_plan_without_the_risks_of_the_service_ceasing(ready: Cli) -> None:
    run = ready
    _decommission(run)
    _evidence(run, D, [n for n in SERVICE_REVIEW if n != "ceasing-risks"])
    go(run, D, "analyse-plan")
    refused = run("project", "advance", D, expect=3).stderr
    assert "ceasing-risks" in refused
    crit = _criterion(run, D, "ceasing-risks")
    assert crit["must"] and crit["hint"] == f"cycle evidence add {D} ceasing-risks --ref <REF>"
    assert "the impact of the existing service ceasing and associated risks" in crit["title"]
    _evidence(run, D, ["ceasing-risks"])
    run("project", "advance", D)


def test_decommissioning_cannot_end_the_service_without_the_transition_risk_managed(ready: Cli) -> None:
    run = ready
    _to_do(run)
    run("contract", "notice", D, "--served-on", TODAY.isoformat(), "--ref", "Notice letter NL-114")
    _evidence(run, D, [n for n in TRANSFER if n != "transition-risk"])
    go(run, D, "do-review")
    crit = _criterion(run, D, "transition-risk")
    assert crit["must"] and not crit["met"]
    assert '"managing risk to ensure a smooth transition"' in crit["title"]
    run("project", "advance", D, expect=3)
    _evidence(run, D, ["transition-risk"])
    run("project", "advance", D)


def test_the_plan_gate_quotes_the_framework_on_its_risk_impact_assessment(ready: Cli) -> None:
    run = ready
    _decommission(run)
    _evidence(run, D, SERVICE_REVIEW)
    go(run, D, "analyse-plan")
    run("project", "advance", D)
    crit = _criterion(run, D, "risk-impact")
    assert crit["must"] and crit["title"] == ('Risk impact assessment: "undertake risk, quality and equality impact '
                                              'assessments" (section 7)')


# --- part 3: engagement at every stage, and feedback ------------------------------------------------

def _to_stage(run: Cli, stage: str) -> None:
    for gate, names in COMMISSIONING.items():
        if run.json("project", "show", "camhs")["stage"] == stage:
            return
        _evidence(run, "camhs", names)
        go(run, "camhs", gate)
        run("project", "advance", "camhs")


def test_engagement_at_do_warns_and_counts_when_recorded(ready: Cli) -> None:
    run = ready
    _to_stage(run, "do")
    crit = _criterion(run, "camhs", "engagement-do")
    assert (crit["must"], crit["met"]) == (False, False)
    assert '"drawing up service specifications, assessing tenders"' in crit["title"]
    run("evidence", "add", "camhs", "engagement-do", "--ref", "Young People's Board scored the tenders")
    assert _criterion(run, "camhs", "engagement-do")["met"]


@pytest.mark.parametrize("to", ["analyse", "decommission", "closed"])
def test_feedback_to_those_involved_is_asked_for_on_every_way_out_of_review(ready: Cli, to: str) -> None:
    run = ready
    _to_stage(run, "review")
    crit = _criterion(run, "camhs", "feedback-given", "--to", to)
    assert (crit["must"], crit["met"]) == (False, False)
    assert crit["title"] == ('Feedback given to those involved on the decisions made from their input (section 5: '
                             '"we always endeavour to feed back")')


def test_decommissioning_engages_at_its_start_and_its_end(ready: Cli) -> None:
    run = ready
    _to_do(run)
    run("contract", "notice", D, "--served-on", TODAY.isoformat(), "--ref", "Notice letter NL-114")
    _evidence(run, D, TRANSFER)
    go(run, D, "do-review")
    run("project", "advance", D)
    end = _criterion(run, D, "engagement-end")
    assert (end["must"], end["met"]) == (False, False)
    _evidence(run, D, ["process-evaluated", "learning-shared"])
    go(run, D, "review-closed")
    run("project", "advance", D)  # a should criterion warns; it does not block
    assert run.json("project", "show", D)["stage"] == "closed"


def test_decommissioning_asks_for_engagement_as_early_as_possible(ready: Cli) -> None:
    _decommission(ready)
    start = _criterion(ready, D, "engagement-start")
    assert (start["must"], start["met"]) == (False, False) and '"as early as possible"' in start["title"]


# --- part 5: the decommissioning reasons ---------------------------------------------------------------

@pytest.mark.parametrize(("reason", "needs"), [("outcomes-not-delivered", "performance-record"),
                                               ("specification-not-delivered", "specification-shortfall"),
                                               ("provider-ended", "provider-notice")])
def test_each_new_reason_asks_for_its_own_record(ready: Cli, reason: str, needs: str) -> None:
    run = ready
    _decommission(run, reason=reason)
    _evidence(run, D, SERVICE_REVIEW)
    go(run, D, "analyse-plan")
    crit = _criterion(run, D, needs)
    assert (crit["must"], crit["met"], crit["applies"]) == (True, False, True)
    assert crit["hint"] == f"cycle evidence add {D} {needs} --ref <REF>"
    # the others do not apply to this reason
    others = {"performance-record", "specification-shortfall", "provider-notice"} - {needs}
    for other in others:
        assert _criterion(run, D, other)["applies"] is False
    run("project", "advance", D, expect=3)
    _evidence(run, D, [needs])
    run("project", "advance", D)


def test_the_old_reasons_need_none_of_the_new_records(ready: Cli) -> None:
    run = ready
    _decommission(run)  # no-longer-a-priority
    crit = _criterion(run, D, "performance-record")
    assert crit["reason"] == ("Not required: reason is 'no-longer-a-priority'; applies only when it is "
                              "outcomes-not-delivered")


# --- an existing database, made on the built-ins from before ------------------------------------------

def test_a_database_made_on_the_earlier_built_ins_keeps_its_projects_where_they_are(
        run: Cli, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = tmp_path / "before"
    shutil.copytree(ROOT / "workflows", before)
    for name in ("commissioning", "decommissioning"):
        shutil.copy(BEFORE / f"{name}.toml", before / f"{name}.toml")
    with monkeypatch.context() as patched:
        patched.setattr(cycle.workflow.definition, "builtin_dir", lambda: before)
        run("init")
        run(*CAMHS)
        _evidence(run, "camhs", ["needs-assessment"])
        go(run, "camhs", "analyse-plan")
        run("project", "advance", "camhs")
    # an upgrade of cycle: the new built-ins ship
    assert run("init").stdout.splitlines()[1:3] == [
        "Installed workflows commissioning version 2 (built-in), decommissioning version 2 (built-in).",
        "Projects stay on the version they run on; a governance lead moves one with: "
        "cycle project set KEY --workflow-version N"]
    assert run.json("project", "show", "camhs")["workflow_version"] == 1
    assert "risk-assessment" not in {c["id"] for c in run.json("gate", "check", "camhs")["criteria"]}
    run("project", "new", "camhs-new", "--title", "New", "--workflow", "commissioning", "--accountable-body", BODY,
        "--lead-commissioner", "CCGs", "--model", "integrated")
    assert run.json("project", "show", "camhs-new")["workflow_version"] == 2
    assert "risk-assessment" in {c["id"] for c in run.json("gate", "check", "camhs-new")["criteria"]}
    # the project mid-cycle moves to the new version when a governance lead says so
    run("project", "set", "camhs", "--workflow-version", "2")
    assert "priorities-resources" in {c["id"] for c in run.json("gate", "check", "camhs")["criteria"]}
    _evidence(run, "camhs", ["service-specification", "eia", "consultation", "performance-targets"])
    go(run, "camhs", "plan-do")
    run("project", "advance", "camhs")
    assert run.json("gate", "check", "camhs")["workflow"] == "commissioning"
    assert "engagement-do" in {c["id"] for c in run.json("gate", "check", "camhs")["criteria"]}
    assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")
