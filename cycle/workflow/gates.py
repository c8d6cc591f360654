"""Gate checks: which gate a move takes, and every criterion of it, met or not, with a reason and the command that
records it.

`check` reads what a gate's criteria look at (cycle.db.rows, in the caller's transaction) and `evaluate` judges it:
a pure function over the rows, so the same evaluation serves `gate check`, `project show`, a refused advance,
and the snapshot that goes into the audit entry of a successful one.

Besides a workflow's own criteria, the engine has rules of its own that every workflow version gets, which a
team cannot write out of its TOML (nor waive): `contract-notice`, on every gate into a final stage, is met
only when the project's contract (its own, or the one of the service it decommissions) is not left running
unseen: none, notice served, or ending without notice by its terms. An advance's audit entry names the rules
it was checked against (`rules`), so `audit verify` re-checks them where they applied and not on entries
written before they existed.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from cycle import contracts
from cycle.calendar.clock import london_today
from cycle.db import rows
from cycle.db.rows import ContractRow, DecisionRow, EvidenceRow, LinkedProject, ProjectRow, WaiverRow
from cycle.errors import BadInput
from cycle.performance import gating
from cycle.shell import quote

from .definition import ACCOUNTABLE, CORE_FIELDS, Criterion, Gate, Workflow

if TYPE_CHECKING:
    from cycle.db.sql import Sql

#: The engine's own rules, checked on every workflow version (see the module's docstring).
CONTRACT_NOTICE = "contract-notice"
RULES = (CONTRACT_NOTICE,)
#: A contract in one of these states runs on with notice not served (cycle.contracts.status).
UNSERVED = ("open", "due", "passed", "incomplete")

@dataclass
class Facts:
    """What a gate may look at beyond the project's own rows: the date, its contract, its links."""

    today: date | None = None  # None: London's today, asked only by a criterion that looks at the date
    #: Every contract the project works with (its own, or those of the service it decommissions), on `today`.
    contracts: list[contracts.Status] = field(default_factory=list)
    links: list[LinkedProject] = field(default_factory=list)
    waivers: dict[tuple[str, str], WaiverRow] = field(default_factory=dict)  # (gate, criterion) -> the waiver
    #: The project's procurement (cycle.procurement.record.Procurement), None when none is recorded or not read
    procurement: Any = None
    #: What kpi and review criteria look at (cycle.performance.gating); None when not read (`audit verify`
    #: re-checking an old advance does not rebuild it: such a criterion is then shown as not checked)
    performance: gating.Performance | None = None

    @property
    def has_contract(self) -> bool:
        return bool(self.contracts)


@dataclass(slots=True)
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
    applies: bool = True  # False when a `when` condition does not hold (then it counts as met)
    waived: bool = False  # a governance lead waived this must criterion (then it counts as met)
    waiver_id: int | None = None
    #: a decision criterion: the bodies whose decision it counts, and of them those still awaited (several bodies
    #: each record their own go, seed 004's two-body ratification)
    bodies: list[str] = field(default_factory=list)
    awaited: list[str] = field(default_factory=list)


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


def project_value(project: ProjectRow, name: str) -> str | None:
    if name in CORE_FIELDS:
        value = getattr(project, name)
    else:
        value = json.loads(project.attrs or "{}").get(name)
    return value if value not in ("", None) else None


def required_bodies(project: ProjectRow, criterion: Criterion) -> list[str | None]:
    """The bodies a decision criterion needs a decision from, each once ("accountable" is the project's accountable
    body: None when it has none)."""
    named = criterion.bodies or (criterion.body or ACCOUNTABLE,)
    return list(dict.fromkeys(project.accountable_body if b == ACCOUNTABLE else b for b in named))


def rules_for(wf: Workflow, gate: Gate, rules: Collection[str] = RULES) -> list[str]:
    """The engine's rules (of `rules`) that apply to `gate`: contract-notice on a gate into a final stage."""
    return [r for r in rules if r == CONTRACT_NOTICE and wf.stage(gate.dest).final]


def evaluate(wf: Workflow, gate: Gate, project: ProjectRow, evidence: Sequence[EvidenceRow],
             decisions: Sequence[DecisionRow], facts: Facts | None = None,
             rules: Collection[str] = RULES) -> GateCheck:
    """Every criterion of `gate`, and the engine's `rules` that apply to it (by default all of them; `audit
    verify` passes those an entry was checked against)."""
    if facts is None:
        facts = Facts()
    recorded = Recorded(project.cycle, evidence)
    results = [_criterion(gate, c, project, recorded, decisions, facts) for c in gate.criteria]
    results += [_contract_notice(project.key, facts) for _ in rules_for(wf, gate, rules)]
    return waive(GateCheck(project.key, wf.name, gate.id, gate.source, gate.dest, project.cycle, results),
                 facts.waivers)


def awaits_decision(wf: Workflow, gate: Gate, project: ProjectRow, evidence: Sequence[EvidenceRow],
                    decisions: Sequence[DecisionRow], facts: Facts) -> bool:
    """Whether only a decision holds `gate` shut: `evaluate(...).unmet_must` is not empty and holds nothing but
    decision criteria. The same criteria, rules and waivers as `evaluate`, looked at one by one: it stops at the
    first unmet must criterion of another kind, and words no decision's reason unless all the others are met
    (the due scan asks this of every gate of every project waiting at a stage)."""
    recorded = Recorded(project.cycle, evidence)

    def unmet(result: CriterionResult) -> bool:
        if facts.waivers:
            result = _waive(result, facts.waivers.get((gate.id, result.id)))
        return not result.met

    for c in gate.criteria:
        if not c.must or c.kind == "decision":
            continue
        if c.kind == "evidence" and c.when is None and not facts.waivers:
            if not recorded.this_cycle.get(c.evidence or ""):
                return False  # (what _criterion would find unmet, without wording why: most gates stop here)
        elif unmet(_criterion(gate, c, project, recorded, decisions, facts)):
            return False
    if any(unmet(_contract_notice(project.key, facts)) for _ in rules_for(wf, gate)):
        return False
    return any(unmet(_criterion(gate, c, project, recorded, decisions, facts))
               for c in gate.criteria if c.must and c.kind == "decision")


def waive(check: GateCheck, waivers: dict[tuple[str, str], WaiverRow]) -> GateCheck:
    """`check` with the waivers in force applied: each lifts an unmet must criterion of its gate."""
    if waivers:
        check.criteria = [_waive(r, waivers.get((check.gate, r.id))) for r in check.criteria]
    return check


def _waive(result: CriterionResult, waiver: WaiverRow | None) -> CriterionResult:
    if waiver is None or result.met or not result.must or result.kind == "contract":
        return result  # (the engine's contract rule is not for waiving: a waiver row written by hand lifts nothing)
    result.met, result.waived, result.waiver_id, result.hint = True, True, waiver.id, None
    result.reason = f"WAIVED by {waiver.waived_by} on {waiver.waived_at[:10]}: {waiver.reason} (was: {result.reason})"
    return result


# --- reading what a gate looks at, and choosing the gate -------------------------------------------

def facts(sql: Sql, project: ProjectRow, today: date | None = None, kinds: set[str] | None = None,
              waivers: bool = True) -> Facts:
    """What gates may look at beyond the project's rows; `kinds` limits it to what those criteria need,
    and waivers=False leaves out the waivers."""
    if kinds is None or kinds & {"date", "contract", "kpi", "review"}:
        today = today or london_today()
        found = contracts.statuses_of(sql, project, today)
    else:
        found = []  # and `today` is left to a criterion that asks (none of these does)
    held = None
    if kinds is None or "procurement" in kinds:
        from cycle.procurement import record

        kept = rows.procurement(sql, project.id)
        held = record.from_rows(project.key, kept[0], kept[1]) if kept is not None else None
    performance = None
    if today is not None and (kinds is None or kinds & {"kpi", "review"}):
        performance = gating._read(sql, project, found, today, kinds)  # (in this transaction)
    return Facts(today=today, contracts=found,
                 links=rows.links(sql, project.id) if kinds is None or "link" in kinds else [],
                 waivers=rows.waivers(sql, project.id, project.visit) if waivers else {}, performance=performance,
                 procurement=held)


def check(sql: Sql, wf: Workflow, gate: Gate, project: ProjectRow, today: date | None = None) -> GateCheck:
    """Every criterion of `gate` for `project` as the database stands in this transaction. Reads only
    what the gate's criteria look at, and the waivers only when a must criterion is unmet (a waiver
    lifts nothing else): on a successful advance that is one query fewer."""
    kinds = {c.kind for c in gate.criteria} | ({"contract"} if rules_for(wf, gate) else set())
    found = evaluate(wf, gate, project, rows.evidence(sql, project.id) if "evidence" in kinds else [],
                     rows.decisions(sql, project.id) if "decision" in kinds else [],
                     facts(sql, project, today, kinds, waivers=False))
    if found.unmet_must:
        found = waive(found, rows.waivers(sql, project.id, project.visit))
    return found


def choose(wf: Workflow, project: ProjectRow, to: str | None, command: str | None = None) -> Gate:
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



_LABEL = {"notice_served_on": "notice served", "notice_deadline": "the notice deadline",
          "contract_start": "the contract start", "contract_end": "the contract end"}


class Recorded:
    """A project's evidence by name: this cycle's, and the names any cycle has (grouped once per check)."""

    def __init__(self, cycle: int, evidence: Sequence[EvidenceRow]):
        self.this_cycle: dict[str, list[EvidenceRow]] = {}
        self.names: set[str] = set()
        for e in evidence:
            name = e.counts_for or e.name  # attached to a criterion with --for, or counting under its own name
            self.names.add(name)
            if e.cycle == cycle:
                self.this_cycle.setdefault(name, []).append(e)


def _criterion(gate: Gate, c: Criterion, project: ProjectRow, recorded: Recorded,
               decisions: Sequence[DecisionRow], facts: Facts) -> CriterionResult:
    key = project.key
    if c.when is not None:
        value = project_value(project, c.when.field)
        if value not in c.when.values:
            return CriterionResult(c.id, c.kind, c.must, True, c.title,
                                   f"Not required: {c.when.field} is {value!r}; applies only when it is "
                                   f"{' or '.join(c.when.values)}", None, applies=False)
    if c.kind == "date":
        return _date_criterion(c, key, facts)
    if c.kind == "link":
        return _link_criterion(c, facts)
    if c.kind == "procurement":
        return _procurement_criterion(c, key, facts)
    if c.kind in ("kpi", "review"):
        return _performance_criterion(c, key, facts)
    if c.kind == "evidence":
        assert c.evidence is not None
        mine = recorded.this_cycle.get(c.evidence)
        if mine:
            refs = "; ".join(e.ref if e.name == c.evidence else f"{e.ref} (as {e.name})" for e in mine[-2:])
            return CriterionResult(c.id, c.kind, c.must, True, c.title,
                                   f"Recorded in cycle {project.cycle}: {refs}", None,
                                   evidence_ids=[e.id for e in mine if e.id is not None])
        reason = f"No '{c.evidence}' evidence recorded in cycle {project.cycle}"
        if c.evidence in recorded.names:
            reason += " (an earlier cycle had one; each cycle needs its own)"
        return CriterionResult(c.id, c.kind, c.must, False, c.title, reason,
                               f"cycle evidence add {key} {c.evidence} --ref <REF>")

    if c.kind == "field":
        return _field_criterion(c, project)
    return _decision_criterion(gate, c, project, decisions)


def _field_criterion(c: Criterion, project: ProjectRow) -> CriterionResult:
    assert c.field is not None
    value = project_value(project, c.field)
    if value is not None and (c.values is None or value in c.values):
        return CriterionResult(c.id, c.kind, c.must, True, c.title, f"{c.field} is {value!r}", None)
    if c.field in CORE_FIELDS:
        hint = f"cycle project set {project.key} --{c.field.replace('_', '-')} <VALUE>"
    else:
        hint = f"cycle project set {project.key} --attr {c.field}=<VALUE>"
    if value is not None and c.values is not None:
        return CriterionResult(c.id, c.kind, c.must, False, c.title,
                               f"{c.field} is {value!r}; this needs {' or '.join(c.values)}", hint)
    return CriterionResult(c.id, c.kind, c.must, False, c.title, f"{c.field} is not set", hint)


def _decision_criterion(gate: Gate, c: Criterion, project: ProjectRow,
                        decisions: Sequence[DecisionRow]) -> CriterionResult:
    key = project.key
    needed = required_bodies(project, c)
    if None in needed:
        return CriterionResult(c.id, c.kind, c.must, False, c.title,
                               "The project has no accountable body to decide this gate",
                               f"cycle project set {key} --accountable-body <BODY>")
    bodies = [b for b in needed if b is not None]
    here = [d for d in decisions if d.gate == gate.id and d.visit == project.visit]
    if len(bodies) == 1:
        return _one_body(gate, c, key, bodies[0], here, bodies)
    # Several bodies: each must record its own decision; the gate waits on every one that has not.
    results = [_one_body(gate, c, key, body, here, bodies) for body in bodies]
    decided = [b for b, r in zip(bodies, results, strict=True) if r.met]
    awaited = [b for b, r in zip(bodies, results, strict=True) if not r.met]
    ids = [i for r in results if r.met for i in r.decision_ids]
    said = "; ".join(r.reason for r in results)
    if not awaited:
        return CriterionResult(c.id, c.kind, c.must, True, c.title, f"Decided by all {len(bodies)} bodies: {said}",
                               None, decision_ids=ids, bodies=bodies)
    first = next(r for r in results if not r.met)
    head = (f"Decided by {', '.join(decided)}; awaiting {', '.join(awaited)}" if decided
            else f"Awaiting all {len(bodies)} bodies: {', '.join(awaited)}")
    own = "go" if c.outcome == "go" else f"decision of {c.outcome}"
    return CriterionResult(c.id, c.kind, c.must, False, c.title, f"{head} (each must record its own {own}). {said}",
                           first.hint,
                           decision_ids=ids, bodies=bodies, awaited=awaited)


def _one_body(gate: Gate, c: Criterion, key: str, body: str, here: Sequence[DecisionRow],
              required: Sequence[str] = ()) -> CriterionResult:
    """Whether `body` has recorded the outcome `c` needs, among the decisions of this gate and visit (`here`)."""
    by_body = [d for d in here if d.body == body]
    if by_body:
        last = by_body[-1]
        when = f" on {last.decided_on}" if last.decided_on else ""
        said = f"{last.outcome} by {last.body}{when} ({last.ref})"
        if last.outcome == c.outcome:
            return CriterionResult(c.id, c.kind, c.must, True, c.title, f"Decided: {said}", None,
                                   decision_ids=[last.id] if last.id is not None else [], bodies=[body])
        return CriterionResult(c.id, c.kind, c.must, False, c.title,
                               f"Latest decision is {said}; the gate needs {_needs(c.outcome)}",
                               _decision_hint(key, gate, c, body),
                               decision_ids=[last.id] if last.id is not None else [], bodies=[body],
                               awaited=[body])
    reason = f"No decision by {body} recorded for gate {gate.id} since the project entered {gate.source}"
    others = sorted({d.body for d in here if d.body not in required})
    if others:
        reason += f" (decisions by {', '.join(others)} do not count: this gate needs {body})"
    return CriterionResult(c.id, c.kind, c.must, False, c.title, reason, _decision_hint(key, gate, c, body),
                           bodies=[body], awaited=[body])


def _decision_hint(key: str, gate: Gate, c: Criterion, body: str) -> str:
    return f"cycle decision record {key} --gate {gate.id} --outcome {c.outcome} --body {quote(body)} --ref <REF>"


def _needs(outcome: str) -> str:
    return "a go" if outcome == "go" else f"a decision of {outcome}"


def _date_criterion(c: Criterion, key: str, facts: Facts) -> CriterionResult:
    """Met when the dates compare as the criterion says on the contract it names (`contract = "REF"`), or else
    on every live contract the project works with (contracts.live); with one contract, on that one."""
    found = facts.contracts
    if c.contract is not None:
        found = [st for st in found if st.contract.ref == c.contract]
        if not found:
            return CriterionResult(c.id, c.kind, c.must, False, c.title,
                                   f"No contract {c.contract} recorded for this project",
                                   f"cycle contract add {key} --ref {quote(c.contract)} --provider NAME --start "
                                   f"YYYY-MM-DD --end YYYY-MM-DD --notice '6 months'")
    else:
        found = contracts.live(found)
    if len(found) <= 1:
        return _date_of(c, key, found[0] if found else None, facts)
    each = [(st, _date_of(c, key, st, facts)) for st in found]
    unmet = [(st, r) for st, r in each if not r.met]
    if not unmet:
        return CriterionResult(c.id, c.kind, c.must, True, c.title,
                               "; ".join(f"{st.contract.ref or 'no reference'}: {r.reason}" for st, r in each), None)
    return CriterionResult(c.id, c.kind, c.must, False, c.title,
                           "; ".join(f"{st.contract.ref or 'no reference'}: {r.reason}" for st, r in unmet),
                           unmet[0][1].hint)


def _date_of(c: Criterion, key: str, st: contracts.Status | None, facts: Facts) -> CriterionResult:
    """A date criterion on one contract (None: the project has none)."""
    assert c.date is not None and c.by is not None
    today = facts.today or london_today()

    def result(met: bool, reason: str, hint: str | None = None) -> CriterionResult:
        return CriterionResult(c.id, c.kind, c.must, met, c.title, reason, hint)

    named = f"{key} --ref {quote(st.contract.ref)}" if st is not None and st.several and st.contract.ref else key
    terms_hint = f"cycle contract set {named} --start YYYY-MM-DD --end YYYY-MM-DD --notice '6 months'"
    if st is None:
        return result(False, "No contract recorded for this project", terms_hint)
    dates = st.key_dates()
    when, by = dates.get(c.date), dates.get(c.by)
    if by is None:
        return result(False, f"{_LABEL[c.by].capitalize()} is unknown: the contract needs an end date and notice "
                             f"period", terms_hint)
    run_on_to = contracts.run_on_date(st.contract)
    runs_on = (f"the contract runs on to {run_on_to.isoformat()}" if run_on_to
               else "the contract runs on past its end date")
    deadline_word = "deadline" if c.by == "notice_deadline" else "date"
    if when is None:
        hint = (f"cycle contract notice {named.replace(' --ref ', ' --contract ')} --served-on YYYY-MM-DD --ref <REF>"
                if c.date == "notice_served_on" else terms_hint)
        if today > by:
            reason = f"{_LABEL[c.date].capitalize()}: none, and {_LABEL[c.by]} {by.isoformat()} has passed"
            if c.by == "notice_deadline":
                reason += f": {runs_on}"
            return result(False, reason, hint)
        days = (by - today).days
        return result(False, f"{_LABEL[c.date].capitalize()}: not yet; the {deadline_word} is {by.isoformat()} "
                             f"(in {days} days)", hint)
    if when > by:
        reason = f"{_LABEL[c.date].capitalize()} on {when.isoformat()}, after {_LABEL[c.by]} {by.isoformat()}"
        if c.by == "notice_deadline":
            reason += f": {runs_on}"
        return result(False, reason)
    return result(True, f"{_LABEL[c.date].capitalize()} on {when.isoformat()}, on or before {_LABEL[c.by]} "
                        f"{by.isoformat()}")


def contract_named(c: ContractRow) -> str:
    """A contract as a sentence names it: "The contract C-1 with Trust X" (its ref and provider when it has them)."""
    return " ".join(x for x in ("The contract", c.ref, f"with {c.provider}" if c.provider else None) if x)


def termination_costs(c: ContractRow) -> str:
    """" Ending it early costs, by its terms: ..." when the contract states its early-termination costs; else ""."""
    costs = getattr(c, "termination_costs", None)  # (a contract image from before revision 0016 has none)
    return f". Ending it early costs, by its terms: {costs}" if costs else ""


def _contract_notice(key: str, facts: Facts) -> CriterionResult:
    """The engine's rule on a gate into a final stage: no contract left running with notice not served (every
    contract the project works with; the first one left running is named, with how many more there are)."""
    if not facts.contracts:
        return _notice_on(key, None)
    each = [(st, _notice_on(key, st)) for st in facts.contracts]
    unmet = [(st, r) for st, r in each if not r.met]
    if not unmet:
        return each[0][1] if len(each) == 1 else CriterionResult(
            CONTRACT_NOTICE, "contract", True, True, each[0][1].title, " ".join(r.reason for _, r in each), None)
    first = unmet[0][1]
    if len(unmet) > 1:
        first.reason += (f" Left running too: {'; '.join(contract_named(st.contract) for st, _ in unmet[1:])} "
                         f"(see: cycle contract show {quote(unmet[0][0].holder)})")
    return first


def _notice_on(key: str, st: contracts.Status | None) -> CriterionResult:
    title = "No contract left running unseen: notice served, or the contract ends by its terms"

    def result(met: bool, reason: str, hint: str | None = None) -> CriterionResult:
        return CriterionResult(CONTRACT_NOTICE, "contract", True, met, title, reason, hint)

    if st is None:
        return result(True, "No contract recorded")
    what = contract_named(st.contract)
    whose = "" if st.holder == key else f" (of {st.holder}, the service {key} decommissions)"
    if st.state not in UNSERVED:
        return result(True, f"{what}{whose}: {st.consequence}")
    if st.state == "incomplete":
        return result(False, f"{what}{whose} has no end date or notice period, so whether it still runs is unknown",
                      f"cycle contract set {st.address()} --end YYYY-MM-DD --notice '6 months'")
    deadline = st.deadline.isoformat() if st.deadline else "unknown"
    if st.state == "passed":
        reason = (f"{what}{whose} is still running: the notice deadline {deadline} passed without notice. "
                  f"{st.consequence}")
    else:
        reason = f"{what}{whose} is live and notice has not been served: {st.consequence}"
    return result(False, f"{reason} Closing now would leave it running unseen: serve notice, or if it was ended "
                         f"early (terminated), record its end with: cycle contract set {st.address()} --end "
                         f"YYYY-MM-DD --if-no-notice ends{termination_costs(st.contract)}",
                  f"cycle contract notice {st.address('--contract')} --served-on YYYY-MM-DD --ref <REF>")


def _performance_criterion(c: Criterion, key: str, facts: Facts) -> CriterionResult:
    """A kpi or review criterion (cycle.performance.gating), judged on what `facts` read of the project's contracts."""
    if facts.performance is None:
        return CriterionResult(c.id, c.kind, c.must, True, c.title, "Not checked here: the indicators, returns and "
                               "review meetings were not read", None, applies=False)
    found = gating.judge(c.kind, c.rule, c.quarters, key, facts.performance)
    return CriterionResult(c.id, c.kind, c.must, found.met, c.title, found.reason, found.hint)


def _link_criterion(c: Criterion, facts: Facts) -> CriterionResult:
    linked = [(other, stage) for kind, other, stage in facts.links if kind == c.link]
    done = [other for other, stage in linked if stage == c.stage]
    if done:
        return CriterionResult(c.id, c.kind, c.must, True, c.title,
                               f"{c.link} {', '.join(done)}, which is {c.stage}", None)
    if linked:
        other, stage = linked[0]
        return CriterionResult(c.id, c.kind, c.must, False, c.title,
                               f"{c.link} {other}, which is at {stage}, not yet {c.stage}",
                               f"cycle gate check {other}")
    return CriterionResult(c.id, c.kind, c.must, False, c.title, f"No project linked as {c.link}", None)


def _procurement_criterion(c: Criterion, key: str, facts: Facts) -> CriterionResult:
    """The project's procurement (cycle.procurement): its route recorded, its standstill ended, its award notice
    published. A project with no procurement recorded is not held by these (the clocks are not tracked for it)."""
    held = facts.procurement
    if held is None:
        return CriterionResult(c.id, c.kind, c.must, True, c.title,
                               f"Not required: no procurement recorded for {key} (record its route with: cycle "
                               f"procurement start {quote(key)} --regime psr|pa2023 ...)", None, applies=False)

    def result(met: bool, reason: str, hint: str | None = None) -> CriterionResult:
        return CriterionResult(c.id, c.kind, c.must, met, c.title, reason, hint)

    route = f"{held.regime.id} {held.route.id}"
    if c.require == "route":
        return result(True, f"{held.regime.title}: {held.route.title}")
    today = facts.today or london_today()
    if c.require == "award-notice":
        done = [s for s in held.steps if s.step == "award-notice"]
        if done:
            ref = f" ({done[0].ref})" if done[0].ref else ""
            return result(True, f"Award notice recorded on {done[0].done_on.isoformat()}{ref}")
        return result(False, f"No award notice recorded ({route})",
                      f"cycle procurement step {quote(key)} award-notice --on DATE --ref REF")
    waits = [w for w in held.route.clocks if w.kind in ("wait", "standstill") and w.applies(held.facts)]
    if not waits:
        light = " (light touch contract)" if held.light_touch else ""
        return result(True, f"No mandatory standstill on {route}{light}")
    states = {s.clock.id: s for s in held.clocks(today)}
    for w in waits:
        st = states.get(w.id)
        if st is None:
            return result(False, f"{w.title} has not begun: no {w.start} recorded ({route})",
                          f"cycle procurement step {quote(key)} {w.start} --on DATE")
        if st.status == "held" and w.further:
            return result(False, st.sentence(today), f"cycle procurement step {quote(key)} {w.further} --on DATE")
        if st.status == "running":
            return result(False, st.sentence(today), f"cycle procurement show {quote(key)}")
    return result(True, "; ".join(states[w.id].sentence(today) for w in waits))
