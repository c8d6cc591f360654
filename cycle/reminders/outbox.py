"""The outbox: claiming rows to send, recording what the mail server said, listing and retrying.

A sender claims due rows in a write transaction (status 'sending', with a claim that expires), talks
to the mail server outside any transaction, then records each row's outcome in another. Two senders
never claim the same row. A sender that dies after the server accepted a message but before it
recorded that leaves a claim that expires; the row is then sent again with the same Message-ID, so
the duplicate is recognisable for what it is.

A new row is due at once. Temporary failures (4xx replies, a server that is down) wait and try
again, backing off from one minute to an hour, for up to `RETRY_HOURS`; permanent ones (5xx) fail
at once and are not retried.
Each recipient has its own row, so when a server refuses one recipient of two, the other is sent.

A row that has not been sent goes to its recipient's address as the people list has it when it is
sent, not as it was when the reminder fell due: a refused address, once corrected with `cycle people
add NAME --email ADDRESS`, is used by the retry. A sent row keeps the address it went to.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlmodel import Session

from cycle.audit import chain
from cycle.calendar.clock import london_date, parse_utc, utc_now, utc_stamp
from cycle.db.models import DeliveryAttempt, OutboxMessage, Person
from cycle.db.store import Store
from cycle.errors import BadInput

from .lease import Lease
from .outbox_rows import Row

RETRY_HOURS = 72
BACKOFF_FIRST = 60  # seconds
BACKOFF_MAX = 3600
CLAIM_SECONDS = 600


def queue(session: Session, *, actor: str, project: str, kind: str, period: str, recipient: str, email: str,
          due_on: str, context: dict[str, Any]) -> OutboxMessage | None:
    """Queue one message in the caller's write transaction, with its `outbox.enqueue` audit entry; None (and nothing
    written) when its key (project, kind, period, recipient) is in the outbox already: once, however often asked.
    A row cancelled because its date no longer applied was never sent: asked again, it is reopened (`_reopen`)."""
    found = session.exec(select(OutboxMessage).where(  # type: ignore[call-overload]
        OutboxMessage.project == project, OutboxMessage.kind == kind,  # type: ignore[arg-type]
        OutboxMessage.period == period, OutboxMessage.recipient == recipient)).scalars().first()  # type: ignore[arg-type]
    if found is not None:
        if found.status != "cancelled":
            return None
        return _reopen(session, found.id, actor=actor, email=email, due_on=due_on, context=context)
    return add(session, actor=actor, project=project, kind=kind, period=period, recipient=recipient, email=email,
               due_on=due_on, context=context)


def add(session: Session, *, actor: str, project: str, kind: str, period: str, recipient: str, email: str,
        due_on: str, context: dict[str, Any], now: str | None = None, cancelled: int | None = None) -> OutboxMessage:
    """Write one new outbox row, due at once, and its `outbox.enqueue` audit entry, in the caller's write transaction;
    the caller knows its key is not in the outbox yet (`queue` looks; the due scan has marked what is queued), or
    holds only the row `cancelled` (its id), which is reopened instead (`_reopen`)."""
    if cancelled is not None:
        return _reopen(session, cancelled, actor=actor, email=email, due_on=due_on, context=context, now=now)
    now = now or utc_now()
    row = OutboxMessage(project=project, kind=kind, period=period, recipient=recipient, email=email, due_on=due_on,
                        context=json.dumps(context, sort_keys=True), next_attempt_at=now, created_at=now)
    session.add(row)
    session.flush()
    chain.append(session, actor=actor, action="outbox.enqueue", project=project,
                 payload={"outbox_id": row.id, "kind": kind, "period": period, "recipient": recipient, "email": email,
                          "as_of": due_on})
    return row


def _reopen(session: Session, row_id: int, *, actor: str, email: str, due_on: str, context: dict[str, Any],
           now: str | None = None) -> OutboxMessage:
    """Make a cancelled row (its date no longer applied when it was to go: `_cancel_stale`) due again at once, now
    that the rule that queued it finds the same reminder due again, with its `outbox.reopen` audit entry naming why
    it had been cancelled. Its key stays the reminder's: it is still sent at most once."""
    row = session.get(OutboxMessage, row_id)
    assert row is not None and row.status == "cancelled"  # (the caller read it so, in this transaction)
    reason = row.last_error
    row.status, row.email, row.due_on = "pending", email, due_on
    row.context = json.dumps(context, sort_keys=True)
    row.next_attempt_at, row.first_attempt_at, row.last_error = now or utc_now(), None, None
    row.claimed_by, row.claim_expires_at = None, None
    session.add(row)
    session.flush()
    chain.append(session, actor=actor, action="outbox.reopen", project=row.project,
                 payload={"outbox_id": row.id, "kind": row.kind, "period": row.period, "recipient": row.recipient,
                          "email": email, "as_of": due_on, "was": "cancelled", "cancelled_because": reason})
    return row


def message_id(project: str, kind: str, period: str, domain: str) -> str:
    """The Message-ID of every copy of one reminder: from its key, so a duplicate is recognisable."""
    digest = hashlib.sha256("\x1f".join((project, kind, period)).encode("utf-8")).hexdigest()[:32]
    return f"<cycle.{digest}@{domain}>"


def backoff(attempts: int) -> timedelta:
    """Wait before try number attempts+1: 1, 2, 4 ... minutes, at most an hour."""
    return timedelta(seconds=min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_MAX))


def addresses(session: Session, names: set[str]) -> dict[str, str]:
    """{name: email} from the people list, for those of `names` it knows."""
    if not names:
        return {}
    rows = session.exec(select(Person.name, Person.email).where(Person.name.in_(sorted(names)))).all()  # type: ignore[call-overload, attr-defined]
    return {name: email for name, email in rows if email}


def _readdress(o: OutboxMessage, known: dict[str, str]) -> str | None:
    """Point an unsent row at its recipient's current address; the address it had, if that changed."""
    current = known.get(o.recipient)
    if current is None or current == o.email:
        return None
    before, o.email = o.email, current
    return before


def claim(store: Store, holder: str, now: datetime | None = None, limit: int = 200,
          lease: Lease | None = None, *, actor: str) -> list[Row]:
    """Take the rows due for sending (pending and due, or claimed by a sender that has since died): one
    `outbox.claim` audit entry for the batch, naming each row, the claim and any address re-read. A row whose
    reminder no longer applies is cancelled instead (`_cancel_stale`) and comes back with status 'cancelled', for
    the sender to report, not to send."""
    now = now or datetime.now(UTC)
    at = utc_stamp(now)
    actor = store.actor(actor)
    with store.write() as s:
        if lease is not None:  # a scheduler's: it must still hold it (cycle.reminders.lease)
            lease.check(s)
        query = (select(OutboxMessage).where(or_(
            and_(OutboxMessage.status == "pending",  # type: ignore[arg-type]
                 or_(OutboxMessage.attempts == 0, OutboxMessage.next_attempt_at <= at)),  # type: ignore[arg-type]
            and_(OutboxMessage.status == "sending", OutboxMessage.claim_expires_at < at)))  # type: ignore[arg-type, operator]
            .order_by(OutboxMessage.id).limit(limit))  # type: ignore[arg-type]
        rows = list(s.exec(query).scalars())  # type: ignore[call-overload]
        cancelled = _cancel_stale(s, rows, london_date(now), actor)
        rows = [o for o in rows if o not in cancelled]
        known = addresses(s, {o.recipient for o in rows})
        readdressed: dict[str, list[str]] = {}
        taken_over: dict[str, str | None] = {}
        for o in rows:
            before = _readdress(o, known)  # the address is read as the row goes out, so a corrected one is used
            if before is not None:
                readdressed[str(o.id)] = [before, o.email]
            if o.status == "sending":  # its sender died: its claim lapsed
                taken_over[str(o.id)] = o.claimed_by
            o.status, o.claimed_by = "sending", holder
            o.claim_expires_at = utc_stamp(now + timedelta(seconds=CLAIM_SECONDS))
            s.add(o)
        if rows:
            chain.append(s, actor=actor, action="outbox.claim", payload={
                "holder": holder, "outbox_ids": [o.id for o in rows], "claim_expires_at": rows[0].claim_expires_at,
                "email_changed": readdressed, "taken_over_from": taken_over})
        return [Row.of(o) for o in cancelled + rows]


def _cancel_stale(s: Session, rows: list[OutboxMessage], today: date, actor: str) -> list[OutboxMessage]:
    """Cancel, each with its `outbox.cancel` entry saying why, the rows about to be claimed whose reminder no longer
    applies on `today`, as the rule that queued it judges it now (cycle.reminders.statutory._stale: a procurement
    date that representations have moved, or a step recorded since); a reminder for the new date
    is a reminder of its own, with its own key. Returns the rows cancelled."""
    from cycle.db.sql import sql_of

    from . import statutory

    asked = [o for o in rows if o.kind in statutory.KINDS]
    if not asked:
        return []
    why = statutory._stale(sql_of(s), sorted({(o.project, o.period) for o in asked}), today)
    cancelled = []
    for o in asked:
        reason = why.get((o.project, o.period))
        if reason is None:
            continue
        was = o.status
        o.status, o.last_error, o.claimed_by, o.claim_expires_at = "cancelled", reason, None, None
        s.add(o)
        s.flush()
        chain.append(s, actor=actor, action="outbox.cancel", project=o.project, payload={
            "outbox_id": o.id, "kind": o.kind, "period": o.period, "recipient": o.recipient, "was": was,
            "reason": reason})
        cancelled.append(o)
    return cancelled


@dataclass
class Outcome:
    """What happened to one row in one attempt."""

    row_id: int
    outcome: str  # sent | temporary | permanent
    detail: str
    code: int | None = None
    message_id: str | None = None
    others: str | None = None  # the rest of a partial delivery, e.g. "bob: 550 no such user"


def record(store: Store, holder: str, outcomes: list[Outcome], *, actor: str, transport: str,
           now: datetime | None = None) -> list[Row]:
    """Write each row's outcome, its attempt, and its audit entry; a row claimed by someone else is left alone."""
    now = now or datetime.now(UTC)
    at = utc_stamp(now)
    out = []
    with store.write() as s:
        for oc in outcomes:
            o = s.get(OutboxMessage, oc.row_id)
            if o is None or o.status != "sending" or o.claimed_by != holder:
                continue  # our claim expired and another sender took the row over
            o.attempts += 1
            o.first_attempt_at = o.first_attempt_at or at
            o.message_id = oc.message_id or o.message_id
            o.claimed_by = o.claim_expires_at = None
            s.add(DeliveryAttempt(outbox_id=oc.row_id, attempt=o.attempts, at=at, outcome=oc.outcome, code=oc.code,
                                  detail=oc.detail, transport=transport, others=oc.others))
            payload: dict[str, Any] = {"outbox_id": o.id, "kind": o.kind, "period": o.period,
                                       "recipient": o.recipient, "email": o.email, "attempt": o.attempts,
                                       "code": oc.code, "detail": oc.detail, "message_id": o.message_id,
                                       "transport": transport}
            if oc.others:
                payload["partial"] = oc.others
            if oc.outcome == "sent":
                o.status, o.sent_at, o.last_error = "sent", at, None
                action = "outbox.sent"
            elif oc.outcome == "permanent":
                o.status, o.last_error = "failed", oc.detail
                action = "outbox.failed"
            else:
                o.last_error = oc.detail
                if now - parse_utc(o.first_attempt_at) >= timedelta(hours=RETRY_HOURS):
                    o.status = "failed"
                    o.last_error = f"gave up after {o.attempts} attempts over {RETRY_HOURS} hours: {oc.detail}"
                    action = "outbox.failed"
                else:
                    o.status, o.next_attempt_at = "pending", utc_stamp(now + backoff(o.attempts))
                    payload["next_attempt_at"] = o.next_attempt_at
                    action = "outbox.deferred"
            s.add(o)
            s.flush()
            chain.append(s, actor=actor, action=action, project=o.project, payload=payload)
            out.append(Row.of(o))
    return out


def release(store: Store, holder: str, row_ids: list[int], *, actor: str) -> None:
    """Hand claimed rows back untouched (a sender stopping before it tried them): one `outbox.release`
    audit entry for those it still held."""
    actor = store.actor(actor)
    with store.write() as s:
        released = []
        for row_id in row_ids:
            o = s.get(OutboxMessage, row_id)
            if o is not None and o.status == "sending" and o.claimed_by == holder:
                o.status, o.claimed_by, o.claim_expires_at = "pending", None, None
                s.add(o)
                released.append(row_id)
        if released:
            chain.append(s, actor=actor, action="outbox.release", payload={"holder": holder, "outbox_ids": released})


def undelivered(store: Store, ids: list[int]) -> list[Row]:
    """Of these rows, those tried and not delivered: failed (refused for good), or pending after a failed attempt
    (waiting to retry), by id. (`remind run` asks it of the rows of every reminder still due, so that a failure
    keeps showing until the row is sent or its reminder is no longer due.)"""
    found: list[Row] = []
    with store.read() as s:
        for i in range(0, len(ids), 500):  # a bounded IN list, whatever the size
            query = select(OutboxMessage).where(
                OutboxMessage.id.in_(ids[i:i + 500]),  # type: ignore[union-attr]
                or_(OutboxMessage.status == "failed",  # type: ignore[arg-type]
                    and_(OutboxMessage.status == "pending", OutboxMessage.attempts > 0)))  # type: ignore[arg-type]
            found += [Row.of(o) for o in s.exec(query).scalars()]  # type: ignore[call-overload]
        known = addresses(s, {r.recipient for r in found})
    for r in found:
        r.email = known.get(r.recipient, r.email)  # the address a retry goes to, as listing() shows it
    return sorted(found, key=lambda r: r.id)


def attempts(store: Store, row_id: int) -> list[DeliveryAttempt]:
    with store.read() as s:
        q = select(DeliveryAttempt).where(DeliveryAttempt.outbox_id == row_id).order_by(DeliveryAttempt.id)  # type: ignore[arg-type]
        return list(s.exec(q).scalars())  # type: ignore[call-overload]


def retry(store: Store, row_id: int, *, actor: str, now: datetime | None = None) -> Row:
    """Make a failed (or waiting) row due again now; its earlier attempts stay on record."""
    at = utc_stamp(now or datetime.now(UTC))
    with store.write() as s:
        o = s.get(OutboxMessage, row_id)
        if o is None:
            raise BadInput(f"no outbox message #{row_id}; see them with: cycle outbox list")
        if o.status == "sent":
            raise BadInput(f"outbox message #{row_id} was sent on {o.sent_at}; there is nothing to retry")
        if o.status == "sending":
            raise BadInput(f"outbox message #{row_id} is being sent now; look again with: cycle outbox list")
        if o.status == "cancelled":
            raise BadInput(f"outbox message #{row_id} was cancelled, not sent: {o.last_error}; there is nothing to "
                           f"retry")
        before = o.status
        old_email = _readdress(o, addresses(s, {o.recipient}))
        o.status, o.next_attempt_at, o.first_attempt_at = "pending", at, None
        s.add(o)
        s.flush()
        payload: dict[str, Any] = {"outbox_id": o.id, "was": before, "attempts": o.attempts,
                                   "last_error": o.last_error, "email": o.email}
        if old_email is not None:
            payload["email_was"] = old_email
        chain.append(s, actor=actor, action="outbox.retry", project=o.project, payload=payload)
        return Row.of(o)
