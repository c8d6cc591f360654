"""Asking a gate's body for a decision: the asker is then barred from deciding it (cycle.governance.authority)."""

from __future__ import annotations

from cycle.calendar import clock
from cycle.db.models import GateRequest, row_id
from cycle.db.rows import ProjectRow, row_of
from cycle.db.store import Store
from cycle.inputs import one_line
from cycle.projects.engine import load_for_write, record_change
from cycle.shell import quote
from cycle.workflow import gates, registry


def request_gate(store: Store, key: str, *, actor: str, to: str | None = None,
                 note: str | None = None) -> GateRequest:
    """Ask the gate's body to decide; the asker is then barred from deciding it."""
    actor = store.actor(actor)
    with store.write() as s:
        project = load_for_write(s, key)
        seen = row_of(ProjectRow, project)
        wf = registry.pinned(store, s, seen)
        asking = f"cycle gate request {quote(key)}" + (f" --note {quote(note)}" if note else "")
        gate = gates.choose(wf, seen, to, asking)
        request = GateRequest(project_id=row_id(project), gate=gate.id, visit=project.visit, requested_by=actor,
                              requested_at=clock.utc_now(), note=one_line(note, "--note", False))
        s.add(request)
        record_change(s, project, actor=actor, action="gate.request", payload={
            "gate": gate.id, "cycle": project.cycle, "stage": project.stage, "note": request.note})
    return request
