"""Quarterly review meetings: which quarters a project owes one for, recording that one was held, and reading
which were. The reminders (rules.py) and the quarterly report both ask `quarters_due`, so they agree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cycle import contracts, inputs
from cycle.audit import chain
from cycle.calendar import clock, dates, quarters
from cycle.db import rows
from cycle.db.models import Project, ReviewMeeting
from cycle.db.rows import ContractRow, ProjectRow
from cycle.db.sql import Sql, sql_of
from cycle.db.store import Store
from cycle.errors import BadInput
from cycle.projects import history

#: A project reviews its contract quarterly while it stands at one of these stages.
LIVE_STAGES = ("do", "review")


def quarters_due(sql: Sql, project: ProjectRow, contract: ContractRow | None, as_of: date) -> list[quarters.Quarter]:
    """The quarters, up to the one holding `as_of`, for which `project` owes a review meeting (held or not):
    from when it reached `do` (or its contract started, if later) to the contract's last day as things stand.
    None without a contract or away from the live stages."""
    if contract is None or project.stage not in LIVE_STAGES:
        return []
    st = contracts.status(project.key, contract, as_of)
    since = history.entered_stage_on(sql, project, "do")
    start = inputs.stored_day(contract.start)
    if start is not None:
        since = max(since, start)
    until = min(as_of, st.effective_end or as_of)
    if until < since:
        return []
    return quarters.quarters_between(since, until)


@dataclass
class Review:
    project: str
    quarter: str
    held_on: str
    note: str | None
    recorded_by: str
    recorded_at: str

    def as_dict(self) -> dict[str, Any]:
        return {"project": self.project, "quarter": self.quarter, "held_on": self.held_on, "note": self.note,
                "recorded_by": self.recorded_by, "recorded_at": self.recorded_at}


def _note(value: str | None) -> str | None:
    return inputs.text(value, "--note", "note", False)


def record(store: Store, key: str, quarter: str, held_on: str, *, actor: str, note: str | None = None,
           today: date | None = None) -> Review:
    """Record that the review meeting for `quarter` was held on `held_on`, which may not be after today.

    `today` is the London date; only tests give another (the CLI has no --as-of here, so nobody can
    record a meeting not yet held and silence its quarter's reminders in advance).
    """
    q = quarters.parse_quarter(quarter)
    held = dates.parse_date(held_on, "--held-on")
    today = today or clock.london_today()
    if held > today:
        raise BadInput(f"--held-on {held} is in the future; record the review once the meeting has been held")
    if held < q.start:
        raise BadInput(f"--held-on {held} is before {q} began ({q.start}); {q} is {q.describe()}")
    text = _note(note)
    with store.write() as s:
        project = rows.project(sql_of(s), key)
        existing = s.exec(select(ReviewMeeting).where(  # type: ignore[call-overload]
            ReviewMeeting.project_id == project.id,  # type: ignore[arg-type]
            ReviewMeeting.quarter == str(q))).scalars().first()  # type: ignore[arg-type]
        if existing is not None:
            raise BadInput(f"the {q} review of {key} is already recorded (held on {existing.held_on}, "
                           f"recorded by {existing.recorded_by}); see: cycle review list {key}")
        row = ReviewMeeting(project_id=project.id, quarter=str(q), held_on=held.isoformat(), note=text,
                            recorded_by=actor, recorded_at=clock.utc_now())
        s.add(row)
        s.flush()
        chain.append(s, actor=actor, action="review.record", project=key,
                     payload={"review_id": row.id, "quarter": str(q), "held_on": row.held_on, "note": text})
    return Review(key, row.quarter, row.held_on, row.note, row.recorded_by, row.recorded_at)


def held(session: Session, project: ProjectRow) -> dict[str, str]:
    """{quarter: held_on} for the project's recorded reviews."""
    found = session.exec(select(ReviewMeeting.quarter, ReviewMeeting.held_on).where(  # type: ignore[call-overload]
        ReviewMeeting.project_id == project.id)).all()
    return {q: h for q, h in found}


def listing(store: Store, key: str | None = None) -> list[Review]:
    with store.read() as s:
        query = (select(ReviewMeeting, Project.key)  # type: ignore[call-overload]
                 .join(Project, Project.id == ReviewMeeting.project_id)
                 .order_by(Project.key, ReviewMeeting.quarter))
        if key is not None:
            query = query.where(Project.id == rows.project(sql_of(s), key).id)
        return [Review(k, r.quarter, r.held_on, r.note, r.recorded_by, r.recorded_at)
                for r, k in s.exec(query).all()]
