"""Issue 18 part 3: a workflow's gate can hold a project until its procurement allows it: criteria of kind
"procurement" (require = "route", "standstill-ended" or "award-notice"), each with a hint naming the command. A project
with no procurement recorded is not held by them (its gates behave as before)."""

from __future__ import annotations

from pathlib import Path

from .conftest import Cli, Database
from .test_procurement import at, on, step

AWARD = '''name = "award"
title = "Award"
initial = "do"
stop = "closed"

[[stage]]
id = "do"

[[stage]]
id = "review"
final = true

[[stage]]
id = "closed"
final = true

[[gate]]
id = "do-review"
from = "do"
to = "review"

  [[gate.criterion]]
  id = "route-chosen"
  kind = "procurement"
  require = "route"
  title = "Procurement route chosen"

  [[gate.criterion]]
  id = "standstill-ended"
  kind = "procurement"
  require = "standstill-ended"
  title = "Standstill ended with no representations outstanding"

  [[gate.criterion]]
  id = "award-notice"
  kind = "procurement"
  require = "award-notice"
  title = "Award notice published"
  level = "should"
'''


def install(run: Cli, home: Path) -> None:
    (home / "workflows").mkdir(parents=True, exist_ok=True)
    (home / "workflows" / "award.toml").write_text(AWARD, encoding="utf-8")
    run("init")
    run("workflow", "install", str(home / "workflows" / "award.toml"))
    run("project", "new", "camhs", "--title", "CAMHS", "--workflow", "award")


def criteria(run: Cli, day: str) -> dict[str, tuple[bool, str, str | None]]:
    with on(day):
        found = run.json("gate", "check", "camhs")
    return {c["id"]: (c["met"], c["reason"], c["hint"]) for c in found["criteria"]}


def test_a_project_without_a_procurement_keeps_todays_behaviour(run: Cli, home: Path) -> None:
    install(run, home)
    found = criteria(run, "2027-01-05")
    assert found["route-chosen"] == (
        True, "Not required: no procurement recorded for camhs (record its route with: cycle procurement start camhs "
              "--regime psr|pa2023 ...)", None)
    assert all(met for met, _, _ in found.values())
    at(run, "2027-01-05", "project", "advance", "camhs")


def test_the_gate_waits_for_the_standstill_and_names_the_command(run: Cli, home: Path, db: Database) -> None:
    install(run, home)
    at(run, "2027-01-04", "procurement", "start", "camhs", "--regime", "psr", "--process", "direct-award-c")
    found = criteria(run, "2027-01-05")
    assert found["route-chosen"][:2] == (True, "Provider Selection Regime (SI 2023/1348): Direct Award Process C "
                                               "(existing provider satisfying the contract, no considerable change)")
    assert found["standstill-ended"] == (False, "Standstill period has not begun: no intention-notice recorded "
                                                "(psr direct-award-c)",
                                         "cycle procurement step camhs intention-notice --on DATE")
    step(run, "camhs", "decision", "2027-01-05")
    step(run, "camhs", "intention-notice", "2027-01-11")
    assert criteria(run, "2027-01-22")["standstill-ended"] == (
        False, "Standstill period ends at the end of 2027-01-22; award not before 2027-01-23",
        "cycle procurement show camhs")
    at(run, "2027-01-22", "project", "advance", "camhs", expect=3)
    step(run, "camhs", "representations", "2027-01-20")
    assert criteria(run, "2027-01-25")["standstill-ended"][0] is False
    step(run, "camhs", "further-decision", "2027-01-25")
    # 26,27,28,29, Mon 1 Feb
    assert criteria(run, "2027-02-01")["standstill-ended"][0] is False
    assert criteria(run, "2027-02-02")["standstill-ended"] == (
        True, "Standstill period ended at the end of 2027-02-01", None)
    assert criteria(run, "2027-02-02")["award-notice"] == (
        False, "No award notice recorded (psr direct-award-c)",
        "cycle procurement step camhs award-notice --on DATE --ref REF")
    at(run, "2027-02-02", "project", "advance", "camhs")
    assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")


def test_a_light_touch_contract_has_no_standstill_to_wait_for(run: Cli, home: Path) -> None:
    install(run, home)
    at(run, "2027-01-04", "procurement", "start", "camhs", "--regime", "pa2023", "--procedure", "open",
       "--light-touch")
    assert criteria(run, "2027-01-05")["standstill-ended"] == (
        True, "No mandatory standstill on pa2023 open (light touch contract)", None)


def test_a_procurement_criterion_needs_require(run: Cli, home: Path) -> None:
    path = home / "bad.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(AWARD.replace('name = "award"', 'name = "bad"').replace('  require = "route"\n', ''),
                    encoding="utf-8")
    assert run("workflow", "check", str(path), expect=2).stderr == (
        f"Error: {path}: gate 'do-review' criterion 'route-chosen': a procurement criterion needs require = one of: "
        f"route, standstill-ended, award-notice\n")
