"""What a gate's `kpi` and `review` criteria look at, and how they judge it (docs/workflows.md, docs/performance.md).

- `kind = "kpi"`, `rule = "returns"`, `quarters = N`: every indicator of every contract, live or ended, has a value
  for each of the last N complete quarters in which its contract ran and for which a return was owed: its return
  fell due on or after the day the indicator was added, or the quarter is no earlier than the first one a value is
  recorded for (returns on file from then: a gap is a miss); every quarter for an indicator whose creation stamp
  cannot be read (indicators.owed: the quarters the return reminders chase, cycle.reminders.rules);
- `kind = "kpi"`, `rule = "actions"`, `quarters = N`: no indicator of a live contract (contracts.live) missed in the
  last N complete quarters without an action about it that is open, or was done on or after the first day of the
  quarter it missed;
- `kind = "review"`, `quarters = N`: a review meeting recorded for each of the last N complete quarters whose review
  the project's contracts need (cycle.reminders.reviews: from the day the project entered `do`).

A complete quarter is one that has ended before the day the gate is checked. A project with no contract, or whose
contracts have no indicators, meets a `kpi` criterion ("no indicators"), and one with no contract or no quarter due
meets a `review` criterion: projects recorded before indicators existed keep moving as they did.

`_read` reads what they need in the caller's transaction; `judge` is a pure function of it (cycle.workflow.gates
calls both).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cycle import contracts, inputs
from cycle.calendar import quarters
from cycle.calendar.quarters import Quarter
from cycle.db.rows import ProjectRow
from cycle.db.sql import Sql
from cycle.projects import history
from cycle.reminders import reviews
from cycle.shell import quote

from . import indicators
from .status import MISSED, Rule, stored

#: How many names a reason lists before it says how many more there are.
SHOWN = 6


@dataclass(frozen=True)
class Indicator:
    """One indicator of a contract: the contract's running days, its targets, and its values by quarter."""

    address: str  # how a command names the contract's holder: 'camhs', or 'camhs --contract C-2' among several
    contract: str | None
    several: bool  # the holder has several contracts: a reason names this one
    kpi_id: int
    key: str
    better: str
    start: date | None
    last: date | None  # the contract's last day as things stand (None: not known)
    targets: list[Any]
    values: dict[str, str]
    added: date | None = None  # the day it was added, in London (None: its stamp cannot be read)
    live: bool = True  # its contract is live (contracts.live); an ended one's returns are still owed (judge)

    def runs_in(self, q: Quarter) -> bool:
        return indicators.running(q, self.start, self.last)

    def asked_for(self, q: Quarter, due_days: int) -> bool:
        """Whether quarter `q`'s return was owed (indicators.owed: the rule the return reminders chase by)."""
        return indicators.owed(q, due_days, self.added, min(self.values) if self.values else None)

    def rule_in(self, q: Quarter) -> Rule | None:
        t = indicators.in_force(self.targets, str(q))
        return Rule.of(self.better, t.target, t.low, t.high, t.tolerance, t.over) if t is not None else None

    @property
    def named(self) -> str:
        return f"{self.contract}: {self.key}" if self.several and self.contract else self.key


@dataclass
class Performance:
    """What a project's kpi and review criteria look at, on `today`."""

    today: date
    contracts: int = 0  # the live contracts (contracts.live)
    due_days: int = 0  # a quarter's return falls due this many days after it ends ([reminders] return_due_days)
    indicators: list[Indicator] = field(default_factory=list)
    actions: dict[int, list[str | None]] = field(default_factory=dict)  # kpi id -> each action's done_on
    reviews_due: list[Quarter] = field(default_factory=list)  # ended quarters a contract needs a review of
    reviewed: set[str] = field(default_factory=set)  # quarters with a review meeting recorded

    def last_complete(self, n: int) -> list[Quarter]:
        """The last `n` quarters that ended before today, oldest first."""
        last = quarters.quarter_of(self.today) - 1
        return [last - (n - 1 - i) for i in range(n)]


_VALUES = "SELECT kpi_id, quarter, value FROM kpi_value WHERE kpi_id IN (SELECT id FROM kpi WHERE contract_id = :c)"
_ACTIONS = ("SELECT kpi_id, done_on FROM action WHERE kpi_id IN (SELECT id FROM kpi WHERE contract_id = :c) "
            "ORDER BY id")


def _read(sql: Sql, project: ProjectRow, statuses: list[contracts.Status], today: date,
         kinds: set[str] | None = None) -> Performance:
    """What the criteria of `kinds` (kpi, review; None: both) look at for `project`, whose contracts (its own, or
    those of the service it decommissions) stand on `today` as `statuses`."""
    found = Performance(today)
    if kinds is None or "kpi" in kinds:
        live = {st.contract.id for st in contracts.live(statuses)}
        found.contracts = len(live)
        found.due_days = indicators.return_due_days() if statuses else 0
        for st in statuses:  # ended ones too: returns are owed for each quarter a contract ran in (runs_in)
            c = st.contract
            targets: dict[int, list[Any]] = {}
            for t in sql.rows(indicators._TARGETS, c=c.id):
                targets.setdefault(t.kpi_id, []).append(t)
            values: dict[int, dict[str, str]] = {}
            for v in sql.rows(_VALUES, c=c.id):
                values.setdefault(v.kpi_id, {})[v.quarter] = v.value
            for a in sql.rows(_ACTIONS, c=c.id):
                found.actions.setdefault(a.kpi_id, []).append(a.done_on)
            start, last = inputs.stored_day(c.start), indicators.last_day(st)
            for k in sql.rows(indicators._KPIS, c=c.id):
                found.indicators.append(Indicator(st.address("--contract"), c.ref, st.several, k.id, k.key,
                                                  k.better, start, last, targets.get(k.id, []),
                                                  values.get(k.id, {}), indicators.added_on(k.created_at),
                                                  c.id in live))
    if kinds is None or "review" in kinds:
        entered = history.entered_stage_on(sql, project, "do", creation=False) if statuses else None
        due = {q for st in statuses for q in reviews.review_quarters(st.contract, st.holder, entered, today, st)}
        found.reviews_due = sorted(q for q in due if q.end < today)
        found.reviewed = {r.quarter for r in sql.rows("SELECT quarter FROM review_meeting WHERE project_id = :p",
                                                      p=project.id)}
    return found


@dataclass(frozen=True)
class Judged:
    met: bool
    reason: str
    hint: str | None = None


def judge(kind: str, rule: str | None, n: int, key: str, perf: Performance) -> Judged:
    """A kpi (rule returns or actions) or review criterion looking at the last `n` complete quarters."""
    if kind == "review":
        return _reviews(n, key, perf)
    if not perf.contracts:
        return Judged(True, "No contract recorded: no indicators to look at")
    span = perf.last_complete(n)
    # a live contract's indicators, and, for returns, those of a contract ended in the span (it owes its last ones)
    looked = [k for k in perf.indicators if k.live or (rule == "returns" and any(map(k.runs_in, span)))]
    if not looked:
        return Judged(True, f"No indicators: the contract{'s have' if perf.contracts > 1 else ' has'} none recorded "
                            f"(add them with: cycle kpi add {quote(key)} ID ...)")
    said = _span(span)
    if rule == "returns":
        return _returns(span, said, looked, perf.due_days)
    return _actions(span, said, key, looked, perf.actions)


def _span(span: list[Quarter]) -> str:
    return f"the last complete quarter, {span[0]}" if len(span) == 1 else \
        f"the last {len(span)} complete quarters, {span[0]} to {span[-1]}"


def _more(items: list[str]) -> str:
    shown = "; ".join(items[:SHOWN])
    return shown + (f"; and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def _returns(span: list[Quarter], said: str, looked: list[Indicator], due_days: int) -> Judged:
    missing: list[tuple[Indicator, list[Quarter]]] = []
    for k in looked:
        gaps = [q for q in span if k.runs_in(q) and k.asked_for(q, due_days) and stored(k.values.get(str(q))) is None]
        if gaps:
            missing.append((k, gaps))
    n = len(looked)
    if not missing:
        return Judged(True, f"Each of {n} indicator{'s' if n > 1 else ''} has a value for every quarter its contract "
                            f"ran in {said}")
    k, gaps = missing[0]
    listed = [f"{i.named} {', '.join(map(str, qs))}" for i, qs in missing]
    return Judged(False, f"No value recorded for: {_more(listed)}; looking at {said}",
                  f"cycle kpi record {k.address} {k.key} --quarter {gaps[0]} --value N (or a provider's "
                  f"return: cycle kpi import FILE)")


def _actions(span: list[Quarter], said: str, key: str, looked: list[Indicator],
             actions: dict[int, list[str | None]]) -> Judged:
    unmet: list[tuple[Indicator, Quarter]] = []
    missed = 0
    for k in looked:
        for q in span:
            value, rule = stored(k.values.get(str(q))), k.rule_in(q)
            if value is None or rule is None or not k.runs_in(q) or rule.judge(value) != MISSED:
                continue
            missed += 1
            taken = [d for d in actions.get(k.kpi_id, [])
                     if d is None or (inputs.stored_day(d) or date.min) >= q.start]
            if not taken:
                unmet.append((k, q))
    if not unmet:
        if not missed:
            return Judged(True, f"No indicator missed its target in {said}")
        return Judged(True, f"Each of {missed} missed quarter{'s' if missed > 1 else ''} in {said} has an action, "
                            f"open or done since")
    k, q = unmet[0]
    listed = [f"{i.named} missed in {w}" for i, w in unmet]
    return Judged(False, f"No open or done action for: {_more(listed)}; looking at {said}",
                  f"cycle action add {quote(key)} \"Recovery plan for {k.key}\" --owner NAME --due YYYY-MM-DD "
                  f"--kpi {k.key}" + (f" --contract {quote(k.contract)}" if k.several and k.contract else ""))


def _reviews(n: int, key: str, perf: Performance) -> Judged:
    if not perf.reviews_due:
        return Judged(True, "No review meeting due yet: no complete quarter in which a contract ran since the project "
                            "entered do")
    due = perf.reviews_due[-n:]
    said = f"{due[0]}" if len(due) == 1 else f"{due[0]} to {due[-1]}"
    missing = [q for q in due if str(q) not in perf.reviewed]
    if not missing:
        return Judged(True, f"Review meeting recorded for each quarter due ({said})")
    return Judged(False, f"No review meeting recorded for {', '.join(map(str, missing))} (of the quarters due: {said})",
                  f"cycle review record {quote(key)} --quarter {missing[0]} --held-on YYYY-MM-DD --attendee NAME")
