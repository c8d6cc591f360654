"""Decommissioning: linked projects, notice deadlines at the do gate, conditional criteria, immediate
termination, re-commissioning, and what needs a decision soon."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from cycle.calendar import clock, dates

from .conftest import BODY, Cli, Database, go

TODAY = clock.london_today()  # the product's today is the date in England
D = "camhs-decommissioning"
COMMISSIONING = {"analyse-plan": ["needs-assessment"],
                 "plan-do": ["service-specification", "eia", "consultation", "performance-targets"],
                 "do-review": ["contract-award"], "review-decommission": ["outcomes-evaluation"]}
SERVICE_REVIEW = ["still-required", "effectiveness", "value-for-money", "alternatives", "ceasing-risks"]
PLAN = ["risk-impact", "quality-impact", "eia", "consultation", "clinical-engagement", "provider-impact",
        "staff-tupe", "transition-plan"]
TRANSFER = ["provider-briefed", "staff-briefed", "service-users-briefed", "service-users-transferred",
            "records-transferred", "transition-risk"]


def _evidence(run: Cli, key: str, names: list[str]) -> None:
    for name in names:
        run("evidence", "add", key, name, "--ref", f"{name} doc")


def _contract(run: Cli, key: str = "camhs", end: date | None = None, notice: str = "6 months") -> None:
    end = end or TODAY + timedelta(days=400)
    run("contract", "set", key, "--provider", "Trust X", "--ref", "C-1", "--start", "2020-04-01",
        "--end", end.isoformat(), "--notice", notice, "--run-on", "12 months")


def _decommission(run: Cli, reason: str = "no-longer-a-priority", contract: bool = True) -> None:
    """camhs round to review, then --to decommission; the linked project set up with a reason."""
    if contract:
        _contract(run)
    for gate, names in COMMISSIONING.items():
        _evidence(run, "camhs", names)
        go(run, "camhs", gate)
        if gate != "review-decommission":
            run("project", "advance", "camhs")
    out = run("project", "advance", "camhs", "--to", "decommission").stdout
    assert f"Opened {D}, linked to camhs." in out
    run("project", "set", D, "--attr", f"reason={reason}")


def _to_do(run: Cli, reason: str = "no-longer-a-priority") -> None:
    _decommission(run, reason)
    _evidence(run, D, SERVICE_REVIEW)
    go(run, D, "analyse-plan")
    run("project", "advance", D)
    _evidence(run, D, PLAN + (["alternative-provider"] if reason == "unaffordable" else []))
    go(run, D, "plan-do")
    run("project", "advance", D)


def _criterion(run: Cli, key: str, cid: str, *args: str) -> dict:
    check = run.json("gate", "check", key, *args)
    return next(c for c in check["criteria"] if c["id"] == cid)


def test_decommission_is_a_linked_project_seen_from_both_sides(ready: Cli) -> None:
    run = ready
    _to_do(run)
    parent = run.json("project", "show", "camhs")
    child = run.json("project", "show", D)
    assert parent["stage"] == "decommission"
    assert parent["links"] == [{"kind": "decommissioned-by", "project": D, "stage": "do"}]
    assert child["links"] == [{"kind": "decommissions", "project": "camhs", "stage": "decommission"}]
    assert child["workflow"] == "decommissioning" and child["accountable_body"] == BODY
    # the child works with the service's contract
    assert child["contract"]["project"] == "camhs"
    # the parent waits for the child
    wait = _criterion(run, "camhs", "decommissioning-closed")
    assert wait["reason"] == f"decommissioned-by {D}, which is at do, not yet closed"
    assert wait["hint"] == f"cycle gate check {D}"
    run("project", "advance", "camhs", expect=3)

    run("contract", "notice", D, "--served-on", TODAY.isoformat(), "--ref", "Notice letter NL-114")
    _evidence(run, D, TRANSFER)
    go(run, D, "do-review")
    run("project", "advance", D)
    _evidence(run, D, ["process-evaluated", "learning-shared"])
    go(run, D, "review-closed")
    run("project", "advance", D)
    run("project", "advance", "camhs")
    assert run.json("project", "show", "camhs")["stage"] == "closed"

    log = run.json("audit", "log")
    opened = next(e for e in log if e["action"] == "advance" and e["to"] == "decommission")
    assert opened["payload"]["opened"] == D
    created = next(e for e in log if e["action"] == "project.create" and e["project"] == D)
    assert created["payload"]["opened_by"] == "camhs"
    assert "Audit chain verified" in run("audit", "verify").stdout


def test_notice_deadline_passed_the_do_gate_names_the_run_on_date(ready: Cli) -> None:
    run = ready
    _to_do(run)
    end = TODAY + timedelta(days=60)  # six months' notice: the deadline was about four months ago
    run("contract", "set", "camhs", "--end", end.isoformat())
    deadline = dates.notice_deadline(end, dates.parse_period("6 months"))
    run_on = dates.run_on_end(end, dates.parse_period("12 months"))
    notice = _criterion(run, D, "notice-served")
    assert notice["met"] is False
    assert notice["reason"] == (f"Notice served: none, and the notice deadline {deadline.isoformat()} has passed: "
                                f"the contract runs on to {run_on.isoformat()}")
    _evidence(run, D, TRANSFER)
    go(run, D, "do-review")
    refused = run("project", "advance", D, expect=3).stderr
    assert f"the contract runs on to {run_on.isoformat()}" in refused
    # serving it now is too late, and the gate says so
    run("contract", "notice", D, "--served-on", TODAY.isoformat(), "--ref", "late letter")
    late = _criterion(run, D, "notice-served")
    assert late["met"] is False
    assert late["reason"] == (f"Notice served on {TODAY.isoformat()}, after the notice deadline "
                              f"{deadline.isoformat()}: "
                              f"the contract runs on to {run_on.isoformat()}")
    run("project", "advance", D, expect=3)


def test_notice_before_the_deadline_passes_the_do_gate(ready: Cli) -> None:
    run = ready
    _to_do(run)
    before = _criterion(run, D, "notice-served")
    assert before["met"] is False and before["hint"] == f"cycle contract notice {D} --served-on YYYY-MM-DD --ref <REF>"
    assert "not yet; the deadline is" in before["reason"]
    run("contract", "notice", D, "--served-on", TODAY.isoformat(), "--ref", "NL-114")
    assert _criterion(run, D, "notice-served")["met"] is True
    _evidence(run, D, TRANSFER)
    go(run, D, "do-review")
    run("project", "advance", D)
    assert run.json("project", "show", D)["stage"] == "review"


@pytest.mark.parametrize(("reason", "required"), [("unaffordable", True), ("no-longer-a-priority", False)])
def test_alternative_provider_only_when_the_reason_is_cost(ready: Cli, reason: str, required: bool) -> None:
    run = ready
    _decommission(run, reason)
    _evidence(run, D, SERVICE_REVIEW)
    go(run, D, "analyse-plan")
    run("project", "advance", D)
    alt = _criterion(run, D, "alternative-provider")
    assert alt["applies"] is required
    assert alt["met"] is (not required)
    if not required:
        assert alt["reason"] == "Not required: reason is 'no-longer-a-priority'; applies only when it is unaffordable"
    _evidence(run, D, PLAN)
    go(run, D, "plan-do")
    run("project", "advance", D, expect=3 if required else 0)


def test_the_reason_must_be_one_of_the_list(ready: Cli) -> None:
    run = ready
    _decommission(run)
    err = run("project", "set", D, "--attr", "reason=bored", expect=2).stderr
    assert err == ("Error: reason 'bored' is not one of: treatment-developments, care-pathway-change, "
                   "insufficient-demand, no-longer-a-priority, unaffordable, quality-failure, contract-breach, "
                   "outcomes-not-delivered, specification-not-delivered, provider-ended\n")


def _terminate(run: Cli, outcome: str = "terminate-immediately") -> None:
    run("decision", "record", D, "--gate", "terminate-immediately", "--outcome", outcome, "--body", BODY,
        "--ref", "emergency board 2026-11-20", user="clerk")


def test_immediate_termination_needs_the_right_decision_and_shows_the_path(ready: Cli) -> None:
    run = ready
    _to_do(run, reason="quality-failure")
    _evidence(run, D, ["breach-reference", "service-users-transferred", "records-transferred", "termination-costs"])
    # the immediate path is never taken by default: without --to, advance means the notice path
    assert run.json("gate", "check", D)["gate"] == "do-review"
    run("project", "advance", D, expect=3)
    # nor for its destination stage, which the notice path shares
    assert run.json("gate", "check", D, "--to", "review")["gate"] == "do-review"
    assert run("gate", "check", D, "--to", "closed", expect=2).stderr == (
        f"Error: {D} cannot go from do to 'closed'; from do it can go to: review; or gate terminate-immediately "
        f"(to review), taken only when named\n")
    run("project", "advance", D, "--to", "terminate-immediately", expect=3)  # no decision yet
    _terminate(run, "go")  # a plain go is not enough
    needs = _criterion(run, D, "decision", "--to", "terminate-immediately")
    assert needs["reason"].endswith("the gate needs a decision of terminate-immediately")
    assert needs["hint"].startswith(f"cycle decision record {D} --gate terminate-immediately "
                                    f"--outcome terminate-immediately")
    run("project", "advance", D, "--to", "terminate-immediately", expect=3)
    _terminate(run)
    run("project", "advance", D, "--to", "terminate-immediately")
    entry = run.json("audit", "log", D)[-1]
    assert entry["action"] == "advance" and entry["payload"]["gate"] == "terminate-immediately"
    assert "notice period skipped" in entry["payload"]["gate_title"]
    notice = [c for c in entry["payload"]["criteria"] if c["id"] == "notice-served"]
    assert notice == []  # the notice criterion was not part of this path


def test_immediate_termination_refused_without_a_breach_reason(ready: Cli) -> None:
    run = ready
    _to_do(run, reason="no-longer-a-priority")
    _evidence(run, D, ["breach-reference", "service-users-transferred", "records-transferred", "termination-costs"])
    _terminate(run)
    crit = _criterion(run, D, "breach-reason", "--to", "terminate-immediately")
    assert crit["reason"] == "reason is 'no-longer-a-priority'; this needs quality-failure or contract-breach"
    run("project", "advance", D, "--to", "terminate-immediately", expect=3)


def test_recommissioning_links_both_ways(ready: Cli) -> None:
    run = ready
    _decommission(run)
    run("project", "new", "camhs-2029", "--title", "CAMHS Tiers 2 and 3 (2029)", "--replaces", "camhs",
        "--accountable-body", BODY)
    assert run.json("project", "show", "camhs-2029")["links"] == [
        {"kind": "replaces", "project": "camhs", "stage": "decommission"}]
    assert {"kind": "replaced-by", "project": "camhs-2029", "stage": "analyse"} in (
        run.json("project", "show", "camhs")["links"])
    text = run("project", "show", "camhs").stdout
    assert "replaced-by       camhs-2029 (at analyse)" in text
    log = run.json("audit", "log", "camhs")
    link = log[-1]["payload"]
    assert log[-1]["action"] == "project.link" and {k: v for k, v in link.items() if k != "rows"} == {
        "kind": "replaced-by", "other": "camhs-2029", "version": link["version"]}
    # The entry carries the images of what it wrote: the new project, both links and camhs's new version.
    assert [(r["table"], r["row"].get("kind") or r["row"].get("key")) for r in link["rows"]] == [
        ("link", "replaces"), ("link", "replaced-by"), ("project", "camhs")]
    created = run.json("audit", "log", "camhs-2029")[0]
    assert created["payload"]["replaces"] == "camhs"


def test_every_decommissioning_criterion_has_a_reason_and_a_hint(ready: Cli) -> None:
    run = ready
    _decommission(run)
    seen = set()
    for gate, to in (("analyse-plan", None), ("plan-do", None), ("do-review", "do-review"),
                     ("terminate-immediately", "terminate-immediately"), ("review-closed", None)):
        check = run.json("gate", "check", D, *(["--to", to] if to else []))
        assert check["gate"] == gate
        for c in check["criteria"]:
            assert c["reason"], c
            if not c["met"]:
                assert c["hint"] and c["hint"].startswith("cycle "), c
            seen.add(c["id"])
        if gate == "analyse-plan":
            _evidence(run, D, SERVICE_REVIEW)
            go(run, D, gate)
            run("project", "advance", D)
        elif gate == "plan-do":
            _evidence(run, D, PLAN)
            go(run, D, gate)
            run("project", "advance", D)
        elif gate == "terminate-immediately":
            run("contract", "notice", D, "--served-on", TODAY.isoformat(), "--ref", "NL")
            _evidence(run, D, TRANSFER)
            go(run, D, "do-review")
            run("project", "advance", D, "--to", "do-review")
    assert {"notice-served", "alternative-provider", "breach-reference", "learning-shared"} <= seen


def test_contracts_due_soonest_first_with_what_happens(run: Cli) -> None:
    run("init")
    for key, end in (("a", "2027-03-31"), ("b", "2026-12-31"), ("c", "2029-03-31"), ("d", "2027-01-31")):
        run("project", "new", key, "--title", key.upper())
        run("contract", "set", key, "--provider", f"P{key}", "--start", "2024-04-01", "--end", end,
            "--notice", "3 months", "--run-on", "6 months")
    run("decision", "record", "d", "--gate", "analyse-plan", "--outcome", "stop", "--body", "Board", "--ref", "m",
        expect=2)  # d has no accountable body: the decision is refused ...
    run("project", "set", "d", "--accountable-body", "Board")
    run("decision", "record", "d", "--gate", "analyse-plan", "--outcome", "stop", "--body", "Board", "--ref", "m")
    rows = run.json("contracts", "due", "--as-of", "2026-10-01", "--within", "180d")
    # b's notice deadline (30 Sept) passed yesterday: it will not end on 31 December but run on to
    # 30 June 2027, after this window; c is years away; d was stopped (closed), but its contract runs on
    # with notice not served, so it is still followed
    assert [(r["project"], r["date"], r["what"]) for r in rows] == [("d", "2026-10-31", "notice deadline"),
                                                                     ("a", "2026-12-31", "notice deadline")]
    assert rows[1]["if_nothing_is_done"].startswith("Serve notice by 2026-12-31 (in 91 days)")
    rows = run.json("contracts", "due", "--as-of", "2026-10-01", "--within", "9 months")
    assert [(r["project"], r["date"], r["what"]) for r in rows] == [
        ("d", "2026-10-31", "notice deadline"), ("a", "2026-12-31", "notice deadline"),
        ("b", "2027-06-30", "run-on ends")]
    assert rows[2]["if_nothing_is_done"] == "Notice deadline 2026-09-30 has passed: the contract runs on to 2027-06-30."
    assert (rows[2]["end"], rows[2]["effective_end"]) == ("2026-12-31", "2027-06-30")
    text = run("contracts", "due", "--as-of", "2026-10-01", "--within", "9m").stdout.splitlines()
    assert [line[:30] for line in text if line[:4].isdigit()] == [  # (d's Saturday deadline has a note line too)
        "2026-10-31  notice deadline d ", "2026-12-31  notice deadline a ", "2027-06-30  run-on ends     b "]
    assert run("contracts", "due", "--as-of", "2026-10-01", "--within", "29d").stdout == "Nothing due within 29d.\n"


def _dump(db: Database) -> dict[str, list[tuple[object, ...]]]:
    return db.dump(("project", "contract", "audit_entry"))


@pytest.mark.parametrize(("args", "error"), [
    (["--start", "2027-04-01", "--end", "2026-03-31"], "the end date 2026-03-31 is before the start date 2027-04-01"),
    (["--start", "2026-04-01", "--end", "2026-09-30", "--notice", "12 months"],
     "a notice period of 12 months is longer than the contract (2026-04-01 to 2026-09-30): notice would have to be "
     "served by 2025-09-30, before it starts"),
    (["--end", "2027-03-31", "--extension-to", "2027-01-01"],
     "--extension-to 2027-01-01 is before the end date 2027-03-31; it is the latest end the extensions allow"),
    (["--end", "31/03/2027"], "--end '31/03/2027' is not a date; use YYYY-MM-DD, e.g. 2027-03-31"),
    (["--notice", "a while"], "--notice 'a while' is not a period; write e.g. '6 months', '90 days' or "
                              "'60 working days'"),
    (["--value", "lots"], "--value 'lots' is not an amount in pounds; write e.g. 1250000, £1,250,000 or 1.25m"),
])
def test_impossible_contract_terms_are_refused_and_nothing_is_written(ready: Cli, db: Database, args: list[str],
                                                                       error: str) -> None:
    before = _dump(db)
    result = ready("contract", "set", "camhs", *args, expect=2)
    assert result.stderr == f"Error: {error}\n"
    assert _dump(db) == before


def test_notice_cannot_be_recorded_in_the_future(ready: Cli, db: Database) -> None:
    _contract(ready)
    before = _dump(db)
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    err = ready("contract", "notice", "camhs", "--served-on", tomorrow, "--ref", "x", expect=2).stderr
    assert err == f"Error: --served-on {tomorrow} is in the future; record notice once it has been served\n"
    assert _dump(db) == before


def test_contract_show_as_of_a_past_date(ready: Cli) -> None:
    ready("contract", "set", "camhs", "--provider", "Trust X", "--start", "2025-04-01", "--end", "2028-03-31",
          "--notice", "6 months", "--run-on", "12 months", "--value", "£3,600,000")
    shown = ready.json("contract", "show", "camhs", "--as-of", "2027-10-01")
    assert (shown["notice_deadline"], shown["status"], shown["run_on_to"]) == ("2027-09-30", "passed", "2029-03-31")
    assert shown["value_total"] == "3600000.00"
    assert "  value           total £3,600,000.00\n" in ready("contract", "show", "camhs").stdout
    assert ready.json("contract", "show", "camhs", "--as-of", "2026-10-01")["status"] == "open"
    err = ready("contract", "show", "camhs", "--as-of", "1 October", expect=2).stderr
    assert err == "Error: --as-of '1 October' is not a date; use YYYY-MM-DD, e.g. 2027-03-31\n"


def test_only_the_accountable_body_may_stop_a_service_waiting_on_its_decommissioning(ready: Cli,
                                                                                       db: Database) -> None:
    """decommission-closed has no decision criterion (only the link); it is still the accountable body's gate."""
    run = ready
    _decommission(run)
    before = _dump(db)
    err = run("decision", "record", "camhs", "--gate", "decommission-closed", "--outcome", "stop", "--body",
              "Bob's Own Committee", "--ref", "x", user="bob", expect=2).stderr
    assert err == "Error: gate decommission-closed is decided by Children's Trust Board, not Bob's Own Committee\n"
    assert _dump(db) == before
    assert run.json("project", "show", "camhs")["stage"] == "decommission"
