"""A route's clocks worked out from the steps done: what is running, what is due or missed, what may not happen
before when, and whether a step may be recorded on a day (`check`, which every `procurement step` passes).

Pure: the steps come in as (step, date) pairs, so a test can check the dates against ones worked by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from cycle.errors import BadInput

from . import working_days
from .regimes import Clock, Route, Step

#: The day each built-in regime came into force, and what it is called in a sentence: a step dated before it cannot
#: have been taken under it (a mistyped year), and its clocks would count under a law that did not yet apply.
IN_FORCE = {"psr": (date(2024, 1, 1), "the Provider Selection Regime (SI 2023/1348)"),
            "pa2023": (date(2025, 2, 24), "the Procurement Act 2023")}


def before_in_force(regime: str, day: date) -> str | None:
    """'before the Procurement Act 2023 came into force on 2025-02-24' when `day` is before the day `regime`'s law
    came into force (a step taken then, or a contract started then, was not under it); else None."""
    start = IN_FORCE.get(regime)
    if start is None or day >= start[0]:
        return None
    return f"before {start[1]} came into force on {start[0].isoformat()}"


@dataclass(frozen=True)
class Done:
    step: str
    on: date


@dataclass
class ClockState:
    clock: Clock
    started: date  # the day of the step that started it
    last_day: date | None  # the period's last day (None: a standstill held by representations with no decision)
    status: str  # running | ended | done | due | missed | late | held
    done_on: date | None = None  # the day the step it limits was done, if it was
    detail: str = ""

    def sentence(self, today: date) -> str:
        c = self.clock
        end = self.last_day.isoformat() if self.last_day else ""
        if c.kind in ("wait", "standstill"):
            if self.status == "held":
                return (f"{c.title}: held by representations ({self.detail}); it ends {c.further_days} working days "
                        f"after the last further decision is communicated ({c.further_cite})")
            if self.done_on is not None and self.last_day is not None and self.done_on <= self.last_day:
                return (f"{c.title} {'ends' if self.status == 'running' else 'ended'} at the end of {end}, but "
                        f"{c.step} is recorded on {self.done_on.isoformat()}, inside it ({c.cite})")
            if self.status == "running":
                extra = f" ({self.detail})" if self.detail else ""
                return f"{c.title} ends at the end of {end}{extra}; {c.step} not before {_next(self.last_day)}"
            return f"{c.title} ended at the end of {end}"
        if c.kind == "minimum":
            if self.status == "running":
                return f"{c.title}: {c.step} not before {end}"
            return f"{c.title} ran to {end}"
        if self.status == "due":
            return f"{c.title}: due by {end} ({c.cite})"
        if self.status == "missed":
            return f"{c.title}: MISSED, due by {end} ({c.cite})"
        if self.status == "late":
            return f"{c.title}: done late on {self.done_on}, due by {end} ({c.cite})"
        return f"{c.title}: done on {self.done_on}, due by {end}"

    def as_dict(self, today: date) -> dict[str, Any]:
        c = self.clock
        return {"clock": c.id, "title": c.title, "kind": c.kind, "step": c.step, "from": c.start,
                "started": self.started.isoformat(), "days": c.days, "calendar": c.calendar, "count": c.count,
                "cite": c.cite, "last_day": self.last_day.isoformat() if self.last_day else None,
                "status": self.status, "done_on": self.done_on.isoformat() if self.done_on else None,
                "detail": self.detail or None, "text": self.sentence(today)}


@dataclass
class Next:
    step: Step
    not_before: date | None = None
    by: date | None = None
    why: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step.id, "title": self.step.title, "cite": self.step.cite,
                "not_before": self.not_before.isoformat() if self.not_before else None,
                "by": self.by.isoformat() if self.by else None, "why": self.why}


def _next(d: date | None) -> str:
    return (d + timedelta(days=1)).isoformat() if d else ""


def _latest(done: list[Done], step: str) -> date | None:
    found = [d.on for d in done if d.step == step]
    return max(found) if found else None


def clocks(route: Route, facts: set[str], done: list[Done], today: date) -> list[ClockState]:
    """Every clock of the route that applies and has started, as it stands on `today`."""
    out = []
    for c in route.clocks:
        if not c.applies(facts):
            continue
        started = _latest(done, c.start)
        if started is None:
            continue
        if c.kind == "deadline":  # a step that repeats (a modification): each one's own date, the oldest unmet first
            started = _oldest_unmet(done, c) or started
        out.append(_state(c, started, done, today))
    return out


def _oldest_unmet(done: list[Done], c: Clock) -> date | None:
    """The earliest day `c` was started with its step not done on or after it: a second modification does not
    push back the first one's notice (PSR reg 13(5): within 30 days of *the* modification)."""
    meets = [d.on for d in done if d.step == c.step]
    for day in sorted({d.on for d in done if d.step == c.start}):
        since = _since(c, day, done)
        if not any(m >= since for m in meets):
            return day
    return None


def _since(c: Clock, started: date, done: list[Done]) -> date:
    """The first day on which `c`'s step, done, meets the clock started on `started`: that day; with `before`, the
    day after the previous start, if any (a change notice published before the modification, s.75(1))."""
    if not c.before:
        return started
    earlier = [d.on for d in done if d.step == c.start and d.on < started]
    return max(earlier) + timedelta(days=1) if earlier else date.min


def _state(c: Clock, started: date, done: list[Done], today: date) -> ClockState:
    last = working_days.last_day(started, c.days, c.calendar, c.count)
    since = _since(c, started, done)
    after = [d.on for d in done if d.step == c.step and d.on >= since]
    done_on = min(after) if after else None
    if c.kind == "deadline":
        if done_on is not None:
            return ClockState(c, started, last, "late" if done_on > last else "done", done_on)
        return ClockState(c, started, last, "missed" if today > last else "due")
    if c.kind == "standstill" and c.representations and c.further:
        reps = [d.on for d in done if d.step == c.representations and d.on >= started]
        if reps:
            further = [d.on for d in done if d.step == c.further and d.on >= max(reps)]
            if not further:
                return ClockState(c, started, None, "held", done_on,
                                  f"received {', '.join(sorted({r.isoformat() for r in reps}))}")
            wait = working_days.last_day(max(further), c.further_days, c.calendar, "after")
            if wait > last:
                detail = f"{c.further_days} working days after the further decision of {max(further)}"
                last = wait
                return ClockState(c, started, last, "running" if today <= last else "ended", done_on, detail)
    if done_on is not None and (c.kind not in ("wait", "standstill") or done_on > last):
        return ClockState(c, started, last, "done", done_on)
    if c.kind == "minimum":
        return ClockState(c, started, last, "running" if today < last else "ended")
    # (a step it holds back recorded inside it, by a hand-written row: the wait still runs, and says so)
    return ClockState(c, started, last, "running" if today <= last else "ended", done_on)


def applicable(route: Route, facts: set[str]) -> list[Step]:
    return [s for s in route.steps if s.applies(facts)]


def next_steps(route: Route, facts: set[str], done: list[Done], today: date) -> list[Next]:
    """The steps the law requires next (not the optional ones), with the day each may not come before and the
    day each is due by."""
    steps = applicable(route, facts)
    ids = {s.id for s in steps}
    taken = {d.step for d in done}
    states = clocks(route, facts, done, today)
    out = []
    for s in steps:
        if s.optional or (s.id in taken and not s.repeat) or s.repeat:
            continue
        if not all(a in taken for a in s.after if a in ids):
            continue
        n = Next(s)
        for st in states:
            if st.clock.step != s.id:
                continue
            if st.clock.kind in ("wait", "standstill") and st.last_day is not None:
                n.not_before = _later(n.not_before, st.last_day + timedelta(days=1))
                n.why.append(st.sentence(today))
            elif st.clock.kind == "standstill":
                n.why.append(st.sentence(today))
            elif st.clock.kind == "minimum" and st.last_day is not None:
                n.not_before = _later(n.not_before, st.last_day)
                n.why.append(st.sentence(today))
            elif st.clock.kind == "deadline" and st.last_day is not None and st.status in ("due", "missed"):
                n.by = st.last_day if n.by is None else min(n.by, st.last_day)
                n.why.append(st.sentence(today))
        out.append(n)
    return out


def _later(a: date | None, b: date) -> date:
    return b if a is None or b > a else a


def check(route: Route, facts: set[str], done: list[Done], step_id: str, on: date, today: date,
          key: str, regime: str) -> Step:
    """The step `step_id`, if it may be recorded as done on `on`; else BadInput saying why and what to do."""
    step = route.step(step_id)
    steps = applicable(route, facts)
    if step is None or step not in steps:
        names = ", ".join(s.id for s in steps)
        shown = step_id if len(step_id) <= 64 else step_id[:61] + "..."
        raise BadInput(f"{shown!r} is not a step of {regime} {route.id}"
                       f"{' for this contract' if step is not None else ''}; the steps are: {names}")
    if on > today:
        raise BadInput(f"--on {on.isoformat()} is in the future; record a step once it has been done (today is "
                       f"{today.isoformat()})")
    too_early = before_in_force(regime, on)
    if too_early is not None:
        raise BadInput(f"--on {on.isoformat()} is {too_early}; check the date")
    earlier = _latest(done, step.id)
    if earlier is not None and not step.repeat:
        raise BadInput(f"{key} already has {step.id} on {earlier.isoformat()}; a step is recorded once")
    ids = {s.id for s in steps}
    for name in step.after:
        if name not in ids:
            continue
        when = _latest(done, name)
        if when is None:
            raise BadInput(f"{step.id} comes after {name}, which {key} has not recorded; record it first with: "
                           f"cycle procurement step {key} {name} --on DATE")
        if on < when:
            raise BadInput(f"{step.id} on {on.isoformat()} would come before {name} on {when.isoformat()}, "
                           f"which it follows")
    for st in clocks(route, facts, done, today=on):
        c = st.clock
        if c.kind == "standstill" and c.representations == step.id:
            window = working_days.last_day(st.started, c.days, c.calendar, c.count)
            if on > window:
                raise BadInput(f"representations on {on.isoformat()} came after the end of {window.isoformat()}, "
                               f"the last day to make them ({c.cite}); note them on another step instead")
        if c.step != step.id:
            continue
        if st.status == "held":
            raise BadInput(f"{step.id} may not be done yet: {c.title.lower()} is held by representations "
                           f"({st.detail}); record the further decision with: cycle procurement step {key} "
                           f"{c.further} --on DATE, and then wait {c.further_days} working days "
                           f"({c.further_cite})")
        if c.kind in ("wait", "standstill") and st.last_day is not None and on <= st.last_day:
            raise BadInput(f"{step.id} may not be done on {on.isoformat()}: {c.title.lower()} ends at the end of "
                           f"{st.last_day.isoformat()} ({c.cite}{'; ' + st.detail if st.detail else ''}); the "
                           f"earliest is {_next(st.last_day)}")
        if c.kind == "minimum" and st.last_day is not None and on < st.last_day:
            raise BadInput(f"{step.id} may not be on {on.isoformat()}: {c.title.lower()} runs to "
                           f"{st.last_day.isoformat()} ({c.cite})")
    return step
