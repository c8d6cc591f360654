"""Shared set-up for the reminder tests: people, a project in `do` with a contract, and dates ahead of today.

The tests simulate time with --as-of and an injected clock, never by sleeping; a run that sends (which
refuses a day after today) is run on its day with `remind_run`, the clock moved there. They use dates two years
ahead (year Y), so the day the project really entered `do` (today) is always before them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import time_machine
from click.testing import Result

from .conftest import CAMHS, Cli, go

Y = date.today().year + 2
PEOPLE = {"alice": "alice@council.example", "sam": "sam@council.example", "gina": "gina@council.example"}
TO_DO = {"analyse-plan": ["needs-assessment"],
         "plan-do": ["service-specification", "eia", "consultation", "performance-targets"]}


def add_people(run: Cli, names: tuple[str, ...] = ("alice", "sam", "gina")) -> None:
    for name in names:
        run("people", "add", name, "--email", PEOPLE[name])


def to_do(run: Cli, key: str = "camhs") -> None:
    for gate, names in TO_DO.items():
        for name in names:
            run("evidence", "add", key, name, "--ref", f"{name} doc")
        go(run, key, gate)
        run("project", "advance", key)


def live_project(run: Cli, *, start: str | None = None, end: str | None = None, notice: str = "6 months",
                 people: bool = True, title: str | None = None) -> None:
    """camhs (owner alice, SRO sam, governance lead gina) at `do`, holding a contract.

    Default contract: 1 October Y to 30 September Y+3, six months' notice (deadline 31 March Y+3), run-on
    12 months. Its first quarter is Y-Q3 (October-December Y).
    """
    run("init")
    args = list(CAMHS)
    if title is not None:
        args[args.index("--title") + 1] = title
    run(*args)
    run("project", "set", "camhs", "--sro", "sam", "--governance-lead", "gina")
    if people:
        add_people(run)
    run("contract", "set", "camhs", "--provider", "Trust X", "--ref", "C-1", "--start", start or f"{Y}-10-01",
        "--end", end or f"{Y + 3}-09-30", "--notice", notice, "--run-on", "12 months")
    to_do(run)


def maildir_messages(home: Path) -> list[Path]:
    return sorted((home / "mail" / "new").glob("*"))


@contextmanager
def on_day(day: str | date) -> Iterator[None]:
    """The clock at noon (London) on `day`."""
    when = datetime.combine(date.fromisoformat(str(day)), time(12), ZoneInfo("Europe/London"))
    with time_machine.travel(when, tick=False):
        yield


def remind_run(run: Cli, day: str | date, *args: str, expect: int | None = 0) -> Result:
    """`cycle remind run --as-of DAY` on that day (a run may not be dated after today)."""
    with on_day(day):
        return run("remind", "run", "--as-of", str(day), *args, expect=expect)
