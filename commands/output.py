"""What the commands print for a person: plain-text renderings of what the library returns (`--json` prints
the dicts instead)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cycle.inputs import escaped

if TYPE_CHECKING:
    from cycle.workflow.gates import GateCheck


def counted(n: int, one: str, many: str | None = None) -> str:
    """"1 decision", "2 decisions" (`many` where the plural is not `one` + s: "entries", "evidence")."""
    return f"{n} {one if n == 1 else many or one + 's'}"


def safe(line: str) -> str:
    """One line for a terminal: whatever in it could move the cursor, hide or reorder text (an escape sequence,
    a newline, a direction override), from a database written before the text rules or by hand, is shown as
    an escape instead (cycle.inputs.escaped). Every plain-text listing goes through here."""
    return escaped(line)


def lines_of(lines: Iterable[str]) -> str:
    """Lines for a terminal, each made `safe`, joined."""
    return "\n".join(safe(line) for line in lines)


def gate_check(check: GateCheck) -> str:
    state = "OPEN" if check.open else f"CLOSED ({len(check.unmet_must)} required not met)"
    lines = [f"Gate {check.gate} ({check.source} -> {check.to}) for {check.project}, cycle {check.cycle}: {state}"]
    for c in check.criteria:
        mark = "WAIV" if c.waived else "ok  " if c.met else ("MISS" if c.must else "warn")
        level = "must  " if c.must else "should"
        lines.append(f"  [{mark}] {level} {c.id}: {c.title}")
        lines.append(f"                {c.reason}")
        if c.kind == "decision" and len(c.bodies) > 1:
            decided = [b for b in c.bodies if b not in c.awaited]
            lines.append(f"                bodies decided: {', '.join(decided) or 'none yet'}; "
                         f"awaited: {', '.join(c.awaited) or 'none'}")
        if not c.met and c.hint:
            lines.append(f"                record it with: {c.hint}")
    return lines_of(lines)


def refused(check: GateCheck) -> str:
    lines = [f"Refused: {check.project} stays at {check.source}; gate {check.gate} to {check.to} needs:"]
    for c in check.unmet_must:
        lines.append(f"  - {c.id}: {c.reason}")
        if c.hint:
            lines.append(f"      {c.hint}")
    lines.append("The refused attempt is recorded in the audit log.")
    return lines_of(lines)


def project(view: Any) -> str:
    d = view.as_dict()
    wf = view.workflow
    lines = [
        f"{d['key']}: {d['title']}",
        f"  workflow          {d['workflow']} version {d['workflow_version']}",
        f"  stage             {wf.stage(d['stage']).title} ({d['stage']}), cycle {d['cycle']}",
        f"  version           {d['version']}",
        f"  lead commissioner {d['lead_commissioner'] or '-'}",
        f"  model             {d['model'] or '-'}",
        f"  hub role          {d['hub_role'] or '-'}",
        "  programme         " + ("-" if not d["programme"] else f"{d['programme_title']} ({d['programme']})"
                                  if d["programme_title"] is not None
                                  else f"{d['programme']} (no programme with this key: see cycle programme list)"),
        f"  accountable body  {d['accountable_body'] or '-'}",
        f"  owner             {d['owner'] or '-'}",
    ]
    for name in ("sro", "lead", "governance_lead", "start_date", "end_date", "aim", "scope", "benefits", "metrics"):
        if d[name]:
            lines.append(f"  {name.replace('_', ' '):<17} {d[name]}")
    for name, value in sorted(d["attrs"].items()):
        lines.append(f"  {name:<17} {value}")
    for c in view.checks:
        state = "open" if c.open else "waiting on: " + ", ".join(_waiting_on(u) for u in c.unmet_must)
        lines.append(f"  next: {c.gate} -> {c.to}: {state}")
    for link in d["links"]:
        lines.append(f"  {link['kind']:<17} {link['project']} (at {link['stage']})")
    for c in view.contracts:
        lines.append(f"  contract          {c.contract.provider or '-'} {c.contract.ref or ''}, "
                     f"ends {c.contract.end or '?'}; "
                     f"{c.consequence}")
        if c.deadline_advice:
            lines.append(f"    {c.deadline_advice}")
        if c.contract.provider_contact:
            lines.append(f"    provider contact {c.contract.provider_contact}")
        if c.funding:
            warn = "; WARNING: " + c.funding.mismatch(c.contract.value_total) if c.funding.mismatch(
                c.contract.value_total) else ""
            lines.append(f"    funded by       {c.funding.summary()}"
                         + (f" (within {c.funding.pool})" if c.funding.pool else "") + warn)
    mine = [e for e in d["evidence"] if e["cycle"] == d["cycle"]]
    lines.append(f"  evidence (cycle {d['cycle']}): " + ("none" if not mine else ""))
    for e in mine:
        counts = f" (for {e['counts_for']})" if e["counts_for"] else " (supporting)" if e["supporting"] else ""
        lines.append(f"    #{e['id']} {e['name']}{counts}: {e['ref']} ({e['recorded_by']}, {e['recorded_at'][:10]})")
    if d["decisions"]:
        lines.append("  decisions:")
        for x in d["decisions"]:
            to = f" to {x['recycle_to']}" if x["recycle_to"] else ""
            on = f" on {x['decided_on']}" if x["decided_on"] else ""
            lines.append(f"    #{x['id']} cycle {x['cycle']} {x['gate']}: {x['outcome']}{to} by {x['body']}{on} "
                         f"({x['ref']})")
    return lines_of(lines)


def _waiting_on(c: Any) -> str:
    """An unmet criterion as `project show` names it: a decision several bodies take says which are awaited."""
    if c.kind == "decision" and len(c.bodies) > 1:
        decided = [b for b in c.bodies if b not in c.awaited]
        if not c.awaited:
            return str(c.id)
        return (f"{c.id} (decided by {', '.join(decided)}; awaiting {', '.join(c.awaited)})" if decided
                else f"{c.id} (awaiting {', '.join(c.awaited)})")
    return str(c.id)


def no_projects(stage: str | None = None, workflow: str | None = None, programme: str | None = None) -> str:
    """What `project list` says when nothing matches (the rows themselves go line by line: project_line)."""
    if stage or workflow or programme:
        where = " ".join(part for part in (programme and f"in programme {programme}",
                                           workflow and f"on workflow {workflow}", stage and f"at stage {stage}")
                         if part)
        return f"No projects {where}. See them all with: cycle project list"
    return "No projects yet. Create one with: cycle project new KEY --title TITLE"


def project_line(p: Any, width: int) -> str:
    return safe(f"{p.key:<{width}}  {p.stage:<12} cycle {p.cycle:<3} {p.title}")


#: `project list --csv`: its columns (the fields of --json, but the deprecated `key`).
PROJECT_COLUMNS = ["project", "title", "workflow", "workflow_version", "stage", "cycle", "version", "owner"]


def project_record(p: Any) -> list[Any]:
    """A project as a row of `project list --csv`, in PROJECT_COLUMNS' order."""
    return [p.key, p.title, p.workflow, p.workflow_version, p.stage, p.cycle, p.version, p.owner]


def project_dict(p: Any) -> dict[str, Any]:
    """A project as `project list --json` gives it."""
    return {"project": p.key, "key": p.key, "title": p.title, "workflow": p.workflow,
            "workflow_version": p.workflow_version, "stage": p.stage, "cycle": p.cycle, "version": p.version,
            "owner": p.owner, "programme": p.programme, "hub_role": p.hub_role}


# --- one vocabulary in JSON (docs/json.md) ------------------------------------------------------------------------
# A project's key is `project`, a date `*_on`, a time `*_at`. Fields that were named otherwise get the new name
# next to the old one, which stays for one release (deprecated in CHANGELOG.md): new name -> old name.
PROJECT_NAMES = {"project": "key", "start_on": "start_date", "end_on": "end_date"}
CONTRACT_NAMES = {"start_on": "start", "end_on": "end", "extension_end_on": "extension_to",
                  "notice_deadline_on": "notice_deadline", "run_on_period": "run_on", "run_on_ends_on": "run_on_to",
                  "effective_end_on": "effective_end"}
DUE_NAMES = {"due_on": "date"}
MILESTONE_NAMES = {"due_on": "due"}
REPORT_NAMES = {"generated_on": "generated", "start_on": "start", "end_on": "end"}  # a quarter's first and last day


def renamed(d: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """`d` with each new name of `names` added just before the old one it replaces (which stays, as an alias)."""
    new_of = {old: new for new, old in names.items()}
    out: dict[str, Any] = {}
    for name, value in d.items():
        if name in new_of and new_of[name] not in d:
            out[new_of[name]] = value
        out[name] = value
    return out


def project_json(d: dict[str, Any]) -> dict[str, Any]:
    """`project show --json`: the project, its contract's dates by their new names too."""
    out = renamed(d, PROJECT_NAMES)
    if isinstance(out.get("contract"), dict):
        out["contract"] = renamed(out["contract"], CONTRACT_NAMES)
    if isinstance(out.get("contracts"), list):
        out["contracts"] = [renamed(c, CONTRACT_NAMES) for c in out["contracts"]]
    return out


def contract_json(d: dict[str, Any]) -> dict[str, Any]:
    return renamed(d, CONTRACT_NAMES)


def due_json(when: Any, what: str, st: Any) -> dict[str, Any]:
    """One row of `contracts due --json`."""
    return renamed({"date": when.isoformat(), "what": what, **contract_json(st.as_dict())}, DUE_NAMES)


def milestone_json(d: dict[str, Any]) -> dict[str, Any]:
    return renamed(d, MILESTONE_NAMES)


def report_json(d: dict[str, Any]) -> dict[str, Any]:
    return renamed(d, REPORT_NAMES)


def audit_entries(rows: list[Any]) -> str:
    return "\n".join(map(audit_line, rows)) if rows else NO_AUDIT_ENTRIES


NO_AUDIT_ENTRIES = "No audit entries."


def audit_line(e: Any) -> str:
    move = f" {e.from_stage or '-'} -> {e.to_stage}" if e.to_stage else ""
    return safe(f"{e.seq:>6}  {e.at[:19]}Z  {e.actor:<12} {e.project or '-':<14} {e.action}{move}  {_summary(e)}")


def _summary(e: Any) -> str:
    from cycle.audit.chain import PAYLOAD_ERRORS, read_payload, why_unreadable

    if e.damaged:
        return f"(entry unreadable: {e.damaged})"
    try:
        return _describe(e.action, read_payload(e.payload))
    except PAYLOAD_ERRORS as exc:
        return f"(payload unreadable: {why_unreadable(exc)})"


def _describe(action: str, p: dict[str, Any]) -> str:
    """One line on what an entry did, from its payload (KeyError or TypeError when a field is missing or odd)."""
    if action == "evidence.add":
        return f"{p['name']}: {p['ref']}"
    if action == "decision.record":
        return f"{p['gate']} {p['outcome']} by {p['body']} ({p['ref']})"
    if action == "advance.refused":
        return f"{p['gate']} refused; missing {', '.join(p['unmet'])}"
    if action == "advance":
        return f"{p['gate']}"
    if action == "project.set":
        return ", ".join(f"{k}={v[1]}" for k, v in p["changes"].items())
    if action in ("decision.refused", "waiver.refused"):
        return f"REFUSED {p['gate']}: {p['why']}"
    if action == "person.add":
        email = p.get("email")
        parts = [f"granted {_role(p['role'])}"] if p.get("role") else []
        parts += [f"email {' -> '.join(email) if isinstance(email, list) else email}"] if email else []
        return f"{p['name']}: {', '.join(parts)}"
    if action == "person.remove-role":
        return f"{p['name']}: removed {_role(p['role'])}"
    if action == "person.refused":
        return f"REFUSED {p['name']}: {p['why']}"
    if action == "project.refused":
        return "REFUSED " + ", ".join(f"{k}={v[1]}" for k, v in p["changes"].items()) + f": {p['why']}"
    if action == "gate.request":
        return f"{p['gate']} decision requested"
    if action == "waiver.add":
        return f"WAIVED {p['gate']} {p['criterion']}: {p['reason']}"
    if action in ("contract.correct", "decision.correct", "milestone.correct"):
        what = (f"contract of {p['contract_of']}" if action == "contract.correct" else
                f"decision #{p['decision_id']}" if action == "decision.correct" else f"milestone #{p['milestone_id']}")
        said = "; ".join(f"{k} {v[0] or 'none'} -> {v[1]}" for k, v in p["changes"].items())
        return f"CORRECTED {what}: {said} ({p['reason']})"
    if action == "correction.refused":
        return f"REFUSED correction of {p['correct']}: {p['why']}"
    if action.startswith("milestone."):
        return f"#{p['milestone_id']} {p['title']} (due {p['due']})"
    imported = p.get("imported") if isinstance(p.get("imported"), dict) else None
    source = ("" if not imported else f", imported from {imported.get('file')}, line {imported.get('line')}"
              if "line" in imported else
              f", imported from {imported.get('file')} (OCDS release {imported.get('release_id')})")
    if action == "contract.add":
        return f"contract {p.get('contract_ref')} of {p['contract_of']} added{source}"
    if action == "contract.fund":
        which = f"contract {p['contract_ref']} of " if p.get("contract_ref") else "contract of "
        return f"{which}{p['contract_of']} funded by {_split(p.get('new'))} (was: {_split(p.get('old'))})"
    if action == "project.import":
        return f"imported from {p['imported']['file']}, line {p['imported']['line']}"
    if action in ("contract.set", "contract.notice"):
        return (f"contract of {p['contract_of']}" + (f": notice served {p['served_on']}" if "served_on" in p else "")
                + source)
    if action == "programme.add":
        return f"programme {p['programme']}: {p['title']}"
    if action == "project.link":
        return f"{p['kind']} {p['other']}"
    if action == "ocds.export":
        return f"{counted(p['releases'], 'OCDS release')} to {p['file']} (SHA-256 {p['sha256'][:12]}...)"
    if action == "transparency.export":
        return (f"{p['quarter']}: {counted(p['contracts'], 'contract')} to {p['file']} (SHA-256 "
                f"{p['sha256'][:12]}...)")
    if action == "audit.export" and p.get("format") == "bundle":
        return (f"{counted(p['entries'], 'entry', 'entries')} and {counted(p['records'], 'record', 'records')} "
                f"to the bundle {p['folder']} (head {p['head']['seq']}, checkpoint {p['checkpoint']}, manifest "
                f"SHA-256 {p['sha256'][:12]}...)")
    if action == "audit.export":
        return (f"{counted(p['entries'], 'entry', 'entries')} to {p['file']} ({p['format']}, head "
                f"{p['head']['seq']}, SHA-256 {p['sha256'][:12]}...)")
    if action == "audit.checkpoint":
        return f"signed head {p['seq']}:{p['hash'][:12]}... with key {p['key']}"
    if action == "outbox.enqueue":
        return f"#{p['outbox_id']} {p['kind']} {p['period']} to {p['recipient']} queued"
    if action in ("outbox.sent", "outbox.failed", "outbox.deferred"):
        detail = f": {p['detail']}" if action != "outbox.sent" and p.get("detail") else ""
        return f"#{p['outbox_id']} {p['kind']} {p['period']} to {p['recipient']} {action[7:]}{detail}"
    if action == "outbox.cancel":
        return f"#{p['outbox_id']} {p['kind']} {p['period']} to {p['recipient']} cancelled: {p['reason']}"
    if action == "outbox.claim":
        taken = f", taking over {len(p['taken_over_from'])} from lapsed claims" if p.get("taken_over_from") else ""
        return f"{len(p['outbox_ids'])} to send, by {p['holder']}{taken}"
    if action == "outbox.release":
        return f"{len(p['outbox_ids'])} handed back by {p['holder']}"
    if action == "record.baseline":
        return f"{counted(len(p['rows']), 'row')} as they stood at the upgrade to revision {p['revision']}"
    if action == "outbox.retry":
        return f"#{p['outbox_id']} retry (was {p['was']})"
    if action == "review.record":
        return f"{p['quarter']} review held on {p['held_on']}" + (
            f", {counted(len(p['indicators']), 'indicator')} kept" if p.get("indicators") else "")
    if action == "kpi.add":
        return f"indicator {p['kpi']}: {p['title']}"
    if action == "kpi.target":
        return f"indicator {p['kpi']}: new terms from {p['from_quarter']}"
    if action == "kpi.record":
        was = f" (was {p['was']})" if p.get("was") is not None else ""
        return f"{p['kpi']} {p['quarter']}: {p['value']}{was}"
    if action == "kpi.import":
        return f"{counted(len(p['values']), 'value')} from {p['file']}"
    if action in ("action.add", "action.done"):
        return f"#{p['action_id']} {p['text']}" + (f" (due {p['due']})" if "due" in p else f" done {p['done_on']}")
    if action.startswith("scheduler."):
        return f"{action[10:]} ({p.get('holder', '')})"
    if action == "project.create":
        version = f" version {p['workflow_version']}" if p.get("workflow_version") else ""
        return f"{p['workflow']}{version}: {p['title']}"
    if action == "workflow.install":
        return f"{p['name']} version {p['version']} from {p['origin']} (SHA-256 {p['sha256'][:12]}...)"
    if action == "workflow.refused":
        return f"REFUSED {p['name']} from {p['origin']}: {p['why']}"
    if action == "db.init":  # entries from before migrations hold only the database
        return "database created" + (f" at schema revision {p['schema']}" if p.get("schema") else "")
    if action == "db.upgrade":
        adopted = f" (a database from before migrations, taken as {p['adopted_at']})" if p.get("adopted_at") else ""
        pins = p.get("workflows") or {}
        pinned = (f"; {counted(len(pins.get('pinned', {})), 'project')} pinned to a workflow version, "
                  f"{len(pins.get('unmatched', {}))} not matched to their log" if pins else "")
        return f"schema upgraded from {p.get('from') or 'none'} to {p.get('to')}{adopted}{pinned}"
    return ""


def _role(role: dict[str, Any]) -> str:
    return str(role["role"]) + (f" for {role['body']}" if role.get("body") else "")


def entry_dict(e: Any) -> dict[str, Any]:
    """An entry for --json; a payload that cannot be read comes as its raw text, with payload_error saying why
    (for a damaged entry, which column holds what cycle never writes there)."""
    from cycle.audit.chain import PAYLOAD_ERRORS, payload_of, why_unreadable

    payload: Any = e.payload
    error = None
    try:
        payload = payload_of(e)
        _describe(e.action, payload)
    except PAYLOAD_ERRORS as exc:
        error = why_unreadable(exc)
    return {"seq": e.seq, "at": e.at, "actor": e.actor, "project": e.project, "action": e.action,
            "from": e.from_stage, "to": e.to_stage, "payload": payload, "payload_error": error,
            "prev_hash": e.prev_hash, "hash": e.hash}


def records(r: Any) -> str:
    """`audit verify`'s second part: the records gates read, against the log (cycle.audit.records)."""
    c = r.checked
    total = sum(c.values())
    named = sum(c.get(t, 0) for t in ("project", "evidence", "decision", "waiver", "workflow_version"))
    every = f"every column of {counted(total, 'row')} in {counted(len(c), 'table')}"
    if r.ok:
        return (f"Records match the log: {every} ({counted(c.get('project', 0), 'project')}, "
                f"{c.get('evidence', 0)} evidence, {counted(c.get('decision', 0), 'decision')}, "
                f"{counted(c.get('waiver', 0), 'waiver')}, {counted(c.get('workflow_version', 0), 'workflow version')} "
                f"and {counted(total - named, 'other row')}), and the workflows of "
                f"{counted(r.gate_entries, 'gate entry', 'gate entries')}.")
    n = len(r.discrepancies)
    head = (f"Records FAILED: {n} {'does' if n == 1 else 'do'} not match the audit log, which itself verified "
            f"(checked {every}):")
    return lines_of([head, *(f"  {d.problem}" for d in r.discrepancies)])


def workflow(wf: Any) -> str:
    where = f"  version {wf.version}, SHA-256 {wf.sha256}" if wf.version is not None else f"  file: {wf.path}"
    lines = [f"{wf.name}: {wf.title}", where, f"  starts at {wf.initial}; a stop decision goes to "
             f"{wf.stop}", "  stages: " + " -> ".join(s.id for s in wf.stages if not s.final)
             + " | final: " + ", ".join(s.id for s in wf.stages if s.final)]
    for g in wf.gates:
        extra = " (starts the next cycle)" if g.new_cycle else ""
        lines.append(f"  gate {g.id}: {g.source} -> {g.dest}{extra}  {g.title}")
        if g.opens:
            lines.append(f"    (opens a linked {g.opens} project)")
        for c in g.criteria:
            what = {"evidence": f"evidence {c.evidence}",
                    "field": f"field {c.field}" + (f" in {'|'.join(c.values)}" if c.values else ""),
                    "decision": f"decision {c.outcome} by {' and by '.join(c.bodies or (str(c.body),))}",
                    "date": f"{c.date} <= {c.by}",
                    "link": f"{c.link} project at {c.stage}",
                    "kpi": f"kpi {c.rule}, last {c.quarters} quarter{'s' if c.quarters > 1 else ''}",
                    "review": f"review meetings, last {c.quarters} quarter{'s' if c.quarters > 1 else ''}"}.get(
                c.kind, c.kind)
            when = f" [only when {c.when.field} is {'|'.join(c.when.values)}]" if c.when else ""
            lines.append(f"    {'must  ' if c.must else 'should'} {c.id:<26} {what}: {c.title}{when}")
    return lines_of(lines)


def workflow_dict(wf: Any) -> dict[str, Any]:
    return {"name": wf.name, "title": wf.title, "version": wf.version, "sha256": wf.sha256, "initial": wf.initial,
            "stop": wf.stop, "stages": [{"id": s.id, "title": s.title, "final": s.final} for s in wf.stages],
            "fields": [{"id": f.id, "title": f.title, "choices": list(f.choices)} for f in wf.fields],
            "gates": [{"id": g.id, "from": g.source, "to": g.dest, "title": g.title, "new_cycle": g.new_cycle,
                       "opens": g.opens,
                       "criteria": [{"id": c.id, "kind": c.kind, "must": c.must, "title": c.title,
                                     "evidence": c.evidence, "field": c.field, "in": list(c.values or []) or None,
                                     "body": c.body, "bodies": list(c.bodies) if c.kind == "decision" else None,
                                     "outcome": c.outcome if c.kind == "decision" else None,
                                     "date": c.date, "by": c.by,
                                     "contract": c.contract if c.kind == "date" else None,
                                     "link": c.link, "stage": c.stage, "rule": c.rule,
                                     "quarters": c.quarters if c.kind in ("kpi", "review") else None,
                                     "when": {"field": c.when.field, "in": list(c.when.values)} if c.when else None}
                                    for c in g.criteria]} for g in wf.gates]}


def contract(st: Any) -> str:
    d = st.as_dict()
    money = ", ".join(f"{label} {pounds(value)}" for label, value in (("total", d["value_total"]),
                                                                       ("annual", d["value_annual"])) if value)
    no_notice = (f"runs on {d['run_on']}" if d["if_no_notice"] == "run-on" and d["run_on"]
                 else "runs on (period not stated)" if d["if_no_notice"] == "run-on" else "ends")
    lines = [f"Contract of {d['project']}: {d['provider'] or '-'} ({d['ref'] or 'no reference'})",
             *([f"  provider contact {d['provider_contact']}"] if d.get("provider_contact") else []),
             f"  term            {d['start'] or '?'} to {d['end'] or '?'}"
             + (f", extendable to {d['extension_to']}" if d["extension_to"] else ""),
             f"  value           {money or '-'}",
             *funded_by(st),
             f"  notice          {d['notice'] or '-'}; without notice it {no_notice}",
             f"  notice deadline {d['notice_deadline'] or '-'}"]
    if st.deadline_advice:
        lines.append(f"                  {st.deadline_advice}")
    if d["termination_costs"]:
        lines.append(f"  if terminated early: {d['termination_costs']}")
    lines += _published(d)
    if d["notice_served_on"] and d["notice_served_by_as_of"]:
        lines.append(f"  notice served   {d['notice_served_on']} ({d['notice_ref']})")
    elif d["notice_served_on"]:
        lines.append(f"  notice served   not yet on {d['as_of']} (served later, on {d['notice_served_on']}: "
                     f"{d['notice_ref']})")
    if d.get("regime"):
        lines.append(f"  regime          {REGIME_WORDS.get(d['regime'], d['regime'])}")
    if d.get("kpis_exempt"):
        lines.append(f"  KPIs exempt     s.52(2): {d['kpis_exempt']}")
    if d.get("assessment_due_on"):
        lines.append(f"  KPI assessment  next due by {d['assessment_due_on']} (Procurement Act 2023 s.71(2))")
    lines += [f"  FLAG: {flag}" for flag in getattr(st, "flags", ())]
    lines.append(f"  on {d['as_of']}: {d['status'].upper()}. {d['if_nothing_is_done']}")
    return lines_of(lines)


#: `contract show`'s words for a contract's regime (cycle.contracts.REGIMES).
REGIME_WORDS = {"pa2023": "Procurement Act 2023", "pa2023-light-touch": "Procurement Act 2023, light touch (s.9)",
                "psr": "Health Care Services (Provider Selection Regime) Regulations 2023",
                "none": "none of these (e.g. Public Contracts Regulations 2015)"}


def _split(d: Any) -> str:
    """A split as a contract.fund entry holds it: 'A 60%; B 40% within P', or 'nobody recorded'."""
    if not isinstance(d, dict) or not d.get("funders"):
        return "nobody recorded"
    parts = "; ".join(f"{f.get('funder')} {f['share'] + '%' if f.get('share') else pounds(f.get('amount'))}"
                      for f in d["funders"] if isinstance(f, dict))
    return parts + (f" within {d['pool']}" if d.get("pool") else "")


def funded_by(st: Any) -> list[str]:
    """`contract show`'s lines on who pays: the split, its pool, and a warning when it no longer adds up."""
    f = st.funding
    if f is None:
        return []
    pool = f" (within {f.pool})" if f.pool else ""
    lines = [f"  funded by       {f.summary()}{pool}"]
    problem = f.mismatch(st.contract.value_total)
    if problem:
        lines.append(f"  WARNING: {problem}; record the split again with: cycle contract fund "
                     f"{st.address()} --funder NAME --{f.by} ...")
    return lines


def fund(key: str, st: Any, before: Any) -> str:
    """What `contract fund` did."""
    c = st.contract
    which = f"{st.holder}'s contract {c.ref}" if c.ref else f"{st.holder}'s contract"
    was = f" (was: {before.summary()}{f' within {before.pool}' if before.pool else ''})" if before else ""
    if st.funding is None:
        return safe(f"Cleared who pays for {which}{was}.")
    pool = f" within {st.funding.pool}" if st.funding.pool else ""
    from cycle.funding import same

    if same(before, st.funding):
        return safe(f"Funding of {which} is already {st.funding.summary()}{pool}: nothing changed.")
    return safe(f"Funding of {which}: {st.funding.summary()}{pool}{was}.")
def _published(d: dict[str, Any]) -> list[str]:
    """The Transparency Code's details of a contract, those recorded (`contract set --title ...`)."""
    supplier = [f"SME {d['sme']}" if d.get("sme") else "", f"VCSE {d['vcse']}" if d.get("vcse") else "",
                f"registration number {d['registration_number']}" if d.get("registration_number") else ""]
    shown = [("title", d.get("title")), ("description", d.get("description")), ("department", d.get("department")),
             ("review date", d.get("review_on")), ("awarded by", d.get("awarded_by")),
             ("supplier", ", ".join(s for s in supplier if s)),
             ("VAT not recoverable", pounds(d["vat_not_recoverable"]) if d.get("vat_not_recoverable") else None)]
    return [f"  {label:<15} {value}" for label, value in shown if value]


def contract_set(key: str, st: Any) -> str:
    """What `contract set` did; a decommissioning project's terms go on the service it decommissions; then the notice
    a change of value or term needs under its regime, if it has one."""
    shown = contract(st) + (f"\n{st.change_notice}" if getattr(st, "change_notice", None) else "")
    if st.holder == key:
        return shown
    return (f"{key} decommissions {st.holder} and works with its contract, so the terms were recorded on "
            f"{st.holder}.\n{shown}")


def due(rows: list[Any], within: str) -> str:
    if not rows:
        return f"Nothing due within {within}."
    lines = []
    for when, what, st in rows:
        ref = f" ({st.contract.ref})" if st.contract.ref else ""
        said = "; ".join(st.flags) if what in ("s.52 KPIs", "s.71 assessment") and st.flags else st.consequence
        lines.append(f"{when.isoformat()}  {what:<15} {st.holder:<18} {st.contract.provider or '-'}{ref}: "
                     f"{said}")
        if what == "notice deadline" and st.deadline_advice:
            lines.append(f"{'':12}{st.deadline_advice}")
    return lines_of(lines)


# --- contracts list ---------------------------------------------------------------------------------------------

#: `contracts list`: the fields of each row, in order (--json keys, --csv columns).
CONTRACT_COLUMNS = ["project", "ref", "provider", "start_on", "end_on", "extension_end_on", "value_total",
                    "value_annual", "notice", "notice_deadline_on", "notice_served_on", "status", "as_of",
                    "funders", "funding_pool", "funding_warning", "provider_contact"]


def listed_contract(st: Any) -> dict[str, Any]:
    """One row of `contracts list --json` (and --csv): a contract's terms and its status on the day."""
    c = st.contract
    return {"project": st.holder, "ref": c.ref, "provider": c.provider, "start_on": c.start, "end_on": c.end,
            "extension_end_on": c.extension_to, "value_total": c.value_total, "value_annual": c.value_annual,
            "notice": c.notice, "notice_deadline_on": st.deadline.isoformat() if st.deadline else None,
            "notice_served_on": st.served_on.isoformat() if st.served_on else None, "status": st.state,
            "as_of": st.as_of.isoformat(), "funders": st.funding.summary() if st.funding else None,
            "funding_pool": st.funding.pool if st.funding else None,
            "funding_warning": st.funding.mismatch(c.value_total) if st.funding else None,
            "provider_contact": c.provider_contact}


def pounds(value: str | None) -> str:
    """'3600000.00' -> '£3,600,000.00'; '-' for none, and text that is not an amount as cycle writes one (a hand
    edit: '1e999999999' would be a billion digits) as it is."""
    if not value:
        return "-"
    if not _AMOUNT.fullmatch(value):
        return value
    return f"£{Decimal(value):,.2f}"


_AMOUNT = re.compile(r"-?[0-9]{1,16}(?:\.[0-9]{1,2})?")


def contract_line(st: Any, width: int) -> str:
    c = st.contract
    most = f" (max {c.extension_to})" if c.extension_to else ""
    deadline = f"notice by {st.deadline.isoformat()}" if st.deadline else "notice by ?"
    line = safe(f"{st.holder:<{width}}  {st.state:<11} {c.start or '?'} to {c.end or '?'}{most}  {deadline}  "
                f"{pounds(c.value_total)}  {c.ref or '-'}  {c.provider or '-'}"
                + ("  (funding does not add up)" if st.funding and st.funding.mismatch(c.value_total) else ""))
    return line + (f"\n{'':{width + 2}}{st.deadline_advice}" if st.deadline_advice else "")


def no_contracts(provider: str | None, which: str, as_of: Any) -> str:
    """What `contracts list` says when nothing matches."""
    what = {"live": "live contracts", "ended": "ended contracts", "all": "contracts"}[which]
    if provider is not None:
        return safe(f"No {what} with provider {provider!r} on {as_of.isoformat()}. "
                    f"See them all with: cycle contracts list --status all")
    if which != "all":
        return f"No {what} on {as_of.isoformat()}. See them all with: cycle contracts list --status all"
    return ("No contracts yet. Record one with: cycle contract set KEY --provider NAME --start YYYY-MM-DD "
            "--end YYYY-MM-DD")


# --- import register -----------------------------------------------------------------------------------------

def planned_row(p: Any) -> str:
    """One row of `import register --dry-run`: what it would create or change."""
    if p.what == "create":
        return safe(f"line {p.line}: would create project {p.key} at {p.stage}, with contract {p.ref}")
    if p.what == "unchanged":
        return safe(f"line {p.line}: unchanged: contract {p.ref} of {p.key}")
    if p.what == "add":
        return safe(f"line {p.line}: would add contract {p.ref} to project {p.key}")
    changes = "; ".join(f"{name} {old or '(none)'} -> {new}" for name, (old, new) in p.changes.items())
    return safe(f"line {p.line}: would change contract {p.ref} of {p.key}: {changes}")


def imported(d: Any) -> str:
    """What `import register` did (or, with --dry-run, would do)."""
    rows = counted(d.rows, "row")
    if d.dry_run:
        return safe(f"Dry run of {d.file} (read as {d.encoding}, SHA-256 {d.sha256}): {rows}: {d.created} to "
                    f"create, {d.added} to add, {d.changed} to change, {d.unchanged} unchanged. Nothing was written.")
    if not d.created and not d.added and not d.changed:
        return safe(f"Nothing to change: the {rows} of {d.file} match the database (SHA-256 {d.sha256}); nothing "
                    f"was written.")
    entries = (f"audit entry {d.first_seq}" if d.first_seq == d.last_seq
               else f"audit entries {d.first_seq} to {d.last_seq}")
    return safe(f"Imported {d.file} (read as {d.encoding}, SHA-256 {d.sha256}): {rows}: "
                f"{counted(d.created, 'project')} created, {counted(d.added, 'contract')} added, "
                f"{counted(d.changed, 'contract')} changed, {d.unchanged} unchanged; recorded as {entries}.")
