"""Deputies: someone who may decide for a body in an approver's place, from one day to another (issue 19 part 1).

A window is added by an admin or the approver themself, for one of the body's approvers and a known person other
than them, and never overlaps another window of that approver and body. Days are London dates, both inclusive;
a decision counts as made on the day it is recorded. A deputy's deputy does not count (a window stands in for an
approver, and a deputy is not one), and separation of duties applies to a deputy as to anyone
(cycle.governance.authority). Ending a window early moves its last day back, from today on (what the deputy
decided stands), and is audited. On PostgreSQL the database checks all of this too (migrations 0025 and 0026: the
days as dates, the longest window); on SQLite the file's triggers check the days and the longest window.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from cycle import inputs
from cycle.audit import chain
from cycle.calendar import clock
from cycle.db import rows
from cycle.db.models import Deputy
from cycle.db.rows import DeputyRow
from cycle.db.sql import sql_of
from cycle.db.store import Store
from cycle.errors import BadInput, NotPermitted
from cycle.shell import quote

from . import identity, people

#: The longest window: past it, the deputy is in effect a second approver, which is for an admin to grant.
LONGEST = 366


@dataclass
class Window:
    """One deputy window, as `people deputy list` shows it."""

    id: int
    approver: str
    deputy: str
    body: str
    starts_on: str
    ends_on: str
    added_by: str
    added_at: str
    ended_by: str | None
    ended_at: str | None
    #: decisions the deputy recorded in it, counted for a window with no day left (ended on or before its first
    #: day): if they decided on its first day before it was ended, it ran, and what they decided stands
    decided: int = 0

    @property
    def cancelled(self) -> bool:
        """Ended before its first day, or on it with nothing decided: the deputy never acted in it."""
        return self.ends_on < self.starts_on and not self.decided

    def status(self, today: str) -> str:
        if self.ends_on < self.starts_on:
            return "cancelled" if self.cancelled else "ended"
        if today < self.starts_on:
            return "to come"
        return "ended" if self.ends_on < today else "current"

    def as_dict(self, today: str) -> dict[str, Any]:
        return {"id": self.id, "approver": self.approver, "deputy": self.deputy, "body": self.body,
                "from": self.starts_on, "to": self.ends_on, "status": self.status(today), "added_by": self.added_by,
                "added_at": self.added_at, "ended_by": self.ended_by, "ended_at": self.ended_at}


def window(row: Deputy | DeputyRow) -> Window:
    """A stored window as a Window."""
    return Window(row.id or 0, row.approver, row.deputy, row.body, row.starts_on, row.ends_on, row.added_by,
                  row.added_at, row.ended_by, row.ended_at)


def _counted(session: Session, w: Window) -> Window:
    """`w`, with the decisions made in it counted if it has no day left (ended on or before its first day)."""
    if w.ends_on < w.starts_on:
        w.decided = _decided_in(session, w)
    return w


def _decided_in(session: Session, w: Window) -> int:
    """How many decisions `w`'s deputy recorded acting in it (their entries' authority names it: "acting for
    chair, deputy since DATE"; windows of one approver and body never overlap); 0 unless it was ended on or
    after its first day."""
    try:
        ended = clock.london_date(clock.parse_utc(w.ended_at or ""))
        since = (date.fromisoformat(w.starts_on) - timedelta(days=1)).isoformat()  # London's day begins in UTC's
    except ValueError:  # not ended, or written by hand (see: cycle audit verify): no decision could name it
        return 0
    if ended.isoformat() < w.starts_on:
        return 0
    said = {"authority": f"acting for {w.approver}, deputy since {w.starts_on}", "body": w.body}
    found = sql_of(session).rows("SELECT actor, payload FROM audit_entry WHERE action = 'decision.record' "
                                 "AND at >= :since AND at <= :until ORDER BY seq", since=since, until=w.ended_at)
    return sum(1 for r in found if identity.same(r.actor, w.deputy) and _says(r.payload, said))


def _says(payload: str, said: dict[str, str]) -> bool:
    """Whether an entry's payload holds each of `said`'s keys with its value."""
    found = json.loads(payload)
    return isinstance(found, dict) and all(found.get(k) == v for k, v in said.items())


def _body(body: str) -> str:
    return inputs.text(body, "--body", "body") or ""


def _authority_refusal(session: Session, actor: str, approver: str, what: str, command: str) -> str | None:
    """Why `actor` may not add or end a deputy for `approver`: it is for them or an admin."""
    admins = people.holders(session, "admin")
    if identity.same(actor, approver) or identity.among(actor, admins):
        return None
    who = f"{approver} or an admin ({', '.join(admins)})" if admins else f"{approver} or an admin"
    return f"only {who} may {what} for {approver}, and {actor} is neither; ask one of them to run: {command}"


def _approver(session: Session, approver: str, body: str) -> str:
    """The approver's name as stored, or BadInput: the body must have approvers, and they must be one."""
    approvers = people.approvers_of(session, body)
    if not approvers:
        raise BadInput(f"nobody is an approver for {body!r}, so it has nobody to stand in for "
                       f"(see: cycle people list)")
    found = next((a for a in approvers if identity.same(a, approver)), None)
    if found is None:
        chain_note = (" (a deputy's deputy does not count)"
                      if rows.deputy_windows(sql_of(session), body, deputy=approver) else "")
        raise BadInput(f"{approver} is not an approver for {body} (approvers: {', '.join(approvers)}){chain_note}; "
                       f"a deputy stands in for one of them")
    return found


def add(store: Store, approver: str, deputy: str, body: str, starts_on: str, ends_on: str, *,
        actor: str) -> Window:
    """Add a window in which `deputy` may decide for `body` in `approver`'s place (see the module's docstring)."""
    approver, deputy = identity.login(approver, "APPROVER"), identity.login(deputy, "--deputy")
    body = _body(body)
    first, last = inputs.day(starts_on, "--from"), inputs.day(ends_on, "--to")
    if last < first:
        raise BadInput(f"--to {last} is before --from {first}; a window runs from its first day to its last")
    if (last - first).days + 1 > LONGEST:
        raise BadInput(f"a deputy's window is at most {LONGEST} days ({first} to {last} is "
                       f"{(last - first).days + 1}); for longer, an admin grants the approver role: "
                       f"cycle people add {quote(deputy)} --role approver --body {quote(body)}")
    actor = store.actor(actor)
    refusal = None
    with store.write() as s:
        approver = _approver(s, approver, body)
        person = people.find(s, deputy)
        if person is None:
            raise BadInput(f"--deputy {deputy} is not a registered person (see: cycle people list); register them "
                           f"first with: cycle people add {quote(deputy)} --email ADDRESS")
        deputy = person.name
        if identity.same(deputy, approver):
            raise BadInput(f"--deputy {deputy} is the approver; a deputy is someone else")
        for other in rows.deputy_windows(sql_of(s), body, approver=approver):  # those with a day left, overlapping
            if other.starts_on <= min(other.ends_on, last.isoformat()) and other.ends_on >= first.isoformat():
                raise BadInput(f"{approver} already has a deputy for {body} from {other.starts_on} to "
                               f"{other.ends_on} ({other.deputy}); windows may not overlap: end that one first with: "
                               f"cycle people deputy end {quote(approver)} --deputy {quote(other.deputy)} "
                               f"--body {quote(body)}")
        command = (f"cycle people deputy add {quote(approver)} --deputy {quote(deputy)} --body {quote(body)} "
                   f"--from {first} --to {last}")
        refusal = _authority_refusal(s, actor, approver, "add a deputy", command)
        payload = {"approver": approver, "deputy": deputy, "body": body, "from": first.isoformat(),
                   "to": last.isoformat()}
        if refusal:  # committed on its own: a refused attempt is part of the record
            chain.append(s, actor=actor, action="deputy.refused", payload={**payload, "why": refusal})
        else:
            row = Deputy(approver=approver, deputy=deputy, body=body, starts_on=first.isoformat(),
                         ends_on=last.isoformat(), added_by=actor, added_at=clock.utc_now())
            s.add(row)
            s.flush()
            chain.append(s, actor=actor, action="deputy.add", payload=payload, at=row.added_at)
            found = window(row)
    if refusal:
        raise NotPermitted(f"{refusal}. The refused attempt is recorded in the audit log.")
    return found


def end(store: Store, approver: str, deputy: str, body: str, on: str | None = None, *,
        actor: str) -> tuple[Window, str]:
    """End `deputy`'s window for `approver` and `body` early: from `on` (default today) they no longer decide.
    (the window as it now is, its last day before)."""
    approver, deputy = identity.login(approver, "APPROVER"), identity.login(deputy, "--deputy")
    body = _body(body)
    today = clock.london_today()
    stop = inputs.day(on, "--on") if on is not None else today
    if stop < today:
        raise BadInput(f"--on {stop} is in the past; a window ends from today on (what the deputy decided stands), "
                       f"e.g. --on {today}")
    actor = store.actor(actor)
    refusal = None
    with store.write() as s:
        windows = [w for w in rows.deputy_windows(sql_of(s), body, deputy=deputy, approver=approver)
                   if w.ends_on >= w.starts_on and w.ends_on >= stop.isoformat()]
        if not windows:
            raise BadInput(f"{deputy} has no deputy window for {approver} and {body} running on or after {stop}; "
                           f"see: cycle people deputy list --body {quote(body)}")
        row = s.get_one(Deputy, windows[0].id)  # windows of one approver and body never overlap: the earliest
        try:
            began = date.fromisoformat(row.starts_on)
        except ValueError:
            raise BadInput(f"{row.deputy}'s window for {row.approver} and {body} starts on {row.starts_on!r}, which "
                           f"is not a date: it was written by hand (see: cycle audit verify)") from None
        new_end = max(stop - timedelta(days=1), began - timedelta(days=1)).isoformat()
        command = f"cycle people deputy end {quote(row.approver)} --deputy {quote(row.deputy)} --body {quote(body)}"
        refusal = _authority_refusal(s, actor, row.approver, "end a deputy", command)
        payload = {"approver": row.approver, "deputy": row.deputy, "body": body, "from": row.starts_on,
                   "to": [row.ends_on, new_end]}
        if refusal:
            chain.append(s, actor=actor, action="deputy.refused", payload={**payload, "why": refusal})
        else:
            was = row.ends_on
            row.ends_on, row.ended_by, row.ended_at = new_end, actor, clock.utc_now()
            s.add(row)
            s.flush()
            chain.append(s, actor=actor, action="deputy.end", payload=payload, at=row.ended_at)
            found = _counted(s, window(row))
    if refusal:
        raise NotPermitted(f"{refusal}. The refused attempt is recorded in the audit log.")
    return found, was


def listing(store: Store, body: str | None = None) -> list[Window]:
    """Every window (of `body`, if given), by body, approver and first day."""
    with store.read() as s:
        query = select(Deputy)
        if body is not None:
            query = query.where(col(Deputy.body) == _body(body))
        found = s.scalars(query.order_by(col(Deputy.body), col(Deputy.approver), col(Deputy.starts_on),
                                         col(Deputy.id))).all()
        return [_counted(s, window(r)) for r in found]
