"""Asking a gate's body for a decision: the asker is then barred from deciding it (cycle.governance.authority)."""

from __future__ import annotations

from cycle.audit import chain
from cycle.db.models import GateRequest
from cycle.db.store import Store
from cycle.projects import views
from cycle.projects.engine import _load_for_write, _text, record_change
from cycle.workflow.gates import quote


def request_gate(store: Store, key: str, *, actor: str, to: str | None = None, note: str | None = None) -> GateRequest:
    """Ask the gate's body to decide; the asker is then barred from deciding it."""
    actor = store.actor(actor)
    with store.write() as s:
        project = _load_for_write(s, key, None)
        wf = views.workflow_for(store, s, project)
        asking = f"cycle gate request {quote(key)}" + (f" --note {quote(note)}" if note else "")
        gate = views.choose_gate(wf, project, to, asking)
        request = GateRequest(project_id=project.id, gate=gate.id, visit=project.visit, requested_by=actor,
                              requested_at=chain.utc_now(), note=_text(note, "--note", False))
        s.add(request)
        record_change(s, project, actor=actor, action="gate.request", payload={
            "gate": gate.id, "cycle": project.cycle, "stage": project.stage, "note": request.note})
    return request
