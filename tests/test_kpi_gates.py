"""Gates on contract performance (issue 17 part 6): `kind = "kpi"` (returns, actions) and `kind = "review"` criteria
in a workflow's TOML, judged through the real CLI, and the built-in commissioning workflow using them.

The gate is checked with --as-of on days in 2025-2026 where it can be; `project advance` and review meetings use the
real day (an advance has no --as-of, and a meeting cannot be recorded before it is held), so those tests work out
their quarters from today.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

import cycle.workflow.definition
from cycle.calendar import clock, quarters

from .conftest import BODY, CAMHS, Cli, Database, go

ROOT = Path(__file__).resolve().parent.parent

PERF = """name = "perf"
initial = "plan"

[[stage]]
id = "plan"

[[stage]]
id = "do"

[[stage]]
id = "review"

[[stage]]
id = "closed"
final = true

[[gate]]
id = "plan-do"
from = "plan"
to = "do"

[[gate]]
id = "do-review"
from = "do"
to = "review"

  [[gate.criterion]]
  id = "returns"
  kind = "kpi"
  rule = "returns"
  quarters = 2
  title = "Returns for the last two quarters"

  [[gate.criterion]]
  id = "actions"
  kind = "kpi"
  rule = "actions"
  title = "An action for each miss"

  [[gate.criterion]]
  id = "meetings"
  kind = "review"
  level = "should"
  title = "A review meeting for the last quarter"

[[gate]]
id = "review-closed"
from = "review"
to = "closed"
"""

RTT = ("--title", "Referral to treatment within 4 weeks", "--unit", "%", "--target", "92", "--better", "higher",
       "--tolerance", "5")


def _perf(run: Cli, home: Path, *, contract: bool = True, kpis: tuple[str, ...] = ("rtt-4wk",)) -> Cli:
    """Project p on the perf workflow at do, with a contract from 2024-04-01 and the indicators `kpis`."""
    run("init")
    path = home / "perf.toml"
    path.write_text(PERF)
    run("workflow", "install", str(path))
    run("project", "new", "p", "--title", "P", "--workflow", "perf", "--owner", "alice")
    run("project", "advance", "p")
    if contract:
        run("contract", "set", "p", "--provider", "Trust X", "--ref", "CR-1", "--start", "2024-04-01", "--end",
            "2035-03-31", "--notice", "6 months")
    for k in kpis:
        run("kpi", "add", "p", k, *RTT)
    return run


def _criteria(run: Cli, on: str) -> dict[str, tuple[bool, str, str | None]]:
    found = run.json("gate", "check", "p", "--as-of", on)
    return {c["id"]: (c["met"], c["reason"], c["hint"]) for c in found["criteria"]}


def _record(run: Cli, kpi: str, quarter: str, value: str = "93") -> None:
    run("kpi", "record", "p", kpi, "--quarter", quarter, "--value", value)


# --- validation ---------------------------------------------------------------------------------------------------

RETURNS = 'rule = "returns"\n  quarters = 2\n'


@pytest.mark.parametrize(("new", "problem"), [
    ("quarters = 2\n", "a kpi criterion needs rule = one of: returns, actions (not none)"),
    ('rule = "retruns"\n', 'a kpi criterion needs rule = one of: returns, actions (not "retruns")'),
    ('rule = ["returns"]\n', 'a kpi criterion needs rule = one of: returns, actions (not ["returns"])'),
    ('rule = "returns"\n  quarters = "2"\n', 'quarters must be a whole number from 1 to 40 (no quotes), not "2"'),
    ('rule = "returns"\n  quarters = 0\n', "quarters must be a whole number from 1 to 40 (no quotes), not 0"),
    ('rule = "returns"\n  quarters = 41\n', "quarters must be a whole number from 1 to 40 (no quotes), not 41"),
    ('rule = "returns"\n  quarters = true\n', "quarters must be a whole number from 1 to 40 (no quotes), not true"),
    ('rule = "returns"\n  quarters = 1.5\n', "quarters must be a whole number from 1 to 40 (no quotes), not 1.5"),
])
def test_a_bad_kpi_criterion_is_one_line_naming_the_entry(run: Cli, tmp_path: Path, new: str, problem: str) -> None:
    path = tmp_path / "perf.toml"
    path.write_text(PERF.replace(RETURNS, new, 1))
    before = run("workflow", "check", str(path), expect=2)
    assert before.stderr == f"Error: {path}: gate 'do-review' criterion 'returns': {problem}\n"


@pytest.mark.parametrize(("where", "add", "problem"), [
    ('id = "meetings"\n  kind = "review"\n', 'rule = "returns"\n', 'rule = "..." is for a kpi criterion only'),
    ('kind = "review"\n  level = "should"\n  title = "A review meeting for the last quarter"\n\n[[gate]]\nid = '
     '"review-closed"\nfrom = "review"\nto = "closed"\n', "", ""),
])
def test_rule_and_quarters_belong_to_their_kinds(run: Cli, tmp_path: Path, where: str, add: str,
                                                 problem: str) -> None:
    path = tmp_path / "perf.toml"
    if problem:
        path.write_text(PERF.replace(where, where + "  " + add, 1))
        assert run("workflow", "check", str(path), expect=2).stderr == (
            f"Error: {path}: gate 'do-review' criterion 'meetings': {problem}\n")
    evidence = PERF.replace('[[gate]]\nid = "review-closed"\nfrom = "review"\nto = "closed"\n',
                            '[[gate]]\nid = "review-closed"\nfrom = "review"\nto = "closed"\n\n  [[gate.criterion]]\n'
                            '  id = "eval"\n  kind = "evidence"\n  quarters = 2\n')
    path.write_text(evidence)
    assert run("workflow", "check", str(path), expect=2).stderr == (
        f"Error: {path}: gate 'review-closed' criterion 'eval': quarters = N is for a kpi or review criterion only\n")


# --- returns --------------------------------------------------------------------------------------------------------

def test_returns_exactly_n_quarters_met_and_one_missing_named(run: Cli, home: Path) -> None:
    """On 2026-01-31 the last two complete quarters are 2025-Q2 and 2025-Q3 (2025-Q4, January to March 2026, has
    not ended): both needed for each indicator, and no more."""
    _perf(run, home, kpis=("rtt-4wk", "wait"))
    for k in ("rtt-4wk", "wait"):
        _record(run, k, "2025-Q2")
    _record(run, "rtt-4wk", "2025-Q3")
    met, reason, hint = _criteria(run, "2026-01-31")["returns"]
    assert (met, reason, hint) == (
        False, "No value recorded for: wait 2025-Q3; looking at the last 2 complete quarters, 2025-Q2 to 2025-Q3",
        "cycle kpi record p wait --quarter 2025-Q3 --value N (or a provider's return: cycle kpi import FILE)")
    _record(run, "wait", "2025-Q3")
    assert _criteria(run, "2026-01-31")["returns"] == (
        True, "Each of 2 indicators has a value for every quarter its contract ran in the last 2 complete quarters, "
              "2025-Q2 to 2025-Q3", None)
    # 2025-Q1, before the window, is not asked for; the day after 2025-Q4 ends, it is, and 2025-Q2 no longer
    assert _criteria(run, "2026-03-31")["returns"][0] is True
    assert _criteria(run, "2026-04-01")["returns"][1].startswith(
        "No value recorded for: rtt-4wk 2025-Q4; wait 2025-Q4; looking at the last 2 complete quarters, 2025-Q3 to "
        "2025-Q4")


def test_a_quarter_before_the_contract_began_is_not_asked_for(run: Cli, home: Path) -> None:
    _perf(run, home)
    run("contract", "set", "p", "--start", "2025-10-01")
    _record(run, "rtt-4wk", "2025-Q3")
    assert _criteria(run, "2026-01-31")["returns"][0] is True  # 2025-Q2 was before the start


def test_no_contract_or_no_indicators_meets_the_kpi_criteria(run: Cli, home: Path) -> None:
    _perf(run, home, contract=False, kpis=())
    found = _criteria(run, "2026-01-31")
    assert found["returns"] == (True, "No contract recorded: no indicators to look at", None)
    assert found["meetings"][:2] == (True, "No review meeting due yet: no complete quarter in which a contract ran "
                                           "since the project entered do")
    run("contract", "set", "p", "--provider", "Trust X", "--start", "2024-04-01", "--end", "2035-03-31",
        "--notice", "6 months")
    assert _criteria(run, "2026-01-31")["actions"] == (
        True, "No indicators: the contract has none recorded (add them with: cycle kpi add p ID ...)", None)


# --- actions --------------------------------------------------------------------------------------------------------

def test_a_missed_quarter_needs_an_open_or_done_action(run: Cli, home: Path) -> None:
    _perf(run, home)
    _record(run, "rtt-4wk", "2025-Q2", "80")  # missed, but before the last complete quarter
    _record(run, "rtt-4wk", "2025-Q3", "87")  # near: exactly at the tolerance
    assert _criteria(run, "2026-01-31")["actions"] == (
        True, "No indicator missed its target in the last complete quarter, 2025-Q3", None)
    run("kpi", "record", "p", "rtt-4wk", "--quarter", "2025-Q3", "--value", "86.9", "--replace")  # missed
    met, reason, hint = _criteria(run, "2026-01-31")["actions"]
    assert (met, reason, hint) == (
        False, "No open or done action for: rtt-4wk missed in 2025-Q3; looking at the last complete quarter, 2025-Q3",
        'cycle action add p "Recovery plan for rtt-4wk" --owner NAME --due YYYY-MM-DD --kpi rtt-4wk')
    run("action", "add", "p", "Something else", "--owner", "alice", "--due", "2027-01-31")  # not about rtt-4wk
    assert _criteria(run, "2026-01-31")["actions"][0] is False
    run("action", "add", "p", "Recovery plan for RTT", "--owner", "alice", "--due", "2027-01-31", "--kpi", "rtt-4wk")
    assert _criteria(run, "2026-01-31")["actions"] == (
        True, "Each of 1 missed quarter in the last complete quarter, 2025-Q3 has an action, open or done since", None)
    run("action", "done", "p", "2", "--note", "plan agreed")  # done today: still counts
    assert _criteria(run, "2026-01-31")["actions"][0] is True


# --- review meetings and the refused advance ------------------------------------------------------------------------

def test_the_advance_is_refused_naming_the_quarter_and_the_command_then_opens(run: Cli, home: Path,
                                                                               db: Database) -> None:
    _perf(run, home)
    today = clock.london_today()
    last = quarters.quarter_of(today) - 1
    _record(run, "rtt-4wk", str(last - 2))  # returns on file from before the window (the indicator was added today)
    _record(run, "rtt-4wk", str(last))
    before = db.dump()
    refused = run("project", "advance", "p", expect=3)
    assert refused.stderr.startswith(
        f"Refused: p stays at do; gate do-review to review needs:\n"
        f"  - returns: No value recorded for: rtt-4wk {last - 1}; looking at the last 2 complete quarters, "
        f"{last - 1} to {last}\n"
        f"      cycle kpi record p rtt-4wk --quarter {last - 1} --value N (or a provider's return: cycle kpi import "
        f"FILE)\n")
    assert {t: r for t, r in db.dump().items() if t != "audit_entry"} == {
        t: r for t, r in before.items() if t != "audit_entry"}
    _record(run, "rtt-4wk", str(last - 1))
    assert run("project", "advance", "p").stdout.startswith("p moved do -> review through gate do-review ")
    entry = json.loads(db.audit()[-1]["payload"])  # the advance keeps each criterion's result, these too
    assert {c["id"]: (c["kind"], c["met"]) for c in entry["criteria"]} == {
        "returns": ("kpi", True), "actions": ("kpi", True), "meetings": ("review", True)}
    assert entry["criteria"][0]["reason"] == (f"Each of 1 indicator has a value for every quarter its contract ran "
                                              f"in the last 2 complete quarters, {last - 1} to {last}")
    assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")


def test_a_review_meeting_is_needed_for_the_quarter_the_contract_ran_since_do(run: Cli, home: Path) -> None:
    """The project entered do today, so the first quarter a review is due for is this one, once it has ended."""
    _perf(run, home, kpis=())
    today = clock.london_today()
    q = quarters.quarter_of(today)
    after = (q + 1).start + timedelta(days=1)
    assert _criteria(run, str(today))["meetings"][0] is True  # this quarter has not ended
    met, reason, hint = _criteria(run, str(after))["meetings"]
    assert (met, reason, hint) == (
        False, f"No review meeting recorded for {q} (of the quarters due: {q})",
        f"cycle review record p --quarter {q} --held-on YYYY-MM-DD --attendee NAME")
    run("review", "record", "p", "--quarter", str(q), "--held-on", str(today))
    assert _criteria(run, str(after))["meetings"] == (True, f"Review meeting recorded for each quarter due ({q})",
                                                      None)


# --- the built-in workflow ------------------------------------------------------------------------------------------

def test_the_built_in_workflow_asks_for_them_at_do_review_and_review_analyse(run: Cli) -> None:
    run("init")
    shown = run.json("workflow", "show", "commissioning")
    gates = {g["id"]: {c["id"]: c for c in g["criteria"]} for g in shown["gates"]}
    assert {k: (gates["do-review"][k]["kind"], gates["do-review"][k]["must"])
            for k in ("kpi-returns-do", "kpi-actions-do", "review-meetings-do")} == {
        "kpi-returns-do": ("kpi", False), "kpi-actions-do": ("kpi", False), "review-meetings-do": ("review", False)}
    assert (gates["review-analyse"]["kpi-returns"]["kind"], gates["review-analyse"]["kpi-returns"]["must"]) == (
        "kpi", True)
    assert (gates["review-analyse"]["kpi-returns"]["rule"], gates["review-analyse"]["kpi-returns"]["quarters"]) == (
        "returns", 4)
    shown = run("workflow", "show", "commissioning").stdout.splitlines()
    assert ("    must   kpi-returns                kpi returns, last 4 quarters: Each indicator of the contract has "
            "the provider's return for each of the last four complete quarters (section 8)") in shown
    assert any(line.startswith("    should review-meetings-do         review meetings, last 1 quarter: ")
               for line in shown)


def _without_performance(text: str) -> str:
    """The built-in commissioning workflow as main shipped it before this change: no kpi or review criteria."""
    text = re.sub(r"\n  # Section 8[^\n]*\n(?:  #[^\n]*\n)*", "\n", text)
    return re.sub(r"\n  \[\[gate\.criterion\]\]\n  id = \"[a-z-]+\"\n  kind = \"(?:kpi|review)\"\n(?:  [^\n]+\n)*", "",
                  text)


def test_a_database_made_before_keeps_its_workflow_version(run: Cli, db: Database, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A database whose projects run on the earlier built-in workflow: `cycle init` after the upgrade installs this
    one as the next version; its projects stay on theirs (no kpi criterion appears), new projects take the new one."""
    new = (ROOT / "workflows" / "commissioning.toml").read_text()
    old = _without_performance(new)
    assert old != new and 'kind = "kpi"' not in old and 'kind = "review"' not in old
    shipped = tmp_path / "shipped"
    shutil.copytree(ROOT / "workflows", shipped)
    (shipped / "commissioning.toml").write_text(old)
    shipping = cycle.workflow.definition.builtin_dir
    monkeypatch.setattr(cycle.workflow.definition, "builtin_dir", lambda: shipped)
    run("init")
    run(*CAMHS)
    run("contract", "set", "camhs", "--provider", "Trust X", "--start", "2024-04-01", "--end", "2035-03-31",
        "--notice", "6 months")
    run("kpi", "add", "camhs", "rtt-4wk", *RTT)
    monkeypatch.setattr(cycle.workflow.definition, "builtin_dir", shipping)  # the upgrade
    assert "commissioning version 2 (built-in)" in run("init").stdout
    assert run.json("project", "show", "camhs")["workflow_version"] == 1
    run("project", "new", "p2", "--title", "P2", "--accountable-body", BODY, "--owner", "bob")
    assert run.json("project", "show", "p2")["workflow_version"] == 2
    kinds = {c["kind"] for g in run.json("workflow", "show", "commissioning")["gates"] for c in g["criteria"]}
    assert {"kpi", "review"} <= kinds
    for stage in ("plan", "do", "review"):  # camhs walks its old version's gates as before
        gate = {"plan": "analyse-plan", "do": "plan-do", "review": "do-review"}[stage]
        for c in run.json("gate", "check", "camhs")["criteria"]:
            assert c["kind"] not in ("kpi", "review")
            if c["kind"] == "evidence" and c["must"]:
                run("evidence", "add", "camhs", c["id"], "--ref", "R1")
        go(run, "camhs", gate)
        run("project", "advance", "camhs")
    assert run.json("project", "show", "camhs")["stage"] == "review"
    assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")


def test_a_value_edited_by_hand_into_text_is_no_return_and_verify_names_it(run: Cli, home: Path,
                                                                           db: Database) -> None:
    _perf(run, home)
    for q in ("2025-Q2", "2025-Q3"):
        _record(run, "rtt-4wk", q)
    assert _criteria(run, "2026-01-31")["returns"][0] is True
    db.tamper("UPDATE kpi_value SET value = 'lots' WHERE quarter = '2025-Q3'")
    assert _criteria(run, "2026-01-31")["returns"][1].startswith("No value recorded for: rtt-4wk 2025-Q3; ")
    assert "kpi_value #2 differs from its audit entry" in run("audit", "verify", expect=1).stderr


@pytest.mark.parametrize("quarters", ["99999999999999999999999", "-1", "1e3", "[2]", "{ n = 2 }"])
def test_odd_quarters_in_the_toml_are_one_line(run: Cli, tmp_path: Path, quarters: str) -> None:
    path = tmp_path / "perf.toml"
    path.write_text(PERF.replace("quarters = 2\n", f"quarters = {quarters}\n", 1))
    refused = run("workflow", "check", str(path), expect=2)
    assert refused.stderr.startswith(f"Error: {path}: gate 'do-review' criterion 'returns': quarters must be a whole "
                                     f"number from 1 to 40 (no quotes), not ")
    assert refused.stderr.count("\n") == 1
