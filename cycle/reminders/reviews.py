"""Quarterly review meetings: which quarters need one, recording that one was held, and reading which were.

A contract is reviewed every quarter it runs, whatever the stage of the project holding it: from the day the
project (last) entered `do`, where the framework has the contract awarded, or the contract's start if later,
to its last day as things stand (its end date, or the end of its run-on once notice was not served in time).
A project that moves on to `review`, `decommission` or `closed` while its contract runs on keeps its reviews
until the contract ends. `review_period` says it for one contract and `review_quarters` in quarters (the due scan
asks it with what it read for the whole portfolio); `quarters_due` reads what they need for one project (the quarterly
report asks it), and `reviews_due` asks that for every project: one rule, so the reminders and the report agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from cycle import contracts, inputs
from cycle.audit import chain
from cycle.calendar import clock, dates, quarters
from cycle.calendar.quarters import Quarter
from cycle.db import rows
from cycle.db.rows import ContractRow, ProjectRow
from cycle.db.sql import Sql, sql_of
from cycle.db.store import Store
from cycle.errors import BadInput
from cycle.performance import indicators
from cycle.projects import history


@dataclass(frozen=True)
class DueReview:
    """A quarter whose review meeting the project's contract needs, and the day it was held (None: not recorded)."""

    project: str
    quarter: Quarter
    held_on: str | None  # (due by its quarter's end: quarter.end)


def review_period(contract: ContractRow, holder: str, entered_do: date | None, as_of: date,
                  status: contracts.Status | None = None) -> tuple[date, date] | None:
    """The days, up to `as_of`, whose quarters need a review of this contract: from the day its project last entered
    `do` (None: it never has, so the contract is not awarded yet) or the contract's start if later, to its last day
    as things stand on `as_of`, or `as_of`. None when that is no day at all. (`status`: the contract's on `as_of`,
    when the caller has it already.)"""
    if entered_do is None:
        return None
    since = entered_do
    start = inputs.stored_day(contract.start)  # None for a start edited by hand into nonsense: audit verify names it
    if start is not None:
        since = max(since, start)
    last = (status or contracts.status(holder, contract, as_of)).effective_end
    until = min(as_of, last) if last is not None else as_of
    return (since, until) if since <= until else None


def review_quarters(contract: ContractRow, holder: str, entered_do: date | None, as_of: date,
                    status: contracts.Status | None = None) -> list[Quarter]:
    """The quarters, up to the one `as_of` falls in, that need a review of this contract (see review_period)."""
    period = review_period(contract, holder, entered_do, as_of, status)
    return quarters.quarters_between(*period) if period is not None else []


def reviews_due(store: Store, as_of: date, project: str | None = None) -> list[DueReview]:
    """Every quarter, up to the one `as_of` falls in, whose review meeting a contract needs, with the day it was held
    if it was: all projects' (or one's), by project key then quarter. A quarter not yet ended is listed (its review
    is due by its end); `DueReview.held_on` is None for a review not recorded."""
    out: list[DueReview] = []
    with store.reading() as sql:
        by_key: dict[str, list[ContractRow]] = {}
        for held in rows.contracts(sql):
            by_key.setdefault(held.holder.key, []).append(held.contract)
        for key in sorted(by_key):
            if project is not None and key != project:
                continue
            found = rows.project(sql, key)
            done = dict(sql.tuples("SELECT quarter, held_on FROM review_meeting WHERE project_id = :id", id=found.id))
            out += [DueReview(found.key, q, done.get(str(q))) for q in quarters_due(sql, found, by_key[key], as_of)]
    return out


def quarters_due(sql: Sql, project: ProjectRow, held: list[ContractRow], as_of: date) -> list[quarters.Quarter]:
    """The quarters, up to the one holding `as_of`, for which `project` owes a review meeting (held or not): while
    any of its contracts runs, whatever the project's stage (review_period). None without a contract."""
    if not held:
        return []
    entered = history.entered_stage_on(sql, project, "do", creation=False)
    return sorted({q for c in held for q in review_quarters(c, project.key, entered, as_of)})


@dataclass
class Review:
    project: str
    quarter: str
    held_on: str
    note: str | None
    recorded_by: str
    recorded_at: str
    attendees: list[str] | None = None
    snapshot: list[dict[str, Any]] | None = None  # each indicator's status for the quarter when recorded

    def as_dict(self) -> dict[str, Any]:
        return {"project": self.project, "quarter": self.quarter, "held_on": self.held_on, "note": self.note,
                "recorded_by": self.recorded_by, "recorded_at": self.recorded_at}


def _note(value: str | None) -> str | None:
    return inputs.text(value, "--note", "note", False)


def record(store: Store, key: str, quarter: str, held_on: str, *, actor: str, note: str | None = None,
           today: date | None = None, attendees: list[str] | None = None) -> Review:
    """Record that the review meeting for `quarter` was held on `held_on`, which may not be after today.

    `today` is the London date; only tests give another (the CLI has no --as-of here, so nobody can
    record a meeting not yet held and silence its quarter's reminders in advance).
    """
    from sqlalchemy import select  # the ORM is for the write: `review list` starts without it

    from cycle.db.models import ReviewMeeting

    q = quarters.parse_quarter(quarter)
    held = dates.parse_date(held_on, "--held-on")
    today = today or clock.london_today()
    if held > today:
        raise BadInput(f"--held-on {held} is in the future; record the review once the meeting has been held")
    if held < q.start:
        raise BadInput(f"--held-on {held} is before {q} began ({q.start}); {q} is {q.describe()}")
    text = _note(note)
    present = [inputs.text(a, "--attendee", "name") for a in attendees or []]
    present = list(dict.fromkeys(present))  # each once, in the order given
    with store.write() as s:
        project = rows.project(sql_of(s), key)
        existing = s.exec(select(ReviewMeeting).where(  # type: ignore[call-overload]
            ReviewMeeting.project_id == project.id,  # type: ignore[arg-type]
            ReviewMeeting.quarter == str(q))).scalars().first()  # type: ignore[arg-type]
        if existing is not None:
            raise BadInput(f"the {q} review of {key} is already recorded (held on {existing.held_on}, "
                           f"recorded by {existing.recorded_by}); see: cycle review list {key}")
        shot = indicators._snapshot(sql_of(s), project, q, today)
        row = ReviewMeeting(project_id=project.id, quarter=str(q), held_on=held.isoformat(), note=text,
                            recorded_by=actor, recorded_at=clock.utc_now(),
                            attendees=json.dumps(present, ensure_ascii=False) if present else None,
                            snapshot=indicators.snapshot_text(shot))
        s.add(row)
        s.flush()
        chain.append(s, actor=actor, action="review.record", project=key,
                     payload={"review_id": row.id, "quarter": str(q), "held_on": row.held_on, "note": text,
                              **({"attendees": present} if present else {}),
                              **({"indicators": shot} if shot else {})})
    return Review(key, row.quarter, row.held_on, row.note, row.recorded_by, row.recorded_at, present or None,
                  shot or None)


@contextmanager
def listing(store: Store, key: str | None = None) -> Iterator[Iterator[Review]]:
    """The reviews recorded (of project `key`), by project and quarter, read as they are used in one read
    transaction that lasts as long as the `with`. An unknown key is refused before anything is read."""
    with store.reading(snapshot=True) as sql:
        where = " WHERE r.project_id = :id" if key is not None else ""
        given = {"id": rows.project(sql, key).id} if key is not None else {}
        with closing(sql.stream("SELECT p.key, r.quarter, r.held_on, r.note, r.recorded_by, r.recorded_at "
                                "FROM review_meeting r JOIN project p ON p.id = r.project_id" + where +
                                " ORDER BY p.key, r.quarter, r.id", **given)) as found:
            yield (Review(*r) for r in found)
