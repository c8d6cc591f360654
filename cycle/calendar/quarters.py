"""English financial quarters.

A financial year runs from 1 April to 31 March and is named by the year it starts in: quarter
``2026-Q3`` is October to December 2026, and ``2026-Q4`` is January to March **2027** (financial year
2026/27). Which quarter "today" is in depends on the date in England (cycle.calendar.clock): 23:30
UTC on 31 March is already 1 April, and Q1, there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from cycle import inputs
from cycle.errors import BadInput

from .dates import MONTHS, last_day

_QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")


@dataclass(frozen=True, order=True)
class Quarter:
    """Quarter `n` (1-4) of the financial year that starts on 1 April `year`."""

    year: int
    n: int

    @property
    def first_month(self) -> tuple[int, int]:
        """(calendar year, month) of the quarter's first month."""
        month = 4 + 3 * (self.n - 1)  # 4, 7, 10, 13
        return (self.year + 1, month - 12) if month > 12 else (self.year, month)

    @property
    def start(self) -> date:
        year, month = self.first_month
        return date(year, month, 1)

    @property
    def end(self) -> date:
        year, month = self.first_month
        return date(year, month + 2, last_day(year, month + 2))

    def __str__(self) -> str:
        return f"{self.year}-Q{self.n}"

    def describe(self) -> str:
        """'October to December 2026 (financial year 2026/27)'."""
        return (f"{MONTHS[self.start.month - 1]} to {MONTHS[self.end.month - 1]} {self.end.year} "
                f"(financial year {self.year}/{(self.year + 1) % 100:02d})")

    def __add__(self, quarters: int) -> Quarter:
        index = self.year * 4 + (self.n - 1) + quarters
        return Quarter(index // 4, index % 4 + 1)

    def __sub__(self, quarters: int) -> Quarter:
        return self + (-quarters)


def quarter_of(d: date) -> Quarter:
    """The financial quarter a calendar date falls in."""
    if d.month >= 4:
        return Quarter(d.year, (d.month - 4) // 3 + 1)
    return Quarter(d.year - 1, 4)


def parse_quarter(text: str, what: str = "--quarter") -> Quarter:
    """'2026-Q3' (or 2026Q3, 2026-q3): quarter 3 of financial year 2026/27."""
    m = _QUARTER.match(text or "")
    if not m:
        raise BadInput(f"{what} {text!r} is not a financial quarter; write YEAR-QN, e.g. 2026-Q3 "
                       f"(Q1 April-June ... Q4 January-March of the next calendar year)")
    found = Quarter(int(m.group(1)), int(m.group(2)))
    first, last = quarter_of(inputs.FIRST_DAY), quarter_of(inputs.LAST_DAY)
    if not first <= found <= last:
        raise BadInput(f"{what} {text.strip()!r} is out of range; cycle takes quarters from {first} to {last}")
    return found


def quarters_between(first: date, last: date) -> list[Quarter]:
    """Every quarter that overlaps [first, last], in order: from first's quarter to last's (none when last's is
    the earlier; a quarter starts on or before `last` exactly when it is not after last's quarter)."""
    return list(_span(quarter_of(first), quarter_of(last)))


@lru_cache(maxsize=4096)  # the due scan asks for every contract: a portfolio's contracts share their spans
def _span(first: Quarter, last: Quarter) -> tuple[Quarter, ...]:
    out: list[Quarter] = []
    q = first
    while q <= last:
        out.append(q)
        q = q + 1
    return tuple(out)
