"""Leftovers of issue 16 part 1: the gate-audit report lists each project's contracts, a stop names every contract
it leaves running, and the plain `contracts due` line names the contract's reference."""

from __future__ import annotations

from .conftest import BODY, Cli
from .reminder_setup import Y, live_project

C2 = ["--provider", "Trust Y", "--start", f"{Y}-10-01", "--end", f"{Y + 3}-07-31", "--notice", "3 months",
      "--run-on", "6 months"]


def test_a_stop_names_every_contract_it_leaves_running(run: Cli) -> None:
    live_project(run, start="2025-04-01")
    run("contract", "add", "camhs", "--ref", "C-2", *C2)
    shown = {c["ref"]: c["if_nothing_is_done"] for c in run.json("contract", "show", "camhs")}
    out = run("decision", "record", "camhs", "--gate", "do-review", "--outcome", "stop", "--body", BODY,
              "--ref", "minutes 12", user="clerk").stdout
    lines = out.splitlines()
    assert lines[1].startswith("camhs moved do -> closed (audit entry ")
    assert lines[2:] == [
        f"The contract {ref} with {provider} still runs, and notice has not been served: {shown[ref]} cycle goes "
        f"on following it (cycle contracts due, and the notice reminders); serve notice and record it with: cycle "
        f"contract notice camhs --contract {ref} --served-on YYYY-MM-DD --ref REF, or if it was ended early, "
        f"record its end with: cycle contract set camhs --ref {ref} --end YYYY-MM-DD --if-no-notice ends"
        for ref, provider in (("C-1", "Trust X"), ("C-2", "Trust Y"))]
    payload = run.json("audit", "log", "camhs")[-1]["payload"]
    assert [(c["contract_ref"], c["status"]) for c in payload["contracts_running"]] == [("C-1", "open"),
                                                                                         ("C-2", "open")]
    assert payload["contract_running"]["contract_of"] == "camhs"  # the first, as before
    run("audit", "verify")


def test_contracts_due_names_each_contracts_reference(run: Cli) -> None:
    live_project(run)
    run("contract", "add", "camhs", "--ref", "C-2", *C2)
    out = run("contracts", "due", "--within", "10y", "--as-of", f"{Y + 1}-01-01").stdout
    assert [line.split(": ")[0].split(None, 3)[-1] for line in out.splitlines() if not line.startswith(" ")] == [
        "camhs              Trust X (C-1)", "camhs              Trust Y (C-2)"]


def test_the_gate_audit_report_lists_each_projects_contracts(run: Cli) -> None:
    live_project(run)
    run("contract", "add", "camhs", "--ref", "C-2", *C2)
    run("contract", "add", "camhs", "--ref", "C-3 | *odd*", "--provider", "Trust Z")  # incomplete terms
    data = run.json("report", "gate-audit", "camhs")
    assert data["projects"][0]["contracts"] == [
        {"ref": "C-1", "provider": "Trust X", "start_on": f"{Y}-10-01", "end_on": f"{Y + 3}-09-30",
         "notice_deadline_on": f"{Y + 3}-03-31", "notice_deadline_advice": None, "status": "open"},
        {"ref": "C-2", "provider": "Trust Y", "start_on": f"{Y}-10-01", "end_on": f"{Y + 3}-07-31",
         "notice_deadline_on": f"{Y + 3}-04-30", "notice_deadline_advice": None, "status": "open"},
        {"ref": "C-3 | *odd*", "provider": "Trust Z", "start_on": None, "end_on": None, "notice_deadline_on": None,
         "notice_deadline_advice": None, "status": "incomplete"}]
    md = run("report", "gate-audit", "camhs").stdout
    assert (f"Contracts: C-1 with Trust X, {Y}-10-01 to {Y + 3}-09-30, notice deadline {Y + 3}-03-31, open; "
            f"C-2 with Trust Y, {Y}-10-01 to {Y + 3}-07-31, notice deadline {Y + 3}-04-30, open; "
            "C-3 \\| \\*odd\\* with Trust Z, ? to ?, notice deadline -, incomplete.\n") in md
    html = run("report", "gate-audit", "camhs", "--format", "html").stdout
    assert (f"<tr><td>C-2</td><td>Trust Y</td><td>{Y}-10-01</td><td>{Y + 3}-07-31</td><td>{Y + 3}-04-30</td>"
            "<td>open</td></tr>") in html
