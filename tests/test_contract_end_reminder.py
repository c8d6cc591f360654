"""A contract with no notice period has no notice deadline, so the notice ladder says nothing about it: its end
date gets one reminder (`contract-end`), through the outbox and a real SMTP server (aiosmtpd on 127.0.0.1), once."""

from __future__ import annotations

import re
from datetime import date, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

from .conftest import CAMHS, Cli
from .reminder_setup import Y, add_people, remind_run, to_do
from .smtpd import SmtpServer, smtp_fixture  # noqa: F401 - the `smtp` fixture

END = date(Y + 1, 3, 31)


def no_notice_project(run: Cli, end: date = END) -> None:
    """camhs (owner alice, SRO sam) at `do`, its contract with Trust X ending on `end`, no notice period."""
    run("init")
    run(*CAMHS)
    run("project", "set", "camhs", "--sro", "sam", "--governance-lead", "gina")
    add_people(run)
    run("contract", "set", "camhs", "--provider", "Trust X", "--ref", "C-1", "--start", f"{Y}-10-01",
        "--end", end.isoformat())
    to_do(run)


def ending(run: Cli, day: date) -> list[tuple[str, str, str, str]]:
    plan = run.json("remind", "--dry-run", "--as-of", day.isoformat())
    return [(r["project"], r["period"], r["recipient"], r["status"]) for r in plan["reminders"]
            if r["kind"] == "contract-end"]


def ends(smtp: SmtpServer) -> list[EmailMessage]:
    """The contract-end messages the server received (the quarterly reviews go on beside them)."""
    got = [message_from_bytes(m.data, policy=policy.default) for m in smtp.received]
    return [m for m in got if str(m["X-Cycle-Reminder"]).split()[1] == "contract-end"]  # type: ignore[misc]


def test_a_contract_with_no_notice_period_gets_one_end_date_reminder_by_smtp(run: Cli, smtp: SmtpServer) -> None:
    no_notice_project(run)
    assert run.json("contract", "show", "camhs")["notice_deadline"] is None  # nothing for the ladder to go on
    assert ending(run, END - timedelta(days=121)) == []  # not yet: further off than the ladder's first rung
    first = END - timedelta(days=120)
    assert ending(run, first) == [("camhs", END.isoformat(), "alice", "new"), ("camhs", END.isoformat(), "sam", "new")]
    remind_run(run, first)
    got = ends(smtp)
    assert [m["To"] for m in got] == ["alice <alice@council.example>, sam <sam@council.example>"]
    assert [sorted(r.rcpt_tos) for r in smtp.received] == [["alice@council.example", "sam@council.example"]]
    assert {m["Subject"] for m in got} == {
        "Contract ends in 120 days, no notice period recorded: CAMHS Tiers 2 and 3 (camhs)"}
    text = " ".join(got[0].get_body(("plain",)).get_content().split())
    end_on = END.strftime("%A %d %B %Y").replace(" 0", " ")
    assert f"The contract with Trust X ends on {end_on}." in text
    assert "this is the one message about its end" in text
    calendar = [p.get_content() for p in got[0].walk() if p.get_content_type() == "text/calendar"]
    assert len(calendar) == 1 and f"DTSTART;VALUE=DATE:{END:%Y%m%d}" in str(calendar[0])  # the end date
    # every later run, up to the end date and past it, sends nothing more about it
    for day in (first + timedelta(days=30), END - timedelta(days=1), END, END + timedelta(days=1)):
        remind_run(run, day)
    assert len(ends(smtp)) == 1
    assert ending(run, END) == [("camhs", END.isoformat(), "alice", "sent"), ("camhs", END.isoformat(), "sam", "sent")]
    assert [(r["recipient"], r["status"]) for r in run.json("outbox", "list") if r["kind"] == "contract-end"] == [
        ("alice", "sent"), ("sam", "sent")]
    assert run("audit", "verify").exit_code == 0


def test_a_contract_that_ended_before_the_first_run_is_not_announced(run: Cli, smtp: SmtpServer) -> None:
    no_notice_project(run)
    assert ending(run, END + timedelta(days=1)) == []
    remind_run(run, END + timedelta(days=1))
    assert ends(smtp) == []


def test_a_changed_end_date_gets_its_own_reminder_and_a_notice_period_hands_over_to_the_ladder(
        run: Cli, smtp: SmtpServer) -> None:
    no_notice_project(run)
    remind_run(run, END - timedelta(days=100))
    assert len(ends(smtp)) == 1
    later = END + timedelta(days=90)
    run("contract", "set", "camhs", "--end", later.isoformat())  # extended: a new date to be reminded of
    assert ending(run, later - timedelta(days=100)) == [("camhs", later.isoformat(), "alice", "new"),
                                                        ("camhs", later.isoformat(), "sam", "new")]
    run("contract", "set", "camhs", "--notice", "1 month")  # now the notice ladder speaks for it
    assert ending(run, later - timedelta(days=100)) == []


def test_each_contract_of_a_project_without_a_notice_period_gets_its_own(run: Cli, smtp: SmtpServer) -> None:
    no_notice_project(run)
    run("contract", "add", "camhs", "--ref", "C-2", "--provider", "Trust Y", "--end", END.isoformat())
    plan = run.json("remind", "--dry-run", "--as-of", (END - timedelta(days=10)).isoformat())
    found = sorted((r["period"], r["subject"]) for r in plan["reminders"]
                   if r["kind"] == "contract-end" and r["recipient"] == "alice")
    assert [summary for _, summary in found] == [f"Contract C-1 ends in 10 days ({END}), no notice period recorded",
                                                 f"Contract C-2 ends in 10 days ({END}), no notice period recorded"]
    assert found[0][0] == END.isoformat() and re.fullmatch(rf"{END}/c\d+", found[1][0])  # a key of its own
    remind_run(run, END - timedelta(days=10))
    remind_run(run, END - timedelta(days=9))
    assert len(ends(smtp)) == 2  # one message for each contract, once
