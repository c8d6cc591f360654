"""`cycle performance --quarter Q`: every live contract's indicators in a quarter at a glance, read in one query as
they are printed (memory stays bounded however large the portfolio).

A contract is live in the quarter when it runs into it: it has started by the quarter's end (or has no start
date), and it had not ended (as `contracts list` judges it, run-on included) by the quarter's first day.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from cycle import contracts, inputs
from cycle.calendar.quarters import Quarter
from cycle.db import rows
from cycle.db.rows import ContractRow

from .indicators import _t, judge_quarter, last_day, return_due_days
from .status import Rule

if TYPE_CHECKING:
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


@contextmanager
def board(store: Store, q: Quarter, as_of: date) -> Iterator[Iterator[Line]]:
    """Every live contract's indicators in quarter `q`, as things stand on `as_of`, by project key, contract and
    indicator id, read as they are used in one read transaction that lasts as long as the `with`."""
    from cycle.reminders.settings import bank_holidays

    nation = bank_holidays()
    due_days = return_due_days()
    width = len(ContractRow._fields)
    live: dict[int, bool] = {}

    def is_live(key: str, c: ContractRow) -> bool:
        found = live.get(c.id)
        if found is None:
            start = inputs.stored_day(c.start)
            st = contracts.status(key, c, q.start, nation=nation)
            last = last_day(st)
            found = (start is None or start <= q.end) and st.state != "ended" and (last is None or last >= q.start)
            live.clear()  # rows come contract by contract: only the current one is worth keeping
            live[c.id] = found
        return found

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
