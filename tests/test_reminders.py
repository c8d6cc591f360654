"""What is due, from the database, on any date: quarterly reviews, the notice ladder, gates waiting on a decision.

These tests deliver to the embedded Maildir default; the SMTP behaviour is in test_mail.py.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from cycle.calendar import clock, quarters
from cycle.db.store import Store, open_store
from cycle.notifications import send
from cycle.notifications.mail import MaildirTransport
from cycle.reminders import reviews, rules

from .conftest import BODY, Cli, go
from .reminder_setup import Y, add_people, live_project, maildir_messages, remind_run


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    s = open_store()
    yield s
    s.dispose()


def due(run: Cli, day: str | date) -> list[tuple[str, str, str, str, str]]:
    plan = run.json("remind", "--dry-run", "--as-of", str(day))
    return [(r["kind"], r["project"], r["period"], r["recipient"], r["status"]) for r in plan["reminders"]]


def sent_in_maildir(home: Path) -> list[str]:
    out = []
    for path in maildir_messages(home):
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        out.append(f"{msg['X-Cycle-Reminder']} -> {msg['To']}")
    return sorted(out)


# --- reviews -------------------------------------------------------------------------------------

def test_review_record_and_its_refusals(run: Cli) -> None:
    live_project(run)
    before = run.json("audit", "log")
    today = clock.london_today()
    q = quarters.quarter_of(today)
    tomorrow, earlier = today + timedelta(days=1), q.start - timedelta(days=1)
    cases = [
        (["--quarter", "2028-Q5", "--held-on", str(today)],
         "Error: --quarter '2028-Q5' is not a financial quarter; write YEAR-QN, e.g. 2026-Q3 "
         "(Q1 April-June ... Q4 January-March of the next calendar year)"),
        (["--quarter", str(q), "--held-on", str(tomorrow)],
         f"Error: --held-on {tomorrow} is in the future; record the review once the meeting has been held"),
        (["--quarter", str(q), "--held-on", str(earlier)],
         f"Error: --held-on {earlier} is before {q} began ({q.start}); {q} is {q.describe()}"),
        (["--quarter", str(q), "--held-on", "10/12/2028"],
         "Error: --held-on '10/12/2028' is not a date; use YYYY-MM-DD, e.g. 2027-03-31"),
        # --as-of cannot move "today" on to record a meeting not yet held (and silence its reminders early)
        (["--quarter", str(q + 3), "--held-on", str((q + 3).start), "--as-of", str((q + 3).end)],
         "Error: review record takes no --as-of: a review is recorded once the meeting has been held; give the "
         "day it was held with --held-on (today or earlier). See: cycle review record --help"),
    ]
    for args, error in cases:
        assert run("review", "record", "camhs", *args, expect=2).stderr == error + "\n"
    assert run("review", "record", "nope", "--quarter", str(q), "--held-on", str(today),
               expect=2).stderr == "Error: No project with key 'nope'. See the keys with: cycle project list\n"
    assert run.json("audit", "log") == before and run.json("review", "list") == []
    out = run("review", "record", "camhs", "--quarter", str(q), "--held-on", str(today), "--note",
              "minutes CR-12").stdout
    assert out == f"Recorded the {q} review of camhs, held on {today}.\n"
    err = run("review", "record", "camhs", "--quarter", str(q), "--held-on", str(today), expect=2).stderr
    assert err == (f"Error: the {q} review of camhs is already recorded (held on {today}, recorded by alice); "
                   f"see: cycle review list camhs\n")
    entry = run.json("audit", "log", "camhs")[-1]
    assert entry["action"] == "review.record"
    images = entry["payload"].pop("rows")
    assert entry["payload"] == {"review_id": 1, "quarter": str(q), "held_on": str(today), "note": "minutes CR-12"}
    assert images == [{"table": "review_meeting", "id": 1, "row": {
        "id": 1, "project_id": 1, "quarter": str(q), "held_on": str(today), "note": "minutes CR-12",
        "recorded_by": "alice", "recorded_at": images[0]["row"]["recorded_at"], "attendees": None,
        "snapshot": None}}]
    (listed,) = run.json("review", "list")
    assert listed == {"project": "camhs", "quarter": str(q), "held_on": str(today), "note": "minutes CR-12",
                      "recorded_by": "alice", "recorded_at": listed["recorded_at"]}
    assert "--as-of" not in run("review", "record", "--help").stdout


def test_quarterly_review_due_then_overdue_then_quiet_once_recorded(run: Cli, store: Store) -> None:
    live_project(run)  # contract from 1 October Y: the first quarter is Y-Q3, due by 31 December Y
    q3 = f"{Y}-Q3"
    assert due(run, f"{Y}-10-01") == []
    assert due(run, f"{Y}-12-16") == []  # 15 days before: not yet (lead is 14 days)
    assert due(run, f"{Y}-12-17") == [("review-due", "camhs", q3, "alice", "new")]
    remind_run(run, f"{Y}-12-17")
    assert due(run, f"{Y}-12-31") == [("review-due", "camhs", q3, "alice", "sent")]
    assert due(run, f"{Y + 1}-01-07") == [("review-due", "camhs", q3, "alice", "sent")]  # the 7 days' grace
    assert due(run, f"{Y + 1}-01-08") == [("review-due", "camhs", q3, "alice", "sent"),
                                          ("review-overdue", "camhs", q3, "gina", "new")]
    # Q4 (January-March Y+1) is due on 31 March, across the spring clock change: 14 days is 14 dates
    assert due(run, f"{Y + 1}-03-16") == [("review-due", "camhs", q3, "alice", "sent"),
                                          ("review-overdue", "camhs", q3, "gina", "new")]
    assert due(run, f"{Y + 1}-03-17") == [("review-overdue", "camhs", q3, "gina", "new"),
                                          ("review-due", "camhs", f"{Y}-Q4", "alice", "new")]
    # recorded on 9 January Y+1 (the library takes the date as today; the command takes only the real one)
    reviews.record(store, "camhs", q3, f"{Y + 1}-01-09", actor="alice", today=date(Y + 1, 1, 9))
    assert due(run, f"{Y + 1}-01-10") == []
    assert due(run, f"{Y + 1}-03-17") == [("review-due", "camhs", f"{Y}-Q4", "alice", "new")]


def test_a_review_due_reminder_missed_while_nothing_ran_is_sent_late_once(run: Cli, home: Path) -> None:
    live_project(run)  # Y-Q3 is due by 31 December Y; its reminder falls due on 17 December
    remind_run(run, f"{Y}-12-16")  # the last run before the Christmas break: nothing due yet
    assert sent_in_maildir(home) == []
    # nothing runs from 17 December to 2 January; the first run after the break tells the owner, late
    first = remind_run(run, f"{Y + 1}-01-03")
    assert first.stdout.splitlines()[0] == f"{Y + 1}-01-03: queued 1 reminder; 0 were already queued or sent."
    assert sent_in_maildir(home) == [f"camhs review-due {Y}-Q3 -> alice <alice@council.example>"]
    (path,) = maildir_messages(home)
    msg = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert msg["Subject"] == f"Quarterly review not recorded: CAMHS Tiers 2 and 3 (camhs), {Y}-Q3"
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    due_on = date(Y, 12, 31).strftime("%A %d %B %Y").replace(" 0", " ")
    assert text.startswith("Quarterly review not recorded: CAMHS Tiers 2 and 3\n\n")
    assert f"Review was due by:  {due_on}\nDays late:          3 days\n" in text
    assert (f"The review meeting for {Y}-Q3 was due by {due_on}: if it was held, record it; if not, hold it as soon "
            f"as you can.\n") in text
    assert "calendar" not in text
    assert [p.get_content_type() for p in msg.walk() if p.get_content_type() == "text/calendar"] == []
    # once: later runs do not send it again; after the grace the governance lead is told, as before
    remind_run(run, f"{Y + 1}-01-04")
    remind_run(run, f"{Y + 1}-01-08")
    assert sent_in_maildir(home) == [f"camhs review-due {Y}-Q3 -> alice <alice@council.example>",
                                     f"camhs review-overdue {Y}-Q3 -> gina <gina@council.example>"]


def test_a_late_review_reminder_is_not_sent_once_a_later_quarters_is_due(run: Cli, home: Path) -> None:
    live_project(run)
    # down from 17 December Y to 20 March Y+1: Y-Q3 is overdue (to gina), and Y-Q4's reminder is due; the
    # owner is not sent a stale one about Y-Q3 as well
    assert due(run, f"{Y + 1}-03-16") == [("review-due", "camhs", f"{Y}-Q3", "alice", "new"),
                                          ("review-overdue", "camhs", f"{Y}-Q3", "gina", "new")]
    remind_run(run, f"{Y + 1}-03-20")
    assert sent_in_maildir(home) == [f"camhs review-due {Y}-Q4 -> alice <alice@council.example>",
                                     f"camhs review-overdue {Y}-Q3 -> gina <gina@council.example>"]


def test_no_review_reminders_before_do_or_without_a_contract(run: Cli) -> None:
    run("init")
    from .conftest import CAMHS

    run(*CAMHS)
    add_people(run)
    run("project", "set", "camhs", "--governance-lead", "gina")
    run("contract", "set", "camhs", "--start", f"{Y}-10-01", "--end", f"{Y + 3}-09-30", "--notice", "6 months")
    assert due(run, f"{Y + 1}-01-08") == []  # at analyse: no contract is running yet
    run("project", "new", "other", "--title", "Other", "--owner", "alice")
    from .reminder_setup import to_do

    to_do(run, "camhs")
    assert due(run, f"{Y + 1}-01-08") == [("review-due", "camhs", f"{Y}-Q3", "alice", "new"),
                                          ("review-overdue", "camhs", f"{Y}-Q3", "gina", "new")]


def test_reviews_follow_the_contract_while_it_runs_not_the_projects_stage(run: Cli, store: Store) -> None:
    """A project moved on to decommission (or closed) while its contract runs on keeps its quarterly reviews,
    until the contract's last day."""
    live_project(run, end=f"{Y + 2}-03-31", notice="3 months")  # the contract ends 31 March Y+2
    for gate, evidence in (("do-review", "contract-award"), ("review-decommission", "outcomes-evaluation")):
        run("evidence", "add", "camhs", evidence, "--ref", f"{evidence} doc")
        go(run, "camhs", gate)
        run("project", "advance", "camhs", *(["--to", "decommission"] if gate == "review-decommission" else []))
    assert run.json("project", "show", "camhs")["stage"] == "decommission"
    # a contract that ends on its end date (one left to run on without notice is reviewed while it runs on)
    run("contract", "set", "camhs", "--if-no-notice", "ends")
    assert due(run, f"{Y + 1}-01-08") == [("review-due", "camhs", f"{Y}-Q3", "alice", "new"),
                                          ("review-overdue", "camhs", f"{Y}-Q3", "gina", "new")]
    # the last quarter it runs in (Y+1-Q4, January-March Y+2) is reviewed; none after it
    assert ("review-due", "camhs", f"{Y + 1}-Q4", "alice", "new") in due(run, f"{Y + 2}-03-20")
    assert [r for r in due(run, f"{Y + 2}-06-20") if r[0] == "review-due"] == []
    # one function says which quarters (the quarterly report asks it too)
    found = reviews.reviews_due(store, date(Y + 2, 6, 20))
    assert [(r.project, str(r.quarter), r.held_on) for r in found] == [
        ("camhs", f"{Y}-Q3", None), ("camhs", f"{Y}-Q4", None), ("camhs", f"{Y + 1}-Q1", None),
        ("camhs", f"{Y + 1}-Q2", None), ("camhs", f"{Y + 1}-Q3", None), ("camhs", f"{Y + 1}-Q4", None)]
    reviews.record(store, "camhs", f"{Y}-Q3", f"{Y + 1}-01-09", actor="alice", today=date(Y + 1, 1, 9))
    assert reviews.reviews_due(store, date(Y + 1, 1, 10), "camhs")[0].held_on == f"{Y + 1}-01-09"
    assert reviews.reviews_due(store, date(Y + 1, 1, 10), "other") == []


# --- the tick: once, and only once ---------------------------------------------------------------

def test_running_the_tick_twice_sends_each_reminder_once(run: Cli, home: Path) -> None:
    live_project(run)
    day = f"{Y}-12-20"
    before = len(run.json("audit", "log"))
    first = remind_run(run, day)
    assert first.stdout.splitlines()[0] == f"{day}: queued 1 reminder; 0 were already queued or sent."
    assert f"Mail went to the Maildir {home / 'mail'} (no SMTP server configured" in first.stdout
    second = remind_run(run, day)
    assert second.stdout.splitlines()[0] == f"{day}: queued 0 reminders; 1 was already queued or sent."
    assert sent_in_maildir(home) == [f"camhs review-due {Y}-Q3 -> alice <alice@council.example>"]
    rows = run.json("outbox", "list")
    assert [(r["status"], r["kind"], r["period"], r["recipient"], r["attempts"]) for r in rows] == [
        ("sent", "review-due", f"{Y}-Q3", "alice", 1)]
    actions = [e["action"] for e in run.json("audit", "log")[before:]]
    assert actions == ["outbox.enqueue", "outbox.claim", "outbox.sent"]
    assert due(run, day) == [("review-due", "camhs", f"{Y}-Q3", "alice", "sent")]
    run("audit", "verify")


def test_a_run_dated_after_today_is_refused_and_burns_nothing(run: Cli, home: Path) -> None:
    """`remind run --as-of` a later day would send that day's reminders now, and the real ones never."""
    live_project(run)
    today = clock.london_today()  # the real clock: the date in England now
    later = f"{Y + 3}-03-25"  # the 7-day rung of the notice deadline, 31 March Y+3
    before = run.json("audit", "log")
    for extra in ([], ["--no-send"]):
        refused = run("remind", "run", "--as-of", later, *extra, expect=2)
        assert refused.stderr == (f"Error: --as-of {later} is after today ({today}, London): a run sends real "
                                  f"reminders now, so it cannot be dated in the future; preview that day with: "
                                  f"cycle remind --dry-run --as-of {later}\n")
    tomorrow = str(today + timedelta(days=1))
    assert run("remind", "run", "--as-of", tomorrow, expect=2).stderr.startswith(f"Error: --as-of {tomorrow} is after")
    assert run.json("audit", "log") == before and run.json("outbox", "list") == []
    assert maildir_messages(home) == []
    # a preview may look ahead, either way it is asked for
    assert ("notice", "camhs", f"{Y + 3}-03-31/7d", "alice", "new") in due(run, later)
    assert run("remind", "run", "--dry-run", "--as-of", later).stdout.startswith(f"Reminders due on {later}")
    # today (and an earlier day) is a run like any other
    assert run("remind", "run", "--as-of", str(today)).stdout.startswith(f"{today}: queued 0 reminders")
    assert run("remind", "run").stdout.startswith(f"{today}: queued 0 reminders")
    # the scheduler's own clock decides its "today" (a library caller passes it): on that day the run goes
    store = open_store()
    try:
        with pytest.raises(Exception, match="is after today"):
            rules.enqueue(store, date(Y + 3, 3, 25), actor="scheduler")
        plan = rules.enqueue(store, date(Y + 3, 3, 25), actor="scheduler", today=date(Y + 3, 3, 25))
    finally:
        store.dispose()
    assert ("notice", f"{Y + 3}-03-31/7d") in [(r.kind, r.period) for r in plan.new]


def test_dry_run_writes_nothing_and_says_where_mail_goes(run: Cli, home: Path) -> None:
    live_project(run)
    before = run.json("audit", "log")
    out = run("remind", "--dry-run", "--as-of", f"{Y}-12-20").stdout
    assert out.splitlines()[:2] == [
        f"Reminders due on {Y}-12-20 (London):",
        f"  would send   review-due      camhs {Y}-Q3  to alice <alice@council.example> (owner): "
        f"Quarterly review due by {Y}-12-31"]
    assert out.splitlines()[-1] == (f"Mail goes to the Maildir {home / 'mail'} (no SMTP server configured; set "
                                    f"CYCLE_SMTP_HOST, or [smtp] in "
                                    f"{home.parent / 'xdg-config' / 'cycle' / 'reminders.toml'}, to send by email).")
    assert run("remind", "run", "--dry-run", "--as-of", f"{Y}-12-20").stdout == out
    assert run.json("audit", "log") == before
    assert run.json("outbox", "list") == []
    assert maildir_messages(home) == []
    # `cycle remind` alone changes nothing either: it prints its help
    assert run("remind", expect=2).stderr.startswith("Usage: cycle remind")  # as a bare `cycle`
    # ... and with --as-of or --json but no --dry-run it says what was meant, rather than ignoring them
    assert run("remind", "--as-of", f"{Y + 1}-01-10", expect=2).stderr == (
        f"Error: --as-of needs --dry-run or run: cycle remind --dry-run --as-of {Y + 1}-01-10 to see what is due, "
        f"or cycle remind run --as-of {Y + 1}-01-10 to send it. See: cycle remind --help\n")
    assert run("remind", "--json", expect=2).stderr == (
        "Error: --json needs --dry-run: cycle remind --dry-run --json. See: cycle remind --help\n")
    assert run.json("audit", "log") == before and run.json("outbox", "list") == []


def test_a_reminder_to_someone_without_an_email_is_shown_with_its_fix_then_sent_once_fixed(run: Cli,
                                                                                          home: Path) -> None:
    live_project(run, people=False)
    add_people(run, ("alice",))
    day = f"{Y + 1}-01-08"
    plan = run.json("remind", "--dry-run", "--as-of", day)
    assert [(r["kind"], r["recipient"]) for r in plan["reminders"]] == [("review-due", "alice")]  # sent late
    assert plan["problems"] == [{
        "project": "camhs", "kind": "review-overdue", "period": f"{Y}-Q3",
        "problem": "gina (governance lead of camhs) is not in the people list, so has no email",
        "fix": "cycle people add gina --email ADDRESS"}]
    text = run("remind", "--dry-run", "--as-of", day).stdout
    assert ("Cannot be sent until fixed (the next run sends them once fixed):\n"
            f"  review-overdue  camhs {Y}-Q3: gina (governance lead of camhs) is not in the people list, so has no "
            "email\n      fix with: cycle people add gina --email ADDRESS\n") in text
    result = remind_run(run, day, expect=1)
    assert result.stderr == (f"Not sent: review-overdue camhs {Y}-Q3: gina (governance lead of camhs) is not in the "
                             f"people list, so has no email; fix with: cycle people add gina --email ADDRESS\n"
                             f"Error: 1 reminder due could not be delivered or queued: 1 not queued (nobody with an "
                             f"email to send it to; fix as said above, the next run sends it)\n")
    assert sent_in_maildir(home) == [f"camhs review-due {Y}-Q3 -> alice <alice@council.example>"]
    run("people", "add", "gina", "--email", "gina@council.example")
    remind_run(run, f"{Y + 1}-01-09")
    assert sent_in_maildir(home) == [f"camhs review-due {Y}-Q3 -> alice <alice@council.example>",
                                     f"camhs review-overdue {Y}-Q3 -> gina <gina@council.example>"]
    # no governance lead named at all: said too, with the command that names one
    run("project", "new", "solo", "--title", "Solo service", "--owner", "alice", "--lead-commissioner", "CCGs",
        "--model", "integrated", "--accountable-body", BODY)
    run("contract", "set", "solo", "--start", f"{Y}-10-01", "--end", f"{Y + 3}-09-30", "--notice", "6 months")
    from .reminder_setup import to_do

    to_do(run, "solo")
    problems = run.json("remind", "--dry-run", "--as-of", day)["problems"]
    assert {"project": "solo", "kind": "review-overdue", "period": f"{Y}-Q3",
            "problem": "solo has no governance lead to send it to",
            "fix": "cycle project set solo --governance-lead NAME"} in problems


# --- the notice ladder ---------------------------------------------------------------------------

def _walk(store: Store, home: Path, first: date, last: date) -> dict[str, list[str]]:
    """Tick once a day from `first` to `last`; {date: the reminders sent that day}."""
    transport = MaildirTransport(home / "mail")
    out: dict[str, list[str]] = {}
    day = first
    while day <= last:
        rules.enqueue(store, day, actor="scheduler", today=day)
        drained = send.drain(store, actor="scheduler", transport=transport,
                             now=datetime(day.year, day.month, day.day, 7, tzinfo=UTC))
        got = sorted(f"{r.kind} {r.period} {r.recipient}" for r in drained.sent if r.kind.startswith("notice"))
        if got:
            out[day.isoformat()] = got
        day += timedelta(days=1)
    return out


def test_notice_ladder_then_one_passed_message_then_silence(run: Cli, home: Path, store: Store) -> None:
    # ends 30 September Y+1, six months' notice: deadline 31 March Y+1 (the last rung crosses the
    # spring clock change, and the deadline passes into a new quarter and financial year)
    live_project(run, end=f"{Y + 1}-09-30")
    deadline = date(Y + 1, 3, 31)
    sent = _walk(store, home, deadline - timedelta(days=130), deadline + timedelta(days=120))
    rung = {n: (deadline - timedelta(days=n)).isoformat() for n in (120, 90, 60, 30, 7)}
    people = ("alice", "sam")
    expected = {rung[n]: [f"notice {deadline}/{n}d {p}" for p in people] for n in (120, 90, 60, 30, 7)}
    expected[(deadline + timedelta(days=1)).isoformat()] = [f"notice-passed {deadline} {p}"
                                                            for p in ("alice", "gina", "sam")]
    assert sent == expected
    subjects = sorted({message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"]
                       for p in maildir_messages(home)})
    assert "Notice not served, contract runs on: CAMHS Tiers 2 and 3 (camhs)" in subjects
    assert "Notice deadline in 7 days: CAMHS Tiers 2 and 3 (camhs)" in subjects
    texts = [message_from_bytes(p.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
             for p in maildir_messages(home)]
    deadline_on = deadline.strftime("%A %d %B %Y").replace(" 0", " ")
    run_on_to = date(Y + 2, 9, 30).strftime("%A %d %B %Y").replace(" 0", " ")
    assert any(f"If the service is to end, serve notice on Trust X by {deadline_on}; otherwise the contract runs "
               f"on to {run_on_to}." in " ".join(t.split()) for t in texts)
    # and on any later date: nothing more about this deadline
    later = [r for r in due(run, f"{Y + 2}-06-01") if r[0].startswith("notice")]
    assert later == [("notice-passed", "camhs", str(deadline), p, "sent") for p in ("alice", "sam", "gina")]


def test_after_downtime_only_the_latest_rung_is_sent(run: Cli) -> None:
    live_project(run, end=f"{Y + 1}-09-30")
    deadline = date(Y + 1, 3, 31)
    notice = [r for r in due(run, deadline - timedelta(days=45)) if r[0] == "notice"]
    assert notice == [("notice", "camhs", f"{deadline}/60d", p, "new") for p in ("alice", "sam")]
    assert [r for r in due(run, deadline) if r[0] == "notice"] == [
        ("notice", "camhs", f"{deadline}/7d", p, "new") for p in ("alice", "sam")]


def test_notice_served_in_time_stops_the_ladder(run: Cli) -> None:
    live_project(run, start=(date.today() - timedelta(days=30)).isoformat(), end=f"{Y + 1}-09-30")

    def notice(day: str) -> list[str]:
        return [r[0] for r in due(run, day) if r[0].startswith("notice")]

    assert notice(f"{Y}-12-31") == ["notice", "notice"]
    run("contract", "notice", "camhs", "--served-on", clock.london_today().isoformat(), "--ref", "NL-1")
    assert notice(f"{Y}-12-31") == []
    assert notice(f"{Y + 1}-04-02") == []


def _decommission(run: Cli) -> None:
    for gate, names in (("do-review", ["contract-award"]), ("review-decommission", ["outcomes-evaluation"])):
        for name in names:
            run("evidence", "add", "camhs", name, "--ref", f"{name} doc")
        go(run, "camhs", gate)
        if gate == "do-review":
            run("project", "advance", "camhs")
    run("project", "advance", "camhs", "--to", "decommission")


def test_notice_reminders_go_once_per_contract_not_once_per_linked_project(run: Cli) -> None:
    live_project(run, end=f"{Y + 1}-09-30")
    _decommission(run)
    run("people", "add", "dora", "--email", "dora@council.example")
    run("project", "set", "camhs-decommissioning", "--owner", "dora")
    notice = [r for r in due(run, f"{Y}-12-31") if r[0] == "notice"]
    deadline = f"{Y + 1}-03-31"
    assert notice == [("notice", "camhs", f"{deadline}/90d", p, "new") for p in ("alice", "sam", "dora")]
    # camhs is at `decommission` now, but its contract runs: its quarterly reviews are still asked for
    assert [r for r in due(run, f"{Y + 1}-01-08") if r[0].startswith("review")] == [
        ("review-due", "camhs", f"{Y}-Q3", "alice", "new"), ("review-overdue", "camhs", f"{Y}-Q3", "gina", "new")]


# --- gates waiting on a decision -----------------------------------------------------------------

def test_a_gate_waiting_on_a_decision_for_too_long(ready: Cli, home: Path, store: Store) -> None:
    run = ready
    add_people(run)
    run("project", "set", "camhs", "--governance-lead", "gina")
    today = date.today()
    assert due(run, today + timedelta(days=60)) == []  # still gathering evidence: not waiting on the body
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA")
    period = "analyse/c1v1"
    assert due(run, today + timedelta(days=30)) == []
    assert due(run, today + timedelta(days=31)) == [("gate-waiting", "camhs", period, "alice", "new"),
                                                    ("gate-waiting", "camhs", period, "gina", "new")]
    plan = run.json("remind", "--dry-run", "--as-of", str(today + timedelta(days=31)))
    assert plan["reminders"][0]["subject"] == "Waiting 31 days for a decision on analyse-plan"
    remind_run(run, str(today + timedelta(days=31)))
    (path,) = maildir_messages(home)
    msg = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert msg["Subject"] == "Waiting 31 days for a decision: CAMHS Tiers 2 and 3 (camhs)"
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    since = today.strftime("%A %d %B %Y").replace(" 0", " ")
    assert f"Stage:         Analyse\nWaiting since: {since}\nDays waiting:  31 days\n" in text
    assert "With cycle" not in text  # neither alice nor gina holds a role in cycle
    # the command (for those who use cycle) names the body, quoted for the shell, rather than BODY
    command = ("cycle decision record camhs --gate analyse-plan --outcome go --body \"Children's Trust Board\" "
               "--ref MINUTES")
    (queued,) = {r.context["command"] for r in rules.preview(store, today + timedelta(days=31)).reminders}
    assert queued == command
    args = shlex.split(command)
    assert args[args.index("--body") + 1] == BODY
    run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "hold", "--body", BODY,
        "--ref", "minutes 1")
    assert due(run, today + timedelta(days=31)) == []  # the body decided (hold) in this visit


# --- settings ------------------------------------------------------------------------------------

def test_the_ladder_and_lead_times_come_from_reminders_toml(run: Cli, home: Path) -> None:
    live_project(run, end=f"{Y + 1}-09-30")
    (home / "reminders.toml").write_text("[reminders]\nnotice_ladder = [10]\nreview_lead_days = 3\n")
    assert due(run, f"{Y}-12-27") == []
    assert [r[:3] for r in due(run, f"{Y}-12-28")] == [("review-due", "camhs", f"{Y}-Q3")]
    assert [r[:3] for r in due(run, f"{Y + 1}-03-21")] == [("review-due", "camhs", f"{Y}-Q3"),
                                                          ("review-overdue", "camhs", f"{Y}-Q3"),
                                                          ("notice", "camhs", f"{Y + 1}-03-31/10d"),
                                                          ("notice", "camhs", f"{Y + 1}-03-31/10d")]
    (home / "reminders.toml").write_text("[reminders]\nnotice_lader = [10]\n")
    err = run("remind", "--dry-run", expect=2).stderr
    assert err == (f"Error: {home / 'reminders.toml'}: [reminders] has unknown key 'notice_lader'; it knows: "
                   "action_escalate_days, gate_wait_days, notice_ladder, procurement_lead_days, return_due_days, "
                   "review_grace_days, review_lead_days, standstill_lead_days\n")
    (home / "reminders.toml").write_text("[smtp]\npassword = 'hunter2'\n")
    err = run("remind", "--dry-run", expect=2).stderr
    assert err == (f"Error: {home / 'reminders.toml'}: [smtp] password is not read from this file; put it in a file "
                   "of its own and name it with password_file, or set CYCLE_SMTP_PASSWORD\n")


def test_outbox_rows_carry_what_the_templates_need(run: Cli, store: Store) -> None:
    live_project(run)
    rules.enqueue(store, date(Y, 12, 20), actor="alice", today=date(Y, 12, 20))
    with store.read() as s:
        from cycle.db.models import OutboxMessage

        row = s.get(OutboxMessage, 1)
        assert row is not None
        assert (row.project, row.kind, row.period, row.recipient, row.email, row.status) == (
            "camhs", "review-due", f"{Y}-Q3", "alice", "alice@council.example", "pending")
        context = json.loads(row.context)
    assert context["review_due"] == f"{Y}-12-31" and context["days_left"] == 11
    assert context["command"] == f"cycle review record camhs --quarter {Y}-Q3 --held-on YYYY-MM-DD"


def test_the_reminders_page_commands_run(run: Cli) -> None:
    from .test_docs import DOCS, _lines, _readme_block

    for line in _readme_block("Quick start"):
        run(*shlex.split(line)[1:], expect=None)
    for line in _lines(DOCS / "reminders.md"):
        args = shlex.split(line)
        assert args[0] == "cycle"
        run(*args[1:])


def test_a_long_subject_is_folded_in_the_maildir_as_it_is_over_smtp(run: Cli, home: Path) -> None:
    """Python's mailbox writes a message with no header folding: a long title gave one Subject line of 150
    characters in the Maildir file, past the 78 the email RFCs ask for (SMTP folded it; found by adv15b)."""
    title = "Child and Adolescent Mental Health Services Tiers 2 and 3 for the whole county, all ages"
    live_project(run, title=title)
    remind_run(run, f"{Y}-12-17")
    (path,) = maildir_messages(home)
    raw = path.read_bytes()
    header = raw.split(b"\n\n", 1)[0]
    assert max(len(line.rstrip(b"\r")) for line in header.split(b"\n")) <= 78, header.decode()
    assert b"\r\n" not in raw  # a Maildir file is a local file: plain newlines, as mail clients expect
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == f"Review due by 31 December {Y}: {title} (camhs)"  # read back whole
