"""The regimes and their routes are data (regimes.toml, beside this module), validated when loaded.

A regime (the PSR, the Procurement Act 2023) has routes (a PSR process, a PA 2023 procedure); a route has steps
(notices, decisions, the award, publications after it), each after the steps it names in `after`, and clocks,
the time limits between steps, each with the regulation or section it comes from:

    [[regime.route.clock]]
    id = "award-notice"
    kind = "deadline"            # deadline: `step` by the period's last day
    from = "award"               # wait: `step` not before the day after it; minimum: not before that day
    step = "award-notice"        # standstill: a wait that representations extend (PSR reg 12)
    days = 30
    calendar = "days"            # days | psr-working-days | pa2023-working-days (working_days.CALENDARS)
    count = "after"              # after | beginning-with | after-the-day-after (working_days.COUNTS)
    cite = "PSR reg 7(2)(b)"

A clock may hold only `when` a fact holds, or `unless` it does: "light-touch" (a PA 2023 light touch contract,
s.9) or "over-5m" (an estimated value over £5 million, ss.52-53). A bad file is one error naming the file and the
entry: an unknown step, steps in a cycle, a negative period, an unknown calendar.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cycle import files, inputs
from cycle.errors import BadInput
from cycle.workflow.definition import ID, _flag, _toml  # the workflow file's checks: one wording for both files

from .working_days import CALENDARS, COUNTS

KINDS = ("deadline", "wait", "minimum", "standstill")
FACTS = ("light-touch", "over-5m")
MAX_DAYS = 3660  # the longest period a clock may hold: ten years of days
BUILT_IN = Path(__file__).with_name("regimes.toml")


class RegimesInvalid(BadInput):
    """A regimes file failed validation; names the file and the entry."""

    def __init__(self, path: str, entry: str, problem: str):
        self.path, self.entry, self.problem = path, entry, problem
        super().__init__(f"{path}: {entry}: {problem}" if entry else f"{path}: {problem}")


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    cite: str
    after: tuple[str, ...] = ()
    optional: bool = False  # the route can finish without it (representations, a contract change)
    repeat: bool = False  # it may be recorded more than once (a further decision, a modification)
    record: bool = False  # a decision PSR reg 24 asks to be recorded: who decided, key criteria, conflicts
    note: str = ""
    when: tuple[str, ...] = ()  # the step is part of the route only when these facts hold ...
    unless: tuple[str, ...] = ()  # ... and none of these does

    def applies(self, facts: set[str]) -> bool:
        return all(f in facts for f in self.when) and not any(f in facts for f in self.unless)


@dataclass(frozen=True)
class Clock:
    id: str
    title: str
    kind: str
    start: str  # the step whose date starts it (`from` in the file)
    step: str  # the step it limits
    days: int
    calendar: str
    count: str
    cite: str
    when: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    note: str = ""
    # kind = standstill (PSR reg 12(4)-(10)): representations extend it until `further_days` after the last
    # further decision
    representations: str | None = None
    further: str | None = None
    further_days: int = 0
    further_cite: str = ""
    # `before = true`: the step may be done before the one that starts the clock (PA 2023 s.75(1): a change notice
    # is published before the modification): a step done since the previous start counts
    before: bool = False

    def applies(self, facts: set[str]) -> bool:
        return all(f in facts for f in self.when) and not any(f in facts for f in self.unless)


@dataclass(frozen=True)
class Route:
    id: str
    title: str
    cite: str
    steps: tuple[Step, ...]
    clocks: tuple[Clock, ...]
    light_touch: bool = False  # whether --light-touch may be given (PA 2023 s.9)
    note: str = ""

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)


@dataclass(frozen=True)
class Duty:
    """A duty of the authority's rather than of one procurement's (the PSR's annual summary, reg 25)."""

    id: str
    title: str
    cite: str
    note: str = ""


@dataclass(frozen=True)
class Regime:
    id: str
    title: str
    cite: str
    calendar: str
    routes: tuple[Route, ...]
    duties: tuple[Duty, ...] = ()
    note: str = ""

    def route(self, route_id: str) -> Route | None:
        return next((r for r in self.routes if r.id == route_id), None)


@dataclass(frozen=True)
class Regimes:
    regimes: tuple[Regime, ...]
    path: str

    def regime(self, regime_id: str) -> Regime | None:
        return next((r for r in self.regimes if r.id == regime_id), None)


@cache
def built_in() -> Regimes:
    """The regimes as this cycle ships them."""
    return load(BUILT_IN)


def load(path: Path) -> Regimes:
    """Read and validate a regimes file; RegimesInvalid naming the file and the entry."""
    try:
        text = files.read_text(path, "a regimes file", files.MAX_BYTES, hint="a .toml file")
    except files.Unreadable as exc:
        raise RegimesInvalid(str(path), "", exc.problem) from None
    return parse(text, str(path))


def parse(text: str, where: str) -> Regimes:
    def fail(entry: str, problem: str) -> RegimesInvalid:
        return RegimesInvalid(where, entry, problem)

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise fail("", f"not valid TOML: {exc}") from None
    except RecursionError:
        raise fail("", "its arrays or tables are nested too deeply to read") from None
    try:
        _check_strings(data, fail, "")
    except RecursionError:
        raise fail("", "a value is nested too deeply to show; nest arrays and tables less") from None
    _only(data, {"regime"}, "top level", fail)
    raws = _tables(data, "regime", "top level", fail)
    if not raws:
        raise fail("regime", "no regimes: add [[regime]] entries")
    regimes: list[Regime] = []
    for i, raw in enumerate(raws):
        regime = _regime(raw, f"regime[{i}]", fail)
        if any(r.id == regime.id for r in regimes):
            raise fail(f"regime {regime.id!r}", "duplicate id: another regime already uses it")
        regimes.append(regime)
    return Regimes(tuple(regimes), where)


def _regime(raw: Any, entry: str, fail: Any) -> Regime:
    if not isinstance(raw, dict):
        raise fail(entry, "must be a table")
    rid = _id(raw, entry, fail)
    entry = f"regime {rid!r}"
    _only(raw, {"id", "title", "cite", "calendar", "note", "route", "duty"}, entry, fail)
    calendar = _calendar(raw, entry, fail)
    routes: list[Route] = []
    for i, r in enumerate(_tables(raw, "route", entry, fail)):
        route = _route(r, f"{entry} route[{i}]", entry, fail)
        if any(x.id == route.id for x in routes):
            raise fail(f"{entry} route {route.id!r}", "duplicate id: another route already uses it")
        routes.append(route)
    if not routes:
        raise fail(entry, "no routes: add [[regime.route]] entries")
    duties = []
    for i, d in enumerate(_tables(raw, "duty", entry, fail)):
        where = f"{entry} duty[{i}]"
        if not isinstance(d, dict):
            raise fail(where, "must be a table")
        did = _id(d, where, fail)
        where = f"{entry} duty {did!r}"
        _only(d, {"id", "title", "cite", "note"}, where, fail)
        duties.append(Duty(did, _text(d, "title", where, fail), _text(d, "cite", where, fail),
                           _text(d, "note", where, fail, False)))
    return Regime(rid, _text(raw, "title", entry, fail), _text(raw, "cite", entry, fail), calendar, tuple(routes),
                  tuple(duties), _text(raw, "note", entry, fail, False))


def _route(raw: Any, entry: str, regime_entry: str, fail: Any) -> Route:
    if not isinstance(raw, dict):
        raise fail(entry, "must be a table")
    rid = _id(raw, entry, fail)
    entry = f"{regime_entry} route {rid!r}"
    _only(raw, {"id", "title", "cite", "note", "light_touch", "step", "clock"}, entry, fail)
    steps: list[Step] = []
    for i, s in enumerate(_tables(raw, "step", entry, fail)):
        where = f"{entry} step[{i}]"
        if not isinstance(s, dict):
            raise fail(where, "must be a table")
        sid = _id(s, where, fail)
        where = f"{entry} step {sid!r}"
        _only(s, {"id", "title", "cite", "after", "optional", "repeat", "record", "note", "when", "unless"}, where,
              fail)
        if any(x.id == sid for x in steps):
            raise fail(where, "duplicate id: another step of this route already uses it")
        steps.append(Step(sid, _text(s, "title", where, fail), _text(s, "cite", where, fail),
                          _names(s, "after", where, fail), _flag(s, "optional", where, fail),
                          _flag(s, "repeat", where, fail), _flag(s, "record", where, fail),
                          _text(s, "note", where, fail, False), *_facts(s, where, fail)))
    if not steps:
        raise fail(entry, "no steps: add [[regime.route.step]] entries")
    known = {s.id for s in steps}
    for s in steps:
        for name in s.after:
            if name not in known:
                raise fail(f"{entry} step {s.id!r}", f"after names unknown step {name!r}; the steps are: "
                                                     f"{', '.join(x.id for x in steps)}")
    _no_cycle(steps, entry, fail)
    clocks: list[Clock] = []
    for i, c in enumerate(_tables(raw, "clock", entry, fail)):
        clock = _clock(c, f"{entry} clock[{i}]", entry, known, fail)
        if any(x.id == clock.id for x in clocks):
            raise fail(f"{entry} clock {clock.id!r}", "duplicate id: another clock of this route already uses it")
        clocks.append(clock)
    return Route(rid, _text(raw, "title", entry, fail), _text(raw, "cite", entry, fail), tuple(steps),
                 tuple(clocks), _flag(raw, "light_touch", entry, fail), _text(raw, "note", entry, fail, False))


def _no_cycle(steps: list[Step], entry: str, fail: Any) -> None:
    """Steps whose `after` lead back to themselves could never be taken."""
    after = {s.id: s.after for s in steps}
    state: dict[str, int] = {}  # 1: on the path being followed; 2: done

    def visit(sid: str, path: list[str]) -> None:
        state[sid] = 1
        for name in after[sid]:
            if state.get(name) == 1:
                loop = [*path[path.index(name):], name] if name in path else [sid, name]
                raise fail(f"{entry} step {name!r}", f"the steps are in a cycle: {' -> '.join(loop)}; "
                                                     f"a step cannot come after itself")
            if name not in state:
                visit(name, [*path, name])
        state[sid] = 2

    for s in steps:
        if s.id not in state:
            visit(s.id, [s.id])


def _clock(raw: Any, entry: str, route_entry: str, known: set[str], fail: Any) -> Clock:
    if not isinstance(raw, dict):
        raise fail(entry, "must be a table")
    cid = _id(raw, entry, fail)
    entry = f"{route_entry} clock {cid!r}"
    _only(raw, {"id", "title", "kind", "from", "step", "days", "calendar", "count", "cite", "when", "unless", "note",
                "representations", "further", "further_days", "further_cite", "before"}, entry, fail)
    kind = _text(raw, "kind", entry, fail)
    if kind not in KINDS:
        raise fail(entry, f"unknown kind {kind!r}; the kinds are: {', '.join(KINDS)}")
    start, step = _text(raw, "from", entry, fail), _text(raw, "step", entry, fail)
    for role, name in (("from", start), ("step", step)):
        if name not in known:
            raise fail(entry, f"{role} names unknown step {name!r}; the steps are: {', '.join(sorted(known))}")
    if start == step:
        raise fail(entry, f"from and step are both {start!r}: a clock runs from one step to another")
    days = _days(raw, "days", entry, fail)
    count = _text(raw, "count", entry, fail)
    if count not in COUNTS:
        raise fail(entry, f"unknown count {count!r}; the ways of counting are: {', '.join(COUNTS)}")
    when, unless = _facts(raw, entry, fail)
    reps, further, further_days, further_cite = None, None, 0, ""
    if kind == "standstill" and "representations" in raw:
        reps, further = _text(raw, "representations", entry, fail), _text(raw, "further", entry, fail)
        for role, name in (("representations", reps), ("further", further)):
            if name not in known:
                raise fail(entry, f"{role} names unknown step {name!r}; the steps are: {', '.join(sorted(known))}")
        further_days = _days(raw, "further_days", entry, fail)
        further_cite = _text(raw, "further_cite", entry, fail)
    elif any(k in raw for k in ("representations", "further", "further_days", "further_cite")):
        raise fail(entry, "representations, further, further_days and further_cite belong to a standstill clock "
                          "(kind = \"standstill\")")
    return Clock(cid, _text(raw, "title", entry, fail), kind, start, step, days, _calendar(raw, entry, fail), count,
                 _text(raw, "cite", entry, fail), when, unless, _text(raw, "note", entry, fail, False),
                 reps, further, further_days, further_cite, _flag(raw, "before", entry, fail))


# --- the pieces of an entry ------------------------------------------------------------------------

def _check_strings(value: Any, fail: Any, entry: str) -> None:
    if isinstance(value, str):
        found = inputs.problem(value)
        if found:
            raise fail(entry or "top level", f"{found}; found {value[:40]!r}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key, fail, entry or "top level")
            _check_strings(item, fail, f"{entry}.{key}" if entry else key)
    elif isinstance(value, list):
        for n, item in enumerate(value, 1):
            _check_strings(item, fail, f"{entry}[{n}]")


def _id(raw: Mapping[str, Any], entry: str, fail: Any) -> str:
    value = _text(raw, "id", entry, fail)
    if not ID.match(value):
        raise fail(entry, f"id {value!r} must be lower-case letters, digits, '-' and '_'")
    return value


def _text(raw: Mapping[str, Any], key: str, entry: str, fail: Any, required: bool = True) -> str:
    """The string `key` holds: a non-empty one, or when not `required` any string, "" when it is left out."""
    value = raw.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise fail(entry, f"missing {key!r} (a non-empty string in quotes)" if value is None
                   else f"{key} must be a {'non-empty ' if required else ''}string in quotes, not {_toml(value)}")
    return value


def _days(raw: Mapping[str, Any], key: str, entry: str, fail: Any) -> int:
    value = raw.get(key)
    if value is None:
        raise fail(entry, f"missing {key!r} (a whole number of days)")
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(entry, f"{key} must be a whole number of days (no quotes), not {_toml(value)}")
    if value < 0:
        raise fail(entry, f"{key} is {value}: a period cannot be negative")
    if value == 0 or value > MAX_DAYS:
        raise fail(entry, f"{key} is {value}: a period is from 1 to {MAX_DAYS} days")
    return value


def _calendar(raw: Mapping[str, Any], entry: str, fail: Any) -> str:
    value = _text(raw, "calendar", entry, fail)
    if value not in CALENDARS:
        raise fail(entry, f"unknown calendar {value!r}; the calendars are: {', '.join(CALENDARS)}")
    return value


def _names(raw: Mapping[str, Any], key: str, entry: str, fail: Any) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail(entry, f"{key} must be a list of names in quotes, e.g. [\"award\"], not {_toml(value)}")
    return tuple(value)


def _facts(raw: Mapping[str, Any], entry: str, fail: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`when` and `unless`: the facts an entry holds only with, or only without."""
    found = []
    for key in ("when", "unless"):
        names = _names(raw, key, entry, fail)
        for f in names:
            if f not in FACTS:
                raise fail(entry, f"{key} names unknown fact {f!r}; the facts are: {', '.join(FACTS)}")
        found.append(names)
    return found[0], found[1]


def _tables(raw: Mapping[str, Any], key: str, entry: str, fail: Any) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise fail(entry, f"{key} must be [[...{key}]] entries, not {_toml(value)}")
    return value


def _only(raw: Mapping[str, Any], allowed: set[str], entry: str, fail: Any) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise fail(entry, f"unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
