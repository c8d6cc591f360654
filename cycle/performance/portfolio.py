"""`cycle performance --quarter Q`: every live contract's indicators in a quarter at a glance, read in one query as
they are printed (memory stays bounded however large the portfolio).

A contract is live in the quarter when it runs into it: it has started by the quarter's end (or has no start
date), and it had not ended (as `contracts list` judges it, run-on included) by the quarter's first day.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cycle import contracts, inputs
from cycle.calendar.quarters import Quarter
from cycle.db import rows
from cycle.db.rows import ContractRow
from cycle.errors import CycleError

from .indicators import _rule, _t, in_force, judge_quarter, last_day, return_due_days, running
from .status import AWAITED, MET, MISSED, NEAR, NO_RETURN, OVER, Rule, stored

if TYPE_CHECKING:
    from cycle.db.sql import Sql
    from cycle.db.store import Store

HEADER = ["project", "contract", "provider", "kpi", "title", "unit", "better", "target", "low", "high", "value",
          "status", "previous", "trend"]


@dataclass
class Line:
    """One indicator of one live contract in the quarter."""

    project: str
    contract: str | None
    provider: str | None
    kpi: str
    title: str
    unit: str | None
    better: str
    rule: Rule | None
    value: str | None
    status: str | None
    previous: str | None
    trend: str | None

    def record(self) -> list[Any]:
        r = self.rule
        return [self.project, self.contract, self.provider, self.kpi, self.title, self.unit, self.better,
                _t(r.target if r else None), _t(r.low if r else None), _t(r.high if r else None), self.value,
                self.status, self.previous, self.trend]

    def as_dict(self) -> dict[str, Any]:
        return dict(zip(HEADER, self.record(), strict=True))


def statement() -> str:
    """The one query: each indicator with its contract, its project's key, the target in force in :q, and its
    values for :q and the quarter before (:prev)."""
    return (f"SELECT p.key AS project_key, {rows.contract_columns('c')}, k.key AS kpi_key, k.title AS kpi_title, "
            "k.unit AS kpi_unit, k.better AS kpi_better, t.target AS t_target, t.low AS t_low, t.high AS t_high, "
            "t.tolerance AS t_tolerance, t.over AS t_over, v.value AS q_value, pv.value AS previous_value "
            "FROM kpi k JOIN contract c ON c.id = k.contract_id JOIN project p ON p.id = c.project_id "
            "LEFT JOIN kpi_target t ON t.id = (SELECT t2.id FROM kpi_target t2 WHERE t2.kpi_id = k.id "
            "AND t2.from_quarter <= :q ORDER BY t2.from_quarter DESC LIMIT 1) "
            "LEFT JOIN kpi_value v ON v.kpi_id = k.id AND v.quarter = :q "
            "LEFT JOIN kpi_value pv ON pv.kpi_id = k.id AND pv.quarter = :prev "
            "ORDER BY p.key, c.id, k.key")


class _Live:
    """Whether a contract is live in quarter `q` (the module's rule), and the days it runs, asked contract by
    contract: only the current contract's answer is kept, as rows come a contract at a time."""

    def __init__(self, q: Quarter) -> None:
        from cycle.reminders.settings import bank_holidays

        self.q, self.nation = q, bank_holidays()
        self.held: tuple[int, bool, date | None, date | None] | None = None

    def __call__(self, key: str, c: ContractRow) -> bool:
        held = self.held
        return held[1] if held is not None and held[0] == c.id else self.days(key, c)[0]

    def days(self, key: str, c: ContractRow) -> tuple[bool, date | None, date | None]:
        """(live in the quarter, first day, last day) of the contract; a day None when not known."""
        if self.held is None or self.held[0] != c.id:
            q = self.q
            start = inputs.stored_day(c.start)
            try:
                st = contracts.status(key, c, q.start, nation=self.nation)
            except CycleError:  # terms edited by hand: shown rather than hidden (audit verify names the edit)
                self.held = (c.id, start is None or start <= q.end, start, None)
            else:
                last = last_day(st)
                self.held = (c.id, (start is None or start <= q.end) and st.state != "ended"
                             and (last is None or last >= q.start), start, last)
        return self.held[1:]


@contextmanager
def board(store: Store, q: Quarter, as_of: date) -> Iterator[Iterator[Line]]:
    """Every live contract's indicators in quarter `q`, as things stand on `as_of`, by project key, contract and
    indicator id, read as they are used in one read transaction that lasts as long as the `with`."""
    due_days = return_due_days()
    width = len(ContractRow._fields)
    is_live = _Live(q)

    def lines(found: Iterator[Any]) -> Iterator[Line]:
        for r in found:
            key = r[0]
            c = ContractRow._make(r[1:1 + width])
            if not is_live(key, c):
                continue
            kpi, title, unit, better, target, low, high, tolerance, over, value, previous = r[1 + width:]
            rule = Rule.of(better, target, low, high, tolerance, over)
            status, trend = judge_quarter(q, rule, value, previous, as_of, due_days)
            yield Line(key, c.ref, c.provider, kpi, title, unit, better, rule, value, status, previous, trend)

    with store.reading(snapshot=True) as sql:
        with closing(sql.stream(statement(), q=str(q), prev=str(q - 1))) as found:
            yield lines(found)


# --- the board report: each live indicator with its last quarters ------------------------------------------------

#: How many quarters the quarterly report draws for each indicator, up to the quarter reported.
CHART_QUARTERS = 8
#: The order statuses are counted in (docs/reports.md).
COUNTED = (MET, OVER, NEAR, MISSED, NO_RETURN, AWAITED)


@dataclass
class Point:
    """One quarter of an indicator's chart: its value (None: none recorded, or one that cannot be read), the rule
    in force then, and its status (None: the contract did not run in the quarter)."""

    quarter: str
    value: Decimal | None
    rule: Rule | None
    status: str | None

    def as_dict(self) -> dict[str, Any]:
        r = self.rule
        return {"quarter": self.quarter, "value": _t(self.value), "target": _t(r.target if r else None),
                "low": _t(r.low if r else None), "high": _t(r.high if r else None),
                "tolerance": _t(r.tolerance if r else None), "over": _t(r.over if r else None),
                "status": self.status}


@dataclass
class Charted:
    """A live indicator in the quarter (its `line`) with its project's title and its last CHART_QUARTERS quarters,
    oldest first, the last being the quarter itself."""

    line: Line
    project_title: str
    points: list[Point]

    def as_dict(self) -> dict[str, Any]:
        """As the quarterly report's `performance` lists it: `title` is the project's, as in its other lists."""
        ln, r = self.line, self.line.rule
        return {"project": ln.project, "title": self.project_title, "contract": ln.contract, "provider": ln.provider,
                "kpi": ln.kpi, "kpi_title": ln.title, "unit": ln.unit, "better": ln.better,
                "target": _t(r.target if r else None), "low": _t(r.low if r else None),
                "high": _t(r.high if r else None), "tolerance": _t(r.tolerance if r else None),
                "over": _t(r.over if r else None), "value": ln.value, "status": ln.status, "previous": ln.previous,
                "trend": ln.trend, "quarters": [p.as_dict() for p in self.points]}

    @classmethod
    def of(cls, d: dict[str, Any]) -> Charted:
        """Back from as_dict() (the report keeps its lists on disk as plain data)."""
        def rule(x: dict[str, Any]) -> Rule | None:
            return Rule.of(d["better"], x["target"], x["low"], x["high"], x["tolerance"], x["over"])

        points = [Point(x["quarter"], stored(x["value"]), rule(x), x["status"]) for x in d["quarters"]]
        return cls(Line(d["project"], d["contract"], d["provider"], d["kpi"], d["kpi_title"], d["unit"], d["better"],
                        rule(d), d["value"], d["status"], d["previous"], d["trend"]), d["title"], points)


_ORDER = " ORDER BY p.key, c.id, k.key, k.id"
_JOIN = "JOIN contract c ON c.id = k.contract_id JOIN project p ON p.id = c.project_id"


@contextmanager
def charted(store: Store, q: Quarter, as_of: date, count: int = CHART_QUARTERS) -> Iterator[Iterator[Charted]]:
    """Every live contract's indicators in quarter `q`, as `board` gives them, each with its last `count` quarters
    judged against the target in force in each, read as they are used (three streams in the same order, taken an
    indicator at a time) in one read transaction that lasts as long as the `with`."""
    with store.reading(snapshot=True) as sql:
        yield _charted(sql, q, as_of, count)


def _charted(sql: Sql, q: Quarter, as_of: date, count: int) -> Iterator[Charted]:
    due_days = return_due_days()
    width = len(ContractRow._fields)
    is_live = _Live(q)
    shown = [q - (count - 1 - i) for i in range(count)]
    first, last = str(shown[0]), str(q)
    kpis = sql.stream(f"SELECT p.key AS project_key, p.title AS project_title, {rows.contract_columns('c')}, "
                      "k.id AS kpi_id, k.key AS kpi_key, k.title AS kpi_title, k.unit AS kpi_unit, "
                      "k.better AS kpi_better "
                      f"FROM kpi k {_JOIN}{_ORDER}")
    targets = sql.stream("SELECT t.kpi_id, t.from_quarter, t.target, t.low, t.high, t.tolerance, t.over "
                         f"FROM kpi_target t JOIN kpi k ON k.id = t.kpi_id {_JOIN} WHERE t.from_quarter <= :last"
                         f"{_ORDER}, t.from_quarter", last=last)
    values = sql.stream(f"SELECT v.kpi_id, v.quarter, v.value FROM kpi_value v JOIN kpi k ON k.id = v.kpi_id {_JOIN} "
                        f"WHERE v.quarter >= :first AND v.quarter <= :last{_ORDER}, v.quarter", first=first, last=last)
    with closing(kpis), closing(targets), closing(values):
        held_targets, held_values = _Taker(targets), _Taker(values)
        for r in kpis:
            key, title = r[0], r[1]
            c = ContractRow._make(r[2:2 + width])
            kpi_id, kpi, kpi_title, unit, better = r[2 + width:]
            mine = held_targets.take(kpi_id)  # taken for every indicator, live or not, to stay in step
            got = {v.quarter: v.value for v in held_values.take(kpi_id)}
            live, start, last_on = is_live.days(key, c)
            if not live:
                continue
            points, trend = [], None
            for at in shown:
                rule = _rule(better, in_force(mine, str(at)))
                status, trend = judge_quarter(at, rule, got.get(str(at)), got.get(str(at - 1)), as_of, due_days,
                                              running(at, start, last_on))
                points.append(Point(str(at), stored(got.get(str(at))), rule, status))
            now = points[-1]
            yield Charted(Line(key, c.ref, c.provider, kpi, kpi_title, unit, better, now.rule, got.get(last),
                               now.status, got.get(str(q - 1)), trend), title, points)


class _Taker:
    """The rows of a stream ordered as the indicators are, handed out an indicator's (its id first) at a time."""

    def __init__(self, found: Iterator[Any]) -> None:
        self._found = found
        self._next = next(found, None)

    def take(self, kpi_id: Any) -> list[Any]:
        mine = []
        while self._next is not None and self._next[0] == kpi_id:
            mine.append(self._next)
            self._next = next(self._found, None)
        return mine


def counted(statuses: Iterable[str | None]) -> dict[str, int]:
    """How many of each status (COUNTED's order; a status none has is left out)."""
    found = Counter(s for s in statuses if s is not None)
    return {s: found[s] for s in COUNTED if found[s]}
