"""Row images: which tables the audit log vouches for, and the after-image of every row a write changes.

Every audit entry that goes with a change to a covered table carries, in its payload's "rows", the
row as the change left it: ``{"table": T, "id": ID, "row": {every column: value}}``, or
``"row": null`` for a row deleted. `audit verify` replays those images and compares every row of
every covered table with the latest one (cycle.audit.records); on PostgreSQL the database itself refuses
to commit a change to a covered table that no entry of the same transaction images (migration 0011).

Nothing has to remember to record an image. ORM writes are seen after each flush (`listen`); the
few plain-SQL writes call `note` themselves; `audit.append` takes whatever was noted since the
previous entry (`take`); and a write transaction that would commit a change no entry has taken is a
programming error (`require_recorded`), raised before the commit so that tests catch it.

The lists below are the whole of what is compared, and a test fails when a table or column is added
to the models without being in one of them (docs/records.md says why each is where it is).
"""

from __future__ import annotations

from typing import Any

#: Every table a gate, a reminder or a report reads, with every column: each row is compared with
#: the latest image the log holds of it, column by column.
COVERED: dict[str, tuple[str, ...]] = {
    "project": ("id", "key", "title", "workflow", "workflow_version", "stage", "cycle", "visit", "lead_commissioner",
                "model", "accountable_body", "owner", "sro", "lead", "governance_lead", "start_date", "end_date",
                "aim", "scope", "benefits", "metrics", "programme", "hub_role", "attrs", "created_at", "updated_at",
                "version"),
    "programme": ("id", "key", "title", "created_by", "created_at"),
    "evidence": ("id", "project_id", "cycle", "name", "ref", "note", "recorded_by", "recorded_at", "counts_for"),
    "decision": ("id", "project_id", "cycle", "visit", "gate", "outcome", "body", "ref", "recycle_to", "decided_on",
                 "note", "recorded_by", "recorded_at"),
    "waiver": ("id", "project_id", "cycle", "visit", "gate", "criterion", "reason", "waived_by", "waived_at"),
    "gate_request": ("id", "project_id", "gate", "visit", "requested_by", "requested_at", "note"),
    "milestone": ("id", "project_id", "title", "due", "done_on", "created_by", "created_at"),
    "contract": ("id", "project_id", "provider", "ref", "start", "end", "value_total", "value_annual", "notice",
                 "extension_to", "if_no_notice", "run_on", "notice_served_on", "notice_ref", "updated_at",
                 "termination_costs", "ocid", "ocds_id", "buyer", "title", "description", "department", "review_date",
                 "awarded_by", "sme", "vcse", "registration_number", "vat_not_recoverable", "regime", "kpis_exempt",
                 "provider_contact"),
    "contract_funder": ("id", "contract_id", "position", "funder", "share", "amount", "pool", "recorded_by",
                        "recorded_at"),
    "procurement": ("id", "project_id", "regime", "route", "light_touch", "value", "started_by", "started_at"),
    "procurement_step": ("id", "procurement_id", "step", "done_on", "ref", "note", "decided_by", "criteria", "reasons",
                         "conflicts", "conflicts_managed", "recorded_by", "recorded_at"),
    "link": ("id", "project_id", "kind", "other_id", "created_at"),
    "person": ("id", "name", "email", "created_at"),
    "person_role": ("id", "person_id", "role", "body"),
    "deputy": ("id", "approver", "deputy", "body", "starts_on", "ends_on", "added_by", "added_at", "ended_by",
               "ended_at"),
    "review_meeting": ("id", "project_id", "quarter", "held_on", "note", "recorded_by", "recorded_at", "attendees",
                       "snapshot"),
    "kpi": ("id", "contract_id", "key", "title", "unit", "better", "source", "created_by", "created_at"),
    "kpi_target": ("id", "kpi_id", "from_quarter", "target", "low", "high", "tolerance", "over", "set_by", "set_at"),
    "kpi_value": ("id", "kpi_id", "quarter", "value", "note", "recorded_by", "recorded_at"),
    "action": ("id", "project_id", "kpi_id", "text", "owner", "due", "done_on", "done_note", "created_by",
               "created_at"),
    "kpi_assessment": ("id", "contract_id", "rating", "period_from", "period_to", "note", "recorded_by",
                       "recorded_at"),
    "outbox": ("id", "project", "kind", "period", "recipient", "email", "due_on", "context", "status", "attempts",
               "next_attempt_at", "claimed_by", "claim_expires_at", "first_attempt_at", "last_error", "message_id",
               "created_at", "sent_at"),
    "delivery_attempt": ("id", "outbox_id", "attempt", "at", "outcome", "code", "detail", "transport", "others"),
    "workflow_version": ("id", "name", "version", "sha256", "source", "origin", "installed_by", "installed_at"),
}

#: Columns added to a covered table after row images began (revision 0011): an image written before holds none of
#: them, and reads as holding NULL (the column's value for every row the migration that added it found).
LATER: dict[str, tuple[str, ...]] = {
    "evidence": ("counts_for",),
    "contract": ("termination_costs", "ocid", "ocds_id", "buyer", "title", "description", "department", "review_date",
                 "awarded_by", "sme", "vcse", "registration_number", "vat_not_recoverable", "regime", "kpis_exempt",
                 "provider_contact"),
    "review_meeting": ("attendees", "snapshot")}

#: The tables deliberately not compared, and why.
NOT_COVERED: dict[str, str] = {
    "audit_entry": "the log itself: its hash chain is what `audit verify` checks first, and nothing can change "
                   "an entry without breaking the chain",
    "scheduler_lease": "which running scheduler holds the lock; no gate, reminder or report reads it, and it is "
                       "renewed every 30 seconds (its taking and handing back are audited as scheduler.start and "
                       "scheduler.stop)",
    "alembic_version": "the schema's revision, written by `cycle init` (audited as db.init and db.upgrade) and read "
                       "by `cycle db status`",
}

_KEY = "cycle_rows"  # in the connection's info: (table, id) -> (image, image before), noted since the last entry
_FOUND = "cycle_found"  # in the connection's info: (table, id) -> the row as this transaction read or left it
_COVERED = frozenset(COVERED)
_UNKNOWN: Any = object()  # a row changed whose state before is not known: its image says nothing of it

Image = dict[str, Any] | None


class Unrecorded(RuntimeError):
    """A write transaction changed covered rows that no audit entry carries: a bug in cycle, never bad input."""


def note(info: dict[str, Any], table: str, row_id: int, image: Image, before: Image = _UNKNOWN) -> None:
    """Remember a row's after-image (None: deleted) for the next audit entry of this transaction, and the row
    as the change found it (None: a new row). Noted again before an entry took it, it keeps the first before."""
    noted = info.get(_KEY)
    if noted is None:
        noted = info[_KEY] = {}
    key = (table, row_id)
    noted[key] = (image, noted[key][1] if key in noted else before)


def take(info: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The images noted since the last entry, for an entry's "rows" (sorted by table and id); None if none.

    A row that was there before the change also says what it was: "was" holds the columns the change set
    (all of them for a row deleted) as they were, so that `audit verify` can tell the row cycle found from
    the one the log last left."""
    noted = info.pop(_KEY, None)
    if not noted:
        return None
    out = []
    for (table, row_id), (image, before) in sorted(noted.items()):
        item: dict[str, Any] = {"table": table, "id": row_id, "row": image}
        if before is not None and before is not _UNKNOWN:
            item["was"] = before if image is None else {c: v for c, v in before.items() if image.get(c, v) != v}
        out.append(item)
    return out


def forget(info: dict[str, Any]) -> None:
    """Drop what a transaction that did not commit had noted (a new write transaction starts clean)."""
    info.pop(_KEY, None)
    info.pop(_FOUND, None)


def require_recorded(info: dict[str, Any]) -> None:
    """Before a commit: refuse (Unrecorded) if a covered row changed after the transaction's last entry."""
    info.pop(_FOUND, None)
    noted = info.pop(_KEY, None)
    if noted:
        rows = ", ".join(f"{t} #{i}" for t, i in sorted(noted))
        raise Unrecorded(f"this transaction changed {rows} but appended no audit entry after the change; "
                         f"append the entry that records it (cycle.audit.chain.append) before committing")


# --- ORM writes ------------------------------------------------------------------------------------

_listening = False
_columns: dict[Any, tuple[str, tuple[tuple[str, str], ...]] | None] = {}  # mapper -> (table, (column, attribute))


def listen() -> None:
    """Note the image of every covered row an ORM flush writes, and of every one it loads (the row as the
    transaction found it); once per process, on the first ORM write."""
    global _listening
    if _listening:
        return
    from sqlalchemy import event
    from sqlalchemy.orm import Mapper, Session

    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "do_orm_execute", _no_bulk_writes)
    event.listen(Mapper, "load", _loaded)
    event.listen(Mapper, "refresh", _refreshed)
    _listening = True


def _shape(mapper: Any) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    if mapper not in _columns:
        table = mapper.local_table.name
        _columns[mapper] = (table, tuple((prop.columns[0].name, prop.key) for prop in mapper.column_attrs)
                            ) if table in _COVERED else None
    return _columns[mapper]


def image_of(obj: Any) -> tuple[str, int, dict[str, Any]] | None:
    """(table, id, image) of an ORM object of a covered table; None for other tables."""
    from sqlalchemy import inspect

    shape = _shape(inspect(obj).mapper)
    if shape is None:
        return None
    table, columns = shape
    image = {column: getattr(obj, attr) for column, attr in columns}
    return table, image["id"], image


def _found(session: Any) -> dict[tuple[str, int], dict[str, Any]]:
    info = session.connection().info
    found = info.get(_FOUND)
    if found is None:
        found = info[_FOUND] = {}
    return found  # type: ignore[no-any-return]


def _loaded(obj: Any, context: Any) -> None:
    """A covered row read through the ORM: remember it as the transaction found it."""
    seen = image_of(obj)
    if seen is not None and context.session is not None:
        _found(context.session)[seen[:2]] = seen[2]


def _refreshed(obj: Any, context: Any, _attrs: Any) -> None:
    _loaded(obj, context)


def _after_flush(session: Any, _context: Any) -> None:
    changed = [*session.new, *(o for o in session.dirty if session.is_modified(o, include_collections=False))]
    gone = list(session.deleted)
    if not changed and not gone:
        return
    info = session.connection().info
    found = _found(session)
    for obj in changed:
        seen = image_of(obj)
        if seen is not None:
            table, row_id, image = seen
            note(info, table, row_id, image, None if obj in session.new else found.get((table, row_id), _UNKNOWN))
            found[(table, row_id)] = image
    for obj in gone:
        seen = image_of(obj)
        if seen is not None:
            note(info, seen[0], seen[1], None, found.pop(seen[:2], _UNKNOWN))


def _no_bulk_writes(state: Any) -> None:
    """An ORM UPDATE or DELETE statement writes rows the flush never sees: refuse it on a covered table."""
    if (state.is_update or state.is_delete) and state.bind_mapper is not None:
        table = state.bind_mapper.local_table.name
        if table in _COVERED:
            raise Unrecorded(f"a bulk UPDATE or DELETE on {table} would change rows without their images; "
                             f"change the ORM objects instead, so each row's image reaches its audit entry")
