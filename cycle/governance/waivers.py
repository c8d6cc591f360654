"""Waiving an unmet must criterion of a gate: a governance lead's decision, and a refusal is on the record too."""

from __future__ import annotations

from cycle.audit import chain
from cycle.calendar import clock
from cycle.db.models import Waiver, row_id
from cycle.db.rows import ProjectRow, row_of
from cycle.db.sql import sql_of
from cycle.db.store import Store
from cycle.errors import BadInput, NotPermitted
from cycle.inputs import one_line
from cycle.projects.engine import load_for_write, record_change
from cycle.shell import quote
from cycle.workflow import gates, registry

from . import authority, people


def waive(store: Store, key: str, criterion: str, reason: str, *, actor: str, to: str | None = None) -> Waiver:
    """Waive one unmet must criterion of the next gate. Only a governance lead may; a refusal is audited."""
    why = one_line(reason, "--reason") or ""
    refusal = None
    actor = store.actor(actor)
    with store.write() as s:
        project = load_for_write(s, key)
        seen = row_of(ProjectRow, project)  # as read, for the checks
        wf = registry.pinned(store, s, seen)
        asking = f"cycle gate waive {quote(key)} {quote(criterion)} --reason {quote(why)}"
        gate = gates.choose(wf, seen, to, asking)
        check = gates.check(sql_of(s), wf, gate, seen)
        result = next((c for c in check.criteria if c.id == criterion), None)
        if result is None:
            raise BadInput(f"gate {gate.id} has no criterion {criterion!r}; it has: "
                           f"{', '.join(c.id for c in check.criteria)}")
        if not result.must:
            raise BadInput(f"{criterion} is a should criterion: it warns but does not block, "
                           f"so there is nothing to waive")
        if result.kind == "decision":
            raise BadInput("a decision cannot be waived: the gate's body must decide")
        if result.kind == "contract":
            raise BadInput(f"{criterion} is the engine's own rule and cannot be waived: a project may not close with "
                           f"its contract left running unseen; next: {result.hint}")
        if result.met:
            raise BadInput(f"{criterion} is already met ({result.reason}); there is nothing to waive")
        person = people.get(s, actor)
        if person is None or not person.has("governance-lead"):
            leads = people.holders(s, "governance-lead")
            if leads:
                refusal = (f"only a governance lead may waive a criterion, and {actor} is not one; "
                           f"ask a governance lead ({', '.join(leads)}) to consider it")
            else:
                refusal = (f"only a governance lead may waive a criterion, and nobody is one yet; "
                           f"{people.ask_admin(s, 'cycle people add <NAME> --role governance-lead')}")
        else:
            refusal = authority.owner_refusal(s, seen, actor, "waive its criteria",
                                              "another governance lead must waive it")
        if refusal:  # committed on its own: a refused attempt is part of the record
            chain.append(s, actor=actor, action="waiver.refused", project=key, payload={
                "gate": gate.id, "criterion": criterion, "reason": why, "why": refusal})
        else:
            waiver = Waiver(project_id=row_id(project), cycle=project.cycle, visit=project.visit, gate=gate.id,
                            criterion=criterion, reason=why, waived_by=actor, waived_at=clock.utc_now())
            s.add(waiver)
            s.flush()
            record_change(s, project, actor=actor, action="waiver.add", payload={
                "waiver_id": waiver.id, "gate": gate.id, "criterion": criterion, "reason": why,
                "was": result.reason, "cycle": project.cycle, "stage": project.stage})
    if refusal:
        raise NotPermitted(f"{refusal}. The refused attempt is recorded in the audit log.")
    return waiver
