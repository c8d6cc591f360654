"""A project's procurement on the record: the regime and route (`start`), each step done (`step`), and what they add
up to (`show`, `due`). Every change is one audited entry whose rows `audit verify` compares with the tables.

The routes come from this cycle's regimes.toml (cycle.procurement.regimes.built_in); a step's entry also carries
the clocks as they stood once it was recorded, and the version of the `holidays` package they were counted with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cycle import inputs
from cycle.audit import chain
from cycle.calendar import clock
from cycle.db import rows
from cycle.db.sql import Sql, sql_of
from cycle.db.store import Store
from cycle.errors import BadInput
from cycle.shell import quote

from . import clocks
from .clocks import ClockState, Done, Next
from .regimes import Regime, Route, built_in

if TYPE_CHECKING:
    from sqlmodel import Session

OVER_5M = Decimal("5000000")  # PA 2023 s.52(1), s.53(3): "more than £5 million"
REG24 = ("decided_by", "criteria", "reasons", "conflicts", "conflicts_managed")


@dataclass
class StepRow:
    step: str
    done_on: date
    ref: str | None
    note: str | None
    record: dict[str, str | None]
    recorded_by: str
    recorded_at: str

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, "on": self.done_on.isoformat(), "ref": self.ref, "note": self.note,
                **self.record, "recorded_by": self.recorded_by, "recorded_at": self.recorded_at}


@dataclass
class Procurement:
    key: str
    regime: Regime
    route: Route
    light_touch: bool
    value: str | None
    started_by: str
    started_at: str
    steps: list[StepRow]

    @property
    def facts(self) -> set[str]:
        found = {"light-touch"} if self.light_touch else set()
        if self.value is not None and Decimal(self.value) > OVER_5M:
            found.add("over-5m")
        return found

    @property
    def done(self) -> list[Done]:
        return [Done(s.step, s.done_on) for s in self.steps]

    def clocks(self, today: date) -> list[ClockState]:
        return clocks.clocks(self.route, self.facts, self.done, today)

    def next_steps(self, today: date) -> list[Next]:
        return clocks.next_steps(self.route, self.facts, self.done, today)

    def as_dict(self, today: date) -> dict[str, Any]:
        return {"project": self.key, "regime": self.regime.id, "regime_title": self.regime.title,
                "route": self.route.id, "route_title": self.route.title, "route_cite": self.route.cite,
                "light_touch": self.light_touch, "value": self.value, "facts": sorted(self.facts),
                "started_by": self.started_by, "started_at": self.started_at, "as_of": today.isoformat(),
                "steps": [s.as_dict() for s in self.steps],
                "clocks": [c.as_dict(today) for c in self.clocks(today)],
                "next": [n.as_dict() for n in self.next_steps(today)], "holidays": holidays_version()}


def holidays_version() -> str:
    from importlib.metadata import version

    return version("holidays")


def _route(regime_id: str, route_id: str) -> tuple[Regime, Route]:
    found = built_in()
    regime = found.regime(regime_id)
    if regime is None:
        raise BadInput(f"no regime {regime_id!r}; the regimes are: {', '.join(r.id for r in found.regimes)}")
    route = regime.route(route_id)
    if route is None:
        what = "--process" if regime.id == "psr" else "--procedure"
        raise BadInput(f"{regime.id} has no route {route_id!r}; give {what} one of: "
                       f"{', '.join(r.id for r in regime.routes)}")
    return regime, route


def start(store: Store, key: str, *, regime: str, route: str, light_touch: bool = False, value: str | None = None,
          actor: str) -> Procurement:
    """Record the regime and route project `key`'s procurement follows."""
    from cycle.db.models import Procurement as ProcurementModel

    chosen, path = _route(regime, route)
    if light_touch and not path.light_touch:
        raise BadInput(f"--light-touch is for a Procurement Act 2023 procedure (a light touch contract, s.9); "
                       f"{chosen.id} {path.id} has no light touch variant")
    amount = inputs.money(value, "--value") if value is not None else None
    actor = store.actor(actor)
    with store.write() as s:
        sql = sql_of(s)
        project = rows.project(sql, key)
        found = sql.rows("SELECT regime, route FROM procurement WHERE project_id = :p", p=project.id)
        if found:
            raise BadInput(f"{key} already follows {found[0].regime} {found[0].route}; see it with: "
                           f"cycle procurement show {quote(key)}")
        now = clock.utc_now()
        s.add(ProcurementModel(project_id=project.id, regime=chosen.id, route=path.id,
                               light_touch="yes" if light_touch else "no", value=amount, started_by=actor,
                               started_at=now))
        s.flush()
        chain.append(s, actor=actor, action="procurement.start", project=key, at=now, payload={
            "regime": chosen.id, "route": path.id, "light_touch": light_touch, "value": amount,
            "cite": path.cite})
    return Procurement(key, chosen, path, light_touch, amount, actor, now, [])


def step(store: Store, key: str, step_id: str, *, on: str, ref: str | None = None, note: str | None = None,
         decided_by: str | None = None, criteria: str | None = None, reasons: str | None = None,
         conflicts: str | None = None, conflicts_managed: str | None = None, actor: str,
         today: date | None = None) -> tuple[Procurement, StepRow]:
    """Record a step of project `key`'s route as done on `on`; refused (nothing written) when it is not a step of
    the route, comes before a step it follows, is in the future, or a clock forbids it (a standstill running)."""
    day = inputs.day(on, "--on")
    texts = {"ref": inputs.one_line(ref, "--ref", False), "note": inputs.one_line(note, "--note", False)}
    record = {name: inputs.one_line(value, "--" + name.replace("_", "-"), False) for name, value in (
        ("decided_by", decided_by), ("criteria", criteria), ("reasons", reasons), ("conflicts", conflicts),
        ("conflicts_managed", conflicts_managed))}
    today = today or clock.london_today()
    actor = store.actor(actor)
    with store.write() as s:
        held, pid = _load(sql_of(s), key)
        clocks.check(held.route, held.facts, held.done, step_id, day, today, key, held.regime.id)
        row = _write_step(s, held, pid, StepRow(step_id, day, texts["ref"], texts["note"], record, actor,
                                               clock.utc_now()), today)
    return held, row


def _write_step(s: Session, held: Procurement, pid: int, row: StepRow, today: date) -> StepRow:
    """Write step `row` of `held` (procurement id `pid`) and its `procurement.step` entry, with the clocks as they
    stand on `today` once it is added, in the caller's write transaction (`s`): the one writer of a step, for
    `step` and for the change `contract set` records as pending (cycle.procurement.changes._record_pending)."""
    from cycle.db.models import ProcurementStep

    s.add(ProcurementStep(procurement_id=pid, step=row.step, done_on=row.done_on.isoformat(), ref=row.ref,
                          note=row.note, decided_by=row.record.get("decided_by"), criteria=row.record.get("criteria"),
                          reasons=row.record.get("reasons"), conflicts=row.record.get("conflicts"),
                          conflicts_managed=row.record.get("conflicts_managed"), recorded_by=row.recorded_by,
                          recorded_at=row.recorded_at))
    s.flush()
    held.steps.append(row)
    chain.append(s, actor=row.recorded_by, action="procurement.step", project=held.key, at=row.recorded_at,
                 payload={"regime": held.regime.id, "route": held.route.id, "step": row.step,
                          "on": row.done_on.isoformat(), "ref": row.ref, "note": row.note,
                          **{k: v for k, v in row.record.items() if v is not None},
                          "clocks": [c.sentence(today) for c in held.clocks(today)], "holidays": holidays_version()})
    return row


def show(store: Store, key: str, as_of: date | None = None) -> Procurement:
    """Project `key`'s procurement; with `as_of`, as it stood that day (the steps done by then)."""
    with store.reading() as sql:
        return _load(sql, key, as_of)[0]


def _load(sql: Sql, key: str, as_of: date | None = None) -> tuple[Procurement, int]:
    project = rows.project(sql, key)
    found = rows.procurement(sql, project.id)
    if found is None:
        raise BadInput(f"{key} has no procurement recorded; start one with: cycle procurement start {quote(key)} "
                       f"--regime psr --process direct-award-c (or --regime pa2023 --procedure open)")
    return from_rows(key, found[0], found[1], as_of), found[0].id


def from_rows(key: str, p: rows.ProcurementRow, found: list[rows.ProcurementStepRow],
              as_of: date | None = None) -> Procurement:
    """A procurement and its steps as cycle reads them (cycle.db.rows.procurement); with `as_of`, the steps done by
    then. BadInput naming the row when its text is not one cycle wrote (edited by hand: `audit verify` names the
    change)."""
    try:
        regime, route = _route(p.regime, p.route)
    except BadInput as exc:
        raise BadInput(f"{key}'s procurement: {exc} (this cycle's regimes.toml); see what changed with: cycle audit "
                       f"verify") from None
    if p.light_touch not in ("yes", "no"):
        raise BadInput(f"{key}'s procurement has light_touch {p.light_touch!r}, not yes or no; see what changed "
                       f"with: cycle audit verify")
    value = None
    if p.value is not None:
        try:
            value = str(Decimal(p.value)) if Decimal(p.value).is_finite() else None
        except ArithmeticError:
            value = None
        if value is None:
            raise BadInput(f"{key}'s procurement has value {p.value!r}, not an amount; see what changed with: "
                           f"cycle audit verify")
    steps = []
    for r in found:
        try:
            day = date.fromisoformat(r.done_on)
        except (TypeError, ValueError):
            raise BadInput(f"{key}'s procurement step {r.step!r} has the date {r.done_on!r}, not YYYY-MM-DD; see what "
                           f"changed with: cycle audit verify") from None
        if as_of is not None and day > as_of:
            continue  # done after the day asked about
        steps.append(StepRow(r.step, day, r.ref, r.note, {name: getattr(r, name) for name in REG24}, r.recorded_by,
                             r.recorded_at))
    return Procurement(key, regime, route, p.light_touch == "yes", value, p.started_by, p.started_at, steps)


@dataclass
class DueItem:
    key: str
    regime: str
    route: str
    clock: str
    step: str
    day: date | None
    status: str  # due | missed | running (a standstill ending) | held | unreadable
    cite: str
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"project": self.key, "regime": self.regime, "route": self.route, "clock": self.clock,
                "step": self.step, "date": self.day.isoformat() if self.day else None, "status": self.status,
                "cite": self.cite, "text": self.text}


def due(store: Store, today: date, within: int) -> list[DueItem]:
    """Across every project: each statutory date in the next `within` days or missed (deadlines not met), each
    standstill running or held. A project whose rows cycle cannot read is listed as such, not skipped."""
    with store.reading() as sql:
        found = rows.procurements(sql)
    return due_of(found, today, within)


def due_of(found: list[tuple[str, rows.ProcurementRow, list[rows.ProcurementStepRow]]], today: date,
           within: int) -> list[DueItem]:
    """`due` over procurements already read (cycle.db.rows.procurements): the reminders' due scan reads them in its
    own transaction (cycle.reminders.statutory)."""
    horizon = today + timedelta(days=within)
    out: list[DueItem] = []
    for key, p, steps in found:
        try:
            held = from_rows(key, p, steps, today)
        except BadInput as exc:
            out.append(DueItem(key, p.regime, p.route, "", "", None, "unreadable", "", str(exc)))
            continue
        for c in held.clocks(today):
            k = c.clock.kind
            if k == "deadline" and (c.status == "missed" or (c.status == "due" and c.last_day is not None
                                                              and c.last_day <= horizon)):
                out.append(_item(held, c, today))
            elif k in ("wait", "standstill") and (c.status == "held" or (
                    c.status == "running" and c.last_day is not None and c.last_day <= horizon)):
                out.append(_item(held, c, today))
    out.sort(key=lambda i: (i.day or date.max, i.key, i.clock))
    return out


def _item(held: Procurement, c: ClockState, today: date) -> DueItem:
    return DueItem(held.key, held.regime.id, held.route.id, c.clock.id, c.clock.step, c.last_day, c.status,
                   c.clock.cite, c.sentence(today))
