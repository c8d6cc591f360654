"""Issue 18 part 5: a project's procurement on the record. Each route walked end to end through the real CLI, with
the clocks' dates worked out by hand in the test (the comments show the count); refusals are one line, exit 2,
nothing written; every step is an audited entry that `audit verify` checks.

Today is set with time_machine (a step may not be recorded in the future)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine

from .conftest import Cli, Database


@contextmanager
def on(day: str) -> Iterator[None]:
    with time_machine.travel(datetime.fromisoformat(day + "T11:00:00").replace(tzinfo=UTC), tick=False):
        yield


def at(run: Cli, day: str, *args: str, expect: int = 0) -> Any:
    with on(day):
        return run(*args, expect=expect)


def step(run: Cli, key: str, name: str, day: str, *more: str, today: str | None = None) -> str:
    return str(at(run, today or day, "procurement", "step", key, name, "--on", day, *more).stdout)


def refused(run: Cli, db: Database, today: str, *args: str) -> str:
    """Run a command that must be refused: exit 2, one line on stderr, nothing written."""
    before = db.dump()
    result = at(run, today, *args, expect=2)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert db.dump() == before
    return str(result.stderr.removeprefix("Error: ").rstrip("\n"))


def shown(run: Cli, key: str, as_of: str) -> dict[str, Any]:
    with on("2029-01-01"):
        return run.json("procurement", "show", key, "--as-of", as_of)  # type: ignore[no-any-return]


def clock(found: dict[str, Any], clock_id: str) -> dict[str, Any]:
    return next(c for c in found["clocks"] if c["clock"] == clock_id)


@pytest.fixture
def camhs(ready: Cli) -> Cli:
    at(ready, "2027-01-04", "procurement", "start", "camhs", "--regime", "psr", "--process", "direct-award-c")
    return ready


def test_direct_award_c_the_issues_example_with_the_laws_date(camhs: Cli, db: Database) -> None:
    out = step(camhs, "camhs", "decision", "2027-01-05", "--decided-by", "ICB contracting committee",
               "--criteria", "quality and innovation; value; integration", "--conflicts", "GP member: provider board",
               "--conflicts-managed", "left the room for the item")
    assert out == "Recorded camhs: decision on 2027-01-05.\n"
    out = step(camhs, "camhs", "intention-notice", "2027-01-11", "--ref", "FTS 001234-2027", today="2027-01-11")
    # reg 12(2): begins Tue 12 Jan; reg 12(3), (9): 8 working days after that day: 13,14,15,18,19,20,21,22
    assert out == ("Recorded camhs: intention-notice on 2027-01-11 (FTS 001234-2027).\n"
                   "  Standstill period ends at the end of 2027-01-22; award not before 2027-01-23\n")
    text = at(camhs, "2027-01-15", "procurement", "show", "camhs").stdout
    assert text == (
        "camhs: Provider Selection Regime (SI 2023/1348), Direct Award Process C (existing provider satisfying the "
        "contract, no considerable change) (reg 6(5), (10)-(12); reg 9)\n"
        "Steps done:\n"
        "  2027-01-05  decision          decided by: ICB contracting committee; criteria: quality and innovation; "
        "value; integration; conflicts: GP member: provider board; conflicts managed: left the room for the item\n"
        "  2027-01-11  intention-notice  ref FTS 001234-2027\n"
        "Clocks on 2027-01-15:\n"
        "  Standstill period ends at the end of 2027-01-22; award not before 2027-01-23\n"
        "Next:\n"
        "  award not before 2027-01-23 (Enter into the contract after the standstill period has ended; reg 9(9); "
        "reg 12(1))\n")
    assert refused(camhs, db, "2027-01-22", "procurement", "step", "camhs", "award", "--on", "2027-01-22") == (
        "award may not be done on 2027-01-22: standstill period ends at the end of 2027-01-22 (reg 12(2), (3), "
        "(9)); the earliest is 2027-01-23")
    step(camhs, "camhs", "award", "2027-01-23", "--decided-by", "ICB board")
    # reg 9(11): within 30 days of the award, the award day counted as day 1 (cautious): 23 Jan + 29 = 21 Feb
    found = shown(camhs, "camhs", "2027-01-25")
    assert clock(found, "award-notice")["last_day"] == "2027-02-21"
    assert [(n["step"], n["by"]) for n in found["next"]] == [("award-notice", "2027-02-21")]
    step(camhs, "camhs", "award-notice", "2027-02-01", "--ref", "FTS 002000-2027")
    found = shown(camhs, "camhs", "2027-02-01")
    assert found["next"] == [] and clock(found, "award-notice")["status"] == "done"
    assert [s["step"] for s in found["steps"]] == ["decision", "intention-notice", "award", "award-notice"]
    assert found["steps"][0]["conflicts_managed"] == "left the room for the item"
    entries = [e for e in camhs.json("audit", "log", "camhs") if e["action"].startswith("procurement.")]
    assert [e["action"] for e in entries] == ["procurement.start"] + ["procurement.step"] * 4
    assert entries[2]["payload"]["clocks"] == [
        "Standstill period ends at the end of 2027-01-22; award not before 2027-01-23"]
    assert camhs("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: every column of ")


def test_representations_hold_the_award_until_five_working_days_after_the_last_further_decision(
        camhs: Cli, db: Database) -> None:
    step(camhs, "camhs", "decision", "2027-01-05")
    step(camhs, "camhs", "intention-notice", "2027-01-11")
    out = step(camhs, "camhs", "representations", "2027-01-19", "--note", "from Provider Y")
    assert out == ("Recorded camhs: representations on 2027-01-19.\n"
                   "  Standstill period: held by representations (received 2027-01-19); it ends 5 working days after "
                   "the last further decision is communicated (reg 12(10)(a)(v), (b)(v))\n")
    assert refused(camhs, db, "2027-01-25", "procurement", "step", "camhs", "award", "--on", "2027-01-25") == (
        "award may not be done yet: standstill period is held by representations (received 2027-01-19); record "
        "the further decision with: cycle procurement step camhs further-decision --on DATE, and then wait 5 "
        "working days (reg 12(10)(a)(v), (b)(v))")
    # further decision Wed 20 Jan: 21,22,25,26,27 -> end of Wed 27 Jan (later than the 8 days' 22 Jan)
    step(camhs, "camhs", "further-decision", "2027-01-20", "--decided-by", "ICB contracting committee",
         "--reasons", "representations reviewed; decision stands")
    assert clock(shown(camhs, "camhs", "2027-01-21"), "standstill")["last_day"] == "2027-01-27"
    # a second further decision, Mon 25 Jan, replaces the first and restarts the wait: 26,27,28,29, Mon 1 Feb
    step(camhs, "camhs", "further-decision", "2027-01-25")
    found = clock(shown(camhs, "camhs", "2027-01-26"), "standstill")
    assert (found["last_day"], found["status"]) == ("2027-02-01", "running")
    assert found["text"] == ("Standstill period ends at the end of 2027-02-01 (5 working days after the further "
                             "decision of 2027-01-25); award not before 2027-02-02")
    assert refused(camhs, db, "2027-02-01", "procurement", "step", "camhs", "award", "--on", "2027-02-01") == (
        "award may not be done on 2027-02-01: standstill period ends at the end of 2027-02-01 (reg 12(2), (3), (9); "
        "5 working days after the further decision of 2027-01-25); the earliest is 2027-02-02")
    # representations after the 8th working day are out of time (reg 12(3))
    assert refused(camhs, db, "2027-01-26", "procurement", "step", "camhs", "representations", "--on",
                   "2027-01-26") == (
        "representations on 2027-01-26 came after the end of 2027-01-22, the last day to make them "
        "(reg 12(2), (3), (9)); note them on another step instead")
    step(camhs, "camhs", "award", "2027-02-02")


def test_representations_after_a_further_decision_hold_the_award_again(camhs: Cli, db: Database) -> None:
    step(camhs, "camhs", "decision", "2027-01-05")
    step(camhs, "camhs", "intention-notice", "2027-01-11")
    step(camhs, "camhs", "representations", "2027-01-13")
    step(camhs, "camhs", "further-decision", "2027-01-14")
    step(camhs, "camhs", "representations", "2027-01-21", "--note", "from Provider Z")
    assert clock(shown(camhs, "camhs", "2027-01-25"), "standstill")["status"] == "held"
    refused(camhs, db, "2027-02-10", "procurement", "step", "camhs", "award", "--on", "2027-02-10")


def test_direct_award_a_and_a_missed_award_notice(ready: Cli, db: Database) -> None:
    at(ready, "2027-03-01", "procurement", "start", "camhs", "--regime", "psr", "--process", "direct-award-a")
    step(ready, "camhs", "award", "2027-03-01", "--decided-by", "ICB board")
    # within 30 days, 1 Mar as day 1: 1 Mar + 29 = 30 Mar
    with on("2027-03-31"):
        due = ready.json("procurement", "due")
    assert due == [{"project": "camhs", "regime": "psr", "route": "direct-award-a", "clock": "award-notice",
                    "step": "award-notice", "date": "2027-03-30", "status": "missed", "cite": "reg 7(2)(b)",
                    "text": "Notice of the award submitted: MISSED, due by 2027-03-30 (reg 7(2)(b))"}]
    assert at(ready, "2027-03-31", "procurement", "due").stdout == (
        "2027-03-30  camhs  MISSED  Notice of the award submitted: MISSED, due by 2027-03-30 (reg 7(2)(b))\n")
    step(ready, "camhs", "award-notice", "2027-04-02")
    found = clock(shown(ready, "camhs", "2027-04-02"), "award-notice")
    assert (found["status"], found["text"]) == (
        "late", "Notice of the award submitted: done late on 2027-04-02, due by 2027-03-30 (reg 7(2)(b))")
    assert at(ready, "2027-04-03", "procurement", "due").stdout == "Nothing due in procurement by 2027-05-03.\n"


def test_direct_award_b_is_award_then_notice(ready: Cli) -> None:
    at(ready, "2027-06-01", "procurement", "start", "camhs", "--regime", "psr", "--process", "direct-award-b")
    step(ready, "camhs", "award", "2027-06-01")
    # 1 Jun + 29 = 30 Jun
    assert shown(ready, "camhs", "2027-06-02")["next"][0]["by"] == "2027-06-30"
    step(ready, "camhs", "award-notice", "2027-06-30")
    assert shown(ready, "camhs", "2027-07-01")["next"] == []


def test_most_suitable_provider_over_easter(ready: Cli, db: Database) -> None:
    at(ready, "2027-02-01", "procurement", "start", "camhs", "--regime", "psr", "--process",
       "most-suitable-provider")
    step(ready, "camhs", "intention-to-follow-notice", "2027-02-01")
    # reg 10(5): not before the day which is 14 days after 1 Feb: 15 Feb
    assert refused(ready, db, "2027-02-14", "procurement", "step", "camhs", "providers-identified", "--on",
                   "2027-02-14") == (
        "providers-identified may not be on 2027-02-14: period before potential providers are identified runs to "
        "2027-02-15 (reg 10(5))")
    step(ready, "camhs", "providers-identified", "2027-02-15")
    step(ready, "camhs", "decision", "2027-03-01")
    step(ready, "camhs", "intention-notice", "2027-03-24")
    # begins Thu 25 Mar; not Good Friday 26 nor Easter Monday 29: 30,31,1,2,5,6,7,8 -> end of Thu 8 Apr
    assert clock(shown(ready, "camhs", "2027-03-25"), "standstill")["last_day"] == "2027-04-08"
    refused(ready, db, "2027-04-08", "procurement", "step", "camhs", "award", "--on", "2027-04-08")
    step(ready, "camhs", "award", "2027-04-09")
    # 9 Apr + 29 = 8 May
    assert shown(ready, "camhs", "2027-04-10")["next"][0]["by"] == "2027-05-08"


def test_competitive_process_across_a_northern_ireland_holiday(ready: Cli, db: Database) -> None:
    at(ready, "2027-05-04", "procurement", "start", "camhs", "--regime", "psr", "--process", "competitive")
    # reg 11(2)-(9): steps 1 to 6, in the regulation's order
    for name, day in (("award-criteria", "2027-04-01"), ("invitation-notice", "2027-05-04"),
                      ("evaluation", "2027-06-01"), ("decision", "2027-06-02"), ("providers-informed", "2027-06-03"),
                      ("intention-notice", "2027-07-07")):
        step(ready, "camhs", name, day)
    # begins Thu 8 Jul; 12 Jul is a PSR working day: 9,12,13,14,15,16,19,20 -> end of Tue 20 Jul
    assert clock(shown(ready, "camhs", "2027-07-08"), "standstill")["last_day"] == "2027-07-20"
    refused(ready, db, "2027-07-20", "procurement", "step", "camhs", "award", "--on", "2027-07-20")
    step(ready, "camhs", "award", "2027-07-21")


def test_pa2023_open_procedure_over_5m_across_st_andrews_day(ready: Cli, db: Database) -> None:
    out = at(ready, "2027-01-04", "procurement", "start", "camhs", "--regime", "pa2023", "--procedure", "open",
             "--value", "£6m").stdout
    assert out == ("camhs follows Procurement Act 2023: Open procedure (s.20(2)(a)).\n"
                   "Next: tender-notice (Tender notice published; s.21(1)). Record it with: cycle procurement step "
                   "camhs tender-notice --on DATE\n")
    step(ready, "camhs", "tender-notice", "2027-01-04")
    # s.54(4)-(5): 25 days beginning with the day following 4 Jan: 5 Jan .. 29 Jan
    assert refused(ready, db, "2027-01-28", "procurement", "step", "camhs", "tenders-closed", "--on",
                   "2027-01-28") == (
        "tenders-closed may not be on 2027-01-28: minimum tendering period runs to 2027-01-29 (s.54(4)-(5))")
    step(ready, "camhs", "tenders-closed", "2027-01-29")
    step(ready, "camhs", "assessment-summaries", "2027-02-10")
    step(ready, "camhs", "award-notice", "2027-11-24")
    # over £5m: three KPIs set before entering into the contract (s.52(1))
    assert refused(ready, db, "2027-12-07", "procurement", "step", "camhs", "contract-entered", "--on",
                   "2027-12-07") == (
        "contract-entered comes after kpis-set, which camhs has not recorded; record it first with: cycle "
        "procurement step camhs kpis-set --on DATE")
    step(ready, "camhs", "kpis-set", "2027-11-25")
    # s.51(2): 8 working days beginning with Wed 24 Nov; not St Andrew's Day, Tue 30 Nov (Scotland):
    # 24,25,26,29,1,2,3,6 -> end of Mon 6 Dec
    assert clock(shown(ready, "camhs", "2027-11-25"), "standstill")["last_day"] == "2027-12-06"
    refused(ready, db, "2027-12-06", "procurement", "step", "camhs", "contract-entered", "--on", "2027-12-06")
    step(ready, "camhs", "contract-entered", "2027-12-07")
    found = shown(ready, "camhs", "2027-12-08")
    # s.53(1)(b): 30 days beginning with 7 Dec -> 5 Jan 2028; s.53(3)(b): 90 days -> 7 Dec + 89 = 5 Mar 2028
    assert [(n["step"], n["by"]) for n in found["next"]] == [("contract-details-notice", "2028-01-05"),
                                                             ("contract-published", "2028-03-05")]
    step(ready, "camhs", "contract-details-notice", "2028-01-05")
    step(ready, "camhs", "contract-published", "2028-02-01")
    step(ready, "camhs", "change-notice", "2028-03-01", "--note", "value up 12%")
    step(ready, "camhs", "change-notice", "2028-04-01", "--note", "term up 11%")
    step(ready, "camhs", "contract-ended", "2028-06-30")
    # s.80(1): 30 days beginning with 30 Jun -> 29 Jul
    assert shown(ready, "camhs", "2028-07-01")["next"][0] == {
        "step": "termination-notice", "title": "Contract termination notice published", "cite": "s.80(1)",
        "not_before": None, "by": "2028-07-29",
        "why": ["Contract termination notice published: due by 2028-07-29 (s.80(1))"]}
    step(ready, "camhs", "termination-notice", "2028-07-29")
    assert shown(ready, "camhs", "2028-07-30")["next"] == []
    assert ready("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")


def test_pa2023_competitive_flexible_light_touch(ready: Cli, db: Database) -> None:
    at(ready, "2027-01-04", "procurement", "start", "camhs", "--regime", "pa2023", "--procedure",
       "competitive-flexible", "--light-touch", "--value", "6000000")
    # no minimum participation or tendering period for a light touch contract (s.54(3)-(4))
    for name, day in (("tender-notice", "2027-01-04"), ("participation-closed", "2027-01-05"),
                      ("invitation-to-tender", "2027-01-06"), ("tenders-closed", "2027-01-07"),
                      ("assessment-summaries", "2027-01-12"), ("award-notice", "2027-01-13"),
                      ("contract-entered", "2027-01-13")):  # no mandatory standstill (s.51(3)(f)), no KPIs (s.52(6))
        step(ready, "camhs", name, day)
    found = shown(ready, "camhs", "2027-01-14")
    assert found["facts"] == ["light-touch", "over-5m"]
    # s.53(1)(a): 120 days beginning with 13 Jan -> 12 May; s.53(3)(a): 180 days -> 11 Jul
    assert [(n["step"], n["by"]) for n in found["next"]] == [("contract-details-notice", "2027-05-12"),
                                                             ("contract-published", "2027-07-11")]
    assert refused(ready, db, "2027-02-01", "procurement", "step", "camhs", "change-notice", "--on",
                   "2027-02-01") == (
        "'change-notice' is not a step of pa2023 competitive-flexible for this contract; the steps are: "
        "tender-notice, participation-closed, invitation-to-tender, tenders-closed, assessment-summaries, "
        "award-notice, contract-entered, contract-details-notice, contract-published, contract-ended, "
        "termination-notice")


def test_pa2023_christmas_standstill_and_due_across_projects(ready: Cli) -> None:
    ready("project", "new", "sn", "--title", "School nursing")
    at(ready, "2026-12-01", "procurement", "start", "sn", "--regime", "pa2023", "--procedure", "open")
    for name, day in (("tender-notice", "2026-10-01"), ("tenders-closed", "2026-11-02"),
                      ("assessment-summaries", "2026-12-10"), ("award-notice", "2026-12-18")):
        step(ready, "sn", name, day, today="2026-12-18")
    at(ready, "2026-12-01", "procurement", "start", "camhs", "--regime", "psr", "--process", "direct-award-c")
    step(ready, "camhs", "decision", "2026-12-18")
    step(ready, "camhs", "intention-notice", "2026-12-18")
    # PA: 18,21,22,23,24,29,30,31 -> end of Thu 31 Dec. PSR: begins Sat 19; 21,22,23,24,29,30,31,4 -> Mon 4 Jan
    with on("2026-12-21"):
        due = ready.json("procurement", "due", "--within", "30d")
    assert [(d["project"], d["clock"], d["date"], d["status"]) for d in due] == [
        ("sn", "standstill", "2026-12-31", "running"), ("camhs", "standstill", "2027-01-04", "running")]
    with on("2026-12-21"):
        assert ready.json("procurement", "due", "--within", "10d") == due[:1]
        text = ready("procurement", "due").stdout
    assert text == ("2026-12-31  sn  RUNNING  Mandatory standstill period ends at the end of 2026-12-31; "
                    "contract-entered not before 2027-01-01\n"
                    "2027-01-04  camhs  RUNNING  Standstill period ends at the end of 2027-01-04; award not before "
                    "2027-01-05\n")


@pytest.mark.parametrize(("args", "error"), [
    (("procurement", "step", "camhs", "awrd", "--on", "2027-01-05"),
     "'awrd' is not a step of psr direct-award-c; the steps are: decision, intention-notice, representations, "
     "further-decision, award, award-notice, modification, modification-notice"),
    (("procurement", "step", "camhs", "decision", "--on", "2027-01-06"),
     "--on 2027-01-06 is in the future; record a step once it has been done (today is 2027-01-05)"),
    (("procurement", "step", "camhs", "award", "--on", "2027-01-05"),
     "award comes after intention-notice, which camhs has not recorded; record it first with: cycle procurement "
     "step camhs intention-notice --on DATE"),
    (("procurement", "step", "camhs", "decision", "--on", "2027-13-01"),
     "--on '2027-13-01' is not a date; use YYYY-MM-DD, e.g. 2027-03-31"),
    (("procurement", "step", "nope", "decision", "--on", "2027-01-05"),
     "No project with key 'nope'. See the keys with: cycle project list"),
    (("procurement", "start", "camhs", "--regime", "psr", "--process", "competitive"),
     "camhs already follows psr direct-award-c; see it with: cycle procurement show camhs"),
    (("procurement", "start", "camhs", "--regime", "psr", "--process", "open"),
     "psr has no route 'open'; give --process one of: direct-award-a, direct-award-b, direct-award-c, "
     "most-suitable-provider, competitive"),
    (("procurement", "start", "camhs", "--regime", "psr", "--procedure", "open"),
     "--procedure is for --regime pa2023; a PSR route is a --process (e.g. direct-award-c)"),
    (("procurement", "start", "camhs", "--regime", "pa2023"),
     "--procedure is required with --regime pa2023 (open or competitive-flexible)"),
    (("procurement", "step", "camhs", "decision", "--on", "2027-01-05", "--note", "a\x1b[2Jb"),
     "--note must be a single line of text (no control characters: tab, newline, escape ...)"),
])
def test_refusals_are_one_line_and_write_nothing(camhs: Cli, db: Database, args: tuple[str, ...],
                                                 error: str) -> None:
    assert refused(camhs, db, "2027-01-05", *args).startswith(error)


def test_a_step_twice_a_project_without_a_procurement_and_light_touch_on_the_psr(camhs: Cli, db: Database) -> None:
    step(camhs, "camhs", "decision", "2027-01-05")
    assert refused(camhs, db, "2027-01-06", "procurement", "step", "camhs", "decision", "--on", "2027-01-06") == (
        "camhs already has decision on 2027-01-05; a step is recorded once")
    assert refused(camhs, db, "2027-01-06", "procurement", "step", "camhs", "intention-notice", "--on",
                   "2027-01-04") == (
        "intention-notice on 2027-01-04 would come before decision on 2027-01-05, which it follows")
    camhs("project", "new", "sn", "--title", "School nursing")
    assert refused(camhs, db, "2027-01-06", "procurement", "show", "sn") == (
        "sn has no procurement recorded; start one with: cycle procurement start sn --regime psr --process "
        "direct-award-c (or --regime pa2023 --procedure open)")
    assert refused(camhs, db, "2027-01-06", "procurement", "start", "sn", "--regime", "psr", "--process",
                   "direct-award-a", "--light-touch") == (
        "--light-touch is for a Procurement Act 2023 procedure (a light touch contract, s.9); psr direct-award-a "
        "has no light touch variant")


def test_a_date_edited_in_the_database_is_named_not_a_traceback(camhs: Cli, db: Database) -> None:
    step(camhs, "camhs", "decision", "2027-01-05")
    db.tamper("UPDATE procurement_step SET done_on = '5 Jan 2027'")
    result = at(camhs, "2027-01-06", "procurement", "show", "camhs", expect=2)
    assert result.stderr == ("Error: camhs's procurement step 'decision' has the date '5 Jan 2027', not YYYY-MM-DD; "
                             "see what changed with: cycle audit verify\n")
    with on("2027-01-06"):
        due = camhs.json("procurement", "due")
    assert [(d["project"], d["status"]) for d in due] == [("camhs", "unreadable")]
    assert ("  procurement_step #1 differs from its audit entry: done_on is '5 Jan 2027' but entry 6 recorded "
            "'2027-01-05'\n") in camhs("audit", "verify", expect=1).stderr


def test_show_as_of_a_day_is_the_procurement_as_it_stood_then(camhs: Cli) -> None:
    step(camhs, "camhs", "decision", "2027-01-05")
    step(camhs, "camhs", "intention-notice", "2027-01-11")
    step(camhs, "camhs", "representations", "2027-01-19")
    step(camhs, "camhs", "further-decision", "2027-01-20")
    before = shown(camhs, "camhs", "2027-01-12")
    assert [s["step"] for s in before["steps"]] == ["decision", "intention-notice"]
    assert clock(before, "standstill")["text"] == (
        "Standstill period ends at the end of 2027-01-22; award not before 2027-01-23")
    held = shown(camhs, "camhs", "2027-01-19")
    assert clock(held, "standstill")["status"] == "held"
    assert at(camhs, "2027-01-12", "procurement", "show", "camhs").stdout.splitlines()[-1] == (
        "  award not before 2027-01-23 (Enter into the contract after the standstill period has ended; reg 9(9); "
        "reg 12(1))")


def test_a_regime_or_value_edited_in_the_database_is_named_in_one_line(camhs: Cli, db: Database) -> None:
    camhs("project", "new", "sn", "--title", "School nursing")
    at(camhs, "2027-01-05", "procurement", "start", "sn", "--regime", "pa2023", "--procedure", "open")
    step(camhs, "sn", "tender-notice", "2027-01-05")
    db.tamper("UPDATE procurement SET regime = 'eu-2015' WHERE route = 'direct-award-c'")
    assert at(camhs, "2027-01-06", "procurement", "show", "camhs", expect=2).stderr == (
        "Error: camhs's procurement: no regime 'eu-2015'; the regimes are: psr, pa2023 (this cycle's regimes.toml); "
        "see what changed with: cycle audit verify\n")
    with on("2027-01-06"):
        due = camhs.json("procurement", "due", "--within", "60d")
    # the other project's dates are still listed: one bad row does not hide them
    assert [(d["project"], d["status"], d["date"]) for d in due] == [
        ("camhs", "unreadable", None)]
    db.tamper("UPDATE procurement SET value = 'lots' WHERE route = 'open'")
    assert at(camhs, "2027-01-06", "procurement", "show", "sn", expect=2).stderr == (
        "Error: sn's procurement has value 'lots', not an amount; see what changed with: cycle audit verify\n")


def test_odd_input_to_the_commands(camhs: Cli, db: Database) -> None:
    long = "s" * 5000
    assert refused(camhs, db, "2027-01-05", "procurement", "step", "camhs", long, "--on", "2027-01-05").startswith(
        f"'{'s' * 61}...' is not a step of psr direct-award-c; the steps are: ")
    for within in ("-5d", "abc", "99999d"):
        assert refused(camhs, db, "2027-01-05", "procurement", "due", "--within", within) == (
            f"--within {within!r} is not a period; write e.g. '6 months', '90 days' or '60 working days'")
    assert refused(camhs, db, "2027-01-05", "procurement", "show", "camhs", "--as-of", "2101-01-01") == (
        "--as-of 2101-01-01 is out of range; cycle takes dates from 1990-01-01 to 2100-12-31")
    assert refused(camhs, db, "2027-01-05", "procurement", "step", "camhs", "decision", "--on", "2027-01-05",
                   "--note", "x" * 2001) == "--note is 2001 characters long; it may have at most 2000"
    assert refused(camhs, db, "2027-01-05", "procurement", "start", "camhs", "--regime", "pa2023", "--procedure",
                   "open", "--value", "NaN") == (
        "--value 'NaN' is not an amount in pounds; write e.g. 1250000, £1,250,000 or 1.25m")
    # a reference that a spreadsheet would run is kept as text, as given: nothing here writes CSV
    step(camhs, "camhs", "decision", "2027-01-05", "--ref", '=HYPERLINK("http://evil.example")')
    assert shown(camhs, "camhs", "2027-01-05")["steps"][0]["ref"] == '=HYPERLINK("http://evil.example")'


def test_pa2023_open_procedure_light_touch_has_no_mandatory_standstill(ready: Cli) -> None:
    at(ready, "2027-01-04", "procurement", "start", "camhs", "--regime", "pa2023", "--procedure", "open",
       "--light-touch")
    for name, day in (("tender-notice", "2027-01-04"), ("tenders-closed", "2027-01-06"),
                      ("assessment-summaries", "2027-01-07"), ("award-notice", "2027-01-08"),
                      ("contract-entered", "2027-01-08")):
        step(ready, "camhs", name, day)
    found = shown(ready, "camhs", "2027-01-09")
    assert [c["clock"] for c in found["clocks"]] == ["contract-details-notice-light-touch"]
    # s.53(1)(a): 120 days beginning with 8 Jan: 8 Jan + 119 = 7 May
    assert [(n["step"], n["by"]) for n in found["next"]] == [("contract-details-notice", "2027-05-07")]


def test_pa2023_competitive_flexible_periods_and_a_northern_ireland_holiday(ready: Cli, db: Database) -> None:
    at(ready, "2027-02-01", "procurement", "start", "camhs", "--regime", "pa2023", "--procedure",
       "competitive-flexible")
    step(ready, "camhs", "tender-notice", "2027-02-01")
    # s.54(3), (5): 25 days beginning with the day following 1 Feb: 2 Feb .. 26 Feb
    assert refused(ready, db, "2027-02-25", "procurement", "step", "camhs", "participation-closed", "--on",
                   "2027-02-25") == (
        "participation-closed may not be on 2027-02-25: minimum participation period runs to 2027-02-26 "
        "(s.54(3), (5))")
    step(ready, "camhs", "participation-closed", "2027-02-26")
    step(ready, "camhs", "invitation-to-tender", "2027-03-01")
    # s.54(4)-(5): 2 Mar .. 26 Mar
    refused(ready, db, "2027-03-25", "procurement", "step", "camhs", "tenders-closed", "--on", "2027-03-25")
    step(ready, "camhs", "tenders-closed", "2027-03-26")
    step(ready, "camhs", "assessment-summaries", "2027-04-01")
    step(ready, "camhs", "award-notice", "2027-07-07")
    # s.51(2): 7,8,9, not 12 Jul (Northern Ireland), 13,14,15,16,19 -> end of Mon 19 Jul
    refused(ready, db, "2027-07-19", "procurement", "step", "camhs", "contract-entered", "--on", "2027-07-19")
    step(ready, "camhs", "contract-entered", "2027-07-20")
    # s.53(1)(b): 30 days beginning with 20 Jul -> 18 Aug
    assert [(n["step"], n["by"]) for n in shown(ready, "camhs", "2027-07-21")["next"]] == [
        ("contract-details-notice", "2027-08-18")]
