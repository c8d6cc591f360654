"""Contract changes under the two regimes: whether a `contract set` that changes a contract's value or term needs a
notice, which one and by when (PSR reg 13; Procurement Act 2023 s.75), and, where the project's procurement is on
the record, a pending step whose clock `procurement show` and `procurement due` list until the notice is recorded.
Called only from cycle.contracts.set_terms, inside its transaction (hence the private names).

The figures (legislation.gov.uk):
- PSR (SI 2023/1348) reg 13(1)(d), (2)(b): a modification attributable to the authority's decision is permitted
  while the cumulative change in lifetime value since the contract was entered into is below £500,000 or less than
  25%; reg 13(4)-(5): one of £500,000 or more needs a notice submitted within 30 days of the modification
  (regimes.toml counts the day of the modification as day 1). The PSR has no test on the term.
- Procurement Act 2023 s.75(1): a contract change notice before modifying the contract; s.75(2): not where the
  modification changes the estimated value by 10% or less (goods or services; 15% works) or the term by 10% or less
  of the maximum term provided for on award; s.75(4)-(5): a change that could reasonably have gone with an earlier
  one counts with it; s.75(6)(b): never for a light touch contract. `cycle` reads s.75(2) cautiously: a notice is
  needed when either the value or the maximum term moves by more than 10% since award (cumulatively), and it
  assumes goods or services (10%, not the 15% for works).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cycle.audit import chain
from cycle.db import rows
from cycle.db.sql import Sql
from cycle.errors import BadInput
from cycle.performance.status import stored
from cycle.shell import quote

from . import record, working_days
from .regimes import Route, built_in

if TYPE_CHECKING:
    from sqlmodel import Session

PSR_VALUE = Decimal("500000")  # reg 13(2)(b)(i), (4)
PSR_SHARE = Decimal("0.25")  # reg 13(2)(b)(ii)
PA_SHARE = Decimal("0.10")  # s.75(2)(a)(i), (b)
#: The step recorded as pending and the notice step that clears it, by regime (regimes.toml).
STEPS = {"psr": ("modification", "modification-notice"), "pa2023": ("contract-change", "change-notice")}


@dataclass
class ChangeNotice:
    regime: str
    needed: bool
    text: str  # the one line `contract set` prints
    by: date | None = None
    tracked: bool = False  # a pending step recorded on the project's procurement
    why_not: str | None = None  # why a procurement on the record could not take it (its rows edited by hand)
    held: tuple[record.Procurement, int] | None = None  # that procurement and its row id, as read (tracked)

    def line(self, key: str) -> str:
        """The sentence `contract set` prints, with the command that records the notice."""
        if not self.needed:
            return self.text
        if self.tracked:
            return (f"{self.text}; `procurement due` lists it until you {hint(key, self.regime)}.")
        if self.why_not:
            return f"{self.text}. Not tracked: {self.why_not}"
        return (f"{self.text}. Not tracked: {key} has no procurement on the record (start one with: cycle procurement "
                f"start {quote(key)} --regime {self.regime} ...), so `procurement due` cannot list it.")

    def as_payload(self) -> dict[str, Any]:
        return {"regime": self.regime, "needed": self.needed, "step": STEPS[self.regime][1] if self.needed else None,
                "by": self.by.isoformat() if self.by else None, "tracked": self.tracked, "text": self.text}


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _original(sql: Sql, key: str, ref: str | None, now: dict[str, Any]) -> dict[str, Any]:
    """The contract's value and term as first recorded (the earliest `contract.set`/`contract.add` entry that gave
    each), else as they stood before this change: the baseline the laws measure a change against."""
    found: dict[str, Any] = {}
    fields = ("value_total", "start", "end", "extension_to")
    for e in chain._entries_by_project(sql, key, ("contract.set", "contract.add")):
        try:
            p = chain.payload_of(e)
        except chain.PAYLOAD_ERRORS:
            continue
        if p.get("contract_ref") not in (ref, None) or not isinstance(p.get("changes"), dict):
            continue
        for name in fields:
            pair = p["changes"].get(name)
            if name not in found and isinstance(pair, list) and len(pair) == 2 and (pair[0] or pair[1]):
                found[name] = pair[0] if pair[0] else pair[1]
    return {name: found.get(name, now.get(name)) for name in fields}


def _max_days(start: date | None, end: date | None, extension_to: date | None) -> int | None:
    last = extension_to or end
    return (last - start).days + 1 if start and last and last >= start else None


def _assess(sql: Sql, holder_id: int, holder_key: str, ref: str | None, before: dict[str, Any],
            after: dict[str, Any], regime: str | None, today: date) -> ChangeNotice | None:
    """What a change of value or term from `before` to `after` needs under the regime the contract is under (its
    project's procurement, read here once, else the contract's own `regime`); None when neither moved or no regime
    applies."""
    moved = [f for f in ("value_total", "end", "extension_to") if before.get(f) != after.get(f)]
    if not before or not moved:
        return None
    found = rows.procurement(sql, holder_id)
    light = False
    if found is not None:
        regime, light = found[0].regime, found[0].light_touch == "yes"
    elif regime == "pa2023-light-touch":
        regime, light = "pa2023", True
    if regime not in STEPS:
        return None
    if light:
        return ChangeNotice("pa2023", False, "No contract change notice needed: a light touch contract is exempt "
                                             "(Procurement Act 2023 s.75(6)(b)).")
    base = _original(sql, holder_key, ref, before)
    old, new = stored(base["value_total"]), stored(after.get("value_total"))
    change = abs(new - old) if old is not None and new is not None else Decimal(0)
    show = f"£{change:,.2f}"
    assert regime is not None
    held, why_not = _held(holder_key, found, regime)
    by = _by(held[0].route if held else None, regime, today)
    if regime == "psr":
        if change < PSR_VALUE:
            why = ("the PSR has no test on the term (reg 13)" if "value_total" not in moved else
                   f"the lifetime value has changed by {show} since the contract was entered into, under £500,000 "
                   f"(PSR reg 13(4))")
            return ChangeNotice("psr", False, f"No modification notice needed: {why}.")
        share = ("; at 25% or more of the original lifetime value it is not a modification reg 13(1)(d) permits"
                 if old and change >= old * PSR_SHARE else "")
        return ChangeNotice("psr", True, f"A notice of the modification is needed: the lifetime value has changed by "
                                         f"{show} since the contract was entered into (£500,000 or more, PSR reg "
                                         f"13(4)){share}; submit it for publication by {_shown(by)} (within 30 "
                                         f"days of the modification, reg 13(5))", by, held is not None, why_not, held)
    reasons = []
    if old and change > old * PA_SHARE:
        reasons.append(f"the value by {show}, {change / old:.1%} of £{old:,.2f}")
    was = _max_days(_day(base["start"]), _day(base["end"]), _day(base["extension_to"]))
    now = _max_days(_day(after.get("start")), _day(after.get("end")), _day(after.get("extension_to")))
    if was and now and abs(now - was) > was * PA_SHARE:
        reasons.append(f"the maximum term by {abs(now - was)} days, {Decimal(abs(now - was)) / was:.1%} of {was}")
    if not reasons:
        return ChangeNotice("pa2023", False, "No contract change notice needed: the value and the maximum term have "
                                             "each moved by 10% or less since award (Procurement Act 2023 s.75(2)).")
    text = (f"A contract change notice is needed before the modification is made (Procurement Act 2023 s.75(1)): it "
            f"changes {' and '.join(reasons)} (over 10% since award, s.75(2); 15% for works); publish it by "
            f"{_shown(by)} at the latest, before the change takes effect")
    return ChangeNotice("pa2023", True, text, by, held is not None, why_not, held)


def _held(key: str, found: tuple[rows.ProcurementRow, list[rows.ProcurementStepRow]] | None,
          regime: str) -> tuple[tuple[record.Procurement, int] | None, str | None]:
    """Project `key`'s procurement as read (`found`) and its row id, when it can take the pending step of `regime`;
    else None and why not (None: it has no procurement on the record)."""
    if found is None:
        return None, None
    try:
        held = record.from_rows(key, found[0], found[1])
    except BadInput as exc:  # its rows edited by hand
        return None, str(exc)
    if held.route.step(STEPS[regime][0]) is None:
        return None, f"{held.regime.id} {held.route.id} has no step {STEPS[regime][0]} (regimes.toml)"
    return (held, found[0].id), None


def _by(route: Route | None, regime: str, today: date) -> date | None:
    """The notice's last day for a change made on `today`: regimes.toml's clock from the pending step to the notice
    (the route's, else the first route of the regime that has one), counted as `procurement due` counts it."""
    pending, notice = STEPS[regime]
    found = built_in().regime(regime)
    routes = [route] if route is not None else []
    routes += list(found.routes) if found is not None else []
    clock = next((c for r in routes for c in r.clocks if c.start == pending and c.step == notice), None)
    return working_days.last_day(today, clock.days, clock.calendar, clock.count) if clock is not None else None


def _shown(by: date | None) -> str:
    return by.isoformat() if by is not None else "the date regimes.toml gives (it has no clock for this notice)"


def hint(key: str, regime: str) -> str:
    return f"record it with: cycle procurement step {quote(key)} {STEPS[regime][1]} --on DATE --ref REF"


def _record_pending(s: Session, key: str, notice: ChangeNotice, actor: str, today: date, at: str) -> None:
    """Record the change as the step whose clock waits for the notice (regimes.toml: psr `modification`, pa2023
    `contract-change`), with its `procurement.step` entry (record._write_step), in the caller's write transaction
    (`s`), on project `key`'s procurement as `_assess` read it."""
    assert notice.held is not None
    held, pid = notice.held
    pending = STEPS[notice.regime][0]
    note = f"recorded by contract set; needs {STEPS[notice.regime][1]} by {notice.by.isoformat() if notice.by else '?'}"
    record._write_step(s, held, pid, record.StepRow(pending, today, None, note, dict.fromkeys(record.REG24), actor, at),
                      today)
