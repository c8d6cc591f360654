"""Two schedulers on one PostgreSQL database: one sends, the other stands by; kill the first, the second takes over.

On PostgreSQL a running scheduler's session holds an advisory lock the server frees when the session
ends, so the standby takes over as soon as the active one is killed, long before its lease would
lapse; and every reminder still goes exactly once.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from .conftest import Cli, cycle_exe
from .reminder_setup import live_project, to_do
from .smtpd import SmtpServer, smtp_fixture  # noqa: F401 - the `smtp` fixture

WAIT = 120  # seconds: only a limit for a hung test, never a measurement


class Scheduler:
    """A real `cycle scheduler run` process whose output lines are collected as they come."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen([*cycle_exe(), "scheduler", "run", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, prefix: str) -> None:
        limit = time.monotonic() + WAIT
        while not any(line.startswith(prefix) for line in self.lines):
            assert self.proc.poll() is None or self.reader.is_alive(), self.lines
            assert time.monotonic() < limit, self.lines
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=WAIT)
        self.reader.join(timeout=WAIT)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


def _wait(smtp: SmtpServer, count: int) -> None:
    limit = time.monotonic() + WAIT
    while len(smtp.received) < count:
        assert time.monotonic() < limit, [m.message["Subject"] for m in smtp.received]
        time.sleep(0.05)


@pytest.mark.postgresql_only
def test_kill_the_active_scheduler_and_the_standby_takes_over_sending_each_reminder_once(
        run: Cli, home: Path, smtp: SmtpServer) -> None:
    start = (date.today() - timedelta(days=30)).isoformat()
    live_project(run, start=start)
    (home / "reminders.toml").write_text("[reminders]\nreview_lead_days = 100\n")  # this quarter's review is due
    active = Scheduler()
    standby = None
    try:
        _wait(smtp, 1)  # camhs's review reminder, sent by the first scheduler's first tick
        standby = Scheduler("--standby")
        standby.wait_for("Standing by: ")
        assert run.json("scheduler", "status")["pid"] == active.proc.pid

        # A second project falls due while the first scheduler runs (its next tick is tomorrow) ...
        run("project", "new", "respite", "--title", "Short breaks", "--lead-commissioner", "CCGs", "--model",
            "joint", "--accountable-body", "Children's Trust Board", "--owner", "alice")
        run("contract", "set", "respite", "--provider", "Trust Y", "--start", start, "--end",
            (date.today() + timedelta(days=900)).isoformat(), "--notice", "6 months", "--run-on", "12 months")
        to_do(run, "respite")
        # ... and then the first scheduler dies without a word: no release, its lease still in date.
        assert active.stop(signal.SIGKILL) == -signal.SIGKILL

        _wait(smtp, 2)  # the standby took over and its first tick sent respite's reminder
        standby.wait_for("Scheduler running: ")
        assert run.json("scheduler", "status")["pid"] == standby.proc.pid
        time.sleep(1)  # nothing more may arrive
        assert len(smtp.received) == 2
    finally:
        if active.proc.poll() is None:
            active.stop(signal.SIGKILL)
        if standby is not None:
            assert standby.stop() == 0, standby.lines

    subjects = sorted(" ".join(str(m.message["Subject"]).split()) for m in smtp.received)
    assert subjects[0].startswith("Review due by "), subjects
    assert [s.split(": ", 1)[0] for s in subjects] == [subjects[0].split(": ", 1)[0]] * 2, subjects
    assert ["(camhs)" in subjects[0], "(respite)" in subjects[1]] == [True, True], subjects
    assert len({m.message["Message-ID"] for m in smtp.received}) == 2
    log = run.json("audit", "log")
    starts = [e for e in log if e["action"] == "scheduler.start"]
    assert len(starts) == 2
    first, second = starts
    assert second["payload"]["took_over_from"] == first["payload"]["holder"]
    assert second["at"] < first["payload"]["expires_at"]  # taken over while the dead one's lease was in date
    assert [e["action"] for e in log].count("outbox.sent") == 2
    assert log[-1]["action"] == "scheduler.stop" and log[-1]["payload"]["holder"] == second["payload"]["holder"]
    outbox = run.json("outbox", "list")
    assert sorted(r["project"] for r in outbox) == ["camhs", "respite"] and {r["status"] for r in outbox} == {"sent"}
