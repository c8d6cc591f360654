"""The built-in workflows say what the framework says (issue 20): risk, engagement at every stage, feedback,
the full set of decommissioning reasons; and a database made on the earlier built-ins keeps working."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import exc, text

import cycle.workflow.definition
from cycle.db import schema
from cycle.db.store import open_store

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
BEFORE = ROOT / "workflows" / "earlier-builtins" / "1"  # the built-ins before issue 20


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


REVISION_0013 = Path(__file__).with_name("data") / "revision-0013.json"
_ORDER = ("workflow_version", "project", "evidence", "decision", "contract", "audit_entry")


def load_revision_0013(db: Database) -> None:
    """tests/data/revision-0013.json at revision 0013, restored as pg_restore --disable-triggers would."""
    store = open_store()
    schema.upgrade(store, target="0013")
    store.dispose()
    data = json.loads(REVISION_0013.read_text(encoding="utf-8"))
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            for table in _ORDER:
                conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for table in _ORDER:
            for row in data[table]:
                columns = ", ".join(f'"{c}"' for c in row)  # quoted: contract has a column called end
                conn.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(':' + c for c in row)})"), row)
        if db.dialect == "postgresql":
            for table in _ORDER:
                conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
                                     if table != "audit_entry" else "SELECT 1")


def test_a_database_from_revision_0013_upgrades_and_its_records_still_match(run: Cli, db: Database) -> None:
    load_revision_0013(db)
    out = run("init").stdout.splitlines()
    assert out[0].endswith(f"from schema revision 0013 to {schema.head()}.")
    assert out[1] == "Installed workflows commissioning version 2 (built-in), decommissioning version 2 (built-in)."
    assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")
    # its rows from before, imaged without the new columns, now hold NULL there and still match
    assert db.rows("SELECT counts_for FROM evidence ORDER BY id") == [(None,), (None,)]
    # and the new columns work on them, each change on the record
    run("contract", "set", "camhs", "--termination-costs", "3 months' charges")
    run("evidence", "add", "camhs", "eia-summary", "--for", "eia", "--ref", "EIA summary v2")
    assert run.json("project", "show", "camhs")["workflow_version"] == 1  # pinned where it was
    assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")
    # a value written by hand into a new column of an old row is named (PostgreSQL refuses to commit it at all)
    if db.dialect == "postgresql":
        with pytest.raises(exc.DBAPIError, match="evidence #1 was changed without an audit entry"):
            db.execute("UPDATE evidence SET counts_for = 'eia' WHERE id = 1")
        return
    db.execute("UPDATE evidence SET counts_for = 'eia' WHERE id = 1")
    verify = run("audit", "verify", expect=None)
    assert verify.exit_code != 0 and "evidence #1" in verify.stdout + verify.stderr


# --- part 2: evidence beyond the criteria --------------------------------------------------------------

def test_an_unknown_evidence_name_is_recorded_as_supporting_with_one_warning(ready: Cli, db: Database) -> None:
    run = ready
    first = run("evidence", "add", "camhs", "risk-register", "--ref", "Risk register v3")
    assert first.stdout == "Recorded evidence #1 risk-register for camhs, cycle 1: Risk register v3\n"
    assert first.stderr == ("Warning: no criterion of the next gate is called 'risk-register'; recorded as supporting "
                            "evidence\n")
    again = run("evidence", "add", "camhs", "risk-register", "--ref", "Risk register v4")
    assert again.stderr == ""  # warned once
    # it meets no criterion
    crit = _criterion(run, "camhs", "risk-assessment")
    assert (crit["met"], crit["reason"]) == (False, "No 'risk-assessment' evidence recorded in cycle 1")
    shown = run.json("project", "show", "camhs")["evidence"]
    assert [(e["name"], e["supporting"], e["counts_for"]) for e in shown] == [("risk-register", True, None)] * 2
    assert "    #1 risk-register (supporting): Risk register v3 (" in run("project", "show", "camhs").stdout
    entry = run.json("audit", "log", "camhs")[-1]
    assert entry["action"] == "evidence.add" and entry["payload"]["supporting"] is True
    assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")


def test_a_typo_is_warned_about_with_the_criterion_it_may_have_meant(ready: Cli) -> None:
    err = ready("evidence", "add", "camhs", "needs-assesment", "--ref", "JSNA").stderr
    assert err == ("Warning: no criterion of the next gate is called 'needs-assesment'; recorded as supporting "
                   "evidence (did you mean needs-assessment? to count it for that criterion: cycle evidence add camhs "
                   "needs-assesment --for needs-assessment --ref <REF>)\n")
    assert _criterion(ready, "camhs", "needs-assessment")["met"] is False
    ready("project", "advance", "camhs", expect=3)


def test_for_attaches_evidence_to_a_criterion_and_it_counts(ready: Cli) -> None:
    run = ready
    out = run("evidence", "add", "camhs", "risk-register", "--for", "risk-assessment", "--ref", "Risk register v3")
    assert out.stdout == ("Recorded evidence #1 risk-register (counts for risk-assessment) for camhs, cycle 1: "
                          "Risk register v3\n")
    assert out.stderr == ""
    crit = _criterion(run, "camhs", "risk-assessment")
    assert (crit["met"], crit["reason"], crit["evidence_ids"]) == (
        True, "Recorded in cycle 1: Risk register v3 (as risk-register)", [1])
    assert "    #1 risk-register (for risk-assessment): " in run("project", "show", "camhs").stdout
    # a must criterion opens its gate the same way
    run("evidence", "add", "camhs", "jsna-chapter", "--for", "needs-assessment", "--ref", "JSNA 2026")
    go(run, "camhs", "analyse-plan")
    run("project", "advance", "camhs")
    assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")


@pytest.mark.parametrize(("args", "error"), [
    (["Risk Register"], "Error: evidence name 'Risk Register' is not well formed: use lower-case letters, digits and "
                        "hyphens, at most 64, e.g. risk-register"),
    (["risk.register"], "Error: evidence name 'risk.register' is not well formed: use lower-case letters, digits and "
                        "hyphens, at most 64, e.g. risk-register"),
    (["x" * 65], f"Error: evidence name '{'x' * 65}' is not well formed: use lower-case letters, digits and hyphens, "
                 f"at most 64, e.g. risk-register"),
    (["risk-register", "--for", "risk"], "Error: workflow commissioning has no evidence criterion called 'risk' for "
                                         "--for; its evidence criteria: consultation, contract-award, "
                                         "current-provision, eia, engagement-analyse, engagement-do, "
                                         "engagement-review, feedback-given, market-analysis, needs-assessment, "
                                         "outcomes-evaluation, performance-reports, performance-targets, "
                                         "policy-legal-duties, priorities-resources, provider-performance, "
                                         "risk-assessment, service-specification, soft-market-testing"),
    (["risk-register", "--for", "lead-commissioner"], "Error: workflow commissioning has no evidence criterion "
                                                      "called 'lead-commissioner' for --for; its evidence criteria: "
                                                      "consultation, contract-award, current-provision, eia, "
                                                      "engagement-analyse, engagement-do, engagement-review, "
                                                      "feedback-given, market-analysis, needs-assessment, "
                                                      "outcomes-evaluation, performance-reports, performance-targets, "
                                                      "policy-legal-duties, priorities-resources, "
                                                      "provider-performance, risk-assessment, service-specification, "
                                                      "soft-market-testing"),
])
def test_bad_evidence_names_and_criteria_are_refused_and_nothing_written(ready: Cli, db: Database, args: list[str],
                                                                         error: str) -> None:
    before = db.dump()
    out = ready("evidence", "add", "camhs", *args, "--ref", "x", expect=2)
    assert out.stderr.splitlines() == [error]
    assert db.dump() == before


# --- part 5: early-termination costs, a contract term -------------------------------------------------

def test_termination_costs_are_a_contract_term_shown_and_asked_for_when_terminating(ready: Cli) -> None:
    run = ready
    _to_do(run, reason="quality-failure")
    run("contract", "set", "camhs", "--termination-costs", "3 months' charges, about £300,000")
    shown = run("contract", "show", "camhs").stdout
    assert "  if terminated early: 3 months' charges, about £300,000\n" in shown
    assert run.json("contract", "show", "camhs")["termination_costs"] == "3 months' charges, about £300,000"
    assert run.json("audit", "log", "camhs")[-1]["payload"]["changes"]["termination_costs"] == [
        None, "3 months' charges, about £300,000"]
    crit = _criterion(run, D, "termination-costs", "--to", "terminate-immediately")
    assert crit["must"] and not crit["met"]
    assert '"any penalties due should the contract be terminated earlier"' in crit["title"]
    assert run.json("gate", "check", D)["gate"] == "do-review"  # the notice path does not ask for them
    assert "termination-costs" not in {c["id"] for c in run.json("gate", "check", D)["criteria"]}


def test_closing_with_the_contract_running_names_its_termination_costs(ready: Cli) -> None:
    run = ready
    run("contract", "set", "camhs", "--provider", "Trust X", "--ref", "C-1", "--start", "2025-04-01", "--end",
        (TODAY.replace(year=TODAY.year + 2)).isoformat(), "--notice", "6 months",
        "--termination-costs", "3 months' charges")
    out = run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "stop", "--body", BODY, "--ref",
              "m", user="clerk").stdout
    assert run.json("project", "show", "camhs")["stage"] == "closed"
    assert out.endswith("if it was ended early, record its end with: cycle contract set camhs --end YYYY-MM-DD "
                        "--if-no-notice ends. Ending it early costs, by its terms: 3 months' charges\n")


def test_termination_costs_text_is_checked_like_any_text(ready: Cli, db: Database) -> None:
    before = db.dump()
    err = ready("contract", "set", "camhs", "--termination-costs", "a\u202eb", expect=2).stderr
    assert err.startswith("Error: --termination-costs ")
    assert db.dump() == before


def test_termination_costs_too_long_are_refused(ready: Cli, db: Database) -> None:
    before = db.dump()
    err = ready("contract", "set", "camhs", "--termination-costs", "£" * 501, expect=2).stderr
    assert err == "Error: --termination-costs is 501 characters long; it may have at most 500\n"
    assert db.dump() == before


def test_supporting_evidence_is_in_the_gate_audit_report(ready: Cli) -> None:
    run = ready
    run("evidence", "add", "camhs", "risk-register", "--ref", "Risk register v3")
    run("evidence", "add", "camhs", "jsna-chapter", "--for", "needs-assessment", "--ref", "JSNA 2026")
    report = run.json("report", "gate-audit", "camhs")
    (project,) = report["projects"]
    assert [(e["id"], e["name"], e["ref"], e["cycle"]) for e in project["supporting"]] == [
        (1, "risk-register", "Risk register v3", 1)]
    md = run("report", "gate-audit", "camhs", "--format", "md").stdout
    assert "### Supporting evidence (counting for no criterion)" in md
    assert "| #1 | 1 | risk-register | Risk register v3 | " in md
    assert "jsna-chapter" not in md.split("### Supporting evidence")[1]
    html = run("report", "gate-audit", "camhs", "--format", "html").stdout
    assert "Supporting evidence (counting for no criterion)" in html and "Risk register v3" in html


def test_supporting_evidence_recorded_in_the_quarter_is_in_the_quarterly_report(ready: Cli) -> None:
    """Issue 20 part 2: supporting evidence is shown in the reports, the board's quarterly one too, so a typo (a
    name that counts for nothing) is noticed there."""
    from datetime import date

    from cycle.calendar import quarters

    run = ready
    run("evidence", "add", "camhs", "needs-asessment", "--ref", "JSNA 2026")  # a typo: counts for nothing
    run("evidence", "add", "camhs", "jsna-chapter", "--for", "needs-assessment", "--ref", "JSNA chapter 4")
    quarter = str(quarters.quarter_of(date.today()))
    report = run.json("report", "quarterly", "--quarter", quarter)
    assert [(e["project"], e["name"], e["ref"]) for e in report["supporting"]] == [
        ("camhs", "needs-asessment", "JSNA 2026")]
    (camhs,) = [p for p in report["by_project"] if p["project"] == "camhs"]
    assert [e["name"] for e in camhs["supporting"]] == ["needs-asessment"]
    md = run("report", "quarterly", "--quarter", quarter, "--format", "md").stdout
    section = md.split("## Supporting evidence recorded in the quarter (counting for no criterion)")[1]
    assert "needs-asessment (JSNA 2026)" in section and "jsna-chapter" not in section
    html = run("report", "quarterly", "--quarter", quarter, "--format", "html").stdout
    assert "supporting evidence needs-asessment (JSNA 2026)" in html
    earlier = run.json("report", "quarterly", "--quarter", str(quarters.quarter_of(date.today()) - 1))
    assert earlier["supporting"] == []  # recorded this quarter, not in the one before


def test_json_output_stays_clean_when_supporting_evidence_is_warned_about(ready: Cli) -> None:
    out = ready("evidence", "add", "camhs", "risk-register", "--ref", "Risk register v3", "--json")
    written = json.loads(out.stdout)  # the warning is not in it
    (entry,) = written["entries"]
    assert entry["action"] == "evidence.add" and entry["payload"]["supporting"] is True
    assert out.stderr.startswith("Warning: no criterion of the next gate is called 'risk-register'")


def test_for_names_a_criterion_of_the_version_the_project_runs_on(
        run: Cli, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A project still on the earlier built-in has no risk-assessment criterion: --for it is refused, and the
    same evidence is supporting there; once moved to the new version it counts."""
    before = tmp_path / "before"
    shutil.copytree(BEFORE, before)
    with monkeypatch.context() as patched:
        patched.setattr(cycle.workflow.definition, "builtin_dir", lambda: before)
        run("init")
        run(*CAMHS)
    run("init")  # the new built-ins, as version 2
    err = run("evidence", "add", "camhs", "risk-register", "--for", "risk-assessment", "--ref", "RR", expect=2).stderr
    assert err.startswith("Error: workflow commissioning has no evidence criterion called 'risk-assessment' for "
                          "--for; its evidence criteria: consultation, contract-award, ")
    run("evidence", "add", "camhs", "risk-assessment", "--ref", "RR v1")
    assert run.json("project", "show", "camhs")["evidence"][0]["supporting"] is True
    run("project", "set", "camhs", "--workflow-version", "2")
    assert run.json("project", "show", "camhs")["evidence"][0]["supporting"] is False
    assert _criterion(run, "camhs", "risk-assessment")["met"] is True


def test_a_final_stage_has_no_next_gate_to_name(ready: Cli) -> None:
    ready("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "stop", "--body", BODY, "--ref", "m",
          user="clerk")
    err = ready("evidence", "add", "camhs", "closure-letter", "--ref", "Letter to families").stderr
    assert err == ("Warning: no criterion of workflow commissioning is called 'closure-letter'; recorded as "
                   "supporting evidence\n")
