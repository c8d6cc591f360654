"""The read side: a project as a person sees it, and its next gate checked against the rows.

Reads run in plain SQL (cycle.rows) on one read transaction, so `project show`, `gate check` and
advance's check need neither the ORM nor its start-up cost. The helpers take a Sql, or an ORM
session when a write command checks a gate inside its own transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from cycle import contracts
from cycle.calendar import quarters
from cycle.db import rows
from cycle.db.sql import Sql, sql_of
from cycle.db.store import Store
from cycle.errors import BadInput, CycleError, ProjectNotFound
from cycle.workflow import registry
from cycle.workflow.definition import Gate, Workflow
from cycle.workflow.gates import Facts, GateCheck, evaluate, quote, waive

if TYPE_CHECKING:
    from sqlmodel import Session

    Db = Sql | Session


def project(db: Db, key: str) -> Any:
    """The project with this key, as a row."""
    found = rows.project(sql_of(db), key)
    if found is None:
        raise ProjectNotFound(key)
    return found


def list_projects(store: Store, stage: str | None = None, workflow: str | None = None) -> list[Any]:
    """Every project, or those at `stage` and/or on `workflow`. When none match, a stage or workflow
    that no workflow has is BadInput: a typo would otherwise look like there being no such projects."""
    with store.reading() as sql:
        found = rows.projects(sql, stage, workflow)
        if not found and (stage or workflow):
            _known(store, sql, stage, workflow)
    return found


def _known(store: Store, sql: Sql, stage: str | None, workflow: str | None) -> None:
    if workflow is not None:
        registry.get(store, sql, workflow)  # BadInput naming the workflows there are
    if stage is None:
        return
    stages: set[str] = set()
    where = {"name": workflow} if workflow else {}
    for row in sql.rows("SELECT name, version FROM workflow_version" + (" WHERE name = :name" if where else ""),
                        **where):
        try:
            stages.update(s.id for s in registry.get(store, sql, row.name, row.version).stages)
        except CycleError:  # a version that cannot be read says so where it is used, not here
            continue
    if stage not in stages:
        which = f"workflow {workflow} has no" if workflow else "no workflow has a"
        raise BadInput(f"{which} stage {stage!r}; the stages are: {', '.join(sorted(stages))}")


def evidence_of(db: Db, project: Any) -> list[Any]:
    return rows.evidence(sql_of(db), project.id)


def decisions_of(db: Db, project: Any) -> list[Any]:
    return rows.decisions(sql_of(db), project.id)


def links_of(db: Db, project: Any) -> list[tuple[str, str, str]]:
    """(kind, other project's key, its stage) for every link from this project."""
    return rows.links(sql_of(db), project.id)


def contract_status(db: Db, project: Any, today: date) -> contracts.Status | None:
    _, holder, contract = rows.contract_holder(sql_of(db), project.id, project.key)
    return contracts.status(holder, contract, today) if contract is not None else None


def facts_for(db: Db, project: Any, today: date | None = None, kinds: set[str] | None = None,
              waivers: bool = True) -> Facts:
    """What gates may look at beyond the project's rows; `kinds` limits it to what those criteria need,
    and waivers=False leaves out the waivers."""
    sql = sql_of(db)
    if kinds is None or "date" in kinds:
        today = today or quarters.london_today()
        st = contract_status(sql, project, today)
    else:
        st = None  # and `today` is left to a criterion that asks (none of these does)
    return Facts(today=today, dates=st.key_dates() if st else {}, has_contract=st is not None,
                 run_on_to=contracts.run_on_date(st.contract) if st else None,
                 links=rows.links(sql, project.id) if kinds is None or "link" in kinds else [],
                 waivers=rows.waivers(sql, project.id, project.visit) if waivers else {})


def check(db: Db, wf: Workflow, gate: Gate, project: Any, today: date | None = None) -> GateCheck:
    """Every criterion of `gate` for `project` as the database stands in this transaction. Reads only
    what the gate's criteria look at, and the waivers only when a must criterion is unmet (a waiver
    lifts nothing else): on a successful advance that is one query fewer."""
    sql = sql_of(db)
    kinds = {c.kind for c in gate.criteria}
    found = evaluate(wf, gate, project, rows.evidence(sql, project.id) if "evidence" in kinds else [],
                     rows.decisions(sql, project.id) if "decision" in kinds else [],
                     facts_for(sql, project, today, kinds, waivers=False))
    if found.unmet_must:
        found = waive(found, rows.waivers(sql, project.id, project.visit))
    return found


def workflow_for(store: Store, db: Db, project: Any) -> Workflow:
    """The installed version of its workflow the project runs on (cycle.registry), which must have its stage."""
    wf = registry.pinned(store, db, project)
    if not wf.has_stage(project.stage):
        raise BadInput(f"{project.key} is at stage {project.stage!r}, which {wf.name} version {wf.version}, the "
                       f"version it runs on, does not have; a governance lead moves it to a version that does: "
                       f"cycle project set {quote(project.key)} --workflow-version N")
    return wf


def choose_gate(wf: Workflow, project: Any, to: str | None, command: str | None = None) -> Gate:
    """The gate named by --to (a gate id, or a destination stage), or the only default way out.

    An explicit gate (`explicit = true`) is taken only when --to names it by its id: never by default,
    and never for its destination stage, which a default gate may share (terminate-immediately and
    do-review both lead to review). `command` is the command asking, as typed before --to, so that a
    hint repeats it (a hint from `gate check` must not be to advance); advance when not given.
    """
    command = command or f"cycle project advance {quote(project.key)}"
    gates = wf.gates_from(project.stage)
    if not gates:
        raise BadInput(f"{project.key} is {project.stage}: there is no gate out of a final stage")
    defaults = wf.gates_from(project.stage, explicit=False)
    named = [g for g in gates if g.explicit]
    if to is None:
        if len(defaults) == 1:
            return defaults[0]
        if not defaults:
            ways = "way out is" if len(named) == 1 else "ways out are"
            raise BadInput(f"{project.key} is at {project.stage}, whose only {ways} {_explicit(named)}; "
                           f"{_name_it(named, command)}")
        raise BadInput(f"{project.key} is at {project.stage}, which has {len(defaults)} ways out "
                       f"({_ways(defaults, named)}); choose one with --to, e.g.: {command} --to {defaults[0].dest}")
    by_id = [g for g in gates if g.id == to]
    by_dest = [g for g in defaults if g.dest == to]
    if by_id or len(by_dest) == 1:
        return (by_id or by_dest)[0]
    if by_dest:
        raise BadInput(f"{project.key} can go from {project.stage} to {to} through {len(by_dest)} gates "
                       f"({', '.join(g.id for g in by_dest)}); name one with --to, e.g.: "
                       f"{command} --to {by_dest[0].id}")
    only_named = [g for g in named if g.dest == to]
    if only_named:
        raise BadInput(f"{project.key} can go from {project.stage} to {to} only through "
                       f"{_explicit(only_named, dest=False)}; {_name_it(only_named, command)}")
    raise BadInput(f"{project.key} cannot go from {project.stage} to {to!r}; from {project.stage} it can go to: "
                   f"{_ways(defaults, named)}")


def _explicit(gates: list[Gate], dest: bool = True) -> str:
    """Gates taken only when named, as a person reads them: "gate urgent-close (to closed), taken only when named"."""
    listed = ", ".join(f"{g.id} (to {g.dest})" if dest else g.id for g in gates)
    return f"gate{'s' if len(gates) > 1 else ''} {listed}, taken only when named"


def _name_it(gates: list[Gate], command: str) -> str:
    return f"name {'it' if len(gates) == 1 else 'one'} with: {command} --to {gates[0].id}"


def _ways(defaults: list[Gate], named: list[Gate]) -> str:
    """Every --to that works from here: default destinations, then explicit gates by id."""
    ways = ", ".join(dict.fromkeys(g.dest for g in defaults))
    if named:
        ways += ("; or " if ways else "") + _explicit(named)
    return ways


def check_gate(store: Store, key: str, to: str | None = None, as_of: date | None = None) -> GateCheck:
    with store.reading() as sql:
        found = project(sql, key)
        wf = workflow_for(store, sql, found)
        asking = f"cycle gate check {quote(key)}" + (f" --as-of {as_of.isoformat()}" if as_of else "")
        return check(sql, wf, choose_gate(wf, found, to, asking), found, as_of)


@dataclass
class ProjectView:
    project: Any
    workflow: Workflow
    evidence: list[Any]
    decisions: list[Any]
    checks: list[GateCheck]
    links: list[tuple[str, str, str]]
    contract: contracts.Status | None

    def as_dict(self) -> dict[str, Any]:
        p = self.project
        return {
            "key": p.key, "title": p.title, "workflow": p.workflow, "workflow_version": p.workflow_version,
            "stage": p.stage, "cycle": p.cycle,
            "version": p.version, "lead_commissioner": p.lead_commissioner, "model": p.model,
            "accountable_body": p.accountable_body, "owner": p.owner, "sro": p.sro, "lead": p.lead,
            "governance_lead": p.governance_lead, "start_date": p.start_date, "end_date": p.end_date, "aim": p.aim,
            "scope": p.scope, "benefits": p.benefits, "metrics": p.metrics, "attrs": json.loads(p.attrs or "{}"),
            "created_at": p.created_at, "updated_at": p.updated_at,
            "evidence": [{"id": e.id, "cycle": e.cycle, "name": e.name, "ref": e.ref, "note": e.note,
                          "recorded_by": e.recorded_by, "recorded_at": e.recorded_at} for e in self.evidence],
            "decisions": [{"id": d.id, "cycle": d.cycle, "gate": d.gate, "outcome": d.outcome, "body": d.body,
                           "ref": d.ref, "recycle_to": d.recycle_to, "decided_on": d.decided_on,
                           "recorded_by": d.recorded_by, "recorded_at": d.recorded_at}
                          for d in self.decisions],
            "next": [{"gate": c.gate, "to": c.to, "open": c.open,
                      "unmet": [u.id for u in c.unmet_must]} for c in self.checks],
            "links": [{"kind": k, "project": other, "stage": stage} for k, other, stage in self.links],
            "contract": self.contract.as_dict() if self.contract else None,
        }


def show_project(store: Store, key: str, as_of: date | None = None) -> ProjectView:
    with store.reading() as sql:
        found = project(sql, key)
        wf = workflow_for(store, sql, found)
        ev, dec = rows.evidence(sql, found.id), rows.decisions(sql, found.id)
        today = as_of or quarters.london_today()
        facts = facts_for(sql, found, today)
        checks = [evaluate(wf, g, found, ev, dec, facts) for g in wf.gates_from(found.stage)]
        return ProjectView(found, wf, ev, dec, checks, facts.links, contract_status(sql, found, today))


def show_contract(store: Store, key: str, as_of: date | None = None) -> contracts.Status:
    with store.reading() as sql:
        found = project(sql, key)
        st = contract_status(sql, found, as_of or quarters.london_today())
        if st is None:
            _, holder, _ = rows.contract_holder(sql, found.id, found.key)
            whose = f"{key} has no contract" if holder == key else \
                f"{key} works with the contract of {holder}, the service it decommissions, which has none"
            raise BadInput(f"{whose}; record one with: cycle contract set {holder} --provider NAME "
                           f"--start YYYY-MM-DD --end YYYY-MM-DD --notice '6 months'")
        return st


def contracts_due(store: Store, as_of: date | None = None, within: str = "180d") -> list[Any]:
    with store.reading() as sql:
        return contracts.due(sql, as_of or quarters.london_today(), within)
