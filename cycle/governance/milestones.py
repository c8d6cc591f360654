"""Programme-card milestones: added with a due date, marked done, and shown as slipped when late."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from cycle.audit import chain
from cycle.calendar import quarters
from cycle.db.models import Milestone
from cycle.db.store import Store
from cycle.errors import BadInput
from cycle.projects.engine import _iso_date, _load_for_write, _text, get_project, record_change


@dataclass
class MilestoneView:
    id: int
    title: str
    due: str
    done_on: str | None

    def slipped(self, on: date) -> bool:
        """Not done by its due date (as seen on `on`)."""
        due = date.fromisoformat(self.due)
        if self.done_on:
            return date.fromisoformat(self.done_on) > due
        return on > due

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "due": self.due, "done_on": self.done_on}


def add_milestone(store: Store, key: str, title: str, due: str, *, actor: str) -> Milestone:
    text = _text(title, "milestone title") or ""
    when = _iso_date(due, "--due") or ""
    actor = store.actor(actor)
    with store.write() as s:
        project = _load_for_write(s, key, None)
        m = Milestone(project_id=project.id, title=text, due=when, created_by=actor, created_at=chain.utc_now())
        s.add(m)
        s.flush()
        record_change(s, project, actor=actor, action="milestone.add", payload={
            "milestone_id": m.id, "title": text, "due": when})
    return m


def complete_milestone(store: Store, key: str, milestone_id: int, *, actor: str, on: str | None = None) -> Milestone:
    today = quarters.london_today()
    when = _iso_date(on, "--on") or today.isoformat()
    if date.fromisoformat(when) > today:
        raise BadInput(f"--on {when} is in the future; mark a milestone done once it is done")
    actor = store.actor(actor)
    with store.write() as s:
        project = _load_for_write(s, key, None)
        m = s.get(Milestone, milestone_id)
        if m is None or m.project_id != project.id:
            raise BadInput(f"{key} has no milestone #{milestone_id}; see them with: cycle project show {key}")
        if m.done_on:
            raise BadInput(f"milestone #{milestone_id} was already done on {m.done_on}")
        m.done_on = when
        s.add(m)
        record_change(s, project, actor=actor, action="milestone.done", payload={
            "milestone_id": m.id, "title": m.title, "due": m.due, "done_on": when})
    return m


def listing(store: Store, key: str) -> list[MilestoneView]:
    with store.read() as s:
        project = get_project(s, key)
        rows = s.exec(select(Milestone).where(Milestone.project_id == project.id)  # type: ignore[call-overload]
                      .order_by(Milestone.due, Milestone.id)).scalars()
        return [MilestoneView(m.id, m.title, m.due, m.done_on) for m in rows]  # type: ignore[arg-type]
