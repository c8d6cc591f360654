"""`remind run` sends now, so a run dated back goes by the records as they stand when it sends; and it keeps
failing (exit 1) while a reminder still due has not been delivered, not only on the run that first failed to deliver
it. Through the real CLI, against a real SMTP
server (aiosmtpd on 127.0.0.1) where delivery matters."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from .conftest import Cli, Database
from .reminder_setup import Y, live_project, maildir_messages, on_day, remind_run
from .smtpd import SmtpServer, smtp_fixture  # noqa: F401 - the `smtp` fixture

REFUSED = "550 5.1.1 <alice@council.example>: Recipient address rejected"


def test_a_run_dated_back_does_not_ask_for_a_notice_served_since(run: Cli, home: Path) -> None:
    """Notice served today; a run dated five days back (a careless catch-up) would have sent, now, 'Notice deadline
    in 30 days' to the people who have just served it. A run goes by the notice as it stands when it is sent; the
    preview of that day still shows the day as it was."""
    live_project(run)
    deadline = date(Y + 3, 3, 31)
    today = deadline - timedelta(days=25)  # five days after the 30-day rung fell due
    earlier = today - timedelta(days=5)
    with on_day(today):
        run("contract", "notice", "camhs", "--served-on", today.isoformat(), "--ref", "NL-1")
        # a preview looks at the day as it was: notice had not been served then
        plan = run.json("remind", "--dry-run", "--as-of", earlier.isoformat())
        assert {r["period"] for r in plan["reminders"] if r["kind"] == "notice"} == {f"{deadline}/30d"}
        assert run("remind", "run", "--as-of", earlier.isoformat()).stdout.startswith(f"{earlier}: queued ")
        run("remind", "run")
    assert [r for r in run.json("outbox", "list") if r["kind"].startswith("notice")] == []
    assert not [m for m in maildir_messages(home) if "Notice deadline" in m.read_text()]


def test_a_run_dated_back_counts_the_days_left_from_the_day_it_sends(run: Cli, home: Path) -> None:
    """Notice not served: a run on 6 March dated 1 March sends the 30-day rung (fallen due on 1 March) saying 25
    days left, as they are when it is read, not 30."""
    live_project(run)
    deadline = date(Y + 3, 3, 31)
    today = deadline - timedelta(days=25)
    with on_day(today):
        run("remind", "run", "--as-of", (today - timedelta(days=5)).isoformat())
    (row,) = [r for r in run.json("outbox", "list") if r["kind"] == "notice" and r["recipient"] == "alice"]
    assert row["period"] == f"{deadline}/30d" and row["status"] == "sent"
    subjects = [line for m in maildir_messages(home) for line in m.read_text().splitlines()
                if line.startswith("Subject: Notice deadline")]
    assert subjects and all(s.startswith("Subject: Notice deadline in 25 days") for s in subjects), subjects


def test_a_reminder_refused_for_good_keeps_remind_run_failing_while_it_is_still_due(run: Cli, smtp: SmtpServer) -> None:
    """A 550 fails the row for good. The run that met it exits 1; so does every later run while the reminder is still
    due, saying which row and how to send it again, until it is sent or no longer due (here: the review recorded)."""
    live_project(run)
    smtp.handler.refuse = {"alice@council.example": REFUSED}
    day = f"{Y}-12-17"  # the Y-Q3 review falls due (to alice, the owner)
    first = remind_run(run, day, expect=1)
    assert first.stderr.splitlines()[-1] == ("Error: 1 reminder due could not be delivered or queued: 1 failed "
                                             "(refused for good; see: cycle outbox list --status failed)")
    (row,) = run.json("outbox", "list", "--status", "failed")
    for again in (day, f"{Y}-12-20"):
        later = remind_run(run, again, expect=1)
        assert later.stdout.startswith(f"{again}: queued 0 reminders; 1 was already queued or sent.\n"
                                       f"Outbox: sent 0.")
        assert later.stderr == (
            f"  still failed #{row['id']} to alice <alice@council.example> (review-due camhs {Y}-Q3, still due): "
            f"{REFUSED}; retry with: cycle outbox retry {row['id']} (if the address is wrong, first: cycle people add "
            f"alice --email ADDRESS)\n"
            f"Error: 1 reminder due could not be delivered or queued: 1 failed (refused for good; see: cycle outbox "
            f"list --status failed)\n")
        assert remind_run(run, again, "--no-send", expect=1).stderr.splitlines()[-1].endswith(
            "1 failed (refused for good; see: cycle outbox list --status failed)")
    # `outbox send` reports what it tried: nothing, so exit 0 (it does not know what is due)
    assert run("outbox", "send").stdout.startswith("Outbox: sent 0.")
    # dealt with another way: the review is recorded, the reminder is no longer due, the run is clean again
    with on_day(f"{Y}-12-21"):
        run("review", "record", "camhs", "--quarter", f"{Y}-Q3", "--held-on", f"{Y}-12-21")
    assert remind_run(run, f"{Y}-12-21").stderr == ""
    assert [r["status"] for r in run.json("outbox", "list")] == ["failed"]  # (the row stays, on the record)


def test_a_refused_reminder_sent_again_ends_the_failing_runs(run: Cli, smtp: SmtpServer) -> None:
    live_project(run)
    smtp.handler.refuse = {"alice@council.example": REFUSED}
    day = f"{Y}-12-17"
    remind_run(run, day, expect=1)
    remind_run(run, day, expect=1)
    smtp.handler.refuse = {}  # put right at the server's end
    (row,) = run.json("outbox", "list", "--status", "failed")
    with on_day(day):
        run("outbox", "retry", str(row["id"]))
    resent = remind_run(run, day)
    assert resent.stdout.splitlines()[1].startswith("Outbox: sent 1.") and resent.stderr == ""
    assert remind_run(run, day).stderr == ""
    assert len(smtp.handler.received) == 1


def test_a_reminder_waiting_to_retry_keeps_remind_run_failing_until_it_goes(run: Cli, smtp: SmtpServer) -> None:
    """The server cannot be reached: the row waits to retry. A run before its retry time does not try it, and still
    exits 1, saying so; once the server is back, the next run that is due to retry sends it and exits 0."""
    live_project(run)
    smtp.stop()
    day = f"{Y}-12-17"
    down = remind_run(run, day, expect=1)
    assert down.stderr.splitlines()[-1].endswith("1 waiting to retry (not accepted yet; see: cycle outbox list "
                                                 "--status pending)")
    (row,) = run.json("outbox", "list")
    again = remind_run(run, day, expect=1)  # the same moment: its retry is not due yet, so this run does not try it
    lines = again.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith(
        f"  still waiting #{row['id']} to alice <alice@council.example> (review-due camhs {Y}-Q3): ")
    assert lines[0].endswith(f"; next try after {row['next_attempt_at'][:19]}Z")
    assert lines[1] == ("Error: 1 reminder due could not be delivered or queued: 1 waiting to retry (not accepted "
                        "yet; see: cycle outbox list --status pending)")
    smtp.start()
    back = remind_run(run, f"{Y}-12-18")
    assert back.stderr == "" and len(smtp.handler.received) == 1


def test_a_run_dated_back_past_the_deadline_says_nothing_of_a_notice_served_late_since(run: Cli) -> None:
    """On the day the run is dated the deadline had passed without notice ('notice-passed' fell due); notice was
    served, late, since. Sent today, the run goes by the contract as it stands: served, so no 'deadline passed'."""
    live_project(run)
    deadline = date(Y + 3, 3, 31)
    today, earlier = deadline + timedelta(days=8), deadline + timedelta(days=3)
    with on_day(today):
        run("contract", "notice", "camhs", "--served-on", (deadline + timedelta(days=5)).isoformat(), "--ref", "NL-1")
        plan = run.json("remind", "--dry-run", "--as-of", earlier.isoformat())  # the day as it was
        assert {r["kind"] for r in plan["reminders"] if r["kind"].startswith("notice")} == {"notice-passed"}
        run("remind", "run", "--as-of", earlier.isoformat())
    assert [r for r in run.json("outbox", "list") if r["kind"].startswith("notice")] == []


def test_a_still_failed_row_edited_by_hand_cannot_move_the_terminal(run: Cli, smtp: SmtpServer, db: Database) -> None:
    """The row's last error is shown on every later run: text put there by hand (an escape sequence, a line break
    forging a line of its own) is escaped, one line per row."""
    live_project(run)
    smtp.handler.refuse = {"alice@council.example": REFUSED}
    day = f"{Y}-12-17"
    remind_run(run, day, expect=1)
    db.tamper("UPDATE outbox SET last_error = :e", params={"e": "550 no\x1b[2J\nError: 0 reminders due"})
    lines = remind_run(run, day, expect=1).stderr.splitlines()
    assert len(lines) == 2 and "\x1b" not in lines[0] and "550 no\\x1b[2J\\nError: 0 reminders due;" in lines[0]
    assert lines[1].startswith("Error: 1 reminder due could not be delivered or queued: 1 failed")
