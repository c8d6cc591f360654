"""Actions: what a contract review (or anyone, any time) asks someone to do by a date, optionally about one
indicator; each added and each done with an audit entry."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from cycle import inputs
from cycle.audit import chain
from cycle.calendar import clock
from cycle.db import rows
from cycle.db.sql import sql_of
from cycle.errors import BadInput
from cycle.shell import quote

if TYPE_CHECKING:
    from cycle.db.store import Store


@dataclass
class ActionView:
    id: int
    project: str
    kpi: str | None
    text: str
    owner: str
    due: str
    done_on: str | None
    done_note: str | None

    def overdue(self, on: date) -> bool:
        due = inputs.stored_day(self.due)
        return self.done_on is None and due is not None and on > due

    def as_dict(self, on: date) -> dict[str, Any]:
        return {"id": self.id, "project": self.project, "kpi": self.kpi, "text": self.text, "owner": self.owner,
                "due": self.due, "done_on": self.done_on, "done_note": self.done_note,
                "overdue": self.overdue(on)}


def add(store: Store, key: str, text: str, *, owner: str, due: str, kpi: str | None = None,
        contract: str | None = None, actor: str) -> ActionView:
    """Add an action to a project, owned by `owner`, due on `due`, about indicator `kpi` of its contract if given."""
    from cycle.db.models import Action

    from . import indicators

    what = inputs.text(text, "the action", "title")
    who = inputs.text(owner, "--owner", "name")
    when = inputs.day(due, "--due").isoformat()
    actor = store.actor(actor)
    with store.write() as s:
        project = rows.project(sql_of(s), key)
        kpi_id = None
        ref = None
        if kpi is not None:
            c, k = indicators._kpi(s, project, contract, kpi)
            kpi_id, ref = k.id, c.ref
        elif contract is not None:
            raise BadInput("--contract names the contract of --kpi; give --kpi ID too, or leave --contract out")
        now = clock.utc_now()
        row = Action(project_id=project.id, kpi_id=kpi_id, text=what, owner=who, due=when, created_by=actor,
                     created_at=now)
        s.add(row)
        s.flush()
        chain.append(s, actor=actor, action="action.add", project=key, at=now, payload={
            "action_id": row.id, "text": what, "owner": who, "due": when, "kpi": kpi, "contract": ref})
        assert row.id is not None
    return ActionView(row.id, key, kpi, what, who, when, None, None)


def done(store: Store, key: str, action_id: int, *, on: str | None = None, note: str | None = None, actor: str,
         today: date | None = None) -> ActionView:
    """Mark an action done on `on` (default today; not in the future), with a note of what was done."""
    from cycle.db.models import Action

    today = today or clock.london_today()
    when = inputs.day(on, "--on") if on is not None else today
    if when > today:
        raise BadInput(f"--on {when} is in the future; mark an action done once it is done")
    text = inputs.text(note, "--note", "note", False)
    actor = store.actor(actor)
    with store.write() as s:
        project = rows.project(sql_of(s), key)
        row = s.get(Action, action_id)
        if row is None or row.project_id != project.id:
            raise BadInput(f"{key} has no action #{action_id}; see them with: cycle action list {quote(key)}")
        if row.done_on:
            raise BadInput(f"action #{action_id} was already done on {row.done_on}")
        try:
            created = clock.london_day(row.created_at) if row.created_at else None
        except ValueError:  # a hand edit: nothing is judged by it
            raise BadInput(f"action #{action_id}'s time of adding, {row.created_at!r}, is not a time cycle wrote; "
                           f"see: cycle audit verify") from None
        if created is not None and when < created:
            raise BadInput(f"--on {when} is before the action was added ({created})")
        row.done_on, row.done_note = when.isoformat(), text
        s.add(row)
        s.flush()
        chain.append(s, actor=actor, action="action.done", project=key, payload={
            "action_id": row.id, "text": row.text, "done_on": row.done_on, "note": text})
        kpi = sql_of(s).one("SELECT key FROM kpi WHERE id = :k", k=row.kpi_id) if row.kpi_id else None
        assert row.id is not None
    return ActionView(row.id, key, kpi.key if kpi else None, row.text, row.owner, row.due, row.done_on, row.done_note)


_LIST = ("SELECT a.id, p.key, k.key AS kpi, a.text, a.owner, a.due, a.done_on, a.done_note FROM action a "
         "JOIN project p ON p.id = a.project_id LEFT JOIN kpi k ON k.id = a.kpi_id")


@contextmanager
def listing(store: Store, key: str | None = None, open_only: bool = False) -> Iterator[Iterator[ActionView]]:
    """The actions (of project `key`; only those not done), by project, due date and id, read as they are used."""
    where, given = [], {}
    with store.reading(snapshot=True) as sql:
        if key is not None:
            where.append("a.project_id = :id")
            given["id"] = rows.project(sql, key).id
        if open_only:
            where.append("a.done_on IS NULL")
        statement = _LIST + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY p.key, a.due, a.id"
        with closing(sql.stream(statement, **given)) as found:
            yield (ActionView(*r) for r in found)
