"""What is due on a date, computed from the database alone, and queued in the transaction that decides it.

Nothing here remembers what it did last time: every run looks at the projects, contracts, reviews,
decisions and the outbox as they stand, so a run that was missed is made up by the next one, and a
run repeated (a second tick, a second scheduler, cron as well) finds the outbox rows already there.
The outbox's unique key (project, kind, period, recipient) backs this up in the database itself.

Kinds of reminder:
- ``review-due``: the quarter's review meeting falls due within `review_lead_days` (to the owner);
  when nothing ran in those days, the next run sends it late ("was due by ..."), as long as the
  quarter is the latest one whose reminder has fallen due (a later quarter's reminder replaces it);
- ``review-overdue``: the quarter ended more than `review_grace_days` ago with no review recorded
  (to the governance lead);
- ``notice``: a rung of the notice ladder (default 120, 90, 60, 30 and 7 days before the notice
  deadline; when several rungs fell due while nothing ran, only the latest is sent);
- ``notice-passed``: the deadline went by without notice, once; after it, silence;
- ``gate-waiting``: everything a gate needs is there except the body's decision, and the project
  has been at its stage for more than `gate_wait_days` days with no decision in this visit.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cycle import config, contracts
from cycle.audit import chain
from cycle.calendar import quarters
from cycle.db.models import AuditEntry, Contract, Link, OutboxMessage, Project
from cycle.db.store import Store
from cycle.errors import BadInput, CycleError
from cycle.governance.people import get as get_person
from cycle.projects import views
from cycle.workflow.gates import evaluate, quote

from . import reviews

CONFIG_FILE = "reminders.toml"
DEFAULT_LADDER = (120, 90, 60, 30, 7)
LIVE_STAGES = ("do", "review")


# --- settings ------------------------------------------------------------------------------------

SMTP_SECURITY = ("starttls", "ssl", "none")
TIME_OF_DAY = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
SMTP_TIMEOUT_MAX = 60  # seconds; the scheduler renews its lease every 30 s between sends, on the same thread


def config_path() -> Path:
    return config.home() / CONFIG_FILE


def _whole(value: Any, low: int, high: int | None = None) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool) and value >= low
            and (high is None or value <= high))


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and not any(ord(ch) < 32 for ch in value)


def _port(value: Any) -> bool:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return _whole(value, 1, 65535)


def _timeout(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and 0 < value <= SMTP_TIMEOUT_MAX)


_TEXT = (_text, "must be text in quotes")
# What each key may hold, and the rule said when it does not; checked whenever the file is read.
_RULES: dict[str, dict[str, tuple[Callable[[Any], bool], str]]] = {
    "reminders": {
        "review_lead_days": (lambda v: _whole(v, 0), "must be a whole number of days, 0 or more"),
        "review_grace_days": (lambda v: _whole(v, 0), "must be a whole number of days, 0 or more"),
        "gate_wait_days": (lambda v: _whole(v, 0), "must be a whole number of days, 0 or more"),
        "notice_ladder": (lambda v: isinstance(v, list) and bool(v) and all(_whole(n, 0) for n in v),
                          "must be a list of days before the deadline, e.g. [120, 90, 60, 30, 7]"),
    },
    "smtp": {
        "host": (lambda v: _text(v) and not any(ch.isspace() for ch in v),
                 'must be the server\'s name in quotes, e.g. "smtp.council.gov.uk"'),
        "port": (_port, "must be a port number from 1 to 65535, e.g. 587"),
        "security": (lambda v: isinstance(v, str) and v.strip().lower() in SMTP_SECURITY,
                     "must be one of: " + ", ".join(f'"{x}"' for x in SMTP_SECURITY)),
        "user": _TEXT, "password_file": _TEXT, "from": _TEXT, "helo": _TEXT, "cafile": _TEXT,
        "timeout": (_timeout, f"must be a number of seconds, more than 0 and at most {SMTP_TIMEOUT_MAX}, e.g. 30"),
    },
    "scheduler": {
        "at": (lambda v: isinstance(v, str) and bool(TIME_OF_DAY.match(v.strip())),
               'must be a time of day in quotes, HH:MM London time, e.g. "07:00"'),
        "drain_every_minutes": (lambda v: _whole(v, 1), "must be a whole number, 1 or more"),
    },
}


def read_config(section: str) -> dict[str, Any]:
    """One section of $CYCLE_HOME/reminders.toml ({} when the file is absent).

    The whole file is checked each time: an unknown section or key, or a value of the wrong type or
    out of range anywhere in it, is refused with one line naming the file and the key.
    """
    path = config_path()
    if not path.exists():
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: not valid TOML ({exc})") from None
    for name, body in raw.items():
        if name not in _RULES or not isinstance(body, dict):
            raise BadInput(f"{path}: unknown section [{name}]; it may have: "
                           + ", ".join(f"[{s}]" for s in _RULES))
        unknown = sorted(set(body) - set(_RULES[name]))
        if "password" in unknown and name == "smtp":
            raise BadInput(f"{path}: [smtp] password is not read from this file; put it in a file of its own "
                           f"and name it with password_file, or set CYCLE_SMTP_PASSWORD")
        if unknown:
            raise BadInput(f"{path}: [{name}] has unknown key {unknown[0]!r}; it knows: "
                           + ", ".join(sorted(_RULES[name])))
        for key, value in body.items():
            ok, rule = _RULES[name][key]
            if not ok(value):
                raise BadInput(f"{path}: [{name}] {key} {rule}")
    return dict(raw.get(section, {}))


@dataclass(frozen=True)
class Settings:
    review_lead_days: int = 14
    review_grace_days: int = 7
    notice_ladder: tuple[int, ...] = DEFAULT_LADDER
    gate_wait_days: int = 30


def settings() -> Settings:
    raw = read_config("reminders")  # checked there
    values: dict[str, Any] = {name: raw[name] for name in ("review_lead_days", "review_grace_days", "gate_wait_days")
                              if name in raw}
    if "notice_ladder" in raw:
        values["notice_ladder"] = tuple(sorted(set(raw["notice_ladder"]), reverse=True))
    return Settings(**values)


# --- what is due ---------------------------------------------------------------------------------

@dataclass
class Reminder:
    """One reminder to one person: not yet in the outbox when `outbox_id` is None."""

    project: str
    kind: str
    period: str
    recipient: str
    role: str
    email: str
    context: dict[str, Any]
    outbox_id: int | None = None
    status: str | None = None  # None: not queued yet; 'queued': by this run; else the outbox row's status

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.project, self.kind, self.period, self.recipient)

    def as_dict(self) -> dict[str, Any]:
        return {"project": self.project, "kind": self.kind, "period": self.period, "recipient": self.recipient,
                "role": self.role, "email": self.email, "subject": self.context.get("summary"),
                "outbox_id": self.outbox_id, "status": self.status or "new"}


@dataclass
class Problem:
    """A reminder that cannot go to somebody, and the command that fixes it (the next run then sends it)."""

    project: str
    kind: str
    period: str
    problem: str
    fix: str

    def as_dict(self) -> dict[str, Any]:
        return {"project": self.project, "kind": self.kind, "period": self.period, "problem": self.problem,
                "fix": self.fix}


@dataclass
class Plan:
    as_of: date
    reminders: list[Reminder] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def new(self) -> list[Reminder]:
        """The reminders this run queues (or, in a preview, would queue)."""
        return [r for r in self.reminders if r.status in (None, "queued")]

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "reminders": [r.as_dict() for r in self.reminders],
                "problems": [p.as_dict() for p in self.problems]}


_FLAGS = {"owner": "--owner", "senior responsible officer": "--sro", "governance lead": "--governance-lead"}


class _Collector:
    def __init__(self, store: Store, session: Session, as_of: date):
        self.store = store
        self.s = session
        self.plan = Plan(as_of)
        self._people: dict[str, Any] = {}

    def add(self, project: Project, kind: str, period: str, context: dict[str, Any],
            who: list[tuple[str, str | None, bool]]) -> None:
        """Address a reminder to each (role, name, required) that has a person with an email."""
        base = {"project": project.key, "title": project.title, "kind": kind, "period": period,
                "as_of": self.plan.as_of.isoformat(), **context}
        seen: set[str] = set()
        for role, name, required in who:
            if not name:
                if required:
                    flag = _FLAGS.get(role, "--owner")
                    self.plan.problems.append(Problem(
                        project.key, kind, period, f"{project.key} has no {role} to send it to",
                        f"cycle project set {project.key} {flag} NAME"))
                continue
            if name in seen:
                continue
            seen.add(name)
            if name not in self._people:
                self._people[name] = get_person(self.s, name)
            person = self._people[name]
            if person is None:
                self.plan.problems.append(Problem(
                    project.key, kind, period,
                    f"{name} ({role} of {project.key}) is not in the people list, so has no email",
                    f"cycle people add {name} --email ADDRESS"))
                continue
            self.plan.reminders.append(Reminder(project.key, kind, period, name, role, person.email,
                                                {**base, "recipient": name, "role": role}))


def entered_stage_on(session: Session, project: Project, stage: str | None = None) -> date:
    """The London date the project last entered `stage` (default: its current stage), from the audit log."""
    row = session.exec(select(AuditEntry.at).where(  # type: ignore[call-overload]
        AuditEntry.project == project.key, AuditEntry.to_stage == (stage or project.stage))
        .order_by(AuditEntry.seq.desc()).limit(1)).first()  # type: ignore[attr-defined]
    stamp = row[0] if row else project.created_at
    return quarters.london_date(quarters.parse_utc(stamp))


def _live_until(st: contracts.Status) -> date | None:
    """The last day the contract runs, as far as is known (None: it runs on with no end in sight)."""
    return st.effective_end


def _reviews(c: _Collector, project: Project, contract: Contract, cfg: Settings) -> None:
    as_of = c.plan.as_of
    st = contracts.status(project.key, contract, as_of)
    since = entered_stage_on(c.s, project, "do")
    if contract.start:
        since = max(since, date.fromisoformat(contract.start))
    until = min(as_of, _live_until(st) or as_of)
    if until < since:
        return
    done = reviews.held(c.s, project)
    for q in quarters.quarters_between(since, until):
        if str(q) in done:
            continue
        context = {"quarter": str(q), "quarter_about": q.describe(), "quarter_start": q.start.isoformat(),
                   "quarter_end": q.end.isoformat(), "review_due": q.end.isoformat(),
                   "provider": contract.provider, "contract_ref": contract.ref,
                   "command": f"cycle review record {project.key} --quarter {q} --held-on YYYY-MM-DD"}
        lead = timedelta(days=cfg.review_lead_days)
        # Due from `lead` days before the quarter ends until the next quarter's reminder falls due:
        # a run after the quarter ended (nothing ran in those days) still tells the owner, once.
        if q.end - lead <= as_of and (as_of <= q.end or as_of < (q + 1).end - lead):
            days_left = (q.end - as_of).days
            summary = (f"Quarterly review due by {q.end.isoformat()}" if days_left >= 0
                       else f"Quarterly review for {q} was due by {q.end.isoformat()}: not recorded yet")
            c.add(project, "review-due", str(q),
                  {**context, "days_left": days_left, "days_late": max(0, -days_left), "summary": summary},
                  [("owner", project.owner, True)])
        if as_of > q.end + timedelta(days=cfg.review_grace_days):
            c.add(project, "review-overdue", str(q),
                  {**context, "days_overdue": (as_of - q.end).days,
                   "summary": f"Quarterly review for {q} not recorded"},
                  [("governance lead", project.governance_lead, True)])


def _decommissioners(session: Session, holder: Project) -> list[Project]:
    query = (select(Project).join(Link, Link.other_id == Project.id)  # type: ignore[arg-type]
             .where(Link.project_id == holder.id, Link.kind == "decommissioned-by"))  # type: ignore[arg-type]
    rows = session.exec(query).scalars()  # type: ignore[call-overload]
    return [p for p in rows if p.stage != "closed"]


def _notice(c: _Collector, holder: Project, contract: Contract, cfg: Settings) -> None:
    as_of = c.plan.as_of
    st = contracts.status(holder.key, contract, as_of)
    if st.deadline is None:
        return
    who: list[tuple[str, str | None, bool]] = [("owner", holder.owner, True),
                                               ("senior responsible officer", holder.sro, False)]
    for child in _decommissioners(c.s, holder):
        who.append((f"owner of {child.key}", child.owner, False))
    context = {"deadline": st.deadline.isoformat(), "contract_end": contract.end, "provider": contract.provider,
               "contract_ref": contract.ref, "notice": contract.notice, "state": st.state,
               "consequence": st.consequence,
               "run_on_to": st.run_on_to.isoformat() if st.run_on_to else None,
               "command": f"cycle contract notice {holder.key} --served-on YYYY-MM-DD --ref REF"}
    if st.state in ("open", "due"):
        fallen = [n for n in cfg.notice_ladder if as_of >= st.deadline - timedelta(days=n)]
        if not fallen:
            return
        rung = min(fallen)  # the latest rung reached; earlier ones missed while nothing ran say less
        days = (st.deadline - as_of).days
        when = "today" if days == 0 else f"in {days} days"
        c.add(holder, "notice", f"{st.deadline.isoformat()}/{rung}d",
              {**context, "rung": rung, "days_left": days,
               "summary": f"Notice deadline {when} ({st.deadline.isoformat()})"}, who)
    elif st.state == "passed":
        runs_on = (f"the contract now runs on to {st.run_on_to.isoformat()}" if st.run_on_to
                   else "the contract now runs on past its end date")
        who.append(("governance lead", holder.governance_lead, False))
        c.add(holder, "notice-passed", st.deadline.isoformat(),
              {**context, "summary": f"Notice deadline passed: {runs_on}"}, who)


def _gate_waiting(c: _Collector, project: Project, cfg: Settings) -> None:
    as_of = c.plan.as_of
    try:
        wf = views.workflow_for(c.store, c.s, project)  # the version it runs on
        if wf.stage(project.stage).final:
            return
        since = entered_stage_on(c.s, project)
        waited = (as_of - since).days
        if waited <= cfg.gate_wait_days:
            return
        decisions = views.decisions_of(c.s, project)
        if any(d.visit == project.visit for d in decisions):
            return  # the body has decided something in this visit (a hold, say): not waiting on it
        evidence = views.evidence_of(c.s, project)
        facts = views.facts_for(c.s, project, as_of)
        ready = []
        for gate in wf.gates_from(project.stage, explicit=False):
            unmet = evaluate(wf, gate, project, evidence, decisions, facts).unmet_must
            if unmet and all(u.kind == "decision" for u in unmet):
                ready.append(gate)
    except CycleError as exc:
        c.plan.problems.append(Problem(project.key, "gate-waiting", project.stage, str(exc),
                                       f"cycle gate check {project.key}"))
        return
    if not ready:
        return
    first = ready[0]
    c.add(project, "gate-waiting", f"{project.stage}/c{project.cycle}v{project.visit}",
          {"stage": project.stage, "since": since.isoformat(), "days_waiting": waited,
           "gates": [{"id": g.id, "to": g.dest, "title": g.title} for g in ready],
           "body": project.accountable_body,
           "summary": f"Waiting {waited} days for a decision on {', '.join(g.id for g in ready)}",
           "command": (f"cycle decision record {project.key} --gate {first.id} --outcome go "
                       f"--body {quote(project.accountable_body) if project.accountable_body else 'BODY'} "
                       f"--ref MINUTES")},
          [("owner", project.owner, True), ("governance lead", project.governance_lead, False)])


def due(store: Store, session: Session, as_of: date, cfg: Settings | None = None) -> Plan:
    """Every reminder due on `as_of`, each marked with its outbox row when it is already queued or sent."""
    cfg = cfg or settings()
    c = _Collector(store, session, as_of)
    projects = list(session.exec(select(Project).order_by(Project.key)).scalars())  # type: ignore[call-overload, arg-type]
    held = {ct.project_id: ct for ct in session.exec(select(Contract)).scalars()}  # type: ignore[call-overload]
    by_id = {p.id: p for p in projects}
    for project in projects:
        contract = held.get(project.id)
        if contract is not None and project.stage in LIVE_STAGES:
            _reviews(c, project, contract, cfg)
        _gate_waiting(c, project, cfg)
    # Notice reminders belong to the contract, so they go once per contract (to its holder's people
    # and those of a decommissioning project working on it), never once per linked project.
    for project_id, contract in sorted(held.items()):
        holder = by_id[project_id]
        if holder.stage != "closed":
            _notice(c, holder, contract, cfg)
    _mark_queued(session, c.plan)
    return c.plan


def _mark_queued(session: Session, plan: Plan) -> None:
    keys = {r.project for r in plan.reminders}
    if not keys:
        return
    rows = session.exec(select(OutboxMessage).where(OutboxMessage.project.in_(keys))).scalars()  # type: ignore[call-overload, attr-defined]
    found = {(o.project, o.kind, o.period, o.recipient): o for o in rows}
    for r in plan.reminders:
        row = found.get(r.key)
        if row is not None:
            r.outbox_id, r.status = row.id, row.status
            if row.status in ("sent", "sending"):
                r.email = row.email  # where it went (or is going); an unsent row goes to the current address


# --- queueing ------------------------------------------------------------------------------------

Guard = Callable[[Session], None]


def preview(store: Store, as_of: date, cfg: Settings | None = None) -> Plan:
    """What a run on `as_of` would queue (nothing is written)."""
    with store.read() as s:
        return due(store, s, as_of, cfg)


def enqueue(store: Store, as_of: date, *, actor: str, cfg: Settings | None = None,
            guard: Guard | None = None) -> Plan:
    """Queue every due reminder not already in the outbox, in the transaction that found it due.

    `guard` runs first inside that transaction (the scheduler checks it still holds its lease there).
    """
    cfg = cfg or settings()
    with store.write() as s:
        if guard is not None:
            guard(s)
        plan = due(store, s, as_of, cfg)
        now = chain.utc_now()
        for r in plan.new:
            row = OutboxMessage(project=r.project, kind=r.kind, period=r.period, recipient=r.recipient, email=r.email,
                                due_on=as_of.isoformat(), context=json.dumps(r.context, sort_keys=True),
                                next_attempt_at=now, created_at=now)
            s.add(row)
            s.flush()
            r.outbox_id, r.status = row.id, "queued"
            chain.append(s, actor=actor, action="outbox.enqueue", project=r.project,
                         payload={"outbox_id": row.id, "kind": r.kind, "period": r.period, "recipient": r.recipient,
                                  "email": r.email, "as_of": as_of.isoformat()})
    return plan
