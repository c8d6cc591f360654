"""The daily signed checkpoint: once a London day, when a signing key exists, the scheduler (and `remind run`)
signs the chain's head and queues it to every governance lead through the outbox.

As the other reminders, it is worked out from the database on each run: the outbox key (project '', kind
`audit-checkpoint`, period = the London date, recipient) says whether a lead has had today's, so a second tick
the same day queues nothing, and the first tick after a missed day sends that day's. The checkpoint is signed
in the transaction that queues it, so it is signed at most once a day (a lead added later in the day is sent
the one already signed). Kept in a module of its own: it is not about a project, and sits beside rules.py
rather than in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cycle.audit import signing
from cycle.calendar import clock
from cycle.db.sql import sql_of
from cycle.db.store import Store
from cycle.errors import BadInput

from . import outbox
from .lease import Lease

KIND = "audit-checkpoint"
PROJECT = ""  # not a project's: the outbox key's project is empty
NO_KEY = "no signed checkpoint sent: no signing key (create one with: cycle audit keygen)"
NO_LEADS = ("no signed checkpoint sent: nobody holds the governance-lead role; grant it with: "
            "cycle people add NAME --role governance-lead")

_LEADS = ("SELECT p.name, p.email FROM person p JOIN person_role r ON r.person_id = p.id "
          "WHERE r.role = 'governance-lead' ORDER BY p.name")
_QUEUED = "SELECT recipient, context FROM outbox WHERE project = :project AND kind = :kind AND period = :period"


@dataclass
class Daily:
    """What the day's checkpoint run did: `queued` (name, email) of the leads it queued it for; `note` when nothing
    was signed or sent and why (no key, no lead: not an error); `problem` when a key is there but cannot be used."""

    day: str
    queued: list[tuple[str, str]] = field(default_factory=list)
    signed: signing.Signed | None = None
    entry: int | None = None
    note: str | None = None
    problem: str | None = None

    def line(self) -> str | None:
        """One line for the run's output (None when today's went out before and nothing was queued)."""
        if self.problem:
            return f"Not sent: {KIND} {self.day}: {self.problem}"
        if self.note:
            return self.note
        if self.queued and self.signed is not None:
            if self.entry is not None:
                return (f"Signed checkpoint {self.signed.seq}:{self.signed.hash[:12]}... (key {self.signed.key}) "
                        f"queued to {', '.join(name for name, _ in self.queued)}.")
            return f"Today's signed checkpoint queued to {', '.join(name for name, _ in self.queued)} as well."
        return None


def daily(store: Store, today: date | None = None, *, actor: str, lease: Lease | None = None) -> Daily:
    """Sign the head and queue the signed checkpoint to every governance lead not yet sent `today`'s (London)."""
    day = today or clock.london_today()
    out = Daily(day.isoformat())
    if not signing.has_key():
        out.note = NO_KEY
        return out
    try:
        key = signing.private_key()
    except BadInput as exc:  # a key others may read, or not a key: say so, every run, until fixed
        out.problem = str(exc)
        return out
    actor = store.actor(actor)
    with store.write() as s:
        if lease is not None:
            lease.check(s)
        sql = sql_of(s)
        leads = [(name, email) for name, email in sql.tuples(_LEADS) if email]
        if not leads:
            out.note = NO_LEADS
            return out
        queued = {recipient: context for recipient, context in
                  sql.tuples(_QUEUED, project=PROJECT, kind=KIND, period=out.day)}
        missing = [(name, email) for name, email in leads if name not in queued]
        if not missing:
            return out
        document = _document(queued)
        if document is None:
            try:
                out.signed, out.entry = signing.sign_in(s, key, actor=actor, why={"daily": out.day})
            except (signing.LogRewritten, BadInput) as exc:  # say so, every run, until looked into
                out.problem = str(exc)
                return out
        else:
            out.signed = document
        now = clock.utc_now()
        for name, email in missing:
            outbox.add(s, actor=actor, project=PROJECT, kind=KIND, period=out.day, recipient=name, email=email,
                       due_on=out.day, context=_context(out.signed, out.day), now=now)
            out.queued.append((name, email))
    return out


def _document(queued: dict[str, Any]) -> signing.Signed | None:
    """Today's checkpoint, as queued for a lead already (None when none was, or it cannot be read)."""
    for context in queued.values():
        try:
            c = json.loads(context)
            return signing.Signed(int(c["seq"]), str(c["hash"]), str(c["at"]), str(c["key"]), str(c["document"]))
        except (ValueError, TypeError, KeyError):
            continue
    return None


def _context(signed: signing.Signed, day: str) -> dict[str, Any]:
    summary = f"Signed audit checkpoint for {day}: entry {signed.seq}"
    return {**signed.as_dict(), "document": signed.document, "day": day, "project": "audit log",
            "title": "Audit log", "summary": summary, "kind": KIND, "period": day, "as_of": day}


def unsent(store: Store, day: str) -> list[int]:
    """The outbox rows of `day`'s checkpoint not sent yet: `remind run` keeps failing while one waits or failed,
    as it does for a reminder still due."""
    with store.reading() as sql:
        return [i for (i,) in sql.tuples("SELECT id FROM outbox WHERE project = :project AND kind = :kind "
                                         "AND period = :period AND status <> 'sent'",
                                         project=PROJECT, kind=KIND, period=day)]
