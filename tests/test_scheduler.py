"""The scheduler: one per database, ticks that work from the database, and nothing sent twice.

Time is simulated with an injected clock (what a tick takes as now), never by sleeping; the tests wait
on events the scheduler signals, with generous limits, and assert nothing about how long anything took.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from cycle.calendar.clock import LONDON, london_date
from cycle.db.store import Store, open_store
from cycle.notifications import send
from cycle.notifications.scheduler import ReminderScheduler, Ticked, daily_trigger
from cycle.reminders import lease, rules
from cycle.reminders.lease import LeaseHeld

from .conftest import Cli, cycle_exe, run_process
from .reminder_setup import Y, live_project, remind_run
from .smtpd import SmtpServer, smtp_fixture  # noqa: F401 - the `smtp` fixture

WAIT = 120  # seconds: only a limit for a hung test, never a measurement


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    s = open_store()
    yield s
    s.dispose()


def london(y: int, m: int, d: int, hour: int = 7) -> datetime:
    return datetime(y, m, d, hour, tzinfo=LONDON)


class Running:
    """A ReminderScheduler's run() in a thread, with events for its first tick and for standing by."""

    def __init__(self, store: Store, clock: datetime | None = None, **kw: object):
        self.lines: list[str] = []
        self.ticks: list[Ticked] = []
        self.ticked = threading.Event()
        self.standing_by = threading.Event()
        self.error: BaseException | None = None
        self.sched = ReminderScheduler(store, actor="scheduler", clock=(lambda: clock) if clock else None,
                                       log=self._log, on_tick=self._tick, **kw)  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.standby = False

    def _log(self, line: str) -> None:
        self.lines.append(line)
        if line.startswith("Standing by"):
            self.standing_by.set()

    def _tick(self, t: Ticked) -> None:
        self.ticks.append(t)
        self.ticked.set()

    def _run(self) -> None:
        try:
            self.sched.run(standby=self.standby)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def start(self, standby: bool = False) -> Running:
        self.standby = standby
        self.thread.start()
        return self

    def wait_tick(self) -> Ticked:
        assert self.ticked.wait(WAIT), (self.lines, self.sched.job_errors, self.error)
        return self.ticks[0]

    def stop(self) -> None:
        self.sched.stop()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        assert self.error is None and self.sched.job_errors == [], (self.error, self.sched.job_errors)


def reminders_received(smtp: SmtpServer) -> list[str]:
    return sorted(f"{m.message['X-Cycle-Reminder']} -> {','.join(m.rcpt_tos)}" for m in smtp.received)


def _fires(at: str, start: datetime, n: int) -> list[datetime]:
    trigger, out, prev, now = daily_trigger(at), [], None, start
    for _ in range(n):
        nxt = trigger.get_next_fire_time(prev, now)
        out.append(nxt)
        prev = now = nxt
    return out


@pytest.mark.parametrize("start", [datetime(2027, 3, 25, 12, tzinfo=LONDON),
                                   datetime(2026, 10, 22, 12, tzinfo=LONDON)],
                         ids=["spring", "autumn"])
def test_the_daily_tick_fires_once_a_day_at_local_time_across_the_clock_change(start: datetime) -> None:
    fires = _fires("07:00", start, 7)
    assert [f.astimezone(LONDON).strftime("%H:%M") for f in fires] == ["07:00"] * 7
    days = [london_date(f) for f in fires]
    assert days == [start.date() + timedelta(days=i + 1) for i in range(7)]
    # the UTC hour moves with the clocks; the London date (and so the quarter) does not
    assert len({f.astimezone(UTC).hour for f in fires}) == 2


def test_a_scheduler_stopped_across_a_quarter_boundary_sends_the_missed_reminder_once_after_restart(
        run: Cli, store: Store, smtp: SmtpServer) -> None:
    live_project(run)
    before = Running(store, london(Y, 12, 20)).start()  # Y-Q3 (October-December) review falls due
    assert [(r.kind, r.period) for r in before.wait_tick().plan.new] == [("review-due", f"{Y}-Q3")]
    before.stop()
    assert reminders_received(smtp) == [f"camhs review-due {Y}-Q3 -> alice@council.example"]
    # down over Christmas and the new year: the quarter ended, its review was not recorded, and the
    # overdue reminder fell due (8 January) while nothing was running
    after = Running(store, london(Y + 1, 1, 12)).start()
    tick = after.wait_tick()
    after.stop()
    assert [(r.kind, r.period, r.recipient) for r in tick.plan.new] == [("review-overdue", f"{Y}-Q3", "gina")]
    assert tick.drained.summary() == "sent 1"
    again = Running(store, london(Y + 1, 1, 12)).start()  # and once only: another restart sends nothing
    assert again.wait_tick().plan.new == [] and again.ticks[0].drained.rows == []
    again.stop()
    assert reminders_received(smtp) == [f"camhs review-due {Y}-Q3 -> alice@council.example",
                                        f"camhs review-overdue {Y}-Q3 -> gina@council.example"]
    actions = [e["action"] for e in run.json("audit", "log")]
    assert actions.count("scheduler.start") == 3 and actions.count("scheduler.stop") == 3
    run("audit", "verify")


def test_a_second_scheduler_refuses_to_start_and_a_standby_takes_over_without_sending_twice(
        run: Cli, store: Store, smtp: SmtpServer) -> None:
    live_project(run)
    first = Running(store, london(Y, 12, 20)).start()
    first.wait_tick()
    second = ReminderScheduler(store, actor="scheduler", clock=lambda: london(Y, 12, 20), log=lambda _: None)
    with pytest.raises(LeaseHeld) as refused:
        second.run()
    assert str(refused.value).startswith("another scheduler is already running on this database (pid ")
    assert str(refused.value).endswith("this one will not start, so nothing is sent twice. Stop that one first, or "
                                       "start this one with --standby to take over when it stops")
    standby = Running(store, london(Y, 12, 20), standby_poll_seconds=0.05).start(standby=True)
    assert standby.standing_by.wait(WAIT)
    held = lease.current(store)
    assert held is not None and held.holder == first.sched.lease.holder
    first.stop()
    tick = standby.wait_tick()  # the standby took the lease and ticked: everything was already sent
    standby.stop()
    assert tick.plan.new == [] and tick.drained.rows == []
    assert reminders_received(smtp) == [f"camhs review-due {Y}-Q3 -> alice@council.example"]
    assert lease.current(store) is None


def test_two_ticks_at_once_send_each_reminder_once(run: Cli, smtp: SmtpServer) -> None:
    """cron's `remind run` and a scheduler (or two crons) racing: the database decides, once."""
    live_project(run, end=f"{Y + 1}-09-30")
    # the Y-Q3 review is overdue (and its due reminder, never sent, goes late) and the 90-day notice rung is due
    day = date(Y + 1, 1, 12)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def tick() -> None:
        s = open_store()
        try:
            start.wait(WAIT)
            rules.enqueue(s, day, actor="cron", today=day)
            send.drain(s, actor="cron", now=datetime(Y + 1, 1, 12, 7, tzinfo=UTC))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            s.dispose()

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert errors == []
    assert reminders_received(smtp) == [
        f"camhs notice {Y + 1}-03-31/90d -> alice@council.example,sam@council.example",
        f"camhs review-due {Y}-Q3 -> alice@council.example",
        f"camhs review-overdue {Y}-Q3 -> gina@council.example"]
    assert {(r["status"], r["attempts"]) for r in run.json("outbox", "list")} == {("sent", 1)}
    assert len(run.json("outbox", "list")) == 4


def _last_sunday_of_october(year: int) -> date:
    d = date(year, 10, 31)
    return d - timedelta(days=(d.weekday() + 1) % 7)


def test_the_autumn_clock_change_fires_a_0130_tick_twice_and_still_sends_once(
        run: Cli, store: Store, smtp: SmtpServer) -> None:
    change = _last_sunday_of_october(Y)
    deadline = change + timedelta(days=30)  # the 30-day rung falls on the day the clocks go back
    live_project(run, start=f"{Y}-04-01", end=(deadline + timedelta(days=90)).isoformat(), notice="90 days")
    trigger, fires, prev = daily_trigger("01:30"), [], None
    now = datetime.combine(change - timedelta(days=2), datetime.min.time(), LONDON)
    for _ in range(5):
        prev = now = trigger.get_next_fire_time(prev, now)
        fires.append(now)
    days = [london_date(f) for f in fires]
    assert days.count(change) == 2  # APScheduler fires at both 01:30s of the long day
    clock = [fires[0]]
    sched = ReminderScheduler(store, actor="scheduler", at="01:30", clock=lambda: clock[0], log=lambda _: None)
    sched.lease.acquire(store, actor="scheduler")
    sent_on: dict[str, list[str]] = {}
    for fire in fires:
        clock[0] = fire
        for r in sched.tick().drained.sent:
            sent_on.setdefault(f"{r.kind} {r.period} {r.recipient}", []).append(london_date(fire).isoformat())
    sched.lease.release(store, actor="scheduler")
    assert all(len(when) == 1 for when in sent_on.values()), sent_on
    assert sent_on[f"notice {deadline}/30d alice"] == [change.isoformat()]
    assert len(smtp.received) == len({m.message["Message-ID"] for m in smtp.received})


def test_cycle_scheduler_run_twice_on_one_database(run: Cli, home: Path, smtp: SmtpServer) -> None:
    """Two real `cycle scheduler run` processes: the second refuses (exit 4); SIGTERM stops the first cleanly."""
    live_project(run, start=(date.today() - timedelta(days=30)).isoformat())
    (home / "reminders.toml").write_text("[reminders]\nreview_lead_days = 100\n")  # this quarter's review is due
    first = subprocess.Popen([*cycle_exe(), "scheduler", "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        limit = time.monotonic() + WAIT
        while not smtp.received and first.poll() is None and time.monotonic() < limit:
            time.sleep(0.05)
        assert smtp.received, first.poll()
        second = run_process("scheduler", "run")
        assert second.returncode == 4
        assert second.stderr.startswith(f"Error: another scheduler is already running on this database "
                                        f"(pid {first.pid} on ")
        status = run.json("scheduler", "status")
        assert status["pid"] == first.pid and status["running"] is True
    finally:
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=WAIT)
    assert first.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Mail goes to SMTP 127.0.0.1:")
    assert lines[1].startswith("Scheduler running: tick now and daily at 07:00 Europe/London")
    assert lines[-1] == "Scheduler stopped; lease released."
    assert len(smtp.received) == 1
    assert run("scheduler", "status").stdout == (
        "No scheduler is running on this database. Start one with: cycle scheduler run\n")
    actions = [e["action"] for e in run.json("audit", "log")]
    assert actions.count("scheduler.start") == 1 and actions[-1] == "scheduler.stop"


def test_running_the_tick_twice_sends_each_reminder_once_over_smtp(run: Cli, smtp: SmtpServer) -> None:
    live_project(run, end=f"{Y + 1}-09-30")
    for _ in range(2):
        result = remind_run(run, f"{Y + 1}-01-12")
        assert f"Mail went to SMTP 127.0.0.1:{smtp.port} (none)." in result.stdout
    assert reminders_received(smtp) == [
        f"camhs notice {Y + 1}-03-31/90d -> alice@council.example,sam@council.example",
        f"camhs review-due {Y}-Q3 -> alice@council.example",
        f"camhs review-overdue {Y}-Q3 -> gina@council.example"]
    assert [e["action"] for e in run.json("audit", "log")].count("outbox.sent") == 4


def test_a_scheduler_whose_lease_lapsed_and_was_taken_over_sends_nothing(run: Cli, store: Store,
                                                                         smtp: SmtpServer) -> None:
    live_project(run)
    paused = ReminderScheduler(store, actor="scheduler", clock=lambda: london(Y, 12, 20), log=lambda _: None)
    paused.lease.acquire(store, actor="scheduler")
    # it stops renewing (a laptop asleep, a stopped VM); after the lease's time another takes over
    other = lease.Lease(lease.new_holder())
    with pytest.raises(LeaseHeld):
        other.acquire(store, actor="scheduler")
    other.acquire(store, actor="scheduler", now=datetime.now(UTC) + timedelta(seconds=lease.TTL_SECONDS + 1))
    took_over = run.json("audit", "log")[-1]
    assert took_over["action"] == "scheduler.start"
    assert took_over["payload"]["took_over_from"] == paused.lease.holder
    with pytest.raises(lease.LeaseLost):
        paused.tick()  # wakes up: refused inside the transaction that would have queued mail
    assert run.json("outbox", "list") == [] and smtp.received == []


@pytest.mark.parametrize("every", ["0", "-1"])
def test_drain_every_must_be_a_minute_or_more(run: Cli, every: str) -> None:
    run("init")
    before = run.json("audit", "log")
    assert run("scheduler", "run", "--drain-every", every, expect=2).stderr == (
        f"Error: --drain-every {every} is out of range; give 1 to 1440 minutes\n")
    assert run.json("scheduler", "status")["running"] is False
    assert run.json("audit", "log") == before
