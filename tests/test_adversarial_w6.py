"""Adversarial review of the changes of 7 December 2026 (a queued procurement reminder cancelled when its date no
longer applies, a change notice's date from regimes.toml, the Procurement Act's in-force date on contracts, one
returns rule for the gate and the reminders). Each test goes through the real CLI on a real database, with the real
SMTP server, and fails on the code it was written against."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Cli, Database
from .reminder_setup import on_day, remind_run
from .smtpd import SmtpServer, smtp_fixture  # noqa: F401 - the `smtp` fixture
from .test_adversarial_18 import _queued_on_the_20th
from .test_procurement import at, step


def _awarded(run: Cli) -> None:
    """camhs under the PSR's Direct Award C, awarded on Monday 25 January 2027, its notice recorded."""
    run("people", "add", "alice", "--email", "alice@council.example", "--role", "manager")
    at(run, "2027-01-04", "procurement", "start", "camhs", "--regime", "psr", "--process", "direct-award-c")
    for name, day in (("decision", "2027-01-05"), ("intention-notice", "2027-01-11"), ("award", "2027-01-25"),
                      ("award-notice", "2027-02-01")):
        step(run, "camhs", name, day)


def test_a_standstill_reminder_cancelled_while_held_is_sent_when_the_same_end_applies_again(
        ready: Cli, db: Database, smtp: SmtpServer) -> None:
    # PSR Direct Award C, intention notice Monday 11 January 2027: the standstill ends at the end of Friday 22
    # January (reg 12(2), (3), (9)); its reminder is queued on Wednesday 20 January. That day the officer enters the
    # backlog: representations received on the 13th, then the further decision communicated on the 14th, which
    # ends the standstill 5 working days later, on Thursday 21 January, before the 22nd (reg 12(10)): the end is
    # the 22nd again. An `outbox send` (cron, the scheduler) between the two commands cancels the row while held;
    # afterwards `remind run` said "queued 0 reminders; 1 was already queued or sent" and nothing ever went, though
    # `procurement due` lists the standstill ending on the 22nd.
    _queued_on_the_20th(ready)
    step(ready, "camhs", "representations", "2027-01-13", "--note", "from Provider Y", today="2027-01-20")
    with on_day("2027-01-20"):
        assert "1 cancelled" in ready("outbox", "send").stdout
    step(ready, "camhs", "further-decision", "2027-01-14", today="2027-01-20")
    with on_day("2027-01-20"):
        due = ready.json("procurement", "due", "--as-of", "2027-01-20")
    assert [(d["step"], d["date"], d["status"]) for d in due] == [("award", "2027-01-22", "running")]
    remind_run(ready, "2027-01-21")
    assert [r.message["X-Cycle-Reminder"].split()[1:3] for r in smtp.received] == [
        ["standstill-ends", "2027-01-22/award"]]


@pytest.mark.xfail(strict=True, reason="one procurement per project: the modification-notice clock meets every "
                                       "modification with any notice recorded on or after it, whichever contract "
                                       "each was of (clocks._oldest_unmet), so C-1's notice clears C-2's duty")
def test_a_notice_for_one_contracts_modification_does_not_clear_another_contracts(ready: Cli,
                                                                                  smtp: SmtpServer) -> None:
    # PSR reg 13(4)-(5): C-1's lifetime value +£600,000 on Monday 1 March 2027 needs a notice by Tuesday 30 March;
    # C-2's +£600,000 on Monday 15 March needs its own, by Tuesday 13 April, and `contract set` says so ("procurement
    # due lists it until you record it"). The notice of C-1's modification is published on Tuesday 16 March. C-2's
    # notice was then never listed by `procurement due` and its reminders never went.
    _awarded(ready)
    for ref, provider, value in (("C-1", "P", "2m"), ("C-2", "Q", "3m")):
        at(ready, "2027-02-01", "contract", "add", "camhs", "--ref", ref, "--provider", provider, "--start",
           "2027-02-01", "--end", "2030-01-31", "--value", value)
    assert "by 2027-03-30" in at(ready, "2027-03-01", "contract", "set", "camhs", "--contract", "C-1", "--value",
                                 "2.6m").stdout
    said = at(ready, "2027-03-15", "contract", "set", "camhs", "--contract", "C-2", "--value", "3.6m").stdout
    assert "by 2027-04-13" in said and "`procurement due` lists it until you record it" in said
    step(ready, "camhs", "modification-notice", "2027-03-16", "--ref", "FTS 000123-2027 (C-1)")
    with on_day("2027-03-17"):
        due = ready.json("procurement", "due", "--as-of", "2027-03-17", "--within", "60d")
    assert [(d["step"], d["date"]) for d in due] == [("modification-notice", "2027-04-13")]
    remind_run(ready, "2027-04-08")
    assert [r.message["X-Cycle-Reminder"].split()[1:3] for r in smtp.received] == [
        ["procurement-due", "2027-04-13/modification-notice"]]


def test_a_queued_procurement_reminder_whose_procurement_is_gone_is_sent_not_cancelled(ready: Cli, db: Database,
                                                                                     smtp: SmtpServer) -> None:
    # The standstill reminder (ends Friday 22 January 2027) is queued on Wednesday 20 January; a team member then
    # deletes the procurement's rows by hand (there is no command that removes a procurement). `outbox send` on the
    # 21st cancelled the reminder "the step recorded, or its period over" - neither is so - and `outbox retry`
    # refuses a cancelled row: the statutory reminder is lost for good, though `audit verify` names the deletion.
    _queued_on_the_20th(ready)
    db.tamper("DELETE FROM procurement_step", "DELETE FROM procurement")
    assert "procurement" in ready("audit", "verify", expect=1).stderr
    with on_day("2027-01-21"):
        said = ready("outbox", "send").stdout.splitlines()[0]
    sent = [r.message["X-Cycle-Reminder"].split()[1:3] for r in smtp.received]
    assert (said.split(".")[0], sent, db.rows("SELECT status FROM outbox")) == (
        "Outbox: sent 1", [["standstill-ends", "2027-01-22/award"]], [("sent",)])


def test_one_mistyped_quarter_does_not_send_the_provider_forty_late_return_reminders(run: Cli, db: Database) -> None:
    # An indicator added on 1 May 2026 to a contract recorded without a start date; its first value is recorded for
    # "2016-Q1" (2026-Q1 mistyped). The next reminder run queued 40 return-late reminders to the provider contact,
    # one for every quarter from 2016-Q2 to 2026-Q1, returns for quarters before the indicator existed.
    _no_start_indicator_of_1_may_2026(run)
    with on_day("2026-05-01"):
        run("kpi", "record", "camhs", "rtt", "--quarter", "2016-Q1", "--value", "90", expect=None)
    remind_run(run, "2026-08-03", "--no-send")
    late = [p for k, p in db.rows("SELECT kind, period FROM outbox") if k == "return-late"]
    assert len(late) <= 1, late


def _no_start_indicator_of_1_may_2026(run: Cli) -> None:
    run("init")
    run("people", "add", "alice", "--email", "alice@council.example", "--role", "manager")
    run("people", "add", "jsmith", "--email", "j.smith@trustx.example", "--role", "provider")
    with on_day("2026-05-01"):
        run("project", "new", "camhs", "--title", "CAMHS", "--owner", "alice")
        run("contract", "set", "camhs", "--provider", "Trust X", "--ref", "C-1", "--end", "2028-03-31",
            "--provider-contact", "jsmith")
        run("kpi", "add", "camhs", "rtt", "--title", "Referral to treatment", "--target", "92", "--better", "higher")


def test_a_quarter_before_the_indicator_is_refused_with_the_way_to_back_fill_it(run: Cli, db: Database) -> None:
    # The refusal of the mistyped quarter: exit 2, one line naming the option, nothing written; the quarter the
    # indicator was added in goes in without it, and an earlier one with --back-fill.
    _no_start_indicator_of_1_may_2026(run)
    before = db.dump()
    with on_day("2026-07-01"):
        refused = run("kpi", "record", "camhs", "rtt", "--quarter", "2025-Q4", "--value", "90", expect=2)
        assert db.dump() == before
        assert len(refused.stderr.strip().splitlines()) == 1 and "--back-fill" in refused.stderr
        run("kpi", "record", "camhs", "rtt", "--quarter", "2026-Q1", "--value", "91")
        run("kpi", "record", "camhs", "rtt", "--quarter", "2025-Q4", "--value", "90", "--back-fill")
    assert sorted(db.rows("SELECT quarter, value FROM kpi_value")) == [("2025-Q4", "90"), ("2026-Q1", "91")]


def test_a_providers_return_with_a_mistyped_quarter_is_refused_whole_unless_it_back_fills(
        run: Cli, db: Database, tmp_path: Path) -> None:
    # The same mistyped year in a provider's return (`kpi import`): the whole file is refused, naming the line and
    # the option, nothing written; `--back-fill` takes it on purpose.
    _no_start_indicator_of_1_may_2026(run)
    ret = tmp_path / "return.csv"
    ret.write_text("project,kpi,quarter,value\ncamhs,rtt,2026-Q1,91\ncamhs,rtt,2016-Q1,90\n")
    before = db.dump()
    with on_day("2026-07-01"):
        refused = run("kpi", "import", str(ret), expect=2)
        assert db.dump() == before
        assert "line 3" in refused.stderr and "--back-fill" in refused.stderr, refused.stderr
        run("kpi", "import", str(ret), "--back-fill")
    assert sorted(db.rows("SELECT quarter, value FROM kpi_value")) == [("2016-Q1", "90"), ("2026-Q1", "91")]


def test_a_psr_contract_starting_before_the_psr_was_in_force_is_refused(ready: Cli, db: Database) -> None:
    # The Health Care Services (Provider Selection Regime) Regulations 2023 (SI 2023/1348) came into force on 1
    # January 2024; `procurement step` refuses a PSR step dated before it, `contract set --regime pa2023` a start
    # before 24 February 2025, but `contract set --regime psr --start 2023-06-01` was taken.
    before = db.dump()
    result = at(ready, "2027-01-04", "contract", "set", "camhs", "--provider", "P", "--start", "2023-06-01",
                "--end", "2028-01-31", "--regime", "psr", expect=None)
    assert result.exit_code == 2, result.stdout
    assert "2024-01-01" in result.stderr
    assert db.dump() == before
