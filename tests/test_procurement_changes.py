"""Issue 18 part 6: `cycle contract set` that changes a contract's value or term past its regime's threshold says
which notice is needed and by when, and records it as pending (a procurement step, audited) so that `procurement show`
and `procurement due` list it until the notice is recorded. Below the threshold: one line, nothing pending.

Worked by hand: PSR reg 13(4)-(5) (a cumulative change in lifetime value of £500,000 or more since the contract was
entered into; a notice within 30 days of the modification, the day of the modification counted); Procurement Act
2023 s.75(1)-(2) (before modifying; not for 10% or less of the value or of the maximum term)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cycle.procurement import regimes

from .conftest import CAMHS, Cli, Database
from .test_procurement import at, on, step

CONTRACT = ("contract", "set", "camhs", "--provider", "Trust X", "--ref", "CR-1", "--notice", "6 months")


def due(run: Cli, day: str) -> list[dict[str, Any]]:
    with on(day):
        return run.json("procurement", "due", "--within", "60d")  # type: ignore[no-any-return]


def changed(run: Cli, day: str, *args: str) -> list[str]:
    """`contract set camhs ARGS` on `day`: the lines after the contract (what the change needs)."""
    out = at(run, day, "contract", "set", "camhs", *args).stdout.splitlines()
    return [line for line in out if not line.startswith(" ") and not line.startswith("Contract of ")]


def test_psr_a_value_change_of_500k_or_more_needs_a_modification_notice_within_30_days(ready: Cli,
                                                                                       db: Database) -> None:
    run = ready
    at(run, "2027-01-04", "procurement", "start", "camhs", "--regime", "psr", "--process", "direct-award-a")
    step(run, "camhs", "award", "2027-01-04")
    step(run, "camhs", "award-notice", "2027-01-05")
    at(run, "2027-01-05", *CONTRACT, "--start", "2027-04-01", "--end", "2030-03-31", "--value", "2m")
    before = db.dump(("procurement_step",))
    assert changed(run, "2027-02-01", "--value", "2.3m") == [
        "No modification notice needed: the lifetime value has changed by £300,000.00 since the contract was "
        "entered into, under £500,000 (PSR reg 13(4))."]
    assert db.dump(("procurement_step",)) == before and due(run, "2027-02-01") == []
    assert changed(run, "2027-02-01", "--end", "2031-03-31") == [
        "No modification notice needed: the PSR has no test on the term (reg 13)."]
    # Cumulatively £2m -> £2.6m: £600,000 (30%). 30 days beginning with Wed 10 Feb 2027: Feb 10..28 is 19 days,
    # Mar 1..11 the other 11, so the last day is Thu 11 Mar.
    assert changed(run, "2027-02-10", "--value", "2.6m") == [
        "A notice of the modification is needed: the lifetime value has changed by £600,000.00 since the contract was "
        "entered into (£500,000 or more, PSR reg 13(4)); at 25% or more of the original lifetime value it is not a "
        "modification reg 13(1)(d) permits; submit it for publication by 2027-03-11 (within 30 days of the "
        "modification, reg 13(5)); `procurement due` lists it until you record it with: cycle procurement step camhs "
        "modification-notice --on DATE --ref REF."]
    listed = due(run, "2027-02-11")
    assert [(d["project"], d["clock"], d["step"], d["date"], d["status"]) for d in listed] == [
        ("camhs", "modification-notice", "modification-notice", "2027-03-11", "due")]
    assert due(run, "2027-03-12")[0]["status"] == "missed"
    with on("2027-02-11"):
        shown = run.json("procurement", "show", "camhs")
    assert [(s["step"], s["on"], s["recorded_by"]) for s in shown["steps"]][-1] == ("modification", "2027-02-10",
                                                                                     "alice")
    step(run, "camhs", "modification-notice", "2027-02-12", "--ref", "FTS 000777-2027")
    assert due(run, "2027-03-12") == []
    entries = run.json("audit", "log", "camhs")
    sets = [e for e in entries if e["action"] == "contract.set" and "change_notice" in e["payload"]]
    assert [(e["payload"]["change_notice"]["needed"], e["payload"]["change_notice"]["by"]) for e in sets] == [
        (False, None), (False, None), (True, "2027-03-11")]
    assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")


def _pa2023_entered(run: Cli) -> None:
    """camhs under the Procurement Act 2023's open procedure, its contract entered into on Thu 11 Feb 2027."""
    at(run, "2027-01-04", "procurement", "start", "camhs", "--regime", "pa2023", "--procedure", "open")
    step(run, "camhs", "tender-notice", "2027-01-04")
    step(run, "camhs", "tenders-closed", "2027-01-29")
    step(run, "camhs", "assessment-summaries", "2027-02-01")
    step(run, "camhs", "award-notice", "2027-02-01")
    step(run, "camhs", "contract-entered", "2027-02-11")  # the standstill: Feb 1-5, 8-10
    step(run, "camhs", "contract-details-notice", "2027-02-12")
    at(run, "2027-02-11", *CONTRACT, "--start", "2027-04-01", "--end", "2029-03-31", "--value", "1m")


def test_pa2023_a_change_past_10_percent_needs_a_contract_change_notice_before_it_is_made(ready: Cli,
                                                                                         db: Database) -> None:
    run = ready
    _pa2023_entered(run)
    assert changed(run, "2027-03-01", "--value", "1.05m") == [
        "No contract change notice needed: the value and the maximum term have each moved by 10% or less since award "
        "(Procurement Act 2023 s.75(2))."]
    assert due(run, "2027-03-01") == []
    # Cumulatively £1m -> £1.12m: 12.0%, over s.75(2)(a)'s 10%: the notice comes before the change (s.75(1)).
    assert changed(run, "2027-03-01", "--value", "1.12m") == [
        "A contract change notice is needed before the modification is made (Procurement Act 2023 s.75(1)): it "
        "changes the value by £120,000.00, 12.0% of £1,000,000.00 (over 10% since award, s.75(2); 15% for works); "
        "publish it by 2027-03-01 at the latest, before the change takes effect; `procurement due` lists it until "
        "you record it with: cycle procurement step camhs change-notice --on DATE --ref REF."]
    assert [(d["clock"], d["date"], d["status"]) for d in due(run, "2027-03-01")] == [
        ("change-notice", "2027-03-01", "due")]
    assert [(d["clock"], d["status"]) for d in due(run, "2027-03-02")] == [("change-notice", "missed")]
    step(run, "camhs", "change-notice", "2027-03-01", "--ref", "FTS 000888-2027")
    assert due(run, "2027-03-02") == []
    # The maximum term 2027-04-01..2029-03-31 is 731 days (2028 is a leap year); to 2029-06-30 is 91 more: 12.4%.
    assert changed(run, "2027-03-05", "--end", "2029-06-30")[0].startswith(
        "A contract change notice is needed before the modification is made (Procurement Act 2023 s.75(1)): it "
        "changes the value by £120,000.00, 12.0% of £1,000,000.00 and the maximum term by 91 days, 12.4% of 731 ")
    assert [(d["clock"], d["date"]) for d in due(run, "2027-03-05")] == [("change-notice", "2027-03-05")]
    assert run("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")


def test_pa2023_a_change_notice_published_before_the_change_counts(ready: Cli) -> None:
    """s.75(1): the notice comes before the modification. A team that records the notice first, then the change,
    is not told the notice was missed; a notice from before an earlier change does not count for a later one."""
    run = ready
    _pa2023_entered(run)
    step(run, "camhs", "change-notice", "2027-02-25", "--ref", "FTS 000777-2027")
    changed(run, "2027-03-01", "--value", "1.2m")
    assert due(run, "2027-03-02") == []  # done on 25 February, before the change of 1 March
    changed(run, "2027-06-01", "--end", "2029-09-30")  # a later change: the February notice was for the first one
    assert [(d["clock"], d["status"]) for d in due(run, "2027-06-02")] == [("change-notice", "missed")]


def test_a_contract_regime_alone_says_the_notice_but_cannot_track_it_and_light_touch_needs_none(ready: Cli) -> None:
    run = ready
    at(run, "2027-02-01", *CONTRACT, "--start", "2027-04-01", "--end", "2029-03-31", "--value", "1m")
    assert changed(run, "2027-02-02", "--value", "2m") == []  # no regime recorded: as before
    at(run, "2027-02-02", "contract", "set", "camhs", "--regime", "pa2023")
    assert changed(run, "2027-02-03", "--value", "2.5m") == [
        "A contract change notice is needed before the modification is made (Procurement Act 2023 s.75(1)): it "
        "changes the value by £1,500,000.00, 150.0% of £1,000,000.00 (over 10% since award, s.75(2); 15% for works); "
        "publish it by 2027-02-03 at the latest, before the change takes effect. Not tracked: camhs has no "
        "procurement on the record (start one with: cycle procurement start camhs --regime pa2023 ...), so "
        "`procurement due` cannot list it."]
    at(run, "2027-02-03", "contract", "set", "camhs", "--regime", "pa2023-light-touch")
    assert changed(run, "2027-02-04", "--value", "5m") == [
        "No contract change notice needed: a light touch contract is exempt (Procurement Act 2023 s.75(6)(b))."]


def test_odd_input_and_rows_edited_by_hand(ready: Cli, db: Database) -> None:
    """A decrease counts as a change; a value edited by hand into text, or a procurement route edited by hand, is
    one line, no traceback, and nothing pending written."""
    run = ready
    at(run, "2027-01-04", "procurement", "start", "camhs", "--regime", "psr", "--process", "direct-award-b")
    at(run, "2027-01-05", *CONTRACT, "--start", "2027-04-01", "--end", "2030-03-31", "--value", "2m")
    assert changed(run, "2027-02-01", "--value", "1.4m")[0].startswith(
        "A notice of the modification is needed: the lifetime value has changed by £600,000.00 since the contract")
    step(run, "camhs", "award", "2027-01-05")
    step(run, "camhs", "modification-notice", "2027-02-02", "--ref", "N1")
    db.tamper("UPDATE contract SET value_total = 'lots'")
    assert changed(run, "2027-02-03", "--value", "2m") == [
        "No modification notice needed: the lifetime value has changed by £0.00 since the contract was entered into, "
        "under £500,000 (PSR reg 13(4))."]
    db.tamper("UPDATE procurement SET route = 'direct-award-z'")
    before = db.dump(("procurement_step",))
    line = changed(run, "2027-02-04", "--value", "3m")[0]
    assert line.endswith(". Not tracked: camhs's procurement: psr has no route 'direct-award-z'; give --process one "
                         "of: direct-award-a, direct-award-b, direct-award-c, most-suitable-provider, competitive "
                         "(this cycle's regimes.toml); see what changed with: cycle audit verify")
    assert db.dump(("procurement_step",)) == before


@pytest.fixture(params=["as shipped", "edited"])
def clocks_file(request: pytest.FixtureRequest, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """regimes.toml as shipped, or with the two notices' periods edited (30 days -> 20, 1 day -> 3): the dates
    `contract set` and `procurement due` should both give on 12 February 2027."""
    if request.param == "edited":
        text = regimes.BUILT_IN.read_text(encoding="utf-8")
        psr, pa = 'step = "modification-notice"\n    days = ', 'step = "change-notice"\n    days = '
        edited = text.replace(f"{psr}30\n", f"{psr}20\n").replace(f"{pa}1\n", f"{pa}3\n")
        assert edited.count(f"{psr}20\n") == text.count(f"{psr}30\n") > 0 and f"{pa}3\n" in edited
        (tmp_path / "regimes.toml").write_text(edited, encoding="utf-8")
        monkeypatch.setattr(regimes, "BUILT_IN", tmp_path / "regimes.toml")
    regimes.built_in.cache_clear()
    yield ("2027-03-13", "2027-02-12") if request.param == "as shipped" else ("2027-03-03", "2027-02-14")
    monkeypatch.undo()
    regimes.built_in.cache_clear()


def test_the_date_contract_set_gives_for_the_notice_is_the_one_procurement_due_lists(
        ready: Cli, clocks_file: tuple[str, str]) -> None:
    """Both come from regimes.toml's clock from the pending step to its notice (PSR reg 13(5): 30 days, the day of
    the modification counted; PA 2023 s.75(1): before the modification, the day it is recorded): one source, so an
    edit of that file cannot make them disagree."""
    run = ready
    at(run, "2027-01-04", "procurement", "start", "camhs", "--regime", "psr", "--process", "direct-award-a")
    step(run, "camhs", "award", "2027-01-04")
    at(run, "2027-01-05", *CONTRACT, "--start", "2027-04-01", "--end", "2030-03-31", "--value", "2m")
    psr = re.search(r" by (\d{4}-\d\d-\d\d) ", changed(run, "2027-02-12", "--value", "2.6m")[0])
    run(*["ipc" if word == "camhs" else word for word in CAMHS])
    at(run, "2027-01-04", "procurement", "start", "ipc", "--regime", "pa2023", "--procedure", "open")
    for name, day in (("tender-notice", "2027-01-04"), ("tenders-closed", "2027-01-29"),
                      ("assessment-summaries", "2027-02-01"), ("award-notice", "2027-02-01"),
                      ("contract-entered", "2027-02-11")):
        step(run, "ipc", name, day)
    at(run, "2027-02-11", "contract", "set", "ipc", "--provider", "P", "--start", "2027-04-01", "--end", "2029-03-31",
       "--value", "1m")
    out = at(run, "2027-02-12", "contract", "set", "ipc", "--value", "1.5m").stdout
    pa = re.search(r" publish it by (\d{4}-\d\d-\d\d) ", out)
    assert psr is not None and pa is not None
    listed = {(d["project"], d["step"]): d["date"] for d in due(run, "2027-02-12")
              if d["step"] in ("modification-notice", "change-notice")}
    assert listed == {("camhs", "modification-notice"): psr[1], ("ipc", "change-notice"): pa[1]}
    assert (psr[1], pa[1]) == clocks_file  # as shipped: 12 Feb + 29; the day of the change
