"""Who may decide, waivers, gate requests and milestones."""

from __future__ import annotations

from datetime import datetime

from cycle.calendar.clock import LONDON

from .conftest import BODY, Cli


def _people(run: Cli) -> None:
    run("people", "add", "alice", "--email", "alice@council.gov.uk", "--role", "manager")
    run("people", "add", "chair", "--email", "chair@council.gov.uk", "--role", "approver", "--body", BODY)
    run("people", "add", "vice", "--email", "vice@council.gov.uk", "--role", "approver", "--body", BODY)
    run("people", "add", "fin", "--email", "fin@council.gov.uk", "--role", "approver", "--body", "Finance Committee")
    run("people", "add", "gill", "--email", "gill@council.gov.uk", "--role", "governance-lead")


def _decide(run: Cli, user: str, expect: int = 0) -> str:
    r = run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY,
            "--ref", "minutes 5", user=user, expect=expect)
    return r.stdout + r.stderr


def test_self_approval_is_refused_and_audited(ready: Cli) -> None:
    run = ready
    _people(run)
    run("people", "add", "alice", "--role", "approver", "--body", BODY)  # the owner is also an approver
    err = _decide(run, "alice", expect=6)
    assert err == ("Error: separation of duties: alice owns camhs and may not decide its gates; another approver "
                   "for Children's Trust Board must record it. The refused attempt is recorded in the audit log.\n")
    last = run.json("audit", "log", "camhs")[-1]
    assert (last["action"], last["actor"]) == ("decision.refused", "alice")
    assert run.json("project", "show", "camhs")["decisions"] == []


def test_whoever_asked_for_the_gate_may_not_decide_it(ready: Cli) -> None:
    run = ready
    _people(run)
    run("gate", "request", "camhs", user="chair")
    err = _decide(run, "chair", expect=6)
    assert err.startswith("Error: separation of duties: chair asked for gate analyse-plan and may not decide it")
    _decide(run, "vice")
    assert run.json("project", "show", "camhs")["decisions"][0]["recorded_by"] == "vice"


def test_an_approver_of_the_wrong_body_is_refused(ready: Cli) -> None:
    run = ready
    _people(run)
    err = _decide(run, "fin", expect=6)
    assert err.startswith("Error: fin is not an approver for Children's Trust Board (approvers: chair, vice)")
    assert run.json("audit", "log", "camhs")[-1]["payload"]["why"].startswith("fin is not an approver")


def test_the_right_approver_is_accepted_with_its_authority_recorded(ready: Cli) -> None:
    run = ready
    _people(run)
    _decide(run, "chair")
    entry = run.json("audit", "log", "camhs")[-1]
    assert entry["action"] == "decision.record" and entry["payload"]["authority"] == (
        "approver for Children's Trust Board")


def test_a_body_without_approvers_on_record_is_marked_unverified(ready: Cli) -> None:
    run = ready
    _decide(run, "alice")  # the quick start: nobody registered, so nothing can be checked
    assert run.json("audit", "log", "camhs")[-1]["payload"]["authority"] == (
        "unverified: no approvers registered for Children's Trust Board")


def test_a_waiver_by_a_manager_is_refused_and_by_a_governance_lead_accepted(ready: Cli) -> None:
    run = ready
    _people(run)
    err = run("gate", "waive", "camhs", "needs-assessment", "--reason", "no time", user="alice", expect=6).stderr
    assert err == ("Error: only a governance lead may waive a criterion, and alice is not one; ask a governance "
                   "lead (gill) to consider it. The refused attempt is recorded in the audit log.\n")
    assert run.json("audit", "log", "camhs")[-1]["action"] == "waiver.refused"
    run("gate", "waive", "camhs", "needs-assessment", "--reason", "2025 JSNA still current", user="gill")
    check = run.json("gate", "check", "camhs")
    na = next(c for c in check["criteria"] if c["id"] == "needs-assessment")
    assert na["met"] and na["waived"] and na["reason"].startswith("WAIVED by gill on ")
    assert "[WAIV] must   needs-assessment" in run("gate", "check", "camhs").stdout
    _decide(run, "chair")
    run("project", "advance", "camhs")
    snap = {c["id"]: c for c in run.json("audit", "log", "camhs")[-1]["payload"]["criteria"]}
    assert snap["needs-assessment"]["waived"] is True and snap["needs-assessment"]["waiver_id"] == 1


def test_what_cannot_be_waived(ready: Cli) -> None:
    run = ready
    _people(run)
    before = run.json("audit", "log")
    for criterion, error in (
        ("decision", "Error: a decision cannot be waived: the gate's body must decide"),
        ("market-analysis", "Error: market-analysis is a should criterion: it warns but does not block, so there "
                            "is nothing to waive"),
        ("lead-commissioner", "Error: lead-commissioner is already met (lead_commissioner is 'CCGs'); there is "
                              "nothing to waive"),
        ("nonsense", "Error: gate analyse-plan has no criterion 'nonsense'; it has: needs-assessment, "
                     "lead-commissioner, commissioning-model, policy-legal-duties, current-provision, "
                     "market-analysis, risk-assessment, engagement-analyse, decision"),
    ):
        assert run("gate", "waive", "camhs", criterion, "--reason", "r", user="gill", expect=2).stderr == error + "\n"
    assert run.json("audit", "log") == before


def test_a_waiver_lapses_when_the_project_leaves_the_stage(ready: Cli) -> None:
    run = ready
    _people(run)
    run("gate", "waive", "camhs", "needs-assessment", "--reason", "r", user="gill")
    _decide(run, "chair")
    run("project", "advance", "camhs")
    run("decision", "record", "camhs", "--gate", "plan-do", "--outcome", "recycle", "--to", "analyse",
        "--body", BODY, "--ref", "m", user="chair")
    na = next(c for c in run.json("gate", "check", "camhs")["criteria"] if c["id"] == "needs-assessment")
    assert (na["met"], na["waived"]) == (False, False)


def test_milestones_and_slippage(ready: Cli) -> None:
    run = ready
    run("milestone", "add", "camhs", "Needs assessment signed off", "--due", "2026-01-31")
    run("milestone", "add", "camhs", "Specification agreed", "--due", "2026-03-31")
    run("milestone", "done", "camhs", "1", "--on", "2026-02-10")
    rows = run.json("milestone", "list", "camhs", "--as-of", "2026-03-15")
    assert [(m["title"], m["slipped"]) for m in rows] == [("Needs assessment signed off", True),
                                                          ("Specification agreed", False)]
    assert run.json("milestone", "list", "camhs", "--as-of", "2026-04-01")[1]["slipped"] is True
    err = run("milestone", "done", "camhs", "1", expect=2).stderr
    assert err == "Error: milestone #1 was already done on 2026-02-10\n"
    actions = [e["action"] for e in run.json("audit", "log", "camhs")]
    assert actions[-3:] == ["milestone.add", "milestone.add", "milestone.done"]


def test_whoever_owned_the_project_during_this_stage_may_not_decide_its_gates(ready: Cli) -> None:
    """The testers' route round separation of duties: hand the project to someone else, decide, take it back."""
    run = ready
    _people(run)
    run("people", "add", "alice", "--role", "approver", "--body", BODY)  # the owner is also an approver
    for name in ("bob", "carol"):  # once people are registered, an owner must be one of them
        run("people", "add", name, "--email", f"{name}@council.gov.uk")
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA")
    run("project", "set", "camhs", "--owner", "bob")
    changed = run.json("audit", "log", "camhs")[-1]["at"]
    until = datetime.fromisoformat(changed.replace("Z", "+00:00")).astimezone(LONDON).strftime("%Y-%m-%d %H:%M")
    err = _decide(run, "alice", expect=6)
    assert err == (f"Error: separation of duties: alice owned camhs during this stage (until {until}) and may not "
                   f"decide its gates; another approver for Children's Trust Board must record it. The refused "
                   f"attempt is recorded in the audit log.\n")
    last = run.json("audit", "log", "camhs")[-1]
    assert (last["action"], last["actor"]) == ("decision.refused", "alice")
    run("project", "set", "camhs", "--owner", "alice")
    assert _decide(run, "alice", expect=6).startswith("Error: separation of duties: alice owns camhs")
    run("project", "advance", "camhs", expect=3)
    assert run.json("project", "show", "camhs")["decisions"] == []
    run("project", "set", "camhs", "--owner", "bob")
    _decide(run, "chair")
    run("project", "advance", "camhs")
    run("project", "set", "camhs", "--owner", "carol")
    run("decision", "record", "camhs", "--gate", "plan-do", "--outcome", "hold", "--body", BODY, "--ref", "m",
        user="alice")  # alice owned camhs at analyse, not at plan


def test_a_governance_lead_who_owned_the_project_this_stage_may_not_waive(ready: Cli) -> None:
    run = ready
    _people(run)
    run("people", "add", "hal", "--email", "hal@council.gov.uk", "--role", "governance-lead")
    run("project", "set", "camhs", "--owner", "gill")
    err = run("gate", "waive", "camhs", "needs-assessment", "--reason", "r", user="gill", expect=6).stderr
    assert err == ("Error: separation of duties: gill owns camhs and may not waive its criteria; another governance "
                   "lead must waive it. The refused attempt is recorded in the audit log.\n")
    run("project", "set", "camhs", "--owner", "alice")
    err = run("gate", "waive", "camhs", "needs-assessment", "--reason", "r", user="gill", expect=6).stderr
    assert err.startswith("Error: separation of duties: gill owned camhs during this stage (until ")
    assert [e["action"] for e in run.json("audit", "log", "camhs")][-3:] == [
        "waiver.refused", "project.set", "waiver.refused"]
    run("gate", "waive", "camhs", "needs-assessment", "--reason", "r", user="hal")


def test_a_waiver_refusal_points_at_an_admin_not_at_granting_yourself(ready: Cli) -> None:
    run = ready
    run("people", "add", "root", "--email", "root@council.gov.uk", "--role", "admin", user="root")
    err = run("gate", "waive", "camhs", "needs-assessment", "--reason", "r", user="alice", expect=6).stderr
    assert err == ("Error: only a governance lead may waive a criterion, and nobody is one yet; ask an admin (root) "
                   "to run: cycle people add <NAME> --role governance-lead. The refused attempt is recorded in the "
                   "audit log.\n")
