"""`cycle scheduler run`: APScheduler's BlockingScheduler (Europe/London) driving one periodic tick.

The scheduler keeps no memory of its own. APScheduler 3 skips a run it missed by more than its
misfire grace time (1 second by default), replaces a job's schedule on restart, and two schedulers
sharing a job store both run the job. None of that matters here: each tick works out what is due from
the database and queues it in the same transaction, so a missed day is made up by the next tick, a
repeated tick queues nothing new, and one lease row in the database lets only one scheduler run.

Jobs (all on one worker thread, so they never overlap):
- the tick: once at start-up, then daily at `at` (default 07:00 London time): queue what is due, send;
- the drain: every `drain_every` minutes, send what is waiting to be retried;
- the lease: renewed every 30 seconds; a scheduler that loses it stops.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cycle.calendar import clock
from cycle.db.store import Store
from cycle.errors import BadInput
from cycle.reminders import checkpoints, rules, settings
from cycle.reminders.lease import Lease, LeaseHeld, LeaseLost, new_holder

from . import send

DEFAULT_AT = "07:00"
DEFAULT_DRAIN_MINUTES = 5


def parse_at(text: str) -> tuple[int, int]:
    m = settings.TIME_OF_DAY.match((text or "").strip())
    if not m:
        raise BadInput(f"--at {text!r} is not a time of day; write HH:MM, e.g. 07:00 (London time)")
    return int(m.group(1)), int(m.group(2))


def configured() -> tuple[str, int]:
    """(at, drain_every_minutes) from [scheduler] in $CYCLE_HOME/reminders.toml, else the defaults."""
    raw = settings.read_config("scheduler")  # checked there
    return str(raw.get("at", DEFAULT_AT)).strip(), int(raw.get("drain_every_minutes", DEFAULT_DRAIN_MINUTES))


def daily_trigger(at: str) -> Any:
    from apscheduler.triggers.cron import CronTrigger

    hour, minute = parse_at(at)
    return CronTrigger(hour=hour, minute=minute, timezone=clock.LONDON)


@dataclass
class Ticked:
    today: str
    plan: rules.Plan
    drained: send.Drained
    checkpoint: checkpoints.Daily | None = None


class ReminderScheduler:
    """One scheduler process. `clock` (an aware datetime, default now) is what the ticks take as now."""

    def __init__(self, store: Store, *, actor: str, at: str = DEFAULT_AT,
                 drain_every_minutes: int = DEFAULT_DRAIN_MINUTES, transport: send.Transport | None = None,
                 clock: Callable[[], datetime] | None = None, log: Callable[[str], None] = print,
                 on_tick: Callable[[Ticked], None] | None = None, renew_seconds: int = 30,
                 standby_poll_seconds: float = 15.0):
        parse_at(at)
        every = drain_every_minutes
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise BadInput(f"drain every {every!r} minutes: give a whole number of minutes, 1 or more")
        self.store, self.actor, self.at, self.drain_every = store, actor, at, drain_every_minutes
        self.transport, self.log, self.on_tick = transport, log, on_tick
        self.clock = clock or (lambda: datetime.now(UTC))
        self.lease = Lease(new_holder())
        self.renew_seconds, self.standby_poll_seconds = renew_seconds, standby_poll_seconds
        self._scheduler: Any = None
        self._busy = threading.Lock()  # held while a job runs; the lease is released only between jobs
        self._stopping = threading.Event()
        self.error: BaseException | None = None
        self._said: str | None = None  # the checkpoint's last line logged
        self.job_errors: list[BaseException] = []

    # --- the jobs ----------------------------------------------------------------------------------

    def tick(self) -> Ticked:
        """Queue everything due today (London date of the clock), then send."""
        now = self.clock()
        today = clock.london_date(now)
        plan = rules.enqueue(self.store, today, actor=self.actor, lease=self.lease, today=today)
        daily = checkpoints.daily(self.store, today, actor=self.actor, lease=self.lease)
        drained = send.drain(self.store, actor=self.actor, transport=self.transport, now=now, lease=self.lease)
        self.log(f"{today} tick: queued {len(plan.new)}, {drained.summary()} ({drained.transport})")
        for p in plan.problems:
            self.log(f"  not sent: {p.kind} {p.project} {p.period}: {p.problem}; fix with: {p.fix}")
        said = daily.line()
        if said is not None and (daily.problem or said != self._said):  # "no key" once, not at every tick
            self.log(f"  {said}")
        self._said = said
        for r in drained.failed:
            self.log(f"  failed: #{r.id} {r.kind} {r.project} to {r.recipient}: {r.last_error}")
        result = Ticked(today.isoformat(), plan, drained, daily)
        if self.on_tick is not None:
            self.on_tick(result)
        return result

    def drain(self) -> send.Drained:
        drained = send.drain(self.store, actor=self.actor, transport=self.transport, now=self.clock(),
                             lease=self.lease)
        if drained.rows:
            self.log(f"drain: {drained.summary()} ({drained.transport})")
        return drained

    def _safely(self, job: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            try:
                with self._busy:
                    if not self._stopping.is_set():
                        job()
            except LeaseLost as exc:
                self.error = exc
                self.log(f"Error: {exc}")
                self.stop()
            except Exception as exc:  # noqa: BLE001 - one bad tick must not end the scheduler; the next one retries
                self.job_errors.append(exc)
                self.log(f"Error in {getattr(job, '__name__', 'job')}: {exc}")
        return run

    # --- life cycle ----------------------------------------------------------------------------------

    def acquire(self, standby: bool = False) -> bool:
        """Take the lease; refuse (LeaseHeld) if another scheduler has it, or wait for it as a standby.

        False when stop() was called while standing by.
        """
        said = False
        while not self._stopping.is_set():
            try:
                self.lease.acquire(self.store, actor=self.actor)
                return True
            except LeaseHeld as exc:
                if not standby:
                    raise
                if not said:
                    self.log(f"Standing by: {exc.holder} holds the lease until {exc.expires_at[:19]}Z; "
                             f"taking over when it stops")
                    said = True
                self._stopping.wait(self.standby_poll_seconds)
        return False

    def run(self, standby: bool = False) -> None:
        """Block: take the lease, tick at once and then daily, until stopped (Ctrl-C, SIGTERM or stop())."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        if not self.acquire(standby):
            return
        sched = BlockingScheduler(timezone=clock.LONDON, executors={"default": ThreadPoolExecutor(1)},
                                  job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        start = datetime.now(clock.LONDON)
        sched.add_job(self._safely(self.tick), daily_trigger(self.at), id="tick", name="tick", next_run_time=start)
        sched.add_job(self._safely(self.drain), "interval", minutes=self.drain_every, id="drain", name="drain")
        sched.add_job(self._safely(self.lease_renew), "interval", seconds=self.renew_seconds, id="lease",
                      name="lease")
        self._scheduler = sched
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _exit_on_signal)
        self.log(f"Scheduler running: tick now and daily at {self.at} Europe/London, retries every "
                 f"{self.drain_every} min; lease {self.lease.holder}. Stop with Ctrl-C.")
        try:
            if not self._stopping.is_set():
                sched.start()
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self._stopping.set()
            if sched.running:
                sched.shutdown(wait=False)
            with self._busy:  # let a job in flight finish before another scheduler may take over
                self.lease.release(self.store, actor=self.actor)
            self.log("Scheduler stopped; lease released.")

    def lease_renew(self) -> None:
        self.lease.renew(self.store)

    def stop(self) -> None:
        """Stop from any thread (or a job): no new job starts; run() releases the lease and returns."""
        self._stopping.set()
        sched = self._scheduler
        if sched is not None and sched.running:
            sched.shutdown(wait=False)


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(0)  # unwinds run(), which releases the lease
