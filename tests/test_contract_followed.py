"""A live contract never drops out of sight: a gate into a final stage waits for notice (the engine's own rule,
whatever the workflow's TOML says), a stop says what happens to the contract, and `contracts due` and the notice
reminders follow every contract whatever its project's stage."""

from __future__ import annotations

from datetime import date

import pytest

from cycle.calendar import clock

from .conftest import BODY, Cli, go
from .reminder_setup import Y, live_project

DEADLINE = f"{Y + 3}-03-31"  # live_project's contract: ends 30 September Y+3, six months' notice


def _to_review(run: Cli) -> None:
    """camhs (contract from 2025, notice not served) at review, with everything review-closed needs."""
    live_project(run, start="2025-04-01")
    run("evidence", "add", "camhs", "contract-award", "--ref", "award letter")
    go(run, "camhs", "do-review")
    run("project", "advance", "camhs")
    run("evidence", "add", "camhs", "outcomes-evaluation", "--ref", "evaluation")
    go(run, "camhs", "review-closed")


def test_a_gate_into_a_final_stage_waits_for_notice_on_a_live_contract(run: Cli) -> None:
    _to_review(run)
    consequence = run.json("contract", "show", "camhs")["if_nothing_is_done"]
    assert consequence.startswith(f"Serve notice by {DEADLINE} (in ")
    reason = (f"The contract C-1 with Trust X is live and notice has not been served: {consequence} Closing now "
              f"would leave it running unseen: serve notice, or if it was ended early (terminated), record its end "
              f"with: cycle contract set camhs --end YYYY-MM-DD --if-no-notice ends")
    hint = "cycle contract notice camhs --served-on YYYY-MM-DD --ref <REF>"
    # gate check shows it, as a must criterion with its hint
    check = run.json("gate", "check", "camhs", "--to", "closed")
    (rule,) = [c for c in check["criteria"] if c["id"] == "contract-notice"]
    assert (rule["kind"], rule["must"], rule["met"], rule["reason"], rule["hint"]) == (
        "contract", True, False, reason, hint)
    assert not check["open"]
    assert "contract-notice" in run("gate", "check", "camhs", "--to", "closed").stdout
    # the advance is refused (exit 3), the project stays, and the refusal names it
    refused = run("project", "advance", "camhs", "--to", "closed", expect=3)
    assert refused.stderr == ("Refused: camhs stays at review; gate review-closed to closed needs:\n"
                              f"  - contract-notice: {reason}\n      {hint}\n"
                              "The refused attempt is recorded in the audit log.\n")
    assert run.json("project", "show", "camhs")["stage"] == "review"
    entry = run.json("audit", "log", "camhs")[-1]
    assert (entry["action"], entry["payload"]["rules"], entry["payload"]["unmet"]) == (
        "advance.refused", ["contract-notice"], ["contract-notice"])
    # a team cannot waive it away (a governance lead is asked, and refused with the next step)
    run("people", "add", "gina", "--role", "governance-lead")
    waived = run("gate", "waive", "camhs", "contract-notice", "--reason", "close it anyway", "--to", "closed",
                 user="gina", expect=2)
    assert waived.stderr == ("Error: contract-notice is the engine's own rule and cannot be waived: a project may "
                             f"not close with its contract left running unseen; next: {hint}\n")
    # a gate that does not lead to a final stage is not held up by it
    assert "contract-notice" not in [c["id"] for c in run.json("gate", "check", "camhs", "--to", "analyse")["criteria"]]
    # notice served: the gate opens, and the move's entry says which engine rules it was checked against
    run("contract", "notice", "camhs", "--served-on", str(clock.london_today()), "--ref", "NL-1")
    (rule,) = [c for c in run.json("gate", "check", "camhs", "--to", "closed")["criteria"]
               if c["id"] == "contract-notice"]
    assert rule["met"] and rule["reason"].startswith("The contract C-1 with Trust X: Notice served on ")
    run("project", "advance", "camhs", "--to", "closed")
    entry = run.json("audit", "log", "camhs")[-1]
    assert (entry["action"], entry["payload"]["rules"]) == ("advance", ["contract-notice"])
    assert {"id": "contract-notice", "met": True} == {k: v for k, v in entry["payload"]["criteria"][-1].items()
                                                     if k in ("id", "met")}
    run("audit", "verify")


def test_an_old_log_that_closed_a_project_with_a_live_contract_still_verifies(
        run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the rule existed a project could close with its contract live; that log must still verify, and a
    later close (under the rule) is checked against it."""
    from cycle.workflow import gates, install

    with monkeypatch.context() as m:  # the cycle of before: no engine rules, in its db.init entry either
        m.setattr(gates, "rules_for", lambda *args, **kwargs: [])
        m.setattr(install, "RULES", ())
        _to_review(run)
        run("project", "advance", "camhs", "--to", "closed")
    entry = run.json("audit", "log", "camhs")[-1]
    assert entry["action"] == "advance" and "rules" not in entry["payload"]
    assert run("audit", "verify").stdout.startswith("Audit chain verified")
    # the closed project's live contract is still followed
    assert [r["project"] for r in run.json("contracts", "due", "--within", "10y")] == ["camhs"]


def test_a_stop_says_the_contract_runs_on_and_it_stays_followed(run: Cli) -> None:
    live_project(run, start="2025-04-01")
    plan = run.json("remind", "--dry-run", "--as-of", f"{Y + 2}-12-31")
    assert ("notice", f"{DEADLINE}/90d") in [(r["kind"], r["period"]) for r in plan["reminders"]]
    consequence = run.json("contract", "show", "camhs")["if_nothing_is_done"]
    out = run("decision", "record", "camhs", "--gate", "do-review", "--outcome", "stop", "--body", BODY,
              "--ref", "minutes 12", user="clerk").stdout
    lines = out.splitlines()
    assert lines[1].startswith("camhs moved do -> closed (audit entry ")
    assert lines[2] == (f"The contract C-1 with Trust X still runs, and notice has not been served: {consequence} "
                        f"cycle goes on following it (cycle contracts due, and the notice reminders); serve notice "
                        f"and record it with: cycle contract notice camhs --served-on YYYY-MM-DD --ref REF, or if it "
                        f"was ended early, record its end with: cycle contract set camhs --end YYYY-MM-DD "
                        f"--if-no-notice ends")
    entry = run.json("audit", "log", "camhs")[-1]
    assert entry["payload"]["contract_running"] == {"contract_of": "camhs", "status": "open",
                                                   "notice_deadline": DEADLINE}
    assert run.json("project", "show", "camhs")["stage"] == "closed"
    # followed whatever the stage: contracts due, the notice ladder, and the quarterly reviews while it runs
    (row,) = run.json("contracts", "due", "--within", "10y")
    assert (row["project"], row["date"], row["what"]) == ("camhs", DEADLINE, "notice deadline")
    plan = run.json("remind", "--dry-run", "--as-of", f"{Y + 2}-12-31")
    kinds = [(r["kind"], r["period"], r["recipient"]) for r in plan["reminders"]]
    assert ("notice", f"{DEADLINE}/90d", "alice") in kinds and ("notice", f"{DEADLINE}/90d", "sam") in kinds
    assert any(k == "review-due" for k, _, _ in kinds)
    run("audit", "verify")


def test_a_stop_with_no_contract_or_notice_served_says_nothing_more(run: Cli) -> None:
    live_project(run, start="2025-04-01")
    run("contract", "notice", "camhs", "--served-on", str(date.today()), "--ref", "NL-1")
    out = run("decision", "record", "camhs", "--gate", "do-review", "--outcome", "stop", "--body", BODY,
              "--ref", "minutes 12", user="clerk").stdout
    assert len(out.splitlines()) == 2
    assert "contract_running" not in run.json("audit", "log", "camhs")[-1]["payload"]


def test_a_contract_ended_early_is_recorded_by_its_end_and_then_the_project_may_close(run: Cli) -> None:
    """Terminated (immediate termination, say): no notice is served, its end is recorded instead."""
    _to_review(run)
    run("project", "advance", "camhs", "--to", "closed", expect=3)
    today = str(clock.london_today())
    run("contract", "set", "camhs", "--end", today, "--if-no-notice", "ends")
    (rule,) = [c for c in run.json("gate", "check", "camhs", "--to", "closed")["criteria"]
               if c["id"] == "contract-notice"]
    assert (rule["met"], rule["reason"]) == (True, f"The contract C-1 with Trust X: Ends on {today} without notice "
                                                   f"(its terms need none).")
    run("project", "advance", "camhs", "--to", "closed")
    run("audit", "verify")
