"""What a report's title names, once the report's input is checked: `cycle report` prints the title at once,
before the report's long work (the check of the whole record, then the portfolio), so this stays light."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cycle.audit.chain import parse_checkpoint
from cycle.calendar import quarters
from cycle.db import rows

if TYPE_CHECKING:
    from cycle.db.store import Store


def gate_audit(store: Store, key: str | None, checkpoint: str | None) -> dict[str, Any]:
    """The gate-audit report's heading; BadInput for a checkpoint that is not SEQ:HASH, ProjectNotFound for a KEY
    that names no project (an empty KEY: every project)."""
    if checkpoint is not None:
        parse_checkpoint(checkpoint)
    if key:
        with store.reading() as sql:
            rows.project(sql, key)
    return {"report": "gate-audit", "scope": key or "all projects"}


def quarterly(quarter: str, checkpoint: str | None) -> dict[str, Any]:
    """The quarterly report's heading; BadInput for a quarter or a checkpoint as the report would refuse it."""
    q = quarters.parse_quarter(quarter)
    if checkpoint is not None:
        parse_checkpoint(checkpoint)
    return {"report": "quarterly", "quarter": str(q)}
