"""The outbox's rows as they are read (`outbox list`, and the sender's claims in cycle.reminders.outbox): plain SQL,
without the ORM that writing them needs, so that `outbox list` starts at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cycle.db.store import Store
from cycle.errors import BadInput

if TYPE_CHECKING:
    from cycle.db.models import OutboxMessage

STATUSES = ("pending", "sending", "sent", "failed", "cancelled")  # cancelled: its date no longer applied (outbox.claim)


@dataclass
class Row:
    """An outbox row as read (detached from any session)."""

    id: int
    project: str
    kind: str
    period: str
    recipient: str
    email: str
    due_on: str
    context: str
    status: str
    attempts: int
    next_attempt_at: str
    last_error: str | None
    message_id: str | None
    created_at: str
    sent_at: str | None
    first_attempt_at: str | None

    @classmethod
    def of(cls, o: OutboxMessage) -> Row:
        return cls(o.id or 0, o.project, o.kind, o.period, o.recipient, o.email, o.due_on, o.context, o.status,
                   o.attempts, o.next_attempt_at, o.last_error, o.message_id, o.created_at, o.sent_at,
                   o.first_attempt_at)

    @property
    def group(self) -> tuple[str, str, str]:
        """Rows of one reminder (same project, kind and period) go out as one message."""
        return (self.project, self.kind, self.period)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "project": self.project, "kind": self.kind,
                "period": self.period, "recipient": self.recipient, "email": self.email, "due_on": self.due_on,
                "attempts": self.attempts,
                "next_attempt_at": self.next_attempt_at if self.status == "pending" else None,
                "last_error": self.last_error, "message_id": self.message_id, "created_at": self.created_at,
                "sent_at": self.sent_at}


@contextmanager
def listing(store: Store, status: str | None = None) -> Iterator[Iterator[Row]]:
    """The outbox rows (with `status`), by id, read as they are used in one read transaction that lasts as long as
    the `with`: memory stays bounded however long the outbox is. A row not sent yet shows the address it will go
    to, as `remind --dry-run` shows it."""
    if status is not None and status not in STATUSES:
        raise BadInput(f"--status {status!r} is not one of: {', '.join(STATUSES)}")
    where = " WHERE o.status = :status" if status is not None else ""
    given: dict[str, Any] = {"status": status} if status is not None else {}
    with store.reading(snapshot=True) as sql, closing(sql.stream(
            f"SELECT {_LISTED}, p.email AS known FROM outbox o LEFT JOIN person p ON p.name = o.recipient{where} "
            f"ORDER BY o.id", **given)) as found:
        yield (_listed(r) for r in found)


_LISTED = ", ".join(f"o.{name}" for name in Row.__dataclass_fields__)


def _listed(r: Any) -> Row:
    row = Row(*r[:-1])
    if row.status in ("pending", "failed") and r.known:
        row.email = r.known
    return row
