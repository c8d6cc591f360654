"""One active scheduler per database: a lease row, taken and renewed in write transactions.

A scheduler takes the lease when it starts and renews it while it runs. A second scheduler finds the
lease held and either refuses to start or, as a standby, waits for it to lapse. A scheduler that
died stops renewing, so its lease lapses after `TTL_SECONDS` and a standby (or a restart) takes over.
Every tick checks the lease inside the transaction that queues or claims mail, so a scheduler that
lost its lease (paused, then woken) cannot send anything.

On PostgreSQL a running scheduler also holds a session-level advisory lock on a connection of its
own. The server frees it the moment that session ends, so when a scheduler dies (killed, or its
machine gone) a standby that gets the lock knows the lease's holder is gone and takes over at once
instead of waiting for the lease to lapse. The lease row stays the authority on who may send: the
lock only says sooner that its holder is dead.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from cycle.audit import chain
from cycle.calendar.clock import utc_stamp
from cycle.db.models import SchedulerLease
from cycle.db.store import Store
from cycle.errors import CycleError

NAME = "scheduler"
TTL_SECONDS = 120
SESSION_LOCK = 727275  # PostgreSQL: the advisory lock a running scheduler's own session holds


class LeaseHeld(CycleError):
    """Another scheduler holds the lease on this database."""

    exit_code = 4

    def __init__(self, holder: str, host: str, pid: int, started_at: str, expires_at: str):
        self.holder, self.host, self.pid, self.expires_at = holder, host, pid, expires_at
        super().__init__(
            f"another scheduler is already running on this database (pid {pid} on {host}, since {started_at[:19]}Z, "
            f"lease renewed until {expires_at[:19]}Z); this one will not start, so nothing is sent twice. "
            f"Stop that one first, or start this one with --standby to take over when it stops")


class LeaseLost(CycleError):
    """This scheduler's lease was taken over (it stopped renewing in time); it must stop."""

    exit_code = 4

    def __init__(self, holder: str):
        super().__init__(f"this scheduler ({holder}) no longer holds the lease: another one took over; stopping")


def new_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Lease:
    holder: str
    ttl: int = TTL_SECONDS
    _session: Any = field(default=None, repr=False, compare=False)  # PostgreSQL: the connection holding the lock

    def _hold_session_lock(self, store: Store) -> bool:
        """PostgreSQL: hold SESSION_LOCK on a connection of our own; True while held. Elsewhere False."""
        if store.dialect != "postgresql":
            return False
        if self._session is not None:
            try:
                self._session.execute(text("SELECT 1"))
                self._session.commit()
                return True
            except Exception:  # noqa: BLE001 - the session is gone, and the lock with it: try for it again
                self._drop_session()
        conn = store.engine.connect()
        try:
            got = bool(conn.execute(text(f"SELECT pg_try_advisory_lock({SESSION_LOCK})")).scalar())
            conn.commit()  # the lock is the session's, not the transaction's: it stays
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._session = conn
        return True

    def _drop_session(self) -> None:
        conn, self._session = self._session, None
        if conn is not None:
            try:
                conn.close()  # ends the session, which frees the lock
            except Exception:  # noqa: BLE001 - already broken: nothing more to free
                pass

    def acquire(self, store: Store, *, actor: str, now: datetime | None = None) -> None:
        """Take the lease, or raise LeaseHeld naming who has it."""
        now = now or datetime.now(UTC)
        holder_is_gone = self._hold_session_lock(store)
        try:
            with store.write() as s:
                row = s.get(SchedulerLease, NAME)
                if (row is not None and row.holder != self.holder and row.expires_at >= utc_stamp(now)
                        and not holder_is_gone):
                    raise LeaseHeld(row.holder, row.host, row.pid, row.started_at, row.expires_at)
                previous = row.holder if row is not None and row.holder != self.holder else None
                if row is None:
                    row = SchedulerLease(name=NAME, holder=self.holder, host=socket.gethostname(), pid=os.getpid(),
                                         started_at=utc_stamp(now), renewed_at=utc_stamp(now), expires_at="")
                row.holder, row.host, row.pid = self.holder, socket.gethostname(), os.getpid()
                row.started_at = row.renewed_at = utc_stamp(now)
                row.expires_at = utc_stamp(now + timedelta(seconds=self.ttl))
                s.add(row)
                s.flush()
                chain.append(s, actor=actor, action="scheduler.start",
                             payload={"holder": self.holder, "took_over_from": previous, "expires_at": row.expires_at})
        except BaseException:
            self._drop_session()  # no lease, so no lock either
            raise

    def check(self, session: Session, now: datetime | None = None) -> None:
        """Inside a write transaction: go on only while this scheduler holds the lease (renewing it)."""
        now = now or datetime.now(UTC)
        row = session.get(SchedulerLease, NAME)
        if row is None or row.holder != self.holder:
            self._drop_session()
            raise LeaseLost(self.holder)
        row.renewed_at, row.expires_at = utc_stamp(now), utc_stamp(now + timedelta(seconds=self.ttl))
        session.add(row)
        session.flush()

    def renew(self, store: Store, now: datetime | None = None) -> None:
        self._hold_session_lock(store)  # after taking over a lapsed lease: free once the old session ends
        with store.write() as s:
            self.check(s, now)

    def release(self, store: Store, *, actor: str) -> None:
        try:
            with store.write() as s:
                row = s.get(SchedulerLease, NAME)
                if row is None or row.holder != self.holder:
                    return
                s.delete(row)
                s.flush()
                chain.append(s, actor=actor, action="scheduler.stop", payload={"holder": self.holder})
        finally:
            self._drop_session()


def current(store: Store) -> SchedulerLease | None:
    with store.read() as s:
        return s.get(SchedulerLease, NAME)
