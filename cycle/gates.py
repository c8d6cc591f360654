"""Gate checks: every criterion of a gate, met or not, with a reason and the command that records it.

Pure functions over already-loaded rows, so the same evaluation serves `gate check`, a refused
advance, and the snapshot that goes into the audit entry of a successful one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .models import Decision, Evidence, Project
from .workflow import ACCOUNTABLE, CORE_FIELDS, Criterion, Gate, Workflow

_SAFE = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


def quote(value: str) -> str:
    """Quote a value for a POSIX shell, readably: "Children's Trust Board" rather than '...'"'"'...'."""
    if _SAFE.match(value):
        return value
    return '"' + re.sub(r'(["\\$`])', r"\\\1", value) + '"'


@dataclass
class CriterionResult:
    id: str
    kind: str
    must: bool
    met: bool
    title: str
    reason: str
    hint: str | None
    evidence_ids: list[int] = field(default_factory=list)
    decision_ids: list[int] = field(default_factory=list)


@dataclass
class GateCheck:
    project: str
    workflow: str
    gate: str
    source: str
    to: str
    cycle: int
    criteria: list[CriterionResult]

    @property
    def open(self) -> bool:
        return all(c.met for c in self.criteria if c.must)

    @property
    def unmet_must(self) -> list[CriterionResult]:
        return [c for c in self.criteria if c.must and not c.met]

    @property
    def warnings(self) -> list[CriterionResult]:
        return [c for c in self.criteria if not c.must and not c.met]

    def as_dict(self) -> dict[str, Any]:
        return {"project": self.project, "workflow": self.workflow, "gate": self.gate, "from": self.source,
                "to": self.to, "cycle": self.cycle, "open": self.open,
                "criteria": [asdict(c) for c in self.criteria]}


def project_value(project: Project, name: str) -> str | None:
    if name in CORE_FIELDS:
        value = getattr(project, name)
    else:
        value = json.loads(project.attrs or "{}").get(name)
    return value if value not in ("", None) else None


def required_body(project: Project, criterion: Criterion) -> str | None:
    body = criterion.body or ACCOUNTABLE
    return project.accountable_body if body == ACCOUNTABLE else body


def evaluate(wf: Workflow, gate: Gate, project: Project, evidence: Sequence[Evidence],
             decisions: Sequence[Decision]) -> GateCheck:
    results = [_criterion(gate, c, project, evidence, decisions) for c in gate.criteria]
    return GateCheck(project.key, wf.name, gate.id, gate.source, gate.dest, project.cycle, results)


def _criterion(gate: Gate, c: Criterion, project: Project, evidence: Sequence[Evidence],
               decisions: Sequence[Decision]) -> CriterionResult:
    key = project.key
    if c.kind == "evidence":
        mine = [e for e in evidence if e.name == c.evidence and e.cycle == project.cycle]
        hint = f"cycle evidence add {key} {c.evidence} --ref <REF>"
        if mine:
            refs = "; ".join(e.ref for e in mine[-2:])
            return CriterionResult(c.id, c.kind, c.must, True, c.title,
                                   f"Recorded in cycle {project.cycle}: {refs}", None,
                                   evidence_ids=[e.id for e in mine if e.id is not None])
        earlier = any(e.name == c.evidence for e in evidence)
        reason = f"No '{c.evidence}' evidence recorded in cycle {project.cycle}"
        if earlier:
            reason += " (an earlier cycle had one; each cycle needs its own)"
        return CriterionResult(c.id, c.kind, c.must, False, c.title, reason, hint)

    if c.kind == "field":
        assert c.field is not None
        value = project_value(project, c.field)
        if c.field in CORE_FIELDS:
            hint = f"cycle project set {key} --{c.field.replace('_', '-')} <VALUE>"
        else:
            hint = f"cycle project set {key} --attr {c.field}=<VALUE>"
        if value is not None:
            return CriterionResult(c.id, c.kind, c.must, True, c.title, f"{c.field} is {value!r}", None)
        return CriterionResult(c.id, c.kind, c.must, False, c.title, f"{c.field} is not set", hint)

    # decision
    body = required_body(project, c)
    if body is None:
        return CriterionResult(c.id, c.kind, c.must, False, c.title,
                               "The project has no accountable body to decide this gate",
                               f"cycle project set {key} --accountable-body <BODY>")
    hint = f"cycle decision record {key} --gate {gate.id} --outcome go --body {quote(body)} --ref <REF>"
    here = [d for d in decisions if d.gate == gate.id and d.visit == project.visit]
    by_body = [d for d in here if d.body == body]
    if by_body:
        last = by_body[-1]
        when = f" on {last.decided_on}" if last.decided_on else ""
        said = f"{last.outcome} by {last.body}{when} ({last.ref})"
        if last.outcome == "go":
            return CriterionResult(c.id, c.kind, c.must, True, c.title, f"Decided: {said}", None,
                                   decision_ids=[last.id] if last.id is not None else [])
        return CriterionResult(c.id, c.kind, c.must, False, c.title,
                               f"Latest decision is {said}; the gate needs a go", hint,
                               decision_ids=[last.id] if last.id is not None else [])
    reason = f"No decision by {body} recorded for gate {gate.id} since the project entered {gate.source}"
    others = sorted({d.body for d in here})
    if others:
        reason += f" (decisions by {', '.join(others)} do not count: this gate needs {body})"
    return CriterionResult(c.id, c.kind, c.must, False, c.title, reason, hint)
