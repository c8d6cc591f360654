"""What a project's audit log says about where it has been: the entry that brought it to its stage, and the day.

The log is the record of every move (cycle.audit.chain), so the day a project entered a stage is read from it,
not kept beside it.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Literal, overload

from cycle.calendar.clock import london_date, london_day, parse_utc
from cycle.db.rows import ProjectRow
from cycle.db.sql import Sql

_LAST_MOVE = ("SELECT seq, at, action FROM audit_entry WHERE project = :key AND to_stage IS NOT NULL "
              "ORDER BY seq DESC LIMIT 1")
_LAST_ENTRY_TO = ("SELECT seq, at, action FROM audit_entry WHERE project = :key AND to_stage = :stage "
                  "ORDER BY seq DESC LIMIT 1")


_LAST_ENTRIES = ("SELECT a.project, a.to_stage, a.seq, a.at, a.action FROM audit_entry a WHERE a.seq IN "
                 "(SELECT MAX(seq) FROM audit_entry WHERE to_stage IS NOT NULL GROUP BY project, to_stage)")


class Entries:
    """Every project's last entry into each stage, read in one query: `entered_on` answers as entered_stage_on
    does, without a query per project."""

    def __init__(self, sql: Sql):
        self.by_stage: dict[tuple[str, str], tuple[int, str, str]] = {}  # (project, stage) -> (seq, at, action)
        self.last: dict[str, tuple[int, str, str]] = {}
        last = self.last
        for project, to_stage, seq, at, action in sql.tuples(_LAST_ENTRIES):
            entry = self.by_stage[(project, to_stage)] = (seq, at, action)
            if project not in last or seq > last[project][0]:
                last[project] = entry

    def entered_on(self, project: ProjectRow, stage: str | None = None, *, creation: bool = True) -> date | None:
        entry = self.last.get(project.key) if stage is None else self.by_stage.get((project.key, stage))
        if entry is not None and entry[2] != "project.create":
            return london_day(entry[1])
        if not creation:
            return None
        return london_day(entry[1] if entry is not None else project.created_at)


def stage_entry(sql: Sql, key: str) -> Any:
    """The audit entry (seq, at, action) that brought the project to its current stage: its creation, an advance,
    or a recycle or stop decision; None for a project with no such entry."""
    return sql.one(_LAST_MOVE, key=key)


@overload
def entered_stage_on(sql: Sql, project: ProjectRow, stage: str | None = None, *,
                     creation: Literal[True] = True) -> date: ...
@overload
def entered_stage_on(sql: Sql, project: ProjectRow, stage: str | None = None, *, creation: bool) -> date | None: ...


def entered_stage_on(sql: Sql, project: ProjectRow, stage: str | None = None, *,
                     creation: bool = True) -> date | None:
    """The day (in England) the project last entered `stage`, or by default its current stage (the entry that
    brought it there: stage_entry).

    When that was its creation, or the log shows no such entry: with `creation`, the day it was created (a
    reminder counts a wait from it); without, None (a decision may come before it: the project may have been
    put into cycle after its body had already decided).
    """
    entry = stage_entry(sql, project.key) if stage is None else sql.one(_LAST_ENTRY_TO, key=project.key, stage=stage)
    return _day(entry, project, creation)


def _day(entry: Any, project: ProjectRow, creation: bool) -> date | None:
    if entry is not None and entry.action != "project.create":
        return london_day(entry.at)
    if not creation:
        return None
    return london_day(entry.at if entry is not None else project.created_at)


_MOVES_AND_DECISIONS = ("SELECT action, at, to_stage, payload FROM audit_entry WHERE project = :key "
                        "AND (to_stage IS NOT NULL OR action = 'decision.record') ORDER BY seq")


def entered_when_decided(sql: Sql, key: str, decision_id: int) -> tuple[str, date] | None:
    """The stage `key` was at when decision `decision_id` was recorded, and the day (in England) it entered it;
    None when it was there from its creation, or the log does not say (as for entered_stage_on without
    `creation`: a decision may come before)."""
    here: tuple[str, date] | None = None
    for action, at, to_stage, payload in sql.rows(_MOVES_AND_DECISIONS, key=key):
        if action == "decision.record":
            try:
                said = json.loads(payload)
            except (TypeError, ValueError):
                said = None
            if isinstance(said, dict) and said.get("decision_id") == decision_id:
                return here
        if to_stage is not None:
            try:
                here = None if action == "project.create" else (to_stage, london_date(parse_utc(at)))
            except (TypeError, ValueError):
                here = None
    return None
