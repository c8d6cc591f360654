"""Draining the outbox: claim due rows, send each reminder as one message, record every recipient's outcome."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from cycle.db.store import Store
from cycle.governance import people
from cycle.reminders import outbox
from cycle.reminders.lease import Lease
from cycle.reminders.outbox import Outcome
from cycle.reminders.outbox_rows import Row
from cycle.reminders.settings import bank_holidays

from . import mail, render


class Transport(Protocol):
    def describe(self) -> str: ...

    def deliver(self, msg: Any, recipients: list[str]) -> mail.Delivery: ...


@dataclass
class Drained:
    transport: str
    rows: list[Row] = field(default_factory=list)

    def _with(self, status: str) -> list[Row]:
        return [r for r in self.rows if r.status == status]

    @property
    def sent(self) -> list[Row]:
        return self._with("sent")

    @property
    def failed(self) -> list[Row]:
        return self._with("failed")

    @property
    def waiting(self) -> list[Row]:
        return self._with("pending")

    @property
    def cancelled(self) -> list[Row]:
        return self._with("cancelled")

    def summary(self) -> str:
        parts = [f"sent {len(self.sent)}"]
        if self.cancelled:
            parts.append(f"{len(self.cancelled)} cancelled, not sent (no longer applies)")
        if self.waiting:
            parts.append(f"{len(self.waiting)} waiting to retry")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return ", ".join(parts)


def drain(store: Store, *, actor: str, transport: Transport | None = None, now: datetime | None = None,
          lease: Lease | None = None) -> Drained:
    """Send every due outbox row once; rows of one reminder go out together as one message. With `lease` (a
    scheduler's), rows are claimed only while the scheduler holds it, under its name."""
    transport = transport or mail.transport()
    sender = mail.sender()
    nation = bank_holidays()  # checked before anything is claimed: the emails name the day to act by
    holder = lease.holder if lease is not None else f"send:{uuid.uuid4().hex[:12]}"
    now = now or datetime.now(UTC)
    claimed = outbox.claim(store, holder, now, lease=lease, actor=actor)
    result = Drained(transport.describe())
    groups: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    recorded: set[int] = set()
    for row in claimed:
        if row.status == "cancelled":  # its reminder no longer applies (outbox.claim): said, not sent
            result.rows.append(row)
            recorded.add(row.id)
        else:
            groups[row.group].append(row)
    try:
        env = render.environment()
        users = people.with_a_role(store) if groups else set()
        for rows in groups.values():
            outcomes = _send_one(rows, sender, transport, now, env, users, nation)
            # Record each reminder as soon as the server has answered, so a crash loses as little as possible.
            result.rows += outbox.record(store, holder, outcomes, actor=actor, transport=transport.describe(),
                                         now=now)
            recorded.update(r.id for r in rows)
    except BaseException:
        # Stopped part-way (Ctrl-C, a database error): hand back the rows not tried, rather than leave
        # them claimed for ten minutes.
        left = [r.id for r in claimed if r.id not in recorded]
        try:
            outbox.release(store, holder, left, actor=actor)
        except Exception:  # noqa: BLE001 - the claims lapse by themselves; the first error is the one to see
            pass
        raise
    return result


def _addressable(rows: list[Row], transport: Transport) -> tuple[list[Row], list[Outcome]]:
    """The rows whose address can be sent to by this transport (each in the form it is sent in), and an outcome
    for each of the others: an address that is not one (stored before addresses were validated), or an
    internationalised one when the server does not offer SMTPUTF8. Those fail alone; the rest go."""
    ok: list[Row] = []
    refused: list[Outcome] = []
    for r in rows:
        address, problem = mail.sendable(r.email)
        if problem is not None:
            problem += (f"; correct it with: cycle people add {r.recipient} --email ADDRESS, then: cycle outbox retry "
                        f"{r.id}")
        elif not address.isascii() and getattr(transport, "smtputf8", lambda: None)() is False:
            problem = (f"{address} is an internationalised address, and {transport.describe()} does not offer "
                       f"SMTPUTF8, which sending to it needs; give {r.recipient} an ASCII address with: cycle people "
                       f"add {r.recipient} --email ADDRESS, then: cycle outbox retry {r.id}")
        if problem is not None:
            refused.append(Outcome(r.id, "permanent", problem))
        else:
            ok.append(r if address == r.email else replace(r, email=address))
    return ok, refused


def _send_one(rows: list[Row], sender: str, transport: Transport, now: datetime, env: Any,
              users: set[str], nation: str) -> list[Outcome]:
    rows, refused = _addressable(rows, transport)
    if not rows:
        return refused
    try:
        msg = render.message(rows, sender, now, env, users, nation)
    except render.TemplateProblem as exc:
        # A broken template is ours to fix: the reminder waits (and retries) rather than being lost.
        return refused + [Outcome(r.id, "temporary", str(exc)) for r in rows]
    except Exception as exc:  # noqa: BLE001 - one message that cannot be made must not stop the others
        detail = f"could not make the message: {type(exc).__name__}: {' '.join(str(exc).split())}"
        return refused + [Outcome(r.id, "temporary", detail.rstrip(": ")) for r in rows]
    mid = str(msg["Message-ID"])
    addresses = list(dict.fromkeys(r.email for r in rows))
    try:
        delivery = transport.deliver(msg, addresses)
    except Exception as exc:  # noqa: BLE001 - not the server's answer but ours: the reminder waits and retries
        detail = f"could not send: {type(exc).__name__}: {' '.join(str(exc).split())}"
        return refused + [Outcome(r.id, "temporary", detail.rstrip(": ")) for r in rows]
    said = {**delivery.temporary, **delivery.permanent}
    outcomes = refused
    for r in rows:
        if r.email in delivery.accepted:
            others = "; ".join(f"{a}: {d}" for a, (_c, d) in said.items()) or None
            outcomes.append(Outcome(r.id, "sent", "accepted", 250, mid,
                                    f"refused: {others}" if others else None))
            continue
        kind = "permanent" if r.email in delivery.permanent else "temporary"
        code, detail = said.get(r.email, (None, "no answer for this recipient"))
        accepted = ", ".join(delivery.accepted)
        outcomes.append(Outcome(r.id, kind, detail, code, mid, f"delivered to: {accepted}" if accepted else None))
    return outcomes
