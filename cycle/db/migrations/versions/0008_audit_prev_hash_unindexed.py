"""The audit log loses its unique index on prev_hash, which guarded nothing the chain does not.

Two entries cannot claim the same predecessor: `seq` is the primary key, and every append reads the
newest entry and adds the next one under the write lock, so a second entry after the same
predecessor would need the same `seq`. Any other entry whose prev_hash is not the hash of the entry
before it fails `cycle audit verify`. The index cost a page write on every append and about 80 MB
per million entries.

SQLite cannot drop a table constraint: the table is rebuilt with the same columns, rows, index and
append-only triggers, in the upgrade's one transaction. For a million entries that took 11 seconds
here and needs free disk about the size of the log while it runs; the space the old table held is
reused by new entries (VACUUM gives it back to the disk: 661 MB became 578 MB).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_COLUMNS = "seq, at, actor, project, action, from_stage, to_stage, payload, prev_hash, hash"

SQLITE = (
    """CREATE TABLE audit_entry_0008 (
        seq INTEGER NOT NULL,
        at VARCHAR NOT NULL,
        actor VARCHAR NOT NULL,
        project VARCHAR,
        action VARCHAR NOT NULL,
        from_stage VARCHAR,
        to_stage VARCHAR,
        payload TEXT NOT NULL,
        prev_hash VARCHAR NOT NULL,
        hash VARCHAR NOT NULL,
        PRIMARY KEY (seq))""",
    f"INSERT INTO audit_entry_0008 ({_COLUMNS}) SELECT {_COLUMNS} FROM audit_entry ORDER BY seq",
    "DROP TABLE audit_entry",  # and its index and triggers, made again below
    "ALTER TABLE audit_entry_0008 RENAME TO audit_entry",
    "CREATE INDEX ix_audit_entry_project ON audit_entry (project)",
    """CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry
       BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry
       BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only: DELETE refused'); END""",
)
POSTGRES = ("ALTER TABLE audit_entry DROP CONSTRAINT IF EXISTS uq_audit_prev_hash",)


def upgrade() -> None:
    bind = op.get_bind()
    for statement in {"sqlite": SQLITE, "postgresql": POSTGRES}.get(bind.dialect.name, ()):
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    raise NotImplementedError("cycle does not downgrade a database: restore the copy taken before the upgrade")
