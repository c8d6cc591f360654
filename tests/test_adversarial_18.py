"""Adversarial review of issue 18 (procurement under the PSR and the Procurement Act 2023): a careless operator, a
team member with a text editor on the database, and a lawyer recomputing dates by hand. Each test goes through the
real CLI and fails on the code it was written against."""

from __future__ import annotations

import pytest

from .conftest import Cli, Database
from .reminder_setup import on_day, remind_run
from .smtpd import SmtpServer, smtp_fixture  # noqa: F401 - the `smtp` fixture
from .test_procurement import at, refused, step
from .test_procurement_builtin import criteria, to_do


@pytest.fixture
def camhs(ready: Cli) -> Cli:
    at(ready, "2027-01-04", "procurement", "start", "camhs", "--regime", "psr", "--process", "direct-award-c")
    return ready


@pytest.mark.parametrize(("regime", "route", "first", "day", "law"), [
    ("psr", ("--process", "direct-award-c"), "decision", "2023-12-31",
     "the Provider Selection Regime (SI 2023/1348) came into force on 2024-01-01"),
    ("pa2023", ("--procedure", "open"), "tender-notice", "2025-02-23",
     "the Procurement Act 2023 came into force on 2025-02-24"),
])
def test_a_step_dated_before_its_law_was_in_force_is_refused(ready: Cli, db: Database, regime: str,
                                                              route: tuple[str, ...], first: str, day: str,
                                                              law: str) -> None:
    # A typo in the year (2207 caught as future; 2017 was not) put clocks under a law that did not yet apply.
    at(ready, "2027-01-04", "procurement", "start", "camhs", "--regime", regime, *route)
    assert refused(ready, db, "2027-01-04", "procurement", "step", "camhs", first, "--on", day) == (
        f"--on {day} is before {law}; check the date")


@pytest.mark.parametrize("edit", [
    "UPDATE procurement_step SET done_on = '2027-01-08' WHERE step = 'intention-notice'",
    "DELETE FROM procurement_step WHERE step = 'representations'",
    "INSERT INTO procurement_step (procurement_id, step, done_on, recorded_by, recorded_at) SELECT procurement_id, "
    "'further-decision', '2027-01-20', 'alice', recorded_at FROM procurement_step WHERE step = 'representations'",
])
def test_a_step_edited_added_or_deleted_by_hand_is_caught_by_audit_verify(camhs: Cli, db: Database,
                                                                           edit: str) -> None:
    step(camhs, "camhs", "decision", "2027-01-05")
    step(camhs, "camhs", "intention-notice", "2027-01-11")
    step(camhs, "camhs", "representations", "2027-01-19", "--note", "from Provider Y")
    db.tamper(edit)
    assert "procurement_step" in camhs("audit", "verify", expect=1).stderr


def _queued_on_the_20th(run: Cli) -> None:
    """PSR Direct Award C, notice Monday 11 January 2027: the standstill ends at the end of Friday 22 January (reg
    12(2), (3), (9)); its reminder is queued on Wednesday 20 January and left for `outbox send`."""
    run("people", "add", "alice", "--email", "alice@council.example", "--role", "manager")
    with on_day("2027-01-04"):
        run("procurement", "start", "camhs", "--regime", "psr", "--process", "direct-award-c")
    step(run, "camhs", "decision", "2027-01-05")
    step(run, "camhs", "intention-notice", "2027-01-11")
    remind_run(run, "2027-01-20", "--no-send")


def test_a_queued_standstill_reminder_is_not_sent_once_representations_hold_the_standstill(
        ready: Cli, db: Database, smtp: SmtpServer) -> None:
    # Representations on Thursday 21 January hold the standstill (reg 12(4), (10)): "standstill ends Friday 22
    # January" no longer applies. The row is cancelled, saying why; the reminder for the new end still goes: a
    # further decision on Tuesday 26 January, then 5 working days (27, 28, 29 Jan, 1, 2 Feb) -> Tuesday 2 February,
    # its reminder 2 working days before (1 Feb is 1, 29 Jan is 2).
    _queued_on_the_20th(ready)
    step(ready, "camhs", "representations", "2027-01-21", "--note", "from Provider Y")
    with on_day("2027-01-21"):
        out = ready("outbox", "send").stdout
    assert [r.message["Subject"] for r in smtp.received] == []
    why = ("award on 2027-01-22 no longer applies on 2027-01-21: Standstill period: held by representations "
           "(received 2027-01-21); it ends 5 working days after the last further decision is communicated")
    assert out.startswith("Outbox: sent 0, 1 cancelled, not sent (no longer applies).")
    assert f"\n  cancelled #1 to alice: {why} (reg 12(" in out
    listed = ready("outbox", "list", "--status", "cancelled").stdout.splitlines()
    assert listed[0].startswith("#1    cancelled standstill-ends camhs 2027-01-22/award  to alice")
    assert listed[1].startswith(f"       not sent: {why}")
    assert db.rows("SELECT status FROM outbox") == [("cancelled",)]
    assert [e["action"] for e in ready.json("audit", "log", "camhs")][-1] == "outbox.cancel"
    refused = ready("outbox", "retry", "1", expect=2).stderr
    assert refused.startswith(f"Error: outbox message #1 was cancelled, not sent: {why}")
    assert ready("audit", "verify").stdout.splitlines()[1].startswith("Records match the log: ")
    step(ready, "camhs", "further-decision", "2027-01-26")
    remind_run(ready, "2027-01-29")
    assert [r.message["X-Cycle-Reminder"].split()[1:3] for r in smtp.received] == [
        ["standstill-ends", "2027-02-02/award"]]


def test_a_queued_procurement_reminder_still_due_is_sent_as_before(ready: Cli, db: Database,
                                                                   smtp: SmtpServer) -> None:
    _queued_on_the_20th(ready)
    with on_day("2027-01-21"):
        out = ready("outbox", "send").stdout
    assert out.startswith("Outbox: sent 1. ")
    assert [r.message["X-Cycle-Reminder"].split()[1:3] for r in smtp.received] == [
        ["standstill-ends", "2027-01-22/award"]]
    assert db.rows("SELECT status FROM outbox") == [("sent",)]


def test_a_queued_deadline_reminder_is_not_sent_once_its_step_is_recorded(ready: Cli, db: Database,
                                                                           smtp: SmtpServer) -> None:
    # Award on Monday 25 January 2027: the notice of the award by Tuesday 23 February (reg 9(11): 30 days beginning
    # with the award); its reminder from Tuesday 16 February, queued then. The notice is recorded on the 17th.
    _queued_on_the_20th(ready)
    step(ready, "camhs", "award", "2027-01-25")
    remind_run(ready, "2027-02-16", "--no-send")
    assert db.rows("SELECT kind, period, status FROM outbox WHERE id = 2") == [
        ("procurement-due", "2027-02-23/award-notice", "pending")]
    step(ready, "camhs", "award-notice", "2027-02-17", "--ref", "FTS 000123-2027")
    with on_day("2027-02-17"):
        out = ready("outbox", "send").stdout
    assert ("\n  cancelled #2 to alice: award-notice on 2027-02-23 no longer applies on 2027-02-17: `cycle "
            "procurement due` no longer lists it (the step recorded, or its period over); see: cycle procurement show "
            "camhs\n") in out
    assert smtp.received == []  # nor #1: that standstill ended on 22 January
    assert db.rows("SELECT status FROM outbox ORDER BY id") == [("cancelled",), ("cancelled",)]


def test_a_second_modification_does_not_push_back_the_first_ones_notice(camhs: Cli) -> None:
    # PSR reg 13(4)-(5): each modification whose cumulative change in lifetime value reaches £500,000 needs a notice
    # within 30 days of *that* modification. +£600,000 on Monday 1 March 2027 -> notice by 1 Mar + 29 = Tuesday 30
    # March; a further +£100,000 on Monday 15 March has its own, by Tuesday 13 April. On Thursday 1 April, with
    # no notice recorded, the first is missed.
    for name, day in (("decision", "2027-01-05"), ("intention-notice", "2027-01-11"), ("award", "2027-01-25"),
                      ("award-notice", "2027-02-01")):
        step(camhs, "camhs", name, day)
    at(camhs, "2027-02-01", "contract", "set", "camhs", "--provider", "P", "--start", "2027-02-01", "--end",
       "2030-01-31", "--value", "2m")
    out = at(camhs, "2027-03-01", "contract", "set", "camhs", "--value", "2.6m").stdout
    assert "by 2027-03-30" in out
    assert "by 2027-04-13" in at(camhs, "2027-03-15", "contract", "set", "camhs", "--value", "2.7m").stdout
    with on_day("2027-04-01"):
        due = camhs.json("procurement", "due", "--as-of", "2027-04-01")
    assert [(d["step"], d["date"], d["status"]) for d in due] == [("modification-notice", "2027-03-30", "missed")]
    step(camhs, "camhs", "modification-notice", "2027-04-02", "--ref", "FTS 000777-2027")
    with on_day("2027-04-02"):
        assert camhs.json("procurement", "due", "--as-of", "2027-04-02") == []




def test_an_award_written_by_hand_inside_the_standstill_does_not_end_it_nor_pass_the_gate(ready: Cli,
                                                                                          db: Database) -> None:
    # A team member's own INSERT, put on the record with its by-hand entry (the only way PostgreSQL takes it), of an
    # award on Friday 15 January 2027, inside the standstill that ends at the end of Friday 22 January (reg 12(1)):
    # audit verify accepts a row on the record, so the clock and the built-in award gate must not count it.
    at(ready, "2027-01-04", "procurement", "start", "camhs", "--regime", "psr", "--process", "direct-award-c")
    to_do(ready)
    step(ready, "camhs", "decision", "2027-01-05")
    step(ready, "camhs", "intention-notice", "2027-01-11")
    db.insert_on_record("procurement_step", "INSERT INTO procurement_step (procurement_id, step, done_on, "
                        "recorded_by, recorded_at) SELECT procurement_id, 'award', '2027-01-15', 'alice', recorded_at "
                        "FROM procurement_step WHERE step = 'decision'")
    inside = "but award is recorded on 2027-01-15, inside it (reg 12(2), (3), (9))"
    assert criteria(ready, "2027-01-16")["standstill-ended"] == (
        False, True, f"Standstill period ends at the end of 2027-01-22, {inside}", "cycle procurement show camhs")
    assert f"Standstill period ended at the end of 2027-01-22, {inside}" in at(
        ready, "2027-01-25", "procurement", "show", "camhs").stdout
