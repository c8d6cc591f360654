"""The Procurement Act 2023's duties on a contract's KPIs (issue 17 part 8; docs/performance.md).

- s.52(1): before entering into a public contract with an estimated value of more than £5 million, a contracting
  authority must set at least three key performance indicators. s.52(2): not if it considers the supplier's
  performance could not appropriately be assessed by KPIs (`contract set --kpis-exempt REASON`). s.52(6)(d): not
  for a light-touch contract; a contract let under the Provider Selection Regime is not let under the Act at all.
- s.71(2): where KPIs were set under s.52(1), "at least once in every period of twelve months during the life-cycle
  of the contract and on termination of the contract" the authority assesses performance against them; the
  ratings are the Procurement Regulations 2024 reg 39(5)'s (`RATINGS`, with "other" for what none describes).

A contract is under these duties when it is recorded as let under the Act (`contract set --regime pa2023`), its
total value is more than £5,000,000 (exactly £5,000,000 is not more), and it is not exempt. Its next assessment is
due 12 months after the last one recorded (or by the day before the first anniversary of its start, when none has
been), and by its last day when that comes sooner; once an assessment is recorded on or after its last day, none.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from cycle import contracts, inputs
from cycle.audit import chain
from cycle.calendar import clock, dates
from cycle.db import rows
from cycle.db.rows import ContractRow
from cycle.db.sql import Sql, sql_of
from cycle.db.store import Store
from cycle.errors import BadInput

from . import indicators

THRESHOLD = Decimal("5000000")  # s.52(1): "more than £5 million"
MIN_KPIS = 3  # s.52(1): "at least three"
#: Procurement Regulations 2024 reg 39(5): good, approaching target, requires improvement, inadequate, other.
RATINGS = ("good", "approaching-target", "requires-improvement", "inadequate", "other")
KPIS, ASSESSMENT = "s.52 KPIs", "s.71 assessment"  # what `contracts due` lists them as


def over_threshold(c: ContractRow) -> bool:
    try:
        return c.value_total is not None and Decimal(c.value_total) > THRESHOLD
    except (InvalidOperation, ValueError):
        return False  # a value edited by hand into nonsense: audit verify names it


def under_duty(c: ContractRow) -> bool:
    """Whether s.52(1) (and so s.71(2)) applies: let under the Act, not light touch, more than £5m, not exempt."""
    return getattr(c, "regime", None) == "pa2023" and over_threshold(c) and not getattr(c, "kpis_exempt", None)


def next_due(c: ContractRow, st: contracts.Status, assessed: list[date]) -> date | None:
    """The day the next s.71(2) assessment is due (None: none is, or the contract is not under the duty)."""
    if not under_duty(c):
        return None
    last = indicators.last_day(st)
    if assessed:
        latest = max(assessed)
        if last is not None and latest >= last:
            return None  # the assessment on termination is recorded
        due = dates.add_months(latest, 12)
    else:
        start = inputs.stored_day(c.start)
        if start is None:
            return None
        due = dates.add_months(start, 12) - timedelta(days=1)
    return min(due, last) if last is not None else due


def _assessed(sql: Sql, contract_id: int) -> list[date]:
    """The days (in England) the contract's assessments were recorded; a stamp edited by hand into something else
    is passed over (`audit verify` names the edit)."""
    out = []
    for r in sql.rows("SELECT recorded_at FROM kpi_assessment WHERE contract_id = :c", c=contract_id):
        try:
            out.append(clock.london_day(r.recorded_at))
        except (ValueError, TypeError, OverflowError):
            continue
    return out


def _kpi_count(sql: Sql, contract_id: int) -> int:
    found = sql.one("SELECT COUNT(*) AS n FROM kpi WHERE contract_id = :c", c=contract_id)
    return int(found.n) if found is not None else 0


def _fill(sql: Sql, st: contracts.Status) -> contracts.Status:
    """`st` with its next assessment's day and the Act's flags on it, as `st.as_of` sees them."""
    c = st.contract
    if not under_duty(c):
        return st
    due = next_due(c, st, [d for d in _assessed(sql, c.id) if d <= st.as_of])
    return replace(st, assessment_due=due, flags=tuple(_flags(st, _kpi_count(sql, c.id), due)))


def _flags(st: contracts.Status, kpis: int, due: date | None) -> list[str]:
    where = st.address()
    out = []
    if kpis < MIN_KPIS:
        out.append(f"Procurement Act 2023 s.52(1): a contract of more than £5 million needs at least {MIN_KPIS} KPIs; "
                   f"it has {kpis}. Add them with: cycle kpi add {where.replace(' --ref ', ' --contract ')} ID ..., "
                   f"or record why KPIs could not appropriately assess it (s.52(2)): cycle contract set {where} "
                   f"--kpis-exempt REASON")
    if due is not None:
        late = f", overdue by {(st.as_of - due).days} days" if st.as_of > due else ""
        out.append(f"Procurement Act 2023 s.71(2): an assessment of performance against its KPIs is due by "
                   f"{due.isoformat()}{late}; record it with: cycle kpi assess "
                   f"{where.replace(' --ref ', ' --contract ')} --rating RATING --period FROM..TO")
    return out


def fill(store: Store, statuses: list[contracts.Status]) -> list[contracts.Status]:
    """The statuses with their s.71 assessment day and the Act's flags filled in (`contract show`)."""
    with store.reading() as sql:
        return [_fill(sql, st) for st in statuses]


_UNDER = "SELECT id FROM contract WHERE regime = 'pa2023' ORDER BY id"


def _due(sql: Sql, as_of: date, until: date) -> list[tuple[date, str, contracts.Status]]:
    """`contracts due`'s rows for the Act: a contract under the duty short of KPIs (listed on `as_of`), and an
    assessment due by `until` (or overdue: listed on its day), each with its flag."""
    out = []
    for held in rows.contracts_with_ids(sql, [r.id for r in sql.rows(_UNDER)]):
        st = _status(sql, held, as_of)
        for flag in st.flags:
            if flag.startswith("Procurement Act 2023 s.52"):
                if st.state != "ended":
                    out.append((as_of, KPIS, replace(st, flags=(flag,))))
            elif st.assessment_due is not None and st.assessment_due <= until:
                out.append((st.assessment_due, ASSESSMENT, replace(st, flags=(flag,))))
    return out


def _status(sql: Sql, held: rows.HeldContract, as_of: date) -> contracts.Status:
    several = len(rows.contracts_of(sql, held.contract.project_id)) > 1
    return _fill(sql, contracts.status(held.holder.key, held.contract, as_of, several=several))


def flagged(store: Store, key: str | None, as_of: date) -> list[contracts.Status]:
    """The contracts (of project `key`) under the Act's KPI duties, each with its flags (`kpi list`)."""
    with store.reading() as sql:
        under = [r.id for r in sql.rows(_UNDER)]
        if key is not None:
            own = {c.id for c in rows.contracts_of(sql, rows.project(sql, key).id)}
            under = [i for i in under if i in own]
        return [_status(sql, held, as_of) for held in rows.contracts_with_ids(sql, under)]


@dataclass(frozen=True)
class Assessment:
    project: str
    contract: str | None
    rating: str
    period_from: str
    period_to: str
    note: str | None
    next_due: date | None

    def as_dict(self) -> dict[str, Any]:
        return {"project": self.project, "contract": self.contract, "rating": self.rating,
                "period_from": self.period_from, "period_to": self.period_to, "note": self.note,
                "next_due_on": self.next_due.isoformat() if self.next_due else None}


def _period(text: str, today: date) -> tuple[date, date]:
    raw = (text or "").strip()
    if raw.count("..") != 1:
        raise BadInput(f"--period {raw[:40]!r} must be FROM..TO, two dates, e.g. 2026-04-01..2027-03-31")
    first, last = (inputs.day(part.strip(), "--period") for part in raw.split(".."))
    if first > last:
        raise BadInput(f"--period {first}..{last} ends before it begins")
    if last > today:
        raise BadInput(f"--period {first}..{last} ends after today ({today}); assess a period once it has passed")
    return first, last


def assess(store: Store, key: str, *, rating: str, period: str, note: str | None = None, contract: str | None = None,
           actor: str, today: date | None = None) -> Assessment:
    """Record an assessment of the contract's performance against its KPIs (s.71(2)), with its audit entry."""
    from cycle.db.models import KpiAssessment

    today = today or clock.london_today()
    given = (rating or "").strip().lower().replace(" ", "-")
    if given not in RATINGS:
        raise BadInput(f"--rating must be one of {', '.join(RATINGS)} (Procurement Regulations 2024 reg 39(5)), "
                       f"not {rating[:40]!r}")
    first, last = _period(period, today)
    text = inputs.text(note, "--note", "note", False)
    actor = store.actor(actor)
    with store.write() as s:
        sql = sql_of(s)
        project = rows.project(sql, key)
        c = indicators._pick_contract(sql, project, contract)
        start = inputs.stored_day(c.start)
        if start is not None and last < start:
            raise BadInput(f"--period {first}..{last} ends before the contract started ({start})")
        ends = indicators.last_day(contracts.status(key, c, today))
        if ends is not None and first > ends:
            raise BadInput(f"--period {first}..{last} begins after the contract's last day ({ends})")
        # A period assessed again would move the next due date on a year with no new assessment (next_due counts
        # from the last recorded): one that overlaps an assessment recorded is refused, naming it.
        for r in sql.rows("SELECT rating, period_from, period_to FROM kpi_assessment WHERE contract_id = :c "
                          "AND period_from <= :last AND period_to >= :first ORDER BY id", c=c.id,
                          last=last.isoformat(), first=first.isoformat()):
            whose = f"{key}'s contract {c.ref}" if c.ref else f"{key}'s contract"
            raise BadInput(f"--period {first}..{last} overlaps the assessment of {whose} already recorded for "
                           f"{r.period_from} to {r.period_to} ({r.rating}); assess a period not yet assessed")
        now = clock.utc_now()
        row = KpiAssessment(contract_id=c.id, rating=given, period_from=first.isoformat(),
                            period_to=last.isoformat(), note=text, recorded_by=actor, recorded_at=now)
        s.add(row)
        s.flush()
        chain.append(s, actor=actor, action="kpi.assess", project=key, at=now, payload={
            "assessment_id": row.id, "contract": c.ref, "contract_id": c.id, "rating": given,
            "period_from": row.period_from, "period_to": row.period_to, "note": text})
        st = contracts.status(key, c, today)
        due = next_due(c, st, _assessed(sql, c.id))
    return Assessment(key, c.ref, given, row.period_from, row.period_to, text, due)
