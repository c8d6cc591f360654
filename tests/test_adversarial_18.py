"""Adversarial review of issue 18 (procurement under the PSR and the Procurement Act 2023): a careless operator, a
team member with a text editor on the database, and a lawyer recomputing dates by hand. Each test goes through the
real CLI and fails on the code it was written against."""

from __future__ import annotations

import pytest

from .conftest import Cli, Database
from .test_procurement import at, refused


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
