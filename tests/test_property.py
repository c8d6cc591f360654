"""Random sequences of commands against the engine agree with an independent model of the workflow.

The model is plain Python reading the workflow's data (which criteria are musts, where each gate
goes); it predicts every command's outcome (done, bad input, gate not met), and after every step
the machine checks that the database agrees: stages, cycles, visits and versions of every project,
and the audit log entry for entry, so a refused advance adds exactly one `advance.refused` entry, a
rejected command adds none, and the entries that move a project are exactly the moves observed.
Every example gets a fresh database in its own temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from cycle.audit import chain
from cycle.audit.verify import verify_chain
from cycle.calendar.clock import london_today
from cycle.db.store import Store
from cycle.errors import BadInput, CycleError, GateNotMet, StaleProject
from cycle.governance import identity
from cycle.governance.people import PERSON_FIELDS
from cycle.projects import engine, views
from cycle.workflow import install
from cycle.workflow.definition import ACCOUNTABLE, CORE_FIELDS, OUTCOMES, Criterion, Gate, Workflow, builtin

WF = builtin("commissioning")
BODIES = ["Children's Trust Board", "Health and Wellbeing Board"]
OK, BAD, REFUSED = 0, 2, 3
# A real SQLite file per example; on a RAM-backed folder where there is one, as every write syncs.
# Every project enters its stages today, so a decision may be dated today and no earlier (nor later).
TODAY = london_today().isoformat()
SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def outcomes(wf: Workflow) -> tuple[str, ...]:
    return wf.outcomes() if hasattr(wf, "outcomes") else OUTCOMES


def choices(wf: Workflow, name: str) -> tuple[str, ...]:
    return wf.choices(name) if hasattr(wf, "choices") else ()


def is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


@dataclass
class Model:
    """What the test believes about one project."""

    key: str
    wf: Workflow
    fields: dict[str, str | None]  # core fields and custom attributes alike
    stage: str = ""
    cycle: int = 1
    visit: int = 1
    version: int = 1
    evidence: set[tuple[int, str]] = field(default_factory=set)  # (cycle, name)
    decisions: list[tuple[str, int, str, str]] = field(default_factory=list)  # gate, visit, body, outcome
    links: list[tuple[str, str]] = field(default_factory=list)  # (kind, other key)

    def __post_init__(self) -> None:
        self.stage = self.stage or self.wf.initial

    def value(self, name: str) -> str | None:
        return self.fields.get(name) or None

    def body_for(self, c: Criterion) -> str | None:
        body = c.body or ACCOUNTABLE
        return self.value("accountable_body") if body == ACCOUNTABLE else body

    def met(self, gate: Gate, c: Criterion, everyone: dict[str, Model]) -> bool:
        when = getattr(c, "when", None)
        if when is not None and self.value(when.field) not in when.values:
            return True
        if c.kind == "evidence":
            return (self.cycle, c.evidence) in self.evidence
        if c.kind == "field":
            wanted = getattr(c, "values", None)
            value = self.value(c.field or "")
            return value is not None and (wanted is None or value in wanted)
        if c.kind == "decision":
            body = self.body_for(c)
            said = [o for g, v, b, o in self.decisions if g == gate.id and v == self.visit and b == body]
            return body is not None and bool(said) and said[-1] == getattr(c, "outcome", "go")
        if c.kind == "link":
            return any(kind == c.link and everyone[other].stage == c.stage for kind, other in self.links)
        if c.kind in ("kpi", "review"):
            return True  # no contract, so no indicators and no meetings due: met (cycle.performance.gating)
        if c.kind == "procurement":
            return True  # these runs never start a procurement: a project with none is not held (issue 18)
        return False  # date criteria need a contract, and these runs never record one

    def unmet(self, gate: Gate, everyone: dict[str, Model]) -> list[str]:
        return [c.id for c in gate.criteria if c.must and not self.met(gate, c, everyone)]

    def gates(self) -> list[Gate]:
        return self.wf.gates_from(self.stage)

    def choose(self, to: str | None) -> Gate | None:
        """The gate `advance --to` picks, or None when the request is bad input."""
        every = self.gates()
        defaults = [g for g in every if not getattr(g, "explicit", False)]
        if to is None:
            return defaults[0] if len(defaults) == 1 else None
        by_id = [g for g in every if g.id == to]
        by_dest = [g for g in defaults if g.dest == to]
        return by_id[0] if by_id else by_dest[0] if len(by_dest) == 1 else None

    def enter(self, stage: str) -> None:
        self.stage, self.visit = stage, self.visit + 1


class Commissioning(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory(prefix="cycle-property-", dir=SCRATCH)
        self.store = Store(f"sqlite:///{Path(self.tmp.name) / 'cycle.db'}")
        install.init(self.store, "tester")
        self.projects: dict[str, Model] = {}
        # (action, project, from, to) of every entry the log should hold, in order.
        self.expected: list[tuple[str, str | None, str | None, str | None]] = [
            ("db.init", None, None, None), ("workflow.install", None, None, None),
            ("workflow.install", None, None, None)]  # the built-in workflows
        self.moves: list[tuple[str, str, str]] = []  # (project, from, to) of every successful move observed
        self.aiming = True

    def teardown(self) -> None:
        self.store.dispose()
        self.tmp.cleanup()

    def attempt(self, call: Callable[[], Any], expected: int) -> Any:
        """Run one engine call and require the outcome the model predicts; return its result."""
        try:
            result = call()
        except GateNotMet as exc:
            assert expected == REFUSED, f"refused ({exc}); the model expected exit {expected}"
            return exc
        except StaleProject as exc:  # nobody else writes to this database
            raise AssertionError(f"unexpected StaleProject: {exc}") from exc
        except BadInput as exc:
            assert expected == BAD, f"bad input ({exc}); the model expected exit {expected}"
            assert str(exc) and "\n" not in str(exc) and "None" not in str(exc), str(exc)
            return exc
        except CycleError as exc:
            raise AssertionError(f"unexpected {type(exc).__name__}: {exc}") from exc
        assert expected == OK, f"succeeded ({result!r}); the model expected exit {expected}"
        return result

    # --- set-up -----------------------------------------------------------------------------------

    @initialize(specs=st.lists(st.tuples(st.sampled_from([None, "CCGs", "CCGs"]),
                                         st.sampled_from([None, "integrated", "joint"]),
                                         st.sampled_from([None, *BODIES, BODIES[0]])), min_size=1, max_size=3))
    def create(self, specs: list[tuple[str | None, str | None, str | None]]) -> None:
        for i, (lead, model, body) in enumerate(specs):
            key = f"p{i}"
            engine.create_project(self.store, actor="tester", key=key, title=f"Service {i}", workflow=WF.name,
                                  lead_commissioner=lead, model=model, accountable_body=body)
            self.projects[key] = Model(key, WF, {"title": f"Service {i}", "lead_commissioner": lead, "model": model,
                                                 "accountable_body": body, "owner": None})
            self.expected.append(("project.create", key, None, WF.initial))

    # --- drawing a command ----------------------------------------------------------------------------
    # Most commands are drawn to succeed now (the project's next gates, its unmet musts, its accountable
    # body); the rest draw every input from anything at all, so runs both move projects and get refused.

    @rule(data=st.data(), kind=st.sampled_from(["evidence", "evidence", "decide", "decide", "advance", "advance",
                                                 "set"]))
    def command(self, data: st.DataObject, kind: str) -> None:
        # One rule that picks the command, rather than one rule per command, so that no run has
        # (say) advance switched off and every run gets to move its projects.
        self.aiming = data.draw(st.integers(0, 5), label="aiming") > 0
        key = self.pick(data, sorted(self.projects), [*sorted(self.projects), "ghost"])
        {"evidence": self.draw_evidence, "decide": self.draw_decision, "advance": self.draw_advance,
         "set": self.draw_set}[kind](data, key)

    def pick(self, data: st.DataObject, good: list[Any], anything: list[Any]) -> Any:
        return data.draw(st.sampled_from(good if good and self.aiming else anything))

    def draw_evidence(self, data: st.DataObject, key: str) -> None:
        p = self.projects.get(key)
        wf = p.wf if p else WF
        musts = [c.evidence for g in (p.gates() if p else []) for c in g.criteria
                 if c.kind == "evidence" and c.id in p.unmet(g, self.projects)] if p else []
        name = self.pick(data, musts, [*wf.evidence_names(), "needs-assesment", "Needs Assessment"])
        ref = self.pick(data, ["doc v1", "doc v2"], ["doc v1", "", "  "])
        self.add_evidence(key, name, ref)

    def draw_decision(self, data: st.DataObject, key: str) -> None:
        p = self.projects.get(key)
        wf = p.wf if p else WF
        gates = p.gates() if p else []
        gate = self.pick(data, [g.id for g in gates], [g.id for g in wf.gates] + ["bogus"])
        needed = [getattr(c, "outcome", "go") for g in gates if g.id == gate for c in g.criteria
                  if c.kind == "decision"]
        outcome = self.pick(data, needed * 6 + ["hold", "recycle", "stop"], [*outcomes(wf), "maybe"])
        earlier = wf.earlier_stages(p.stage) if p and outcome == "recycle" else []
        recycle_to = (self.pick(data, earlier, [None, *[s.id for s in wf.stages]]) if outcome == "recycle"
                      else self.pick(data, [None], [None, None, "analyse"]))
        own = [p.value("accountable_body")] if p and p.value("accountable_body") else []
        body = self.pick(data, own, [*BODIES, "", "Schools Forum"])
        ref = self.pick(data, ["minutes 1", "minutes 2"], ["minutes 1", "", " "])
        decided_on = self.pick(data, [None, TODAY], [None, "2026-02-30", "14/10/2026", "2026-10-14", "2999-01-01"])
        self.record_decision(key, gate, outcome, body, recycle_to, ref, decided_on)

    def draw_advance(self, data: st.DataObject, key: str) -> None:
        p = self.projects.get(key)
        gates = p.gates() if p else []
        defaults = [g for g in gates if not getattr(g, "explicit", False)]
        wf = p.wf if p else WF
        to = self.pick(data, [None] if len(defaults) == 1 else [g.dest for g in defaults] + [g.id for g in gates],
                       [None, *[s.id for s in wf.stages], *[g.id for g in wf.gates], "nowhere"])
        self.advance(key, to)

    def draw_set(self, data: st.DataObject, key: str) -> None:
        p = self.projects.get(key)
        wf = p.wf if p else WF
        custom = wf.custom_fields()
        missing = [n for n in ("lead_commissioner", "model", "accountable_body", *custom) if p and not p.value(n)]
        name = self.pick(data, missing or ["owner", *custom], ["owner", "model", "accountable_body", *custom,
                                                                "colour"])
        good = {"model": list(engine.MODELS), "accountable_body": BODIES}.get(name) or list(choices(wf, name)) or [
            "CCGs", "bob"]
        value = self.pick(data, good, ["bob", "Bob", "integrated", "", *BODIES, *choices(wf, name)[:1]])
        self.set_field(key, name, value)

    # --- the commands and what the model expects of them --------------------------------------------

    def add_evidence(self, key: str, name: str, ref: str) -> None:
        p = self.projects.get(key)
        # any well-formed name is recorded (one no criterion looks for, as supporting evidence that meets none)
        ok = p is not None and re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name) is not None and ref.strip() != ""
        self.attempt(lambda: engine.add_evidence(self.store, key, name, ref, actor="tester"), OK if ok else BAD)
        if ok:
            assert p is not None
            p.evidence.add((p.cycle, name))
            p.version += 1
            self.expected.append(("evidence.add", key, None, None))

    def record_decision(self, key: str, gate: str, outcome: str, body: str, recycle_to: str | None, ref: str,
                        decided_on: str | None) -> None:
        p = self.projects.get(key)
        the_gate = next((g for g in p.gates() if g.id == gate), None) if p else None
        ok = (p is not None and the_gate is not None and outcome in outcomes(p.wf)
              and (outcome == "recycle") == (recycle_to is not None) and body.strip() != "" and ref.strip() != ""
              and (decided_on is None or (is_date(decided_on) and (
                  decided_on == TODAY
                  # a project still at the stage it was created at takes a decision its body made earlier
                  or (decided_on < TODAY and p.visit == 1)))))
        dest = None
        if ok:  # only the body a gate's decision criterion names may decide it, whatever the outcome
            assert p is not None and the_gate is not None
            needed = [p.body_for(c) for c in the_gate.criteria if c.kind == "decision"]
            if not needed:  # a gate with no decision criterion is its own body's (by default the accountable)
                needed = [p.value("accountable_body") if the_gate.body == ACCOUNTABLE else the_gate.body]
            ok = None not in needed and body in needed
        if ok and outcome in ("recycle", "stop"):
            assert p is not None
            if outcome == "recycle":
                ok = ok and recycle_to in p.wf.earlier_stages(p.stage)
                dest = recycle_to
            else:
                dest = p.wf.stop
        result = self.attempt(lambda: engine.record_decision(
            self.store, key, actor="tester", gate=gate, outcome=outcome, body=body, ref=ref, recycle_to=recycle_to,
            decided_on=decided_on), OK if ok else BAD)
        if not ok:
            return
        assert p is not None
        decision, moved = result
        assert (decision.gate, decision.outcome, decision.visit, decision.cycle) == (gate, outcome, p.visit, p.cycle)
        p.decisions.append((gate, p.visit, body, outcome))
        p.version += 1
        source = p.stage
        if dest is None:
            assert moved is None
            self.expected.append(("decision.record", key, None, None))
            return
        p.enter(dest)
        assert moved is not None and (moved.source, moved.dest, moved.version) == (source, dest, p.version)
        self.moves.append((key, source, dest))
        self.expected.append(("decision.record", key, source, dest))

    def advance(self, key: str, to: str | None) -> None:
        p = self.projects.get(key)
        gate = p.choose(to) if p else None
        if p is None or gate is None:
            self.attempt(lambda: engine.advance(self.store, key, actor="tester", to=to), BAD)
            return
        unmet = p.unmet(gate, self.projects)
        opens = getattr(gate, "opens", None)
        child = f"{key}-{opens}" if opens else None
        expected = REFUSED if unmet else BAD if child in self.projects else OK
        result = self.attempt(lambda: engine.advance(self.store, key, actor="tester", to=to), expected)
        if expected == BAD:
            return
        if unmet:
            assert [c.id for c in result.unmet] == unmet
            self.expected.append(("advance.refused", key, p.stage, None))
            return
        source = p.stage
        p.enter(gate.dest)
        if gate.new_cycle:
            p.cycle += 1
        p.version += 1
        assert (result.source, result.dest, result.version, result.cycle) == (source, gate.dest, p.version, p.cycle)
        if child is not None:  # the gate opened a linked project on another workflow
            assert opens is not None and getattr(result, "opened", None) == child
            child_wf = builtin(opens)
            self.projects[child] = Model(child, child_wf, {
                "title": f"{p.fields['title']} ({child_wf.name})",
                **{n: p.fields.get(n) for n in ("lead_commissioner", "model", "accountable_body", "owner")}},
                links=[("decommissions", key)])
            p.links.append(("decommissioned-by", child))
            self.expected.append(("project.create", child, None, child_wf.initial))
        self.moves.append((key, source, gate.dest))
        self.expected.append(("advance", key, source, gate.dest))

    def set_field(self, key: str, name: str, value: str) -> None:
        p = self.projects.get(key)
        core = name in CORE_FIELDS
        changes = {name: value} if core else {}
        attrs = None if core else {name: value}
        person = name in PERSON_FIELDS  # a person's login, stored as its canonical form (nobody is registered here)
        ok = (p is not None and value != "" and (name != "model" or value in engine.MODELS)
              and (core or name in p.wf.custom_fields())
              and (core or not choices(p.wf, name) or value in choices(p.wf, name))
              and (not person or identity.is_login(value)))
        value = identity.login(value) if ok and person else value
        same = ok and p is not None and p.fields.get(name) == value  # setting a value to itself: bad input
        self.attempt(lambda: engine.set_project(self.store, key, actor="tester", changes=changes, attrs=attrs),
                     OK if ok and not same else BAD)
        if ok and not same:
            assert p is not None
            p.fields[name] = value
            p.version += 1
            self.expected.append(("project.set", key, None, None))

    # --- what must always hold ----------------------------------------------------------------------

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        if not self.projects:
            return
        rows = views.list_projects(self.store)
        assert {r.key for r in rows} == set(self.projects)
        for r in rows:
            m = self.projects[r.key]
            assert builtin(r.workflow).has_stage(r.stage), (r.key, r.workflow, r.stage)
            assert (r.workflow, r.stage, r.cycle, r.visit, r.version) == (m.wf.name, m.stage, m.cycle, m.visit,
                                                                          m.version), r.key
            values = {n: getattr(r, n) for n in CORE_FIELDS} | json.loads(r.attrs)
            assert {n: v for n, v in values.items() if v} == {n: v for n, v in m.fields.items() if v}, r.key

    @invariant()
    def audit_log_is_exactly_what_happened(self) -> None:
        verdict = verify_chain(self.store)
        assert verdict.ok, verdict.problem
        with self.store.reading() as sql:
            entries = chain.entries(sql)
        assert verdict.entries == len(entries)
        assert [(e.action, e.project, e.from_stage, e.to_stage) for e in entries] == self.expected
        moves = [(e.project, e.from_stage, e.to_stage) for e in entries
                 if e.action == "advance" or (e.action == "decision.record" and e.to_stage is not None)]
        assert moves == self.moves
        for e in entries:
            if e.action == "advance.refused":
                payload = json.loads(e.payload)
                assert payload["unmet"] == [c["id"] for c in payload["criteria"] if c["must"] and not c["met"]]
                assert payload["unmet"]


def test_random_command_sequences_agree_with_the_model() -> None:
    run_state_machine_as_test(Commissioning, settings=settings(
        max_examples=30, stateful_step_count=50, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow]))


def test_a_known_long_walk_agrees_with_the_model() -> None:
    """One fixed deep run through the same machine: the whole cycle, the next cycle, a recycle, a stop."""
    m = Commissioning()
    try:
        m.create([("CCGs", "integrated", BODIES[0])])
        body = BODIES[0]
        for gate, names in (("analyse-plan", ["needs-assessment"]),
                            ("plan-do", ["service-specification", "eia", "consultation", "performance-targets"]),
                            ("do-review", ["contract-award"]), ("review-analyse", ["outcomes-evaluation"])):
            to = "analyse" if gate == "review-analyse" else None
            m.advance("p0", to)  # refused: nothing recorded yet
            for name in names:
                m.add_evidence("p0", name, "doc v1")
            m.record_decision("p0", gate, "go", body, None, "minutes 1", TODAY)
            m.advance("p0", to)
            m.database_agrees_with_the_model()
            m.audit_log_is_exactly_what_happened()
        assert (m.projects["p0"].stage, m.projects["p0"].cycle) == ("analyse", 2)
        m.advance("p0", None)  # refused: cycle 2 needs its own evidence
        m.add_evidence("p0", "needs-assessment", "doc v2")
        m.record_decision("p0", "analyse-plan", "go", body, None, "minutes 2", None)
        m.advance("p0", None)
        m.record_decision("p0", "plan-do", "recycle", body, "analyse", "minutes 3", None)
        m.advance("p0", None)  # refused: the go was for the earlier visit to analyse
        m.record_decision("p0", "analyse-plan", "stop", body, None, "minutes 4", None)
        m.advance("p0", None)  # bad input: closed
        m.database_agrees_with_the_model()
        m.audit_log_is_exactly_what_happened()
        assert m.projects["p0"].stage == "closed"
        assert [a for a, *_ in m.expected].count("advance.refused") == 6
        assert len(m.moves) == 7
    finally:
        m.teardown()
