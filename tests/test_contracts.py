"""Contracts from the command line: the London calendar date.

Expected dates are worked out by hand in the comments.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import time_machine

from .conftest import BODY, Cli


def _last_line(run: Cli, *args: str) -> str:
    return run(*args).stdout.splitlines()[-1]


# --- 4. "today" is the date in England --------------------------------------------------------------

@contextmanager
def on(instant: str) -> Iterator[None]:
    """Run as if at this instant, on a server whose clock is set to UTC."""
    when = datetime.fromisoformat(instant).astimezone(ZoneInfo("UTC"))
    with time_machine.travel(when, tick=False):
        yield


def test_at_half_past_eleven_utc_in_summer_it_is_already_tomorrow_in_england(ready: Cli) -> None:
    run = ready
    with on("2026-07-15T23:30:00+00:00"):  # 00:30 on 16 July in London (BST)
        run("contract", "set", "camhs", "--provider", "Trust X", "--start", "2025-04-01", "--end", "2027-03-31",
            "--notice", "6 months", "--run-on", "12 months")
        assert _last_line(run, "contract", "show", "camhs").startswith(
            "  on 2026-07-16: DUE. Serve notice by 2026-09-30 (in 76 days)")
        assert run.json("contracts", "due", "--within", "77d")[0]["as_of"] == "2026-07-16"
        run("contract", "notice", "camhs", "--served-on", "2026-07-16", "--ref", "NL-1")
        run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY,
            "--ref", "minutes 1", "--date", "2026-07-16", user="clerk")
        run("milestone", "add", "camhs", "Notice letter sent", "--due", "2026-07-31")
        run("milestone", "done", "camhs", "1", "--on", "2026-07-16")
        assert run.json("milestone", "list", "camhs")[0]["done_on"] == "2026-07-16"
        err = run("contract", "notice", "camhs", "--served-on", "2026-07-17", "--ref", "x", expect=2).stderr
        assert err == "Error: --served-on 2026-07-17 is in the future; record notice once it has been served\n"
