"""The one family of errors the engine raises on purpose; each knows its CLI exit code."""

from __future__ import annotations

from typing import Any


class CycleError(Exception):
    """Base class: a refused action with a message a person can act on."""

    exit_code = 2


class BadInput(CycleError):
    """The request cannot be carried out as given (exit 2); nothing was written."""

    exit_code = 2


class NoDatabase(BadInput):
    """There is no database yet at the configured place."""

    def __init__(self, where: str):
        self.where = where
        super().__init__(f"No cycle database at {where}. Create it with: cycle init")


class ProjectNotFound(BadInput):
    """No project has this key."""

    def __init__(self, key: str):
        self.key = key
        super().__init__(f"No project with key {key!r}. See the keys with: cycle project list")


class WorkflowInvalid(BadInput):
    """A workflow file failed validation; names the file and the entry."""

    def __init__(self, path: str, entry: str, problem: str):
        self.path, self.entry, self.problem = path, entry, problem
        where = f"{path}: {entry}: " if entry else f"{path}: "
        super().__init__(where + problem)


class GateNotMet(CycleError):
    """A gate's must criteria are not all met; the project did not move."""

    exit_code = 3

    def __init__(self, project: str, check: Any):
        self.project = project
        self.check = check
        self.unmet = [c for c in check.criteria if c.must and not c.met]
        super().__init__(
            f"{project} cannot pass gate {check.gate} to {check.to}: "
            f"{len(self.unmet)} required criteria not met"
        )


class StaleProject(CycleError):
    """The project changed after it was read; nothing of this request was written."""

    exit_code = 4

    def __init__(self, project: str, expected_version: int, actual_version: int):
        self.project = project
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(
            f"{project} changed since you read it (version {expected_version}, now {actual_version}); "
            f"nothing was written. Look again with: cycle project show {project}"
        )


class NotDelivered(CycleError):
    """Something due could not be delivered or queued (exit 1); the rest went, and each failure was named."""

    exit_code = 1

    def __init__(self, not_queued: int, failed: int, waiting: int):
        self.not_queued, self.failed, self.waiting = not_queued, failed, waiting
        total = not_queued + failed + waiting
        parts = [f"{n} {what}" for n, what in (
            (not_queued, "not queued (nobody with an email to send it to; fix as said above, the next run sends it)"),
            (failed, "failed (refused for good; see: cycle outbox list --status failed)"),
            (waiting, "waiting to retry (not accepted yet; see: cycle outbox list --status pending)")) if n]
        noun = "reminder" if total == 1 else "reminders"
        super().__init__(f"{total} {noun} due could not be delivered or queued: {'; '.join(parts)}")


class NotPermitted(CycleError):
    """The actor may not do this (wrong role, or separation of duties); the refusal itself is audited."""

    exit_code = 6


class SchemaBehind(BadInput):
    """The database's schema is older than this cycle needs; nothing was written."""

    def __init__(self, where: str, current: str | None, head: str):
        self.where, self.current, self.head = where, current, head
        at = f"is at schema revision {current}" if current else "was made before cycle had migrations"
        super().__init__(f"The cycle database at {where} {at}; this cycle needs revision {head}. "
                         f"Upgrade it with: cycle init (on PostgreSQL, as the owner role)")


class DatabaseBusy(CycleError):
    """The database could not fit this request in with another one (a lock, a deadlock); nothing was written."""

    exit_code = 4

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"the database is busy ({reason}); nothing was written. Try again.")


class DatabaseRefused(CycleError):
    """The database itself refused the request (a privilege, a separation-of-duties rule); nothing was written."""

    exit_code = 6

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"the database refused this ({reason}); nothing was written.")


class DatabaseFailed(CycleError):
    """The database failed the request, or could not be reached; nothing was written."""

    exit_code = 5

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"database error ({reason}); nothing was written.")


class ScratchFailed(CycleError):
    """The temporary file a long check keeps its working state in failed (a full or unwritable disk)."""

    exit_code = 5

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"the temporary file this check keeps its working state in failed ({reason}); nothing was "
                         f"written. Free some space in the temporary folder, or set TMPDIR to a folder with room.")
