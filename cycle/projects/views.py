"""The read side: a project as a person sees it, its next gates checked against the rows, and the contracts due.

Reads run in plain SQL (cycle.db.rows) in one read transaction, so `project show`, `gate check` and the other
read-only commands need neither the ORM nor its start-up cost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from cycle import contracts, funding, inputs
from cycle.calendar import clock, dates
from cycle.contracts import Status
from cycle.db import rows
from cycle.db.rows import DecisionRow, EvidenceRow, LinkedProject, ProjectRow
from cycle.db.sql import Sql
from cycle.db.store import Store
from cycle.errors import BadInput, CycleError
from cycle.performance import pa2023
from cycle.shell import quote
from cycle.workflow import gates, registry
from cycle.workflow.definition import Workflow
from cycle.workflow.gates import GateCheck, evaluate

from . import programmes


def keys(store: Store, prefix: str = "", limit: int = 200) -> list[str]:
    """Project keys starting with `prefix`, in order (shell completion: one query on the key's unique index).
    Nothing, without touching anything, when the database does not exist yet."""
    if store.sqlite_path is not None and not store.sqlite_path.is_file():
        return []
    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with store.reading() as sql:
        return [r.key for r in sql.rows("SELECT key FROM project WHERE key LIKE :like ESCAPE '\\' ORDER BY key "
                                        "LIMIT :n", like=like, n=limit)]


def list_projects(store: Store, stage: str | None = None, workflow: str | None = None) -> list[ProjectRow]:
    """Every project, or those at `stage` and/or on `workflow`. When none match, a stage or workflow
    that no workflow has is BadInput: a typo would otherwise look like there being no such projects."""
    with store.reading() as sql:
        found = rows.projects(sql, stage, workflow)
        if not found and (stage or workflow):
            _known(store, sql, stage, workflow)
    return found


@dataclass
class ProjectListing:
    """`project list` as it streams: the longest key's length (for the columns), then the rows as they are read."""

    width: int
    rows: Iterator[ProjectRow]


@contextmanager
def project_listing(store: Store, stage: str | None = None, workflow: str | None = None,
                    programme: str | None = None) -> Iterator[ProjectListing]:
    """list_projects(), read as it is used, in one read transaction that lasts as long as the `with`: memory stays
    bounded however many projects there are. No projects at a stage or workflow no workflow has, or in a programme
    there is not, is BadInput, as there."""
    with store.reading(snapshot=True) as sql:
        if programme is not None:
            programme = programmes.known(rows.programme_titles(sql), programme)
        width = rows.key_width(sql, stage, workflow, programme)
        if width is None and (stage or workflow):
            _known(store, sql, stage, workflow)
        with closing(rows.stream_projects(sql, stage, workflow, programme)) as found:  # closed before it ends
            yield ProjectListing(width or 0, found if width is not None else iter(()))


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


def check_gate(store: Store, key: str, to: str | None = None, as_of: date | None = None) -> GateCheck:
    """Every criterion of the gate out of the project's stage (the one --to names, or its only default)."""
    with store.reading() as sql:
        found = rows.project(sql, key)
        wf = registry.pinned(store, sql, found)
        asking = f"cycle gate check {quote(key)}" + (f" --as-of {as_of.isoformat()}" if as_of else "")
        return gates.check(sql, wf, gates.choose(wf, found, to, asking), found, as_of)


@dataclass
class ProjectView:
    project: ProjectRow
    workflow: Workflow
    evidence: list[EvidenceRow]
    decisions: list[DecisionRow]
    checks: list[GateCheck]
    links: list[LinkedProject]
    contracts: list[Status]
    programme_title: str | None = None

    @property
    def contract(self) -> Status | None:
        """The first contract the project works with (`contracts` has every one)."""
        return self.contracts[0] if self.contracts else None

    def as_dict(self) -> dict[str, Any]:
        p = self.project
        return {
            "key": p.key, "title": p.title, "workflow": p.workflow, "workflow_version": p.workflow_version,
            "stage": p.stage, "cycle": p.cycle,
            "version": p.version, "programme": p.programme, "programme_title": self.programme_title,
            "hub_role": p.hub_role, "lead_commissioner": p.lead_commissioner, "model": p.model,
            "accountable_body": p.accountable_body, "owner": p.owner, "sro": p.sro, "lead": p.lead,
            "governance_lead": p.governance_lead, "start_date": p.start_date, "end_date": p.end_date, "aim": p.aim,
            "scope": p.scope, "benefits": p.benefits, "metrics": p.metrics, "attrs": json.loads(p.attrs or "{}"),
            "created_at": p.created_at, "updated_at": p.updated_at,
            "evidence": [{"id": e.id, "cycle": e.cycle, "name": e.name, "ref": e.ref, "note": e.note,
                          "recorded_by": e.recorded_by, "recorded_at": e.recorded_at, "counts_for": e.counts_for,
                          "supporting": supporting(self.workflow, e)} for e in self.evidence],
            "decisions": [{"id": d.id, "cycle": d.cycle, "gate": d.gate, "outcome": d.outcome, "body": d.body,
                           "ref": d.ref, "recycle_to": d.recycle_to, "decided_on": d.decided_on,
                           "recorded_by": d.recorded_by, "recorded_at": d.recorded_at}
                          for d in self.decisions],
            "next": [{"gate": c.gate, "to": c.to, "open": c.open,
                      "unmet": [u.id for u in c.unmet_must],
                      "bodies_awaited": list(dict.fromkeys(b for u in c.criteria if u.kind == "decision"
                                                           for b in u.awaited)),
                      "bodies_decided": list(dict.fromkeys(b for u in c.criteria if u.kind == "decision"
                                                           for b in u.bodies if b not in u.awaited))}
                     for c in self.checks],
            "links": [{"kind": k, "project": other, "stage": stage} for k, other, stage in self.links],
            "contract": self.contract.as_dict() if self.contract else None,
            "contracts": [st.as_dict() for st in self.contracts],
        }


def supporting(wf: Workflow | None, e: EvidenceRow) -> bool:
    """Whether `e` is supporting evidence: attached to no criterion (--for), and named like none of `wf`'s (with
    no workflow to read, every such evidence is)."""
    return e.counts_for is None and (wf is None or e.name not in wf.evidence_names())


def show_project(store: Store, key: str, as_of: date | None = None) -> ProjectView:
    with store.reading() as sql:
        found = rows.project(sql, key)
        wf = registry.pinned(store, sql, found)
        ev, dec = rows.evidence(sql, found.id), rows.decisions(sql, found.id)
        today = as_of or clock.london_today()
        facts = gates.facts(sql, found, today)
        checks = [evaluate(wf, g, found, ev, dec, facts) for g in wf.gates_from(found.stage)]
        title = rows.programme_titles(sql).get(found.programme) if found.programme else None
        for st in facts.contracts:
            st.funding = funding.of_rows(rows.funders(sql, st.contract.id))
        return ProjectView(found, wf, ev, dec, checks, facts.links, facts.contracts,  # facts read them on `today`
                           title)


def show_contracts(store: Store, key: str, as_of: date | None = None, ref: str | None = None,
                   every: bool = False) -> list[contracts.Status]:
    """The contract `ref` names of those project `key` works with (its own, or the service's it decommissions), on
    `as_of`; without `ref`, the only one, or (every=True) all of them. Refused when there is none."""
    which = inputs.text(ref, "--ref", "ref") if ref is not None else None
    with store.reading() as sql:
        found = rows.project(sql, key)
        _, holder, held = rows.contract_holder(sql, found.id, found.key)
        if not held:
            whose = f"{key} has no contract" if holder == key else \
                f"{key} works with the contract of {holder}, the service it decommissions, which has none"
            raise BadInput(f"{whose}; record one with: cycle contract set {holder} --provider NAME "
                           f"--start YYYY-MM-DD --end YYYY-MM-DD --notice '6 months'")
        day = as_of or clock.london_today()
        several = len(held) > 1
        if ref is None and every:
            chosen = held
        else:
            one = contracts.choose(held, key, holder, which)
            assert one is not None
            chosen = [one]
        found_status = []
        for c in chosen:
            st = contracts.status(holder, c, day, several=several)
            st.funding = funding.of_rows(rows.funders(sql, c.id))
            found_status.append(pa2023._fill(sql, st))  # (in this transaction)
        return found_status


def show_contract(store: Store, key: str, as_of: date | None = None, ref: str | None = None) -> contracts.Status:
    """The one contract `ref` names (or the only one): see show_contracts."""
    return show_contracts(store, key, as_of, ref)[0]


def contracts_due(store: Store, as_of: date | None = None, within: str = "180d"
                  ) -> list[tuple[date, str, contracts.Status]]:
    from cycle.reminders.settings import bank_holidays

    day = as_of or clock.london_today()
    with store.reading() as sql:
        found = contracts.due(sql, day, within)
        found += pa2023._due(sql, day, dates.window_end(day, within, bank_holidays()))  # (in this transaction)
    return sorted(found, key=lambda item: (item[0], item[2].holder))
