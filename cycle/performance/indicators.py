"""A contract's indicators: adding them, changing a target from a quarter on, recording a quarter's value, and
reading each quarter back with the target in force then, its status and its trend (cycle.performance.status).

An indicator belongs to a contract (`kpi.contract_id`); commands name it by the project's key and the indicator's
id, and by the contract's ref (`--contract`) when the project holds several contracts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cycle import contracts, inputs
from cycle.audit import chain
from cycle.calendar import clock, quarters
from cycle.calendar.quarters import Quarter
from cycle.db import rows
from cycle.db.rows import ContractRow, ProjectRow
from cycle.db.sql import Sql, sql_of
from cycle.errors import BadInput
from cycle.projects.programmes import KEY
from cycle.shell import quote

from .status import AWAITED, BETTER, NO_RETURN, Rule, number, stored, text_of

if TYPE_CHECKING:
    from sqlmodel import Session

    from cycle.db.models import Kpi, KpiTarget, KpiValue
    from cycle.db.store import Store

#: The first target of an indicator holds from the first quarter cycle knows: from the start.
FROM_THE_START = str(quarters.quarter_of(inputs.FIRST_DAY))
MAX_QUARTERS = 40


def return_due_days() -> int:
    from cycle.reminders.settings import settings

    return settings().return_due_days


def return_due(q: Quarter, due_days: int) -> date:
    """The day a quarter's return is due: `due_days` after the quarter ends ([reminders] return_due_days)."""
    return q.end + timedelta(days=due_days)


def added_on(stamp: Any) -> date | None:
    """An indicator's creation stamp (`kpi.created_at`) as a London day; None for one edited by hand into something
    that cannot be read (`audit verify` names the edit)."""
    try:
        return clock.london_day(stamp)
    except (TypeError, ValueError, AttributeError, OverflowError):
        return None


def owed(q: Quarter, due_days: int, added: date | None, first_value: str | None) -> bool:
    """Whether an indicator's return for quarter `q` was owed: it fell due on or after the day the indicator was
    `added`, or `q` is no earlier than `first_value`, the first quarter a value is recorded for (the indicator was
    being returned by then: a gap after it is a missed return). An indicator whose creation stamp cannot be read
    (`added` None) owes every quarter: a gate does not pass on a record it cannot read.

    The one rule for both the gates' `returns` criterion (gating) and the return reminders (cycle.reminders.rules):
    a return is asked for at a gate exactly when it is chased."""
    if added is None or added <= return_due(q, due_days):
        return True
    return first_value is not None and str(q) >= first_value


# --- which contract -----------------------------------------------------------------------------------------

def _refs(found: list[ContractRow]) -> str:
    return ", ".join(c.ref or f"#{c.id} (no ref)" for c in found)


def _pick_contract(sql: Sql, project: ProjectRow, ref: str | None) -> ContractRow:
    """The project's contract: the one named by `ref`, or its only one. BadInput (one line) for none, an unknown
    ref, or several contracts and no ref."""
    found = rows.contracts_of(sql, project.id)
    key = quote(project.key)
    if not found:
        raise BadInput(f"{project.key} has no contract; its indicators belong to one: record it first with: "
                       f"cycle contract set {key} --provider NAME --start YYYY-MM-DD --end YYYY-MM-DD")
    if ref is not None:
        named = [c for c in found if c.ref == ref]
        if not named:
            raise BadInput(f"{project.key} has no contract with ref {ref!r}; its contracts: {_refs(found)}")
        return named[0]
    if len(found) > 1:
        raise BadInput(f"{project.key} holds {len(found)} contracts ({_refs(found)}): say which with --contract REF")
    return found[0]


def _contracts(sql: Sql, project: ProjectRow, ref: str | None) -> list[ContractRow]:
    """The contract named by `ref`, or all the project's contracts (for reading)."""
    if ref is not None:
        return [_pick_contract(sql, project, ref)]
    return rows.contracts_of(sql, project.id)


# --- adding and changing ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Terms:
    """A target (or band), tolerance and margin as given, checked and as stored text."""

    target: str | None
    low: str | None
    high: str | None
    tolerance: str
    over: str | None

    def rule(self, better: str) -> Rule:
        found = Rule.of(better, self.target, self.low, self.high, self.tolerance, self.over)
        assert found is not None
        return found

    def row(self, kpi_id: int, from_quarter: str, actor: str, at: str) -> KpiTarget:
        from cycle.db.models import KpiTarget

        return KpiTarget(kpi_id=kpi_id, from_quarter=from_quarter, target=self.target, low=self.low, high=self.high,
                         tolerance=self.tolerance, over=self.over, set_by=actor, set_at=at)

    def as_dict(self) -> dict[str, str | None]:
        return {"target": self.target, "low": self.low, "high": self.high, "tolerance": self.tolerance,
                "over": self.over}


def _opt(text: str | None, what: str, at_least_zero: bool = False) -> str | None:
    if text is None:
        return None
    value = number(text, what)
    if at_least_zero and value < 0:
        raise BadInput(f"{what} {text.strip()} is below 0; it is a distance from the target, in the indicator's unit")
    return text_of(value)


def check_terms(better: str, target: str | None, low: str | None, high: str | None, tolerance: str | None,
                over: str | None) -> Terms:
    """The terms of an indicator that goes `better` (higher, lower or band), or BadInput saying what is missing."""
    if better not in BETTER:
        raise BadInput(f"--better must be one of {', '.join(BETTER)}, not {better!r}")
    terms = Terms(_opt(target, "--target"), _opt(low, "--low"), _opt(high, "--high"),
                  _opt(tolerance, "--tolerance", True) or "0", _opt(over, "--over", True))
    if better == "band":
        if terms.target is not None:
            raise BadInput("--better band takes --low and --high, not --target: a band is met anywhere inside it")
        if terms.low is None or terms.high is None:
            raise BadInput("--better band needs both --low and --high, e.g. --low 20 --high 30")
        if Decimal(terms.low) > Decimal(terms.high):
            raise BadInput(f"--low {terms.low} is above --high {terms.high}")
        if terms.over is not None:
            raise BadInput("--over is for --better higher or lower; a band has no over-performance: outside it by "
                           "more than the tolerance is missed, either side")
    else:
        if terms.low is not None or terms.high is not None:
            raise BadInput(f"--low and --high are for --better band; --better {better} takes --target")
        if terms.target is None:
            raise BadInput(f"--better {better} needs --target, e.g. --target 92")
    return terms


@dataclass
class Added:
    project: str
    contract: str | None
    key: str
    rule: Rule


def add(store: Store, key: str, kpi_key: str, *, title: str, better: str, target: str | None = None,
        low: str | None = None, high: str | None = None, tolerance: str | None = None, over: str | None = None,
        unit: str | None = None, source: str | None = None, contract: str | None = None, actor: str) -> Added:
    """Add an indicator to a project's contract, its first target holding from the start."""
    from cycle.db.models import Kpi, row_id

    if not KEY.match(kpi_key):
        raise BadInput(f"indicator id {kpi_key!r} must be lower-case letters, digits and '-', e.g. rtt-4wk")
    title_text = inputs.text(title, "--title", "title")
    unit_text = inputs.text(unit, "--unit", "name", False)
    source_text = inputs.text(source, "--source", "text", False)
    terms = check_terms(better, target, low, high, tolerance, over)
    actor = store.actor(actor)
    with store.write() as s:
        sql = sql_of(s)
        project = rows.project(sql, key)
        c = _pick_contract(sql, project, contract)
        if sql.tuples("SELECT id FROM kpi WHERE contract_id = :c AND key = :k", c=c.id, k=kpi_key):
            raise BadInput(f"{key} already has an indicator {kpi_key}; change its target with: cycle kpi set "
                           f"{quote(key)} {kpi_key} --from YYYY-QN --target N")
        now = clock.utc_now()
        k = Kpi(contract_id=c.id, key=kpi_key, title=title_text, unit=unit_text, better=better, source=source_text,
                created_by=actor, created_at=now)
        s.add(k)
        s.flush()
        s.add(terms.row(row_id(k), FROM_THE_START, actor, now))
        s.flush()
        chain.append(s, actor=actor, action="kpi.add", project=key, at=now, payload={
            "kpi": kpi_key, "contract": c.ref, "contract_id": c.id, "title": title_text, "unit": unit_text,
            "better": better, "source": source_text, **terms.as_dict()})
    return Added(key, c.ref, kpi_key, terms.rule(better))


def _kpi(s: Session, project: ProjectRow, contract: str | None, kpi_key: str) -> tuple[ContractRow, Kpi]:
    """The indicator `kpi_key` of the project's contract (named by `contract` when the project holds several and
    more than one of them has an indicator by that id), to change in the session."""
    from cycle.db.models import Kpi

    sql = sql_of(s)
    found = rows.contracts_of(sql, project.id)
    if contract is not None or not found:
        chosen = [_pick_contract(sql, project, contract)]
    else:
        chosen = found
    having = [(c, sql.one("SELECT id FROM kpi WHERE contract_id = :c AND key = :k", c=c.id, k=kpi_key))
              for c in chosen]
    having = [(c, r) for c, r in having if r is not None]
    if len(having) > 1:
        raise BadInput(f"{project.key} has an indicator {kpi_key} in {len(having)} contracts "
                       f"({_refs([c for c, _ in having])}): say which with --contract REF")
    if not having:
        raise BadInput(f"{project.key} has no indicator {kpi_key!r}; see them with: cycle kpi list "
                       f"{quote(project.key)}")
    c, r = having[0]
    k = s.get(Kpi, r.id)
    assert k is not None
    return c, k


def _targets(s: Session, kpi_id: int) -> list[Any]:
    return sql_of(s).rows("SELECT kpi_id, from_quarter, target, low, high, tolerance, over, set_by, set_at "
                          "FROM kpi_target WHERE kpi_id = :k ORDER BY from_quarter", k=kpi_id)


def in_force(targets: Iterable[Any], q: str) -> Any | None:
    """Of targets in from_quarter order, the one in force in quarter `q` (the latest from a quarter not after it)."""
    found = None
    for t in targets:
        if t.from_quarter <= q:
            found = t
    return found


@dataclass
class Changed:
    project: str
    key: str
    from_quarter: str
    rule: Rule
    before: Rule | None
    until: str | None = None  # the quarter of the next change already set, whose terms then hold
    then: Rule | None = None


def set_target(store: Store, key: str, kpi_key: str, *, from_quarter: str, target: str | None = None,
               low: str | None = None, high: str | None = None, tolerance: str | None = None,
               over: str | None = None, contract: str | None = None, actor: str) -> Changed:
    """Change an indicator's target (band, tolerance, margin) from a quarter on; earlier quarters keep theirs."""
    from cycle.db.models import row_id

    q = str(quarters.parse_quarter(from_quarter, "--from"))
    if all(v is None for v in (target, low, high, tolerance, over)):
        raise BadInput("give what changes: --target, --low/--high (a band), --tolerance or --over")
    actor = store.actor(actor)
    with store.write() as s:
        project = rows.project(sql_of(s), key)
        c, k = _kpi(s, project, contract, kpi_key)
        targets = _targets(s, row_id(k))
        now_t = in_force(targets, q)
        if now_t is not None and now_t.from_quarter == q:
            raise BadInput(f"{kpi_key} of {key} already has a target set from {q} (by {now_t.set_by}); targets are "
                           f"kept, never overwritten: set the next change from a later quarter")
        _not_reviewed_since(sql_of(s), project, c.ref, kpi_key, q)
        base = {"target": now_t.target, "low": now_t.low, "high": now_t.high, "tolerance": now_t.tolerance,
                "over": now_t.over} if now_t is not None else {}
        given = {"target": target, "low": low, "high": high, "tolerance": tolerance, "over": over}
        merged = {n: given[n] if given[n] is not None else base.get(n) for n in given}
        terms = check_terms(k.better, **merged)
        before = Rule.of(k.better, **base) if now_t is not None else None
        if now_t is not None and terms.as_dict() == {n: base[n] for n in terms.as_dict()}:
            raise BadInput(f"{kpi_key} of {key} already has these terms in {q}; nothing to change")
        now = clock.utc_now()
        s.add(terms.row(row_id(k), q, actor, now))
        s.flush()
        chain.append(s, actor=actor, action="kpi.target", project=key, at=now, payload={
            "kpi": kpi_key, "contract": c.ref, "from_quarter": q, **terms.as_dict(),
            "was": base or None})
    later = [t for t in targets if t.from_quarter > q]
    until = later[0] if later else None
    return Changed(key, kpi_key, q, terms.rule(k.better), before, until.from_quarter if until else None,
                   _rule(k.better, until))


_REVIEWED = ("SELECT quarter, held_on, snapshot FROM review_meeting WHERE project_id = :p AND quarter >= :q "
             "AND snapshot IS NOT NULL ORDER BY quarter DESC")


def _not_reviewed_since(sql: Sql, project: ProjectRow, contract_ref: str | None, kpi_key: str, q: str) -> None:
    """Refuse a change of terms from quarter `q` when a review meeting of `q` or later kept this indicator's
    status in its snapshot: the change would judge that quarter again, and `kpi show` would no longer say what
    the meeting's record says. A meeting recorded with no snapshot (before revision 0020) holds nothing to
    contradict."""
    for meeting in sql.rows_of_any_text(_REVIEWED, p=project.id, q=q):
        try:
            kept = json.loads(meeting.snapshot)
        except ValueError:
            continue  # an unreadable snapshot is for audit verify to name
        if any(isinstance(i, dict) and i.get("kpi") == kpi_key and i.get("contract") == contract_ref
               for i in (kept if isinstance(kept, list) else [])):
            later = str(quarters.parse_quarter(str(meeting.quarter), "quarter") + 1)
            raise BadInput(f"{kpi_key} of {project.key} was reviewed for {meeting.quarter} (meeting held on "
                           f"{meeting.held_on}) against the terms then in force; a change from {q} would judge that "
                           f"quarter again: set it from {later} or later")


# --- recording values ---------------------------------------------------------------------------------------

@dataclass
class Recorded:
    project: str
    key: str
    quarter: str
    value: str
    outcome: str  # recorded | replaced | unchanged
    was: str | None = None


def quarter_reported(text: str, today: date, what: str = "--quarter") -> Quarter:
    q = quarters.parse_quarter(text, what)
    if q.start > today:
        raise BadInput(f"{what} {q} has not begun (it starts on {q.start}); record a quarter's value once it has")
    return q


def record(store: Store, key: str, kpi_key: str, *, quarter: str, value: str, note: str | None = None,
           replace: bool = False, contract: str | None = None, actor: str, today: date | None = None,
           back_fill: bool = False) -> Recorded:
    """Record an indicator's value for a quarter. The same value again changes nothing; another value is refused
    unless `replace`, which is audited with the old one. A quarter before the indicator was added, of a contract
    with no start date, is refused unless `back_fill` (`check_back_fill`)."""
    from cycle.db.models import row_id

    today = today or clock.london_today()
    reported = quarter_reported(quarter, today)
    q = str(reported)
    v = text_of(number(value, "--value"))
    note_text = inputs.text(note, "--note", "note", False)
    actor = store.actor(actor)
    with store.write() as s:
        project = rows.project(sql_of(s), key)
        c, k = _kpi(s, project, contract, kpi_key)
        check_runs(key, c, reported, span(key, c, today))
        if not back_fill:
            check_back_fill(key, kpi_key, c, added_on(k.created_at), reported)
        row = _value_row(s, row_id(k), q)
        outcome = _store_value(s, row, row_id(k), q, v, note_text, replace, actor,
                               lambda: f"{kpi_key} of {key} for {q}")
        if outcome.outcome != "unchanged":
            chain.append(s, actor=actor, action="kpi.record", project=key, payload={
                "kpi": kpi_key, "contract": c.ref, "quarter": q, "value": v, "note": note_text,
                "was": outcome.was})
    return Recorded(key, kpi_key, q, v, outcome.outcome, outcome.was)


def span(holder: str, c: ContractRow, today: date) -> tuple[date | None, date | None]:
    """Contract `c`'s first and last day as things stand on `today` (None: not known)."""
    return inputs.stored_day(c.start), last_day(contracts.status(holder, c, today))


def check_runs(holder: str, c: ContractRow, q: Quarter, days: tuple[date | None, date | None]) -> None:
    """BadInput when contract `c`, running over `days` (span), does not run in any day of quarter `q`: a value for
    such a quarter would never be judged or shown (a mistyped quarter)."""
    start, last = days
    if not running(q, start, last):
        ref = f" {c.ref}" if c.ref else ""
        raise BadInput(f"{q} is outside the contract{ref} of {holder}, which runs from "
                       f"{start or 'its start'} to {last or 'its end'}: a value for it would never be judged; "
                       f"is the quarter right?")


def check_back_fill(holder: str, kpi_key: str, c: ContractRow, added: date | None, q: Quarter) -> None:
    """BadInput for a value of quarter `q`, before the quarter indicator `kpi_key` was `added`, when contract `c` has
    no start date: nothing else bounds it, and a value recorded for a quarter makes every quarter after it owed
    (`owed`), so one mistyped year (2016-Q1 for 2026-Q1) would chase the provider for ten years of returns. A
    back-fill says so (`kpi record --back-fill`); a contract with a start is bounded by it (`check_runs`)."""
    if c.start is not None or added is None:
        return
    first = quarters.quarter_of(added)
    if q < first:
        ref = f" {c.ref}" if c.ref else ""
        raise BadInput(f"{q} is before {kpi_key} was added to {holder} (on {added.isoformat()}, in {first}) and the "
                       f"contract{ref} has no start date: is the quarter right? To record an earlier quarter on "
                       f"purpose, give --back-fill (or record the start: cycle contract set {holder} --start "
                       f"YYYY-MM-DD)")


def _value_row(s: Session, kpi_id: int, q: str) -> KpiValue | None:
    """The indicator's value row for quarter `q`, to change in the session; None when there is none."""
    from cycle.db.models import KpiValue

    found = sql_of(s).one("SELECT id FROM kpi_value WHERE kpi_id = :k AND quarter = :q", k=kpi_id, q=q)
    return s.get(KpiValue, found.id) if found is not None else None


@dataclass
class _Stored:
    outcome: str
    was: str | None


def same_value(row: Any, value: str, note: str | None) -> bool:
    old = stored(row.value)
    return old is not None and old == Decimal(value) and (note is None or note == row.note)


def _store_value(s: Session, row: KpiValue | None, kpi_id: int, q: str, value: str, note: str | None,
                 replace: bool, actor: str, what: Any) -> _Stored:
    from cycle.db.models import KpiValue

    if row is not None and same_value(row, value, note):
        return _Stored("unchanged", None)
    if row is not None and not replace:
        raise BadInput(refusal(what(), row, value, note))
    now = clock.utc_now()
    if row is None:
        s.add(KpiValue(kpi_id=kpi_id, quarter=q, value=value, note=note, recorded_by=actor, recorded_at=now))
        s.flush()
        return _Stored("recorded", None)
    was = row.value
    row.value, row.note, row.recorded_by, row.recorded_at = value, note, actor, now
    s.add(row)
    s.flush()
    return _Stored("replaced", was)


def refusal(what: str, row: Any, value: str, note: str | None) -> str:
    differs = (f"{row.value}" if stored(row.value) != Decimal(value) else
               f"{row.value} with the note {row.note!r}" if row.note is not None else f"{row.value} with no note")
    return (f"{what} is already recorded as {differs} (by {row.recorded_by}); to change it to {value} give "
            f"--replace (the audit entry keeps the old value)")


# --- reading back ---------------------------------------------------------------------------------------------

@dataclass
class QuarterView:
    """One quarter of an indicator: its value, the rule in force then, its status and trend."""

    quarter: str
    value: str | None
    note: str | None
    rule: Rule | None
    status: str | None  # None: the contract did not run in the quarter
    trend: str | None

    def as_dict(self) -> dict[str, Any]:
        r = self.rule
        return {"quarter": self.quarter, "value": self.value, "note": self.note,
                "target": _t(r.target) if r else None, "low": _t(r.low) if r else None,
                "high": _t(r.high) if r else None, "tolerance": _t(r.tolerance) if r else None,
                "over": _t(r.over) if r else None, "status": self.status, "trend": self.trend}


def _t(value: Decimal | None) -> str | None:
    return text_of(value) if value is not None else None


@dataclass
class IndicatorView:
    project: str
    contract: str | None
    contract_id: int
    key: str
    title: str
    unit: str | None
    better: str
    source: str | None
    rule: Rule | None  # in force in the quarter asked about (the last shown)
    targets: list[dict[str, Any]] = field(default_factory=list)
    quarters: list[QuarterView] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        r = self.rule
        return {"project": self.project, "contract": self.contract, "kpi": self.key, "title": self.title,
                "unit": self.unit, "better": self.better, "source": self.source,
                "target": _t(r.target) if r else None, "low": _t(r.low) if r else None,
                "high": _t(r.high) if r else None, "tolerance": _t(r.tolerance) if r else None,
                "over": _t(r.over) if r else None, "targets": self.targets,
                "quarters": [q.as_dict() for q in self.quarters]}


def last_day(st: contracts.Status) -> date | None:
    """The contract's last day as things stand (its run-on included), or, when its terms are incomplete (no notice
    period), its end date; None when not known."""
    if st.state == "incomplete":
        return inputs.stored_day(st.contract.end)
    return st.effective_end


def running(q: Quarter, start: date | None, last: date | None) -> bool:
    """Whether a contract from `start` to `last` (None: not known) runs in any day of quarter `q`."""
    return (start is None or start <= q.end) and (last is None or last >= q.start)


def judge_quarter(q: Quarter, rule: Rule | None, value: str | None, before: str | None, as_of: date,
                  due_days: int, runs: bool = True) -> tuple[str | None, str | None]:
    """(status, trend) of one quarter; status None when the contract did not run then or the rule cannot be read."""
    if not runs or rule is None:
        return None, None
    now = stored(value)
    if now is None:
        return (NO_RETURN if as_of > return_due(q, due_days) else AWAITED), None
    return rule.judge(now), rule.trend(stored(before), now)


_KPIS = ("SELECT k.id, k.contract_id, k.key, k.title, k.unit, k.better, k.source, k.created_at FROM kpi k "
         "WHERE k.contract_id = :c ORDER BY k.key")
_TARGETS = ("SELECT kpi_id, from_quarter, target, low, high, tolerance, over, set_by, set_at FROM kpi_target "
            "WHERE kpi_id IN (SELECT id FROM kpi WHERE contract_id = :c) ORDER BY kpi_id, from_quarter")
_VALUES = ("SELECT kpi_id, quarter, value, note FROM kpi_value WHERE kpi_id IN (SELECT id FROM kpi WHERE "
           "contract_id = :c) AND quarter >= :first AND quarter <= :last")


def show(store: Store, key: str, *, as_of: date, last: Quarter | None = None, count: int = 8,
         contract: str | None = None, kpi_key: str | None = None) -> list[IndicatorView]:
    """Each indicator of the project (of one contract, or one indicator) over `count` quarters up to `last` (default
    the quarter `as_of` falls in): value, target then, status, trend."""
    if not 1 <= count <= MAX_QUARTERS:
        raise BadInput(f"--quarters must be from 1 to {MAX_QUARTERS}, not {count}")
    last = last or quarters.quarter_of(as_of)
    shown = [last - (count - 1 - i) for i in range(count)]
    due_days = return_due_days()
    out: list[IndicatorView] = []
    with store.reading() as sql:
        project = rows.project(sql, key)
        for c in _contracts(sql, project, contract):
            st = contracts.status(key, c, as_of)
            start = inputs.stored_day(c.start)
            targets: dict[int, list[Any]] = {}
            for t in sql.rows(_TARGETS, c=c.id):
                targets.setdefault(t.kpi_id, []).append(t)
            values = {(v.kpi_id, v.quarter): v for v in sql.rows(_VALUES, c=c.id, first=str(shown[0] - 1),
                                                                   last=str(last))}
            for k in sql.rows(_KPIS, c=c.id):
                if kpi_key is not None and k.key != kpi_key:
                    continue
                mine = targets.get(k.id, [])
                view = IndicatorView(key, c.ref, c.id, k.key, k.title, k.unit, k.better, k.source,
                                     _rule(k.better, in_force(mine, str(last))),
                                     [{"from": t.from_quarter, "target": t.target, "low": t.low, "high": t.high,
                                       "tolerance": t.tolerance, "over": t.over, "set_by": t.set_by} for t in mine])
                for q in shown:
                    got, before = values.get((k.id, str(q))), values.get((k.id, str(q - 1)))
                    rule = _rule(k.better, in_force(mine, str(q)))
                    status, trend = judge_quarter(q, rule, got.value if got else None,
                                                  before.value if before else None, as_of, due_days,
                                                  running(q, start, last_day(st)))
                    view.quarters.append(QuarterView(str(q), got.value if got else None, got.note if got else None,
                                                     rule, status, trend))
                out.append(view)
    if kpi_key is not None and not out:
        raise BadInput(f"{key} has no indicator {kpi_key!r}; see them with: cycle kpi list {quote(key)}")
    return out


def _rule(better: str, t: Any | None) -> Rule | None:
    return Rule.of(better, t.target, t.low, t.high, t.tolerance, t.over) if t is not None else None


# --- the list ------------------------------------------------------------------------------------------------

@dataclass
class Listed:
    project: str
    contract_id: int
    contract: str | None
    key: str
    title: str
    unit: str | None
    better: str
    source: str | None
    rule: Rule | None
    from_quarter: str | None

    def as_dict(self) -> dict[str, Any]:
        r = self.rule
        return {"project": self.project, "contract": self.contract, "kpi": self.key, "title": self.title,
                "unit": self.unit, "better": self.better, "target": _t(r.target) if r else None,
                "low": _t(r.low) if r else None, "high": _t(r.high) if r else None,
                "tolerance": _t(r.tolerance) if r else None, "over": _t(r.over) if r else None,
                "target_from": None if self.from_quarter == FROM_THE_START else self.from_quarter,
                "source": self.source}


CSV_HEADER = ["project", "contract", "kpi", "title", "unit", "better", "target", "low", "high", "tolerance", "over",
              "target_from", "source"]

_LIST = ("SELECT p.key AS project, c.id AS contract_id, c.ref AS contract, k.key, k.title, k.unit, k.better, "
         "k.source, t.from_quarter, t.target, t.low, t.high, t.tolerance, t.over FROM kpi k "
         "JOIN contract c ON c.id = k.contract_id JOIN project p ON p.id = c.project_id "
         "JOIN kpi_target t ON t.kpi_id = k.id")


def listing(store: Store, key: str | None, as_of: date) -> list[Listed]:
    """Every indicator (of one project), with the target in force in the quarter `as_of` falls in (or, for an
    indicator whose first target is later, that one)."""
    q = str(quarters.quarter_of(as_of))
    with store.reading() as sql:
        where, given = "", {}
        if key is not None:
            where, given = " WHERE p.id = :id", {"id": rows.project(sql, key).id}
        found: dict[tuple[str, int, str], Listed] = {}
        for r in sql.rows(_LIST + where + " ORDER BY p.key, c.id, k.key, t.from_quarter", **given):
            ident = (r.project, r.contract_id, r.key)
            if r.from_quarter <= q or ident not in found:
                found[ident] = Listed(r.project, r.contract_id, r.contract, r.key, r.title, r.unit, r.better,
                                      r.source, Rule.of(r.better, r.target, r.low, r.high, r.tolerance, r.over),
                                      r.from_quarter)
        return list(found.values())


def _snapshot(sql: Sql, project: ProjectRow, q: Quarter, as_of: date) -> list[dict[str, Any]]:
    """Each indicator of the project's contracts in quarter `q` as things stand on `as_of`: what a review meeting
    keeps of the indicators it reviewed (value, target, status, trend)."""
    due_days = return_due_days()
    out = []
    for c in rows.contracts_of(sql, project.id):
        st = contracts.status(project.key, c, as_of)
        start = inputs.stored_day(c.start)
        targets: dict[int, list[Any]] = {}
        for t in sql.rows(_TARGETS, c=c.id):
            targets.setdefault(t.kpi_id, []).append(t)
        values = {(v.kpi_id, v.quarter): v.value for v in sql.rows(_VALUES, c=c.id, first=str(q - 1), last=str(q))}
        for k in sql.rows(_KPIS, c=c.id):
            rule = _rule(k.better, in_force(targets.get(k.id, []), str(q)))
            value = values.get((k.id, str(q)))
            status, trend = judge_quarter(q, rule, value, values.get((k.id, str(q - 1))), as_of, due_days,
                                          running(q, start, last_day(st)))
            out.append({"contract": c.ref, "kpi": k.key, "value": value,
                        "target": _t(rule.target) if rule else None, "low": _t(rule.low) if rule else None,
                        "high": _t(rule.high) if rule else None, "status": status, "trend": trend})
    return out


def snapshot_text(items: list[dict[str, Any]]) -> str | None:
    return json.dumps(items, ensure_ascii=False, separators=(",", ":"), sort_keys=True) if items else None


def _flagged(sql: Sql, holder: str, contract: ContractRow, q: Quarter, as_of: date) -> list[dict[str, Any]]:
    """The contract's indicators that a review of quarter `q` should look at, as things stand on `as_of`: those
    missed, over or without a return (status.FLAGGED) in `q` or the quarter before, the earlier first."""
    from .status import FLAGGED

    due_days = return_due_days()
    st = contracts.status(holder, contract, as_of)
    start = inputs.stored_day(contract.start)
    targets: dict[int, list[Any]] = {}
    for t in sql.rows(_TARGETS, c=contract.id):
        targets.setdefault(t.kpi_id, []).append(t)
    values = {(v.kpi_id, v.quarter): v.value for v in sql.rows(_VALUES, c=contract.id, first=str(q - 2),
                                                                last=str(q))}
    out = []
    kpis = sql.rows(_KPIS, c=contract.id)
    for when in (q - 1, q):
        for k in kpis:
            rule = _rule(k.better, in_force(targets.get(k.id, []), str(when)))
            value = values.get((k.id, str(when)))
            status, _ = judge_quarter(when, rule, value, None, as_of, due_days, running(when, start, last_day(st)))
            if status in FLAGGED:
                out.append({"quarter": str(when), "contract": contract.ref, "kpi": k.key, "title": k.title,
                            "unit": k.unit, "value": value,
                            "target": rule.describe(k.unit).split(",")[0] if rule else None, "status": status})
    return out
