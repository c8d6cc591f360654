"""The whole check of the record, as `audit verify`, both reports and the demo run it, on a store.

First the hash chain, against a checkpoint kept outside the database when one is given
(cycle.audit.chain); then, once the chain holds, the records gates read against the log
(cycle.audit.records). One function, so that a report can never say "verified" where `audit verify` fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cycle.db.store import Store

from . import records as rec
from .chain import Progress, Verification, parse_checkpoint, walk
from .records import Records


@dataclass
class FullVerification:
    chain: Verification
    records: Records | None  # None when the chain failed (nothing sound to compare with) or was checked alone

    @property
    def ok(self) -> bool:
        return self.chain.ok and (self.records is None or self.records.ok)

    def as_dict(self) -> dict[str, Any]:
        """What `audit verify --json` prints: `ok` is the whole answer, `chain_ok` the chain's."""
        return {**self.chain.as_dict(), "ok": self.ok, "chain_ok": self.chain.ok,
                "records": self.records.as_dict() if self.records else None}


def verify_all(store: Store, checkpoint: str | None = None, chain_only: bool = False,
               progress: Progress | None = None) -> FullVerification:
    """Walk the chain (against `checkpoint`, SEQ:HASH, when given), then compare the records with it
    unless `chain_only`. BadInput for a checkpoint that is empty or not SEQ:HASH, before any reading.
    `progress` hears how each part is getting on."""
    chain = verify_chain(store, parse_checkpoint(checkpoint) if checkpoint is not None else None, progress)
    records = None
    if chain.ok and not chain_only:
        with store.reading(snapshot=True) as sql:  # the log and the tables it vouches for, as one
            records = rec.check(sql, progress)
    return FullVerification(chain, records)


def verify_chain(store: Store, checkpoint: tuple[int, str] | None = None,
                 progress: Progress | None = None) -> Verification:
    """Walk the whole hash chain, against `checkpoint` (sequence, hash) when given; stop at the first bad entry."""
    conn = store.raw_connection()
    try:
        return walk(conn, checkpoint, progress=progress)
    finally:
        conn.close()


def damaged(exc: Exception) -> str | None:
    """Why the database file is damaged, when `exc` says SQLite found it so (else None): then there is
    nothing sound to verify, and verification has failed."""
    from cycle.db.sql import damaged as is_damaged

    if not is_damaged(exc):
        return None
    return "file is not a database" if "not a database" in str(exc) else "database disk image is malformed"
