"""The tables behind reminders: review meetings held, the outbox, delivery attempts, the scheduler lease.

Kept apart from `models.py` because they are about telling people, not about the projects themselves.
`cycle init` creates them, like every other table.
"""

from __future__ import annotations

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class ReviewMeeting(SQLModel, table=True):
    """A quarterly contract review meeting that was held (seed 001 section 8)."""

    __tablename__ = "review_meeting"
    __table_args__ = (UniqueConstraint("project_id", "quarter", name="uq_review_quarter"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    quarter: str  # '2026-Q3': financial year 2026/27, October-December 2026
    held_on: str  # ISO date
    note: str | None = None
    recorded_by: str
    recorded_at: str


class OutboxMessage(SQLModel, table=True):
    """One reminder to one person, from the moment it is due until it is delivered or has failed.

    (project, kind, period, recipient) is the reminder's idempotency key: the database holds it at
    most once, so a second tick, a second scheduler or a retry after a crash cannot queue it twice.
    """

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("project", "kind", "period", "recipient", name="uq_outbox_key"),)

    id: int | None = Field(default=None, primary_key=True)
    project: str = Field(index=True)  # for a contract's reminders: the project that holds the contract
    kind: str  # review-due | review-overdue | notice | notice-passed | gate-waiting
    period: str  # '2026-Q3', '2027-09-30/90d', 'do-review/c1v3', ...
    recipient: str  # a person's name
    email: str  # their address when the reminder fell due
    due_on: str  # the London date on which the tick found it due
    context: str = Field(sa_column=Column(Text, nullable=False))  # JSON the templates render
    status: str = Field(default="pending", index=True)  # pending | sending | sent | failed
    attempts: int = 0
    next_attempt_at: str  # UTC; a temporary failure pushes it back
    claimed_by: str | None = None  # the sender working on it while status is 'sending'
    claim_expires_at: str | None = None  # after this a crashed sender's claim is taken over
    first_attempt_at: str | None = None
    last_error: str | None = None
    message_id: str | None = None  # set on the first attempt, from (project, kind, period) and the sender's domain
    created_at: str
    sent_at: str | None = None


class DeliveryAttempt(SQLModel, table=True):
    """One try at handing one outbox row to the mail server, and what the server said."""

    __tablename__ = "delivery_attempt"

    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(foreign_key="outbox.id", index=True)
    attempt: int
    at: str
    outcome: str  # sent | temporary | permanent
    code: int | None = None  # the SMTP reply code, when there was one
    detail: str
    transport: str  # 'smtp host:port' or 'maildir PATH'
    others: str | None = None  # in a partial delivery, the other recipients' outcomes


class SchedulerLease(SQLModel, table=True):
    """Who runs the scheduler: one row per lease name, renewed while its holder is alive."""

    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True)
    holder: str  # host:pid:random, unique per running scheduler
    host: str
    pid: int
    started_at: str
    renewed_at: str
    expires_at: str  # UTC; after this another scheduler may take over

