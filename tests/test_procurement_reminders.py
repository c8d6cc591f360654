"""Issue 18 part 4: procurement's statutory dates on the reminder ladder. The owner and the governance lead hear
before a standstill ends, before a publication deadline, and once when one was missed; each once, through the
outbox, across repeated runs and after a missed day. Real CLI, a real SMTP server (tests/smtpd.py), dates worked
by hand in the comments (the day is set with time_machine: a sending run may not be dated after today)."""

from __future__ import annotations

import re
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import pytest

from .conftest import Cli, Database
from .reminder_setup import on_day, remind_run
from .smtpd import SmtpServer, smtp_fixture  # noqa: F401 - the `smtp` fixture

KINDS = ("standstill-ends", "procurement-due", "procurement-missed")


@pytest.fixture
def camhs(ready: Cli) -> Cli:
    """camhs (owner alice, a manager; governance lead gina, who holds that role) following PSR Direct Award C,
    and dental, a project with no procurement."""
    ready("people", "add", "alice", "--email", "alice@council.example", "--role", "manager")
    ready("people", "add", "gina", "--email", "gina@council.example", "--role", "governance-lead")
    ready("project", "set", "camhs", "--governance-lead", "gina")
    ready("project", "new", "dental", "--title", "Dental", "--owner", "alice")
    with on_day("2027-01-04"):
        ready("procurement", "start", "camhs", "--regime", "psr", "--process", "direct-award-c")
    step(ready, "decision", "2027-01-05")
    step(ready, "intention-notice", "2027-01-11", "--ref", "FTS 001234-2027")
    return ready


def step(run: Cli, name: str, day: str, *more: str, key: str = "camhs") -> None:
    with on_day(day):
        run("procurement", "step", key, name, "--on", day, *more)


def rows(db: Database) -> list[tuple[str, str, str, str, str]]:
    return db.rows("SELECT project, kind, period, recipient, status FROM outbox WHERE kind IN "
                   "('standstill-ends', 'procurement-due', 'procurement-missed') ORDER BY id")


def mail(smtp: SmtpServer, kind: str) -> list[EmailMessage]:
    return [r.message for r in smtp.received if r.message["X-Cycle-Reminder"].split()[1] == kind]


def text(msg: EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]


def both(kind: str, period: str) -> list[tuple[str, str, str, str, str]]:
    return [("camhs", kind, period, "alice", "sent"), ("camhs", kind, period, "gina", "sent")]


def planned(run: Cli, day: str) -> list[tuple[str, str, str]]:
    with on_day("2027-01-01"):
        plan = run.json("remind", "--dry-run", "--as-of", day)
    return sorted({(r["kind"], r["project"], r["period"]) for r in plan["reminders"] if r["kind"] in KINDS})


# PSR Direct Award C, notice of intention published Monday 11 January 2027 (docs/procurement.md's worked table):
# the standstill begins Tue 12 Jan (reg 12(2)) and ends at the end of the 8th working day after it (reg 12(3), (9)):
# 13, 14, 15, 18, 19, 20, 21, 22 -> Friday 22 January. Its reminder goes 2 PSR working days before: 21 is 1, 20 is 2
# -> from Wednesday 20 January.
# Award on Monday 25 January; the notice of the award within 30 days beginning with that day (reg 9(11)):
# 25 Jan + 29 -> Tuesday 23 February; its reminder 7 days before -> from Tuesday 16 February.

def test_each_reminder_once_across_runs_and_after_missed_days(camhs: Cli, db: Database, smtp: SmtpServer) -> None:
    for day in ("2027-01-12", "2027-01-19"):
        remind_run(camhs, day)
    assert rows(db) == []
    for day in ("2027-01-20", "2027-01-20", "2027-01-21", "2027-01-22"):
        remind_run(camhs, day)
    assert rows(db) == both("standstill-ends", "2027-01-22/award")
    (msg,) = mail(smtp, "standstill-ends")
    assert msg["To"] == "alice <alice@council.example>, gina <gina@council.example>"
    assert msg["Subject"] == "Standstill ends in 2 days: CAMHS Tiers 2 and 3 (camhs)"

    step(camhs, "award", "2027-01-25")
    remind_run(camhs, "2027-02-15")
    assert len(rows(db)) == 2
    remind_run(camhs, "2027-02-18")  # nothing ran on the 16th and 17th
    for day in ("2027-02-19", "2027-02-23"):
        remind_run(camhs, day)
    assert rows(db)[2:] == both("procurement-due", "2027-02-23/award-notice")
    (due,) = mail(smtp, "procurement-due")
    assert due["Subject"] == "Procurement deadline in 5 days: CAMHS Tiers 2 and 3 (camhs)"

    remind_run(camhs, "2027-02-26")  # nothing ran on the 24th or 25th: missed, told once
    remind_run(camhs, "2027-02-27")
    remind_run(camhs, "2027-03-10")
    assert rows(db)[4:] == both("procurement-missed", "2027-02-23/award-notice")
    assert len(mail(smtp, "procurement-missed")) == 1
    assert len(smtp.received) == 3
    assert [r for r in rows(db) if r[0] == "dental"] == []


def test_a_missed_deadline_one_reminder_flagged_in_procurement_due_until_recorded(camhs: Cli, db: Database,
                                                                                  smtp: SmtpServer) -> None:
    step(camhs, "award", "2027-01-25")
    for day in ("2027-02-24", "2027-02-24", "2027-03-01", "2027-04-30"):
        remind_run(camhs, day)
    assert rows(db) == both("procurement-missed", "2027-02-23/award-notice")
    (msg,) = mail(smtp, "procurement-missed")
    assert msg["Subject"] == "Procurement deadline missed: CAMHS Tiers 2 and 3 (camhs)"
    assert " ".join(text(msg).split()) == " ".join((
        "Procurement deadline missed: CAMHS Tiers 2 and 3",
        "Service: CAMHS Tiers 2 and 3 (camhs)",
        "Regime: Provider Selection Regime (SI 2023/1348)",
        "Route: Direct Award Process C (existing provider satisfying the contract, no considerable change)",
        "Step: Notice of the award submitted for publication (award-notice)",
        "Was due by: Tuesday 23 February 2027 (reg 9(11))",
        "Days late: 1 day",
        "This step was due by Tuesday 23 February 2027 and is not recorded: if it was done, record the day it was "
        "done; if not, do it now.",
        "The project stays flagged in cycle's list of procurement dates until the step is recorded. This is the only "
        "message about this date.",
        "With cycle: cycle procurement step camhs award-notice --on YYYY-MM-DD --ref REF",
        "-- Sent by cycle (camhs, procurement-missed, 2027-02-23/award-notice). This reminder is sent once."))
    # nothing lost: flagged in `procurement due`, whatever the window, until the step is recorded
    with on_day("2027-04-30"):
        out = camhs("procurement", "due", "--within", "1d").stdout
        assert out == ("2027-02-23  camhs  MISSED  Notice of the award submitted: MISSED, due by 2027-02-23 "
                       "(reg 9(11))\n")
        (item,) = camhs.json("procurement", "due")
        assert (item["project"], item["step"], item["date"], item["status"]) == (
            "camhs", "award-notice", "2027-02-23", "missed")
    step(camhs, "award-notice", "2027-04-30", "--ref", "FTS 009999-2027")
    with on_day("2027-05-01"):
        assert camhs.json("procurement", "due") == []
    remind_run(camhs, "2027-05-01")
    assert len(rows(db)) == 2 and len(smtp.received) == 1


def test_a_step_done_in_time_gets_no_missed_reminder_nor_a_late_due(camhs: Cli, db: Database) -> None:
    step(camhs, "award", "2027-01-25")
    step(camhs, "award-notice", "2027-02-01")
    for day in ("2027-02-16", "2027-02-24"):
        remind_run(camhs, day)
    assert rows(db) == []


def test_a_moved_standstill_the_old_date_gets_nothing_more_the_new_one_its_own(camhs: Cli, db: Database,
                                                                              smtp: SmtpServer) -> None:
    """Representations on 21 January hold the standstill (reg 12(4)); the further decision of Monday 25 January
    ends it 5 PSR working days later (reg 12(10)(a)(v)): 26, 27, 28, 29 January, 1 February -> Monday 1 February.
    Its reminder goes from 2 working days before: 29 is 1, 28 is 2 -> Thursday 28 January."""
    remind_run(camhs, "2027-01-20")
    step(camhs, "representations", "2027-01-21", "--note", "from Provider Y")
    assert planned(camhs, "2027-01-22") == []  # held: no end date until the further decision
    remind_run(camhs, "2027-01-22")
    step(camhs, "further-decision", "2027-01-25", "--decided-by", "ICB contracting committee")
    assert planned(camhs, "2027-01-27") == []
    remind_run(camhs, "2027-01-27")
    for day in ("2027-01-28", "2027-02-01"):
        remind_run(camhs, day)
    assert rows(db) == both("standstill-ends", "2027-01-22/award") + both("standstill-ends", "2027-02-01/award")
    first, moved = mail(smtp, "standstill-ends")
    assert ("Standstill ends: end of Monday 1 February 2027 (reg 12(2), (3), (9)) Not before: Tuesday 2 February "
            "2027 Days left: 4 days") in " ".join(text(moved).split())
    # one calendar entry, moved: the same UID, a later SEQUENCE
    from .test_email_quality import _calendar

    old, new = _calendar(first), _calendar(moved)
    assert old["UID"] == new["UID"] and new["DTSTART"].dt == date(2027, 2, 1)


# PA 2023 open procedure, not light touch. Contract award notice Monday 1 February 2027: the standstill is 8 working
# days beginning with that day (s.51(2)): 1, 2, 3, 4, 5, 8, 9, 10 -> Wednesday 10 February; its reminder 2 working
# days before (9 is 1, 8 is 2) -> from Monday 8 February. Contract entered Thursday 11 February: the contract
# details notice within 30 days beginning with that day (s.53(1)) -> 11 Feb + 29 = Friday 12 March; reminder from
# Friday 5 March. Contract ended Wednesday 31 March: the termination notice within 30 days beginning with that day
# (s.80(1)) -> 31 Mar + 29 = Thursday 29 April; reminder from Thursday 22 April, missed from Friday 30 April.

def test_pa2023_standstill_contract_details_and_termination_notices(ready: Cli) -> None:
    ready("people", "add", "alice", "--email", "alice@council.example")
    with on_day("2027-01-04"):
        ready("procurement", "start", "camhs", "--regime", "pa2023", "--procedure", "open")
    for name, day in (("tender-notice", "2027-01-04"), ("tenders-closed", "2027-01-29"),
                      ("assessment-summaries", "2027-02-01"), ("award-notice", "2027-02-01")):
        step(ready, name, day)
    assert planned(ready, "2027-02-05") == []
    assert planned(ready, "2027-02-08") == planned(ready, "2027-02-10") == [
        ("standstill-ends", "camhs", "2027-02-10/contract-entered")]
    assert planned(ready, "2027-02-11") == []
    step(ready, "contract-entered", "2027-02-11")
    assert planned(ready, "2027-03-04") == []
    assert planned(ready, "2027-03-05") == planned(ready, "2027-03-12") == [
        ("procurement-due", "camhs", "2027-03-12/contract-details-notice")]
    assert planned(ready, "2027-03-13") == [("procurement-missed", "camhs", "2027-03-12/contract-details-notice")]
    step(ready, "contract-details-notice", "2027-03-12")
    step(ready, "contract-ended", "2027-03-31")
    assert planned(ready, "2027-04-21") == []
    assert planned(ready, "2027-04-22") == [("procurement-due", "camhs", "2027-04-29/termination-notice")]
    assert planned(ready, "2027-04-30") == [("procurement-missed", "camhs", "2027-04-29/termination-notice")]


def test_dry_run_lists_them_and_a_sending_run_in_the_future_is_refused(camhs: Cli, db: Database) -> None:
    with on_day("2027-01-19"):
        plan = camhs.json("remind", "--dry-run", "--as-of", "2027-01-20")
        found = [(r["kind"], r["recipient"], r["period"], r["status"], r["subject"]) for r in plan["reminders"]]
        assert found == [
            ("standstill-ends", who, "2027-01-22/award", "new",
             "standstill ends at the end of 2027-01-22; award not before 2027-01-23 (reg 12(2), (3), (9))")
            for who in ("alice", "gina")]
        out = camhs("remind", "--dry-run", "--as-of", "2027-01-20").stdout
        assert ("  would send   standstill-ends camhs 2027-01-22/award  to alice <alice@council.example> (owner): "
                "standstill ends at the end of 2027-01-22; award not before 2027-01-23 (reg 12(2), (3), (9))\n") in out
        refused = camhs("remind", "run", "--as-of", "2027-01-20", expect=2)
        assert refused.stderr.startswith("Error: --as-of 2027-01-20 is after today (2027-01-19, London)")
    assert db.rows("SELECT * FROM outbox") == []


def test_nothing_for_projects_with_no_procurement(run: Cli, db: Database) -> None:
    run("init")
    run("people", "add", "alice", "--email", "alice@council.example")
    run("project", "new", "dental", "--title", "Dental", "--owner", "alice")
    remind_run(run, "2027-02-24")
    assert planned(run, "2027-02-24") == [] and rows(db) == []


def test_an_owner_who_cannot_be_reached_is_named_with_the_fix(ready: Cli) -> None:
    """camhs's owner, alice, is not in the people list (nobody is): the reminder is a problem with its fix."""
    with on_day("2027-01-04"):
        ready("procurement", "start", "camhs", "--regime", "psr", "--process", "direct-award-a")
    step(ready, "award", "2027-01-04")  # the notice by 4 Jan + 29 = 2 February (reg 7(2)(b))
    with on_day("2027-01-01"):
        plan = ready.json("remind", "--dry-run", "--as-of", "2027-02-10")
    assert [(p["project"], p["kind"], p["period"], p["problem"], p["fix"]) for p in plan["problems"]] == [
        ("camhs", "procurement-missed", "2027-02-02/award-notice",
         "alice (owner of camhs) is not in the people list, so has no email", "cycle people add alice --email ADDRESS")]


# --- the email ------------------------------------------------------------------------------------------------------

def test_the_emails_follow_the_email_quality_rules(camhs: Cli, smtp: SmtpServer) -> None:
    from .test_email_quality import _sentences

    step(camhs, "award", "2027-01-25")
    for day in ("2027-01-21", "2027-02-18", "2027-02-24"):
        remind_run(camhs, day)
    sent = {m["X-Cycle-Reminder"].split()[1]: m for m in (r.message for r in smtp.received)}
    assert sorted(sent) == sorted(KINDS)
    for kind, msg in sent.items():
        subject, body = str(msg["Subject"]), text(msg)
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert len("Subject: " + subject) <= 78, subject
        assert '<html lang="en-GB">' in html and "((" not in body + html, kind
        sentences = _sentences(body)
        assert len(sentences) == len(set(sentences)), (kind, sentences)
        assert re.search(r"\n\nService: +CAMHS Tiers 2 and 3 \(camhs\)\nRegime: +Provider Selection Regime", body), kind
    assert text(sent["procurement-due"]) == (
        "Procurement deadline: CAMHS Tiers 2 and 3\n"
        "\n"
        "Service:   CAMHS Tiers 2 and 3 (camhs)\n"
        "Regime:    Provider Selection Regime (SI 2023/1348)\n"
        "Route:     Direct Award Process C (existing provider satisfying the contract, no considerable change)\n"
        "Step:      Notice of the award submitted for publication (award-notice)\n"
        "Due by:    Tuesday 23 February 2027 (reg 9(11))\n"
        "Days left: 5 days\n"
        "\n"
        "The law requires this step by Tuesday 23 February 2027: do it by then, and record the day it was done.\n"
        "\n"
        "If the date passes with the step not recorded, you will get one more message, and the project stays "
        "flagged in cycle's list of procurement dates until it is recorded.\n"
        "\n"
        "The attached calendar entry marks the date, with an alarm the day before.\n"
        "\n"
        "With cycle: cycle procurement step camhs award-notice --on YYYY-MM-DD --ref REF\n"
        "\n"
        "--\n"
        "Sent by cycle (camhs, procurement-due, 2027-02-23/award-notice). This reminder is sent once.\n")
    standstill = " ".join(text(sent["standstill-ends"]).split())
    assert ("Do not enter into the contract before Saturday 23 January 2027; if a provider makes representations "
            "before the standstill ends, record them, as the award then waits for a further decision.") in standstill


def test_a_lead_who_holds_no_role_gets_no_command(camhs: Cli, smtp: SmtpServer) -> None:
    camhs("people", "add", "sam", "--email", "sam@council.example")
    camhs("project", "set", "camhs", "--governance-lead", "sam")
    remind_run(camhs, "2027-01-21")
    (msg,) = mail(smtp, "standstill-ends")
    assert msg["To"] == "alice <alice@council.example>, sam <sam@council.example>"
    assert "With cycle" not in text(msg)


def test_a_deadline_on_a_weekend_says_the_working_day_before(ready: Cli, smtp: SmtpServer) -> None:
    """PSR Direct Award A, award on Friday 1 January 2027: the notice by 1 Jan + 29 = Saturday 30 January (reg
    7(2)(b)), a weekend day: act by Friday 29 January."""
    ready("people", "add", "alice", "--email", "alice@council.example")
    with on_day("2027-01-01"):
        ready("procurement", "start", "camhs", "--regime", "psr", "--process", "direct-award-a")
    step(ready, "award", "2027-01-01")
    remind_run(ready, "2027-01-25")
    (msg,) = mail(smtp, "procurement-due")
    assert ("Saturday 30 January 2027 is a weekend day: do it by Friday 29 January 2027, the working day before."
            in text(msg))


# --- settings, and as a careless operator or a text editor would have it -----------------------------------------

def config(home: Path, body: str) -> Path:
    folder = home.parent / "xdg-config" / "cycle"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reminders.toml").write_text(body)
    return folder / "reminders.toml"


def test_the_leads_are_settings(camhs: Cli, home: Path) -> None:
    config(home, "[reminders]\nstandstill_lead_days = 0\nprocurement_lead_days = 30\n")
    assert planned(camhs, "2027-01-21") == []
    assert planned(camhs, "2027-01-22") == [("standstill-ends", "camhs", "2027-01-22/award")]
    step(camhs, "award", "2027-01-25")
    assert planned(camhs, "2027-01-25") == [("procurement-due", "camhs", "2027-02-23/award-notice")]


@pytest.mark.parametrize(("line", "rule"), [
    ("standstill_lead_days = -1", "standstill_lead_days must be a whole number of working days, from 0 to 30"),
    ("standstill_lead_days = 31", "standstill_lead_days must be a whole number of working days, from 0 to 30"),
    ('standstill_lead_days = "2"', "standstill_lead_days must be a whole number of working days, from 0 to 30"),
    ("procurement_lead_days = 1.5", "procurement_lead_days must be a whole number of days, from 0 to 366"),
    ("procurement_lead_days = true", "procurement_lead_days must be a whole number of days, from 0 to 366"),
])
def test_a_lead_edited_wrong_is_one_line(camhs: Cli, home: Path, line: str, rule: str) -> None:
    path = config(home, f"[reminders]\n{line}\n")
    assert camhs("remind", "--dry-run", expect=2).stderr == f"Error: {path}: [reminders] {rule}\n"


def test_a_procurement_edited_by_hand_is_a_problem_named_not_a_traceback(camhs: Cli, db: Database) -> None:
    db.tamper("UPDATE procurement_step SET done_on = 'soon' WHERE step = 'intention-notice'")
    with on_day("2027-01-20"):
        plan = camhs.json("remind", "--dry-run")
        assert [(p["project"], p["kind"], p["fix"]) for p in plan["problems"]] == [
            ("camhs", "procurement-due", "cycle audit verify")]
        assert "has the date 'soon', not YYYY-MM-DD" in plan["problems"][0]["problem"]
        result = camhs("remind", "run", expect=1)
        assert "Not sent: procurement-due camhs : camhs's procurement step 'intention-notice' has the date 'soon'" \
            in result.stderr
        assert "Traceback" not in result.stderr + result.stdout


def test_a_regime_or_route_edited_by_hand_does_not_stop_the_other_reminders(camhs: Cli, db: Database) -> None:
    camhs("project", "new", "sn", "--title", "School nursing", "--owner", "alice")
    with on_day("2027-01-04"):
        camhs("procurement", "start", "sn", "--regime", "psr", "--process", "direct-award-a")
    step(camhs, "award", "2027-01-04", key="sn")
    db.tamper("UPDATE procurement SET route = 'made-up' WHERE project_id = (SELECT id FROM project "
              "WHERE key = 'camhs')")
    assert planned(camhs, "2027-02-01") == [("procurement-due", "sn", "2027-02-02/award-notice")]


def test_a_run_dated_back_is_judged_as_things_stand_today(camhs: Cli, db: Database, smtp: SmtpServer) -> None:
    """Sent on 26 February, a run dated 18 February (when the notice was due in 5 days) says it was missed."""
    step(camhs, "award", "2027-01-25")
    with on_day("2027-02-26"):
        camhs("remind", "run", "--as-of", "2027-02-18")
    assert rows(db) == both("procurement-missed", "2027-02-23/award-notice")
    assert "Days late: 3 days" in " ".join(text(mail(smtp, "procurement-missed")[0]).split())


def test_a_queued_procurement_reminder_edited_by_hand_waits_and_says_why(camhs: Cli, db: Database,
                                                                        smtp: SmtpServer) -> None:
    remind_run(camhs, "2027-01-20", "--no-send")
    db.tamper("UPDATE outbox SET context = :c WHERE kind = 'standstill-ends'",
              params={"c": '{"title": "CAMHS", "project": "camhs", "date": "22/01/2027"}'})
    with on_day("2027-01-20"):
        assert camhs("outbox", "send", expect=1).exit_code == 1
    assert smtp.received == []
    assert {r["last_error"] for r in camhs.json("outbox", "list")} == {
        "template standstill-ends: the queued reminder's details cannot be read (ValueError: Invalid isoformat "
        "string: '22/01/2027'); nothing was sent"}


def test_a_title_with_markup_stays_text_and_the_subject_one_line(camhs: Cli, smtp: SmtpServer) -> None:
    camhs("project", "set", "camhs", "--title", "<script>alert(1)</script> & Co =0ABcc: x@evil.example")
    remind_run(camhs, "2027-01-21")
    (msg,) = mail(smtp, "standstill-ends")
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html
    assert msg["Bcc"] is None and "\n" not in str(msg["Subject"])
    assert msg["Subject"] == "Standstill ends in 1 day: <script>alert(1)</script> & Co Bcc: x@evil.example (camhs)"
