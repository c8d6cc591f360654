"""Programme-card milestones: added with a due date, marked done, and shown as slipped when late."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any, NamedTuple

from cycle.calendar import clock
from cycle.db import rows
from cycle.db.store import Store
from cycle.errors import BadInput
from cycle.inputs import iso_date, one_line, stored_day
from cycle.shell import quote

if TYPE_CHECKING:  # the ORM and the engine are for the writes: `milestone list` starts without them
    from cycle.db.models import Milestone


class MilestoneView(NamedTuple):
    """A milestone as `milestone list` shows it."""

    id: int
    title: str
    due: str
    done_on: str | None

    def slipped(self, on: date) -> bool:
        """Not done by its due date (as seen on `on`)."""
        due = stored_day(self.due)
        if due is None:  # not a date: edited by hand, which `audit verify` names
            return False
        if self.done_on:
            done = stored_day(self.done_on)
            return done is not None and done > due
        return on > due

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "due": self.due, "done_on": self.done_on}


def add_milestone(store: Store, key: str, title: str, due: str, *, actor: str) -> Milestone:
    from cycle.db.models import Milestone, row_id
    from cycle.projects.engine import load_for_write, record_change

    text = one_line(title, "milestone title") or ""
    when = iso_date(due, "--due") or ""
    actor = store.actor(actor)
    with store.write() as s:
        project = load_for_write(s, key)
        m = Milestone(project_id=row_id(project), title=text, due=when, created_by=actor, created_at=clock.utc_now())
        s.add(m)
        s.flush()
        record_change(s, project, actor=actor, action="milestone.add", payload={
            "milestone_id": m.id, "title": text, "due": when})
    return m


def complete_milestone(store: Store, key: str, milestone_id: int, *, actor: str,
                       on: str | None = None) -> Milestone:
    from cycle.db.models import Milestone
    from cycle.projects.engine import load_for_write, record_change

    today = clock.london_today()
    when = iso_date(on, "--on") or today.isoformat()
    if date.fromisoformat(when) > today:
        raise BadInput(f"--on {when} is in the future; mark a milestone done once it is done")
    actor = store.actor(actor)
    with store.write() as s:
        project = load_for_write(s, key)
        m = s.get(Milestone, milestone_id)
        if m is None or m.project_id != project.id:
            raise BadInput(f"{key} has no milestone #{milestone_id}; see them with: cycle milestone list {quote(key)}")
        if m.done_on:
            raise BadInput(f"milestone #{milestone_id} was already done on {m.done_on}")
        m.done_on = when
        s.add(m)
        record_change(s, project, actor=actor, action="milestone.done", payload={
            "milestone_id": m.id, "title": m.title, "due": m.due, "done_on": when})
    return m


@contextmanager
def listing(store: Store, key: str) -> Iterator[Iterator[MilestoneView]]:
    """The project's milestones, soonest due first, read as they are used in one read transaction that lasts as
    long as the `with`. An unknown key is refused before anything is read."""
    with store.reading(snapshot=True) as sql:
        project = rows.project(sql, key)
        with closing(sql.stream("SELECT id, title, due, done_on FROM milestone WHERE project_id = :id ORDER BY due, id",
                                id=project.id)) as found:
            yield (MilestoneView(*m) for m in found)
