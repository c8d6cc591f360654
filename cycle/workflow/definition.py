"""Workflows are data: TOML files of stages, gates and criteria, validated when loaded.

A workflow file reads like the standards table of the framework document::

    name = "commissioning"
    initial = "analyse"
    stop = "closed"            # where a `stop` decision sends a project

    [[stage]]
    id = "analyse"

    [[gate]]
    id = "analyse-plan"
    from = "analyse"
    to = "plan"

      [[gate.criterion]]
      id = "needs-assessment"
      kind = "evidence"
      level = "must"

This module reads and validates workflow text. The workflows a database runs on live in the
database (cycle.workflow.registry reads them, cycle.workflow.install puts them there): the built-in files in the
``workflows`` package and a team's files in ``$CYCLE_HOME/workflows`` are only something to install
or check, never what a gate reads.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cycle import config, files, inputs
from cycle.errors import WorkflowInvalid

KINDS = ("evidence", "decision", "field", "date", "link", "procurement", "kpi", "review")
#: What a `kpi` criterion checks (cycle.performance.gating): every quarter's returns, or an action on each miss.
KPI_RULES = ("returns", "actions")
#: How many quarters back a `kpi` or `review` criterion may look (`quarters = N`).
MAX_QUARTERS = 40
LEVELS = ("must", "should")
OUTCOMES = ("go", "hold", "recycle", "stop")
#: Project attributes a `field` criterion may name besides the workflow's own custom fields.
CORE_FIELDS = ("title", "lead_commissioner", "model", "accountable_body", "owner", "sro", "lead",
               "governance_lead", "start_date", "end_date", "aim", "scope", "benefits", "metrics")
ACCOUNTABLE = "accountable"
#: Names a workflow may not give its own fields: the project's own columns that are not attributes.
RESERVED = ("key", "workflow", "workflow_version", "stage", "cycle", "visit", "version", "attrs")
#: Dates a `date` criterion can compare, taken from the project's contract.
DATES = ("notice_served_on", "notice_deadline", "contract_start", "contract_end")
#: What a `procurement` criterion asks of the project's procurement (cycle.procurement; issue 18 part 3).
PROCUREMENT = ("route", "standstill-ended", "award-notice")
LINKS = {"decommissions": "decommissioned-by", "decommissioned-by": "decommissions",
         "replaces": "replaced-by", "replaced-by": "replaces"}
#: What an id in a workflow (a stage, gate or criterion) and an evidence name may be.
ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Condition:
    """`when = { field = "reason", in = [...] }`: the criterion applies only while this holds."""

    field: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Criterion:
    id: str
    kind: str
    must: bool
    title: str
    evidence: str | None = None  # kind = evidence: the artefact's name
    field: str | None = None  # kind = field: the project attribute
    values: tuple[str, ...] | None = None  # kind = field: the value must be one of these
    body: str | None = None  # kind = decision: "accountable" or a named body (None when it names several)
    #: kind = decision: every body that must record its own decision, in order ("accountable" for the project's)
    bodies: tuple[str, ...] = ()
    outcome: str = "go"  # kind = decision: the outcome that meets it
    date: str | None = None  # kind = date: this date must be set ...
    by: str | None = None  # ... and on or before this one
    contract: str | None = None  # kind = date: the reference of the contract it looks at (None: every live one)
    link: str | None = None  # kind = link: a linked project of this kind ...
    stage: str | None = None  # ... at this stage
    rule: str | None = None  # kind = kpi: returns | actions
    quarters: int = 1  # kind = kpi or review: how many of the last complete quarters it looks at
    when: Condition | None = None
    require: str | None = None  # kind = procurement: one of PROCUREMENT


@dataclass(frozen=True)
class FieldDef:
    id: str
    title: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stage:
    id: str
    title: str
    about: str = ""
    final: bool = False


@dataclass(frozen=True)
class Gate:
    id: str
    source: str
    dest: str
    title: str
    body: str = ACCOUNTABLE
    new_cycle: bool = False
    criteria: tuple[Criterion, ...] = ()
    opens: str | None = None  # passing the gate opens a linked project on this workflow
    explicit: bool = False  # taken only when named (`advance --to GATE`), never by default


@dataclass(frozen=True)
class Workflow:
    name: str
    title: str
    initial: str
    stop: str
    stages: tuple[Stage, ...]
    gates: tuple[Gate, ...]
    path: str  # where the text came from: a file, or for an installed version where it was installed from
    sha256: str  # of the exact text (its UTF-8 bytes)
    about: str = ""
    fields: tuple[FieldDef, ...] = ()
    version: int | None = None  # the installed version (cycle.workflow.registry); None for a file being checked
    _stage_index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    _ways_out: dict[tuple[str, bool], list[Gate]] = field(default_factory=dict, compare=False, repr=False)

    def stage(self, stage_id: str) -> Stage:
        return self.stages[self._stage_index[stage_id]]

    def has_stage(self, stage_id: str) -> bool:
        return stage_id in self._stage_index

    def gates_from(self, stage_id: str, explicit: bool = True) -> list[Gate]:
        """The gates out of a stage; explicit=False leaves out those taken only when named."""
        found = self._ways_out.get((stage_id, explicit))  # every advance asks twice
        if found is None:
            found = self._ways_out[(stage_id, explicit)] = [
                g for g in self.gates if g.source == stage_id and (explicit or not g.explicit)]
        return list(found)

    def gate(self, gate_id: str) -> Gate | None:
        return next((g for g in self.gates if g.id == gate_id), None)

    def earlier_stages(self, stage_id: str) -> list[str]:
        """Stages listed before `stage_id`: where a `recycle` decision may send a project."""
        return [s.id for s in self.stages[: self._stage_index[stage_id]] if not s.final]

    def evidence_names(self) -> list[str]:
        names = [c.evidence for g in self.gates for c in g.criteria if c.kind == "evidence"]
        return sorted({n for n in names if n})

    def custom_fields(self) -> list[str]:
        names = [c.field for g in self.gates for c in g.criteria if c.kind == "field"]
        names += [f.id for f in self.fields]
        return sorted({n for n in names if n and n not in CORE_FIELDS})

    def choices(self, field_id: str) -> tuple[str, ...]:
        return next((f.choices for f in self.fields if f.id == field_id), ())

    def outcomes(self) -> tuple[str, ...]:
        extra = [c.outcome for g in self.gates for c in g.criteria if c.kind == "decision"]
        return OUTCOMES + tuple(sorted({o for o in extra if o not in OUTCOMES}))


#: The largest workflow file cycle reads: the built-in ones are under 8 KB.
MAX_BYTES = files.MAX_BYTES


def read_source(path: Path) -> str:
    """A workflow file's text, read safely (cycle.files): a regular file only (never a FIFO, a device or a
    folder), of at most MAX_BYTES, in UTF-8; WorkflowInvalid naming the file otherwise."""
    try:
        return files.read_text(path, "a workflow file", MAX_BYTES, hint="a .toml file")
    except files.Unreadable as exc:
        text = exc.problem.startswith(("not UTF-8", "it holds a NUL"))
        raise WorkflowInvalid(str(path), "", f"not valid TOML: {exc.problem}" if text else exc.problem) from None


def sha256_of(text: str) -> str:
    """The SHA-256 of a workflow's text: of its UTF-8 bytes, as `sha256sum FILE` prints it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse(path: Path, also: set[str] | frozenset[str] = frozenset()) -> Workflow:
    """Read and validate one workflow file; raise WorkflowInvalid naming the file and the entry.

    Its `opens` may name a built-in workflow, a team file's, one drafted beside it, or one in `also`
    (the workflows installed in a database)."""
    return parse_text(read_source(path), str(path), path.name, file_names(path.parent) | set(also))


def parse_text(text: str, where: str, file_name: str, workflows: set[str] | None, *,
               version: int | None = None, digest: str | None = None) -> Workflow:
    """Validate a workflow's text; `where` names it in errors. `workflows` are the names an `opens` may
    give (None: any, for a version installed once it was checked)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WorkflowInvalid(where, "", f"not valid TOML: {exc}") from None
    except RecursionError:
        raise WorkflowInvalid(where, "", "its arrays or tables are nested too deeply to read (a workflow needs "
                                         "only a few levels)") from None
    try:
        _check_strings(data, where, "")
        return _build(data, where, digest or sha256_of(text), file_name, workflows, version)
    except RecursionError:  # a value nested deeply enough to pass tomllib, shown in an error
        raise WorkflowInvalid(where, "", "a value is nested too deeply to show; nest arrays and tables less") from None


def _check_strings(value: Any, where: str, entry: str) -> None:
    """Every key and string in a workflow is text cycle can store and show (cycle.inputs.problem): a NUL, an
    escape or a direction override in a stage's title would otherwise reach a terminal, a diagram or a report."""
    if isinstance(value, str):
        found = inputs.problem(value)
        if found:
            raise WorkflowInvalid(where, entry or "top level", f"{found}; found {value[:40]!r}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key, where, entry or "top level")
            _check_strings(item, where, f"{entry}.{key}" if entry else key)
    elif isinstance(value, list):
        for n, item in enumerate(value, 1):
            _check_strings(item, where, f"{entry}[{n}]")


def _build(data: Mapping[str, Any], where: str, digest: str, file_name: str, workflows: set[str] | None,
           version: int | None = None) -> Workflow:
    def fail(entry: str, problem: str) -> WorkflowInvalid:
        return WorkflowInvalid(where, entry, problem)

    _only(data, {"name", "title", "about", "initial", "stop", "stage", "gate", "field"}, "top level", fail)
    name = _text(data, "name", "top level", fail)
    if not ID.match(name):
        raise fail("name", f"{name!r} is not a valid name (lower-case letters, digits, '-' and '_')")
    if file_name != f"{name}.toml":
        stem = file_name.removesuffix(".toml")
        rename = f'set name = "{stem}", or ' if ID.match(stem) else ""
        raise fail("name", f"says {name!r} but the file is {file_name}, and a workflow is known by its file "
                           f"name: {rename}rename the file {name}.toml")
    title = _string(data, "title", name, "top level", fail)
    about = _string(data, "about", "", "top level", fail, empty=True)

    stages: list[Stage] = []
    index: dict[str, int] = {}
    raw_stages = _tables(data, "stage", "stage", "[[stage]]", fail)
    if not raw_stages:
        raise fail("stage", "no stages: add [[stage]] entries")
    for i, raw in enumerate(raw_stages):
        entry = f"stage[{i}]"
        if not isinstance(raw, dict):
            raise fail(entry, "must be a table")
        sid = _text(raw, "id", entry, fail)
        entry = f"stage {sid!r}"
        _only(raw, {"id", "title", "about", "final"}, entry, fail)
        if not ID.match(sid):
            raise fail(entry, "id must be lower-case letters, digits, '-' and '_'")
        if sid in index:
            raise fail(entry, "duplicate id: another stage already uses it")
        index[sid] = len(stages)
        stages.append(Stage(sid, _string(raw, "title", sid.title(), entry, fail),
                            _string(raw, "about", "", entry, fail, empty=True), _flag(raw, "final", entry, fail)))

    initial = _text(data, "initial", "top level", fail)
    if initial not in index:
        raise fail("initial", f"unknown stage {initial!r}")
    stop = _string(data, "stop", "closed", "top level", fail)
    if stop not in index:
        raise fail("stop", f"unknown stage {stop!r}")
    if not stages[index[stop]].final:
        raise fail("stop", f"stage {stop!r} must be final (final = true): a stopped project goes nowhere else")

    fields = _fields(_tables(data, "field", "field", "[[field]]", fail), fail)

    gates: list[Gate] = []
    gate_ids: set[str] = set()
    for i, raw in enumerate(_tables(data, "gate", "gate", "[[gate]]", fail)):
        entry = f"gate[{i}]"
        if not isinstance(raw, dict):
            raise fail(entry, "must be a table")
        gid = _text(raw, "id", entry, fail)
        entry = f"gate {gid!r}"
        _only(raw, {"id", "from", "to", "title", "body", "new_cycle", "criterion", "opens", "explicit"}, entry, fail)
        if not ID.match(gid):
            raise fail(entry, "id must be lower-case letters, digits, '-' and '_'")
        if gid in gate_ids:
            raise fail(entry, "duplicate id: another gate already uses it")
        gate_ids.add(gid)
        source, dest = _text(raw, "from", entry, fail), _text(raw, "to", entry, fail)
        for role, sid in (("from", source), ("to", dest)):
            if sid not in index:
                raise fail(entry, f"unknown stage {sid!r} in '{role}'")
        if stages[index[source]].final:
            raise fail(entry, f"stage {source!r} is final: a final stage has no gates out")
        body = _string(raw, "body", ACCOUNTABLE, entry, fail)
        criteria = _criteria(_tables(raw, "criterion", f"{entry} criterion", "[[gate.criterion]]", fail),
                             entry, body, fields, fail)
        opens = raw.get("opens")
        if opens is not None and (not isinstance(opens, str) or not ID.match(opens)):
            raise fail(entry, f"opens must name a workflow, not {opens!r}")
        if opens is not None and workflows is not None and opens not in workflows | {name}:
            raise fail(entry, f"opens {opens!r}, but there is no workflow of that name; the workflows are: "
                              f"{', '.join(sorted(workflows | {name}))}")
        gates.append(
            Gate(gid, source, dest, _string(raw, "title", f"{source} to {dest}", entry, fail), body,
                 _flag(raw, "new_cycle", entry, fail), criteria, opens, _flag(raw, "explicit", entry, fail))
        )

    # `when` may name a field declared anywhere in the file, so it is checked once every gate is read
    known = sorted(({f.id for f in fields} | {c.field for g in gates for c in g.criteria
                                              if c.kind == "field" and c.field}) - set(CORE_FIELDS))
    for g in gates:
        for c in g.criteria:
            if c.when and c.when.field not in CORE_FIELDS and c.when.field not in known:
                raise fail(f"gate {g.id!r} criterion {c.id!r}",
                           f"when names field {c.when.field!r}, which is neither a project field nor one this "
                           f"workflow declares with [[field]]; the fields are: "
                           f"{', '.join([*known, *CORE_FIELDS])}")

    for s in stages:
        if not s.final and not any(g.source == s.id for g in gates):
            raise fail(f"stage {s.id!r}", "no way out: add a gate from it, or mark it final = true")

    reachable = {initial}
    frontier = [initial]
    while frontier:
        here = frontier.pop()
        nexts = [g.dest for g in gates if g.source == here]
        if not stages[index[here]].final:
            nexts.append(stop)
        for nxt in nexts:
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    for s in stages:
        if s.id not in reachable:
            raise fail(f"stage {s.id!r}", f"unreachable: no gate leads to it from {initial!r}")

    return Workflow(
        name=name, title=title, initial=initial, stop=stop, stages=tuple(stages),
        gates=tuple(gates), path=where, sha256=digest, about=about, fields=fields, version=version,
        _stage_index=index,
    )


def _fields(raws: list[Any], fail: Any) -> tuple[FieldDef, ...]:
    out: list[FieldDef] = []
    for i, raw in enumerate(raws):
        if not isinstance(raw, dict):
            raise fail(f"field[{i}]", "must be a table")
        fid = _text(raw, "id", f"field[{i}]", fail)
        entry = f"field {fid!r}"
        _only(raw, {"id", "title", "choices"}, entry, fail)
        if not ID.match(fid) or fid in CORE_FIELDS or fid in RESERVED:
            raise fail(entry, "id must be a new attribute name of lower-case letters, digits, '-' and '_'"
                       + (f" ({fid!r} is the project's own)" if fid in RESERVED else ""))
        if any(f.id == fid for f in out):
            raise fail(entry, "duplicate id: another field already uses it")
        choices = raw.get("choices", [])
        if not isinstance(choices, list) or not all(isinstance(c, str) and c for c in choices):
            raise fail(entry, "choices must be a list of strings")
        out.append(FieldDef(fid, _string(raw, "title", fid, entry, fail), tuple(choices)))
    return tuple(out)


def _values(raw: Any, entry: str, fail: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list) and raw and all(isinstance(v, str) for v in raw):
        return tuple(raw)
    raise fail(entry, "expected a string or a list of strings")


def _check_choices(fields: tuple[FieldDef, ...], name: str, values: tuple[str, ...], entry: str, fail: Any) -> None:
    choices = next((f.choices for f in fields if f.id == name), ())
    bad = [v for v in values if choices and v not in choices]
    if bad:
        raise fail(entry, f"{bad[0]!r} is not a choice of field {name!r} ({', '.join(choices)})")


def _criteria(raws: list[Any], gate_entry: str, gate_body: str, fields: tuple[FieldDef, ...],
              fail: Any) -> tuple[Criterion, ...]:
    out: list[Criterion] = []
    seen: set[str] = set()
    for i, raw in enumerate(raws):
        entry = f"{gate_entry} criterion[{i}]"
        if not isinstance(raw, dict):
            raise fail(entry, "must be a table")
        cid = _text(raw, "id", entry, fail)
        entry = f"{gate_entry} criterion {cid!r}"
        _only(raw, {"id", "kind", "level", "title", "evidence", "field", "in", "body", "outcome", "date", "by",
                    "contract", "link", "stage", "rule", "quarters", "when", "require"}, entry, fail)
        if not ID.match(cid):
            raise fail(entry, "id must be lower-case letters, digits, '-' and '_'")
        if cid in seen:
            raise fail(entry, "duplicate id: another criterion of this gate already uses it")
        seen.add(cid)
        kind = raw.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            raise fail(entry, f"unknown kind {kind!r}; expected one of: {', '.join(KINDS)}")
        level = raw.get("level", "must")
        if not isinstance(level, str) or level not in LEVELS:
            raise fail(entry, f"unknown level {level!r}; expected must or should")
        extra: dict[str, Any] = {}
        if "require" in raw and kind != "procurement":
            raise fail(entry, 'require = "..." is for a procurement criterion only')
        if "contract" in raw and kind != "date":
            raise fail(entry, 'contract = "REF" is for a date criterion only')
        if "rule" in raw and kind != "kpi":
            raise fail(entry, 'rule = "..." is for a kpi criterion only')
        if "quarters" in raw and kind not in ("kpi", "review"):
            raise fail(entry, "quarters = N is for a kpi or review criterion only")
        if kind == "evidence":
            extra["evidence"] = raw.get("evidence", cid)
            if not isinstance(extra["evidence"], str) or not ID.match(extra["evidence"]):
                raise fail(entry, "evidence must be a name of lower-case letters, digits, '-' and '_'")
        elif kind == "field":
            extra["field"] = raw.get("field")
            if not isinstance(extra["field"], str) or not ID.match(extra["field"]) or extra["field"] in RESERVED:
                raise fail(entry, "a field criterion needs field = \"<project attribute>\"")
            if "in" in raw:
                extra["values"] = _values(raw["in"], f"{entry} in", fail)
                _check_choices(fields, extra["field"], extra["values"], entry, fail)
        elif kind == "decision":
            extra["bodies"] = _bodies(raw.get("body", gate_body), entry, fail)
            extra["body"] = extra["bodies"][0] if len(extra["bodies"]) == 1 else None
            outcome = raw.get("outcome", "go")
            if not isinstance(outcome, str) or not ID.match(outcome) or outcome in ("hold", "recycle", "stop"):
                raise fail(entry, f"outcome {outcome!r} cannot open a gate; use go or an outcome of your own")
            extra["outcome"] = outcome
        elif kind == "procurement":
            if not isinstance(raw.get("require"), str) or raw["require"] not in PROCUREMENT:
                raise fail(entry, f"a procurement criterion needs require = one of: {', '.join(PROCUREMENT)}")
            extra["require"] = raw["require"]
        elif kind == "date":
            for key in ("date", "by"):
                if not isinstance(raw.get(key), str) or raw[key] not in DATES:
                    raise fail(entry, f"a date criterion needs {key} = one of: {', '.join(DATES)}")
                extra[key] = raw[key]
            if "contract" in raw:
                ref = raw["contract"]
                if not isinstance(ref, str) or not ref.strip() or ref != ref.strip() or not ref.isprintable():
                    raise fail(entry, f'contract must be a contract\'s reference in quotes (e.g. contract = '
                                      f'"CAMHS-LOT2"), or left out to mean every live contract, not {_toml(ref)}')
                extra["contract"] = unicodedata.normalize("NFC", ref)  # as cycle stores a reference
        elif kind in ("kpi", "review"):
            if kind == "kpi":
                rule = raw.get("rule")
                if not isinstance(rule, str) or rule not in KPI_RULES:
                    raise fail(entry, f"a kpi criterion needs rule = one of: {', '.join(KPI_RULES)} (not "
                                      f"{_toml(rule) if 'rule' in raw else 'none'})")
                extra["rule"] = rule
            n = raw.get("quarters", 1)
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_QUARTERS:
                raise fail(entry, f"quarters must be a whole number from 1 to {MAX_QUARTERS} (no quotes), "
                                  f"not {_toml(n)}")
            extra["quarters"] = n
        else:
            if not isinstance(raw.get("link"), str) or raw["link"] not in LINKS:
                raise fail(entry, f"a link criterion needs link = one of: {', '.join(LINKS)}")
            extra["link"] = raw["link"]
            extra["stage"] = _text(raw, "stage", entry, fail)
        when = raw.get("when")
        if when is not None:
            if not isinstance(when, dict) or set(when) != {"field", "in"} or not isinstance(when["field"], str):
                raise fail(entry, 'when must be { field = "<attribute>", in = ["<value>", ...] }')
            values = _values(when["in"], f"{entry} when", fail)
            _check_choices(fields, when["field"], values, entry, fail)
            extra["when"] = Condition(when["field"], values)
        out.append(Criterion(cid, kind, level == "must", _string(raw, "title", cid, entry, fail), **extra))
    return tuple(out)


def _bodies(raw: Any, entry: str, fail: Any) -> tuple[str, ...]:
    """A decision criterion's `body`: one body, or a list of bodies each of which must record its own decision
    (two-body ratification, seed 004): not empty, and no body twice."""
    if isinstance(raw, str):
        raw = [raw] if raw else raw
    if not isinstance(raw, list) or not raw:
        raise fail(entry, f'body must be a body in quotes, or a list of them each of which must decide (e.g. body = '
                          f'["accountable", "NHS North Central London ICB"]), not {_toml(raw)}')
    seen: dict[str, str] = {}
    for name in raw:
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise fail(entry, f"each body must be a name in quotes, without spaces around it, not {_toml(name)}")
        if name.casefold() in seen:
            raise fail(entry, f"body names {name!r} twice; each body in the list records its own decision once")
        seen[name.casefold()] = name
    return tuple(raw)


def _text(raw: Mapping[str, Any], key: str, entry: str, fail: Any) -> str:
    """A string the entry must have."""
    if raw.get(key) in (None, ""):
        raise fail(entry, f"missing {key!r} (a non-empty string)")
    return _string(raw, key, "", entry, fail)


def _string(raw: Mapping[str, Any], key: str, default: str, entry: str, fail: Any, empty: bool = False) -> str:
    """A string the entry may leave out (then `default`)."""
    value = raw.get(key, default)
    if not isinstance(value, str) or not (value or empty):
        raise fail(entry, f"{key} must be a {'' if empty else 'non-empty '}string in quotes, not {_toml(value)}")
    return value


def _flag(raw: Mapping[str, Any], key: str, entry: str, fail: Any) -> bool:
    """true or false, and nothing else: `explicit = "false"` must not count as true."""
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise fail(entry, f"{key} must be true or false (no quotes), not {_toml(value)}")
    return value


def _tables(raw: Mapping[str, Any], key: str, entry: str, form: str, fail: Any) -> list[Any]:
    """A list of tables (`[[key]]` entries); the caller checks each one is a table."""
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise fail(entry, f"must be {form} entries, not {_toml(value)}")
    return value


def _toml(value: Any) -> str:
    """A value as it was written in the file, near enough: "false", 5, ["a"], true."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return repr(value)


def _only(raw: Mapping[str, Any], allowed: set[str], entry: str, fail: Any) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise fail(entry, f"unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")


# --- the files: built-in workflows and the team's own, to install or check -----------------------

@cache
def builtin_dir() -> Path:
    from cycle import workflows

    return Path(workflows.__file__).parent


@cache
def builtin(name: str) -> Workflow:
    """A built-in workflow as this cycle ships it (what `cycle init` installs): for tests and tools. A
    project's gates read the version it is pinned to in its database (cycle.workflow.registry), never a file."""
    return parse(builtin_dir() / f"{name}.toml")


def team_dir() -> Path:
    return config.home() / "workflows"


def files_in(folder: Path) -> dict[str, Path]:
    """Workflow name (the file's stem) -> file, for the .toml files in a folder (none when it is absent)."""
    try:
        return {p.stem: p for p in sorted(folder.glob("*.toml"))}
    except OSError:
        return {}


def builtin_files() -> dict[str, Path]:
    return files_in(builtin_dir())


def team_files() -> dict[str, Path]:
    return files_in(team_dir())


def file_names(beside: Path | None = None) -> set[str]:
    """The names a workflow file being checked may `opens`: built-in, the team's, and files beside it."""
    return set(builtin_files()) | set(team_files()) | (set(files_in(beside)) if beside is not None else set())
