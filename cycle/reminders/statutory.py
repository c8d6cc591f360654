"""Procurement's statutory dates on the reminder ladder (issue 18 part 4): what `cycle procurement due` lists
(cycle.procurement.record.due), read in the due scan's own transaction.

- ``standstill-ends``: a standstill (or a PA 2023 s.51 wait) ends within `standstill_lead_days` working days,
  counted as its own law counts them (PSR reg 12(12), PA 2023 s.123(1));
- ``procurement-due``: a step with a latest date (a notice of the award, a contract details notice, a termination
  notice, a modification notice ...) is due within `procurement_lead_days` days and not recorded yet;
- ``procurement-missed``: that date has passed with the step not recorded (it stays flagged in `procurement due`
  until it is recorded).

Each to the project's owner and governance lead, once: the outbox key's period is the date and the step
('2027-02-09/award-notice'). A date that moves (representations hold a standstill, a further decision ends it
later) is a new date with a reminder of its own; one that no longer applies is not listed by `procurement due`, so
nothing is sent for it (each modification's notice keeps its own date: a second one does not move the first's). A
standstill held by representations has no end date until the further decision is recorded, so nothing is sent for
it meanwhile. The PSR's annual summary (reg 25) has no statutory date, so it has no reminder.

As the s.71(2) assessment reminders, they are judged on the day they are sent (a run dated back sends what is due
as things stand today). One queued and left for `outbox send` is judged again as it goes (`_stale`, asked by
cycle.reminders.outbox.claim): when its date no longer applies (representations on the day after it was queued
hold the standstill, the step is recorded) its row is cancelled, saying why, and nothing is sent; the reminder
for the new date is a reminder of its own.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Protocol

from cycle.db import rows
from cycle.db.rows import ProjectRow
from cycle.db.sql import Sql
from cycle.errors import CycleError
from cycle.procurement import record, working_days
from cycle.procurement.regimes import Clock, Regime, Route, built_in
from cycle.shell import quote

from .settings import Settings

STANDSTILL, DUE, MISSED = "standstill-ends", "procurement-due", "procurement-missed"
KINDS = (STANDSTILL, DUE, MISSED)
#: How far ahead the list is read; each item is then held to its own lead.
_HORIZON = 400


class Collector(Protocol):
    """What the rule needs of rules._Collector: the day reminders go, the scan's transaction, and a way to address a
    reminder or say why one cannot go."""

    sent_on: date
    sql: Sql

    def add(self, project: ProjectRow, kind: str, period: str, summary: str, parts: tuple[dict[str, Any], ...],
            who: list[tuple[str, str | None, bool]]) -> None: ...

    def problem(self, project: str, kind: str, period: str, problem: str, fix: str) -> None: ...


def reminders(c: Collector, by_key: dict[str, ProjectRow], cfg: Settings) -> None:
    """Every procurement reminder due on the day they go (see the module)."""
    today = c.sent_on
    found = rows.procurements(c.sql)  # (read in the scan's transaction; nearly every database: none)
    if not found:
        return
    seen: set[tuple[str, str, date | None]] = set()
    for item in record.due_of(found, today, _HORIZON + cfg.procurement_lead_days):
        project = by_key.get(item.key)
        if project is None or (item.key, item.step, item.day) in seen:
            continue  # two clocks of one step and date (two changes pending at once, say): one reminder, one key
        seen.add((item.key, item.step, item.day))
        if item.status == "unreadable":
            c.problem(item.key, DUE, "", item.text, "cycle audit verify")
            continue
        if item.day is None:
            continue  # held by representations: no end date until the further decision
        try:
            _one(c, project, item, today, cfg)
        except CycleError as exc:  # a date past the bank holidays cycle knows, say
            c.problem(item.key, DUE, item.day.isoformat(), str(exc), f"cycle procurement show {quote(item.key)}")


def _one(c: Collector, project: ProjectRow, item: record.DueItem, today: date, cfg: Settings) -> None:
    assert item.day is not None
    regime, route, clock = _route_clock(item)
    if item.status == "running":
        if not _lead_start(item.day, cfg.standstill_lead_days, clock) <= today <= item.day:
            return
        kind = STANDSTILL
        summary = (f"{item.clock or 'standstill'} ends at the end of {item.day.isoformat()}; {item.step} not before "
                   f"{(item.day + timedelta(days=1)).isoformat()} ({item.cite})")
    elif item.status == "due":
        if not item.day - timedelta(days=cfg.procurement_lead_days) <= today <= item.day:
            return
        kind = DUE
        summary = f"{item.step} due by {item.day.isoformat()} ({item.cite})"
    elif item.status == "missed":
        kind = MISSED
        summary = f"{item.step} MISSED: was due by {item.day.isoformat()} ({item.cite})"
    else:
        return  # a status this rule does not know of: `procurement due` still lists it
    step = route.step(item.step) if route is not None else None
    key = quote(project.key)
    context: dict[str, Any] = {
        "regime": item.regime, "regime_title": regime.title if regime else item.regime,
        "route": item.route, "route_title": route.title if route else item.route,
        "step": item.step, "step_title": step.title if step else item.step,
        "clock": item.clock, "clock_title": clock.title if clock else item.clock, "date": item.day.isoformat(),
        "cite": item.cite, "text": item.text, "days_left": (item.day - today).days,
        "days_late": max(0, (today - item.day).days), "summary": summary,
        "representations": bool(clock and clock.kind == "standstill" and clock.representations),
        "not_before": (item.day + timedelta(days=1)).isoformat(),
        "command": (f"cycle procurement show {key}" if kind == STANDSTILL
                    else f"cycle procurement step {key} {quote(item.step)} --on YYYY-MM-DD --ref REF")}
    c.add(project, kind, f"{item.day.isoformat()}/{item.step}", summary, (context,),
          [("owner", project.owner, True), ("governance lead", project.governance_lead, False)])


def _route_clock(item: record.DueItem) -> tuple[Regime | None, Route | None, Clock | None]:
    """The regime, route and clock an item is about, from this cycle's regimes.toml (None for an item it does not
    describe)."""
    regime = built_in().regime(item.regime)
    route = regime.route(item.route) if regime is not None else None
    clock = next((k for k in route.clocks if k.id == item.clock), None) if route is not None else None
    return regime, route, clock


def _lead_start(last: date, lead: int, clock: Clock | None) -> date:
    """The day `lead` working days (as the clock's law counts them) before `last`."""
    calendar = clock.calendar if clock is not None else "days"
    day, found = last, 0
    while found < lead:
        day -= timedelta(days=1)
        if working_days.is_working_day(day, calendar):
            found += 1
    return day


def _stale(sql: Sql, queued: list[tuple[str, str]], today: date) -> dict[tuple[str, str], str]:
    """Of queued procurement reminders, each a project's key and its period ('2027-01-22/award'), those whose date
    no longer applies on `today` (`procurement due` no longer lists that step on that date), each with why. One
    whose project's procurement cannot be found (its rows deleted, or its project renamed, by hand) or read, or
    whose period is not one this rule writes, is left to go, as before this check: a reminder is cancelled only when
    the rule positively shows its date no longer applies."""
    wanted = {key for key, _ in queued}
    found = [f for f in rows.procurements(sql) if f[0] in wanted]
    judged = {f[0] for f in found if f[2]}  # (a reminder comes of a step recorded: none left, none to judge by)
    try:
        items = record.due_of(found, today, (date.max - today).days)  # every date, however far ahead
    except CycleError:  # a date past the bank holidays cycle knows (a hand edit): the rule cannot say; they go
        return {}
    unreadable = {i.key for i in items if i.status == "unreadable"}
    out = {}
    for key, period in queued:
        day_text, _, step = period.partition("/")
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            continue
        if key in unreadable or key not in judged:
            continue
        now = [i for i in items if i.key == key and i.step == step]
        if any(i.day == day for i in now):
            continue
        why = (now[0].text if now else f"`cycle procurement due` no longer lists it (the step recorded, or its "
                                        f"period over); see: cycle procurement show {quote(key)}")
        out[(key, period)] = f"{step} on {day.isoformat()} no longer applies on {today.isoformat()}: {why}"
    return out
