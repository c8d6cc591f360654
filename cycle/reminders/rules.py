"""What is due on a date, computed from the database alone, and queued in the transaction that decides it.

Nothing here remembers what it did last time: every run looks at the projects, contracts, reviews,
decisions and the outbox as they stand, so a run that was missed is made up by the next one, and a
run repeated (a second tick, a second scheduler, cron as well) finds the outbox rows already there.
The outbox's unique key (project, kind, period, recipient) backs this up in the database itself.

Kinds of reminder:
- ``review-due`` (for each quarter the contract runs, whatever its project's stage: reviews.review_period):
  the quarter's review meeting falls due within `review_lead_days` (to the owner);
  when nothing ran in those days, the next run sends it late ("was due by ..."), as long as the
  quarter is the latest one whose reminder has fallen due (a later quarter's reminder replaces it);
- ``review-overdue``: the quarter ended more than `review_grace_days` ago with no review recorded
  (to the governance lead);
- ``notice``: a rung of the notice ladder (default 120, 90, 60, 30 and 7 days before the notice
  deadline; when several rungs fell due while nothing ran, only the latest is sent);
- ``notice-passed``: the deadline went by without notice, once; after it, silence;
- ``contract-end``: a contract with no notice period ends within the ladder's first rung, once (ending.py);
- ``gate-waiting``: everything a gate needs is there except the body's decision, and the project
  has been at its stage for more than `gate_wait_days` days with no decision in this visit;
- ``return-due`` (per contract with indicators and quarter it ran in): from the day after the quarter ends until its
  return is due (`return_due_days` after it ends), some indicator has no value yet (to the provider contact);
- ``return-late``: the return's due date has passed with some indicator of the quarter still without a value (to
  the provider contact, else the project's owner), for each quarter whose return fell due after the indicator
  was added;
- ``action-overdue``: an action's due date has passed and it is not done (to its owner);
- ``action-escalated``: still not done `action_escalate_days` after its due date (to the governance lead).
- ``standstill-ends``, ``procurement-due``, ``procurement-missed``: procurement's statutory dates, as `cycle
  procurement due` lists them (statutory.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from operator import attrgetter
from typing import Any, Protocol

from sqlmodel import Session

from cycle import contracts, inputs
from cycle.bulk import paused_gc
from cycle.calendar import clock, dates
from cycle.calendar.quarters import Quarter
from cycle.db import rows
from cycle.db.rows import ContractRow, DecisionRow, EvidenceRow, LinkedProject, ProjectRow, WaiverRow
from cycle.db.sql import Sql, sql_of
from cycle.db.store import Store
from cycle.errors import BadInput, CycleError
from cycle.governance.people import get as get_person
from cycle.performance import gating, pa2023
from cycle.projects import history
from cycle.shell import quote
from cycle.workflow import gates, registry
from cycle.workflow.definition import Gate
from cycle.workflow.gates import awaits_decision, required_bodies

from . import ending, outbox, reviews, statutory
from .lease import Lease
from .settings import Settings, bank_holidays, settings

# --- what is due ---------------------------------------------------------------------------------

@dataclass(slots=True)
class Reminder:
    """One reminder to one person: not yet in the outbox when `outbox_id` is None (or its row was cancelled, its
    date then no longer applying: `status` is then None, and queueing it reopens that row).

    Its context (what the templates render) is kept in parts, shared between the reminders of one scan, and merged
    only when asked for: a dry run needs the summary alone, and at portfolio scale most reminders are only listed."""

    project: str
    kind: str
    period: str
    recipient: str
    role: str
    email: str
    summary: str
    title: str
    as_of: str
    parts: tuple[dict[str, Any], ...] = field(repr=False)
    outbox_id: int | None = None
    status: str | None = None  # None: not queued yet; 'queued': by this run; else the outbox row's status

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.project, self.kind, self.period, self.recipient)

    @property
    def context(self) -> dict[str, Any]:
        """The project's part, each of `parts` in order, and who it is for (a new dict at each call)."""
        context = {"project": self.project, "title": self.title, "kind": self.kind, "period": self.period,
                   "as_of": self.as_of}
        for part in self.parts:
            context.update(part)
        context["recipient"], context["role"] = self.recipient, self.role
        return context

    def as_dict(self) -> dict[str, Any]:
        return {"project": self.project, "kind": self.kind, "period": self.period, "recipient": self.recipient,
                "role": self.role, "email": self.email, "subject": self.summary,
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
#: A contract's provider contact, as a reminder names their role (contract.provider_contact).
PROVIDER_CONTACT = "provider contact"


class Lookup(Protocol):
    """What the due scan reads about a project beyond its row and its contract. `Portfolio` reads every project's
    at once, in a few queries (the scan costs the same few queries for 10 projects or 100,000)."""

    def entered(self, project: ProjectRow, stage: str | None, *, creation: bool) -> date | None: ...
    def held(self, project: ProjectRow) -> dict[str, str]: ...
    def decisions(self, project: ProjectRow) -> list[DecisionRow]: ...
    def evidence(self, project: ProjectRow) -> list[EvidenceRow]: ...
    def facts(self, project: ProjectRow, as_of: date) -> gates.Facts: ...
    def links(self, project: ProjectRow) -> list[LinkedProject]: ...
    def status(self, holder: str, contract: ContractRow, as_of: date) -> contracts.Status: ...


class Portfolio:
    """Every project's rows the due scan reads, one query per table (evidence and waivers only if a gate is
    checked): history.Entries for the stage entries, then reviews held, decisions, links."""

    def __init__(self, sql: Sql, projects: list[ProjectRow], held: dict[int, list[ContractRow]]):
        self.sql = sql
        self.entries = history.Entries(sql)
        self._held: dict[int, dict[str, str]] = {}
        for project_id, quarter, held_on in sql.tuples("SELECT project_id, quarter, held_on FROM review_meeting"):
            self._held.setdefault(project_id, {})[quarter] = held_on
        self._decisions = rows.grouped(sql, DecisionRow)
        self._links = rows.all_links(sql)
        self._contracts = held
        self._by_id = {p.id: p for p in projects}
        self._evidence: dict[int, list[EvidenceRow]] | None = None
        self._waivers: dict[int, list[WaiverRow]] | None = None
        self._status: dict[tuple[int, date], contracts.Status] = {}
        self._nation: str | None = None

    def nation(self) -> str:
        """Whose bank holidays count (settings.bank_holidays), looked up once per scan, not once per contract
        (each look-up checks the settings file on disk)."""
        if self._nation is None:
            self._nation = bank_holidays()
        return self._nation

    def status(self, holder: str, contract: ContractRow, as_of: date) -> contracts.Status:
        """contracts.status, worked out once per contract and day (the reviews, the notices and a gate ask it)."""
        key = (contract.id, as_of)
        if key not in self._status:
            self._status[key] = contracts.status(holder, contract, as_of, nation=self.nation())
        return self._status[key]

    def entered(self, project: ProjectRow, stage: str | None, *, creation: bool) -> date | None:
        return self.entries.entered_on(project, stage, creation=creation)

    def held(self, project: ProjectRow) -> dict[str, str]:
        return self._held.get(project.id, {})

    def decisions(self, project: ProjectRow) -> list[DecisionRow]:
        return self._decisions.get(project.id, [])

    def evidence(self, project: ProjectRow) -> list[EvidenceRow]:
        if self._evidence is None:
            self._evidence = rows.grouped(self.sql, EvidenceRow)
        return self._evidence.get(project.id, [])

    def links(self, project: ProjectRow) -> list[LinkedProject]:
        return [link for _, link in self._links.get(project.id, [])]

    def facts(self, project: ProjectRow, as_of: date) -> gates.Facts:
        """gates.facts, from what was read: the contracts the project works with (rows.contract_holder)."""
        holder, held = project.key, self._contracts.get(project.id, [])
        if not held:
            parent = next((other for other, link in self._links.get(project.id, []) if link.kind == "decommissions"),
                          None)
            if parent is not None:
                holder, held = self._by_id[parent].key, self._contracts.get(parent, [])
        several = len(held) > 1
        statuses = [self.status(holder, c, as_of) for c in held]
        if several:
            statuses = [replace(st, several=True) for st in statuses]
        if self._waivers is None:
            self._waivers = rows.grouped(self.sql, WaiverRow)
        found = self._waivers.get(project.id)
        waivers = {(w.gate, w.criterion): w for w in found if w.visit == project.visit} if found else {}
        # (a gate's kpi and review criteria look at the indicators and meetings: read for this project only)
        performance = gating._read(self.sql, project, statuses, as_of)
        return gates.Facts(today=as_of, contracts=statuses, links=self.links(project), waivers=waivers,
                           performance=performance)


#: A quarter on the scan's day (_Collector.quarter): label, last day, review due now, review overdue, and the
#: quarter's part of a reminder's context.
_QuarterDue = tuple[str, date, bool, bool, dict[str, str]]


class _Collector:
    _has_kpis: bool | None = None

    def _flagged(self, project: ProjectRow, label: str) -> list[dict[str, Any]]:
        """The contract's indicators missed, over or without a return, for its review reminder (none read at all
        when the database holds no indicator)."""
        if self._has_kpis is None:
            self._has_kpis = self.sql.one("SELECT 1 AS found FROM kpi LIMIT 1") is not None
        if not self._has_kpis:
            return []
        from cycle.calendar.quarters import parse_quarter
        from cycle.performance import indicators

        q = parse_quarter(label)  # one meeting reviews all the project's contracts: all their indicators
        return [item for each in rows.contracts_of(self.sql, project.id)
                for item in indicators._flagged(self.sql, project.key, each, q, self.sent_on)]

    def __init__(self, store: Store, session: Session, as_of: date, look: Lookup, sent_on: date):
        self.store = store
        self.sent_on = sent_on  # the day the reminders go: as_of, or a later day for a run dated back (see due)
        self.s = session  # for the people (the ORM)
        self.sql = sql_of(session)  # for the workflow versions (cycle.workflow.registry)
        self.look = look
        self.plan = Plan(as_of)
        self.as_of_text = as_of.isoformat()
        self._people: dict[str, Any] = {}
        self._quarters: dict[Quarter, _QuarterDue] = {}
        self._due_quarters: dict[tuple[str | None, date | None, date | None], tuple[_QuarterDue, ...]] = {}

    def quarter(self, q: Quarter, cfg: Settings) -> _QuarterDue:
        """(label, end, review due now, review overdue, the quarter's part of a reminder's context) on the scan's
        day: the same for every contract, so worked out once per quarter, not once per contract."""
        found = self._quarters.get(q)
        if found is None:
            as_of, end = self.plan.as_of, q.end
            lead, grace = timedelta(days=cfg.review_lead_days), timedelta(days=cfg.review_grace_days)
            # Due from `lead` days before the quarter ends until the next quarter's reminder falls due:
            # a run after the quarter ended (nothing ran in those days) still tells the owner, once.
            due_now = end - lead <= as_of and (as_of <= end or as_of < (q + 1).end - lead)
            about = {"quarter": str(q), "quarter_about": q.describe(), "quarter_start": q.start.isoformat(),
                     "quarter_end": end.isoformat(), "review_due": end.isoformat()}
            found = self._quarters[q] = (str(q), end, due_now, as_of > end + grace, about)
        return found

    def due_quarters(self, project: ProjectRow, contract: ContractRow,
                     cfg: Settings) -> tuple[_QuarterDue, ...]:
        """The quarters (as `quarter` gives them) that need a review of this contract (reviews.review_quarters)
        and whose review reminder is due or overdue on the scan's day, reviews held or not. They follow from the
        contract's start, the day its project entered `do` and its last day as things stand, which a
        portfolio's contracts share: worked out once for each, not once per contract."""
        as_of = self.plan.as_of
        entered = self.look.entered(project, "do", creation=False)
        st = self.look.status(project.key, contract, as_of)
        key = (contract.start, entered, st.effective_end)
        found = self._due_quarters.get(key)
        if found is None:
            needed = reviews.review_quarters(contract, project.key, entered, as_of, st)
            found = self._due_quarters[key] = tuple(
                q for q in (self.quarter(q, cfg) for q in needed) if q[2] or q[3])
        return found

    def person(self, name: str | None) -> Any:
        """The people list's entry for `name` (None: not there, or no name), looked up once per scan."""
        if not name:
            return None
        if name not in self._people:
            self._people[name] = get_person(self.s, name)
        return self._people[name]

    def problem(self, project: str, kind: str, period: str, problem: str, fix: str) -> None:
        """A reminder that cannot go until something is fixed (listed by the run and the dry run)."""
        self.plan.problems.append(Problem(project, kind, period, problem, fix))

    def add(self, project: ProjectRow, kind: str, period: str, summary: str, parts: tuple[dict[str, Any], ...],
            who: list[tuple[str, str | None, bool]]) -> None:
        """Address a reminder to each (role, name, required) that has a person with an email (each with a context
        of its own: the project's, `parts` merged in order, which hold `summary`, and who it is for)."""
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
            person = self.person(name)
            if person is None:
                self.plan.problems.append(Problem(
                    project.key, kind, period,
                    f"{name} ({role} of {project.key}) is not in the people list, so has no email",
                    f"cycle people add {name} --email ADDRESS"))
                continue
            self.plan.reminders.append(Reminder(project.key, kind, period, name, role, person.email, summary,
                                                project.title, self.as_of_text, parts))


def _reviews(c: _Collector, project: ProjectRow, held: list[ContractRow], cfg: Settings) -> None:
    """A project's review reminders: a quarter needs its review while any of its contracts runs (one meeting
    reviews them all: review_meeting is per project and quarter), named after the first contract needing it."""
    sent_on = c.sent_on  # (the days left, late or overdue are counted from the day it goes: see due)
    if len(held) == 1:
        _reviews_of(c, project, held[0], c.due_quarters(project, held[0], cfg), sent_on)
        return
    by_label: dict[str, tuple[ContractRow, _QuarterDue]] = {}
    for contract in held:
        for q in c.due_quarters(project, contract, cfg):
            by_label.setdefault(q[0], (contract, q))
    for contract, q in sorted(by_label.values(), key=lambda item: item[1][1]):
        _reviews_of(c, project, contract, (q,), sent_on)


def _reviews_of(c: _Collector, project: ProjectRow, contract: ContractRow, found: tuple[_QuarterDue, ...],
                sent_on: date) -> None:
    if not found:
        return
    done = c.look.held(project)
    terms: dict[str, Any] | None = None  # the contract's part of the context, made once (and only if needed)
    for label, end, due_now, overdue, about in found:
        if label in done:
            continue
        if terms is None:
            terms = {"provider": contract.provider, "contract_ref": contract.ref}
        command = f"cycle review record {project.key} --quarter {label} --held-on YYYY-MM-DD"
        if due_now:
            days_left = (end - sent_on).days
            summary = (f"Quarterly review due by {about['review_due']}" if days_left >= 0
                       else f"Quarterly review for {label} was due by {about['review_due']}: not recorded yet")
            c.add(project, "review-due", label, summary,
                  (about, terms, {"command": command, "days_left": days_left, "days_late": max(0, -days_left),
                                 "summary": summary, "indicators": c._flagged(project, label)}),
                  [("owner", project.owner, True)])
        if overdue:
            summary = f"Quarterly review for {label} not recorded"
            c.add(project, "review-overdue", label, summary,
                  (about, terms, {"command": command, "days_overdue": (sent_on - end).days, "summary": summary}),
                  [("governance lead", project.governance_lead, True)])


def _notice(c: _Collector, holder: ProjectRow, contract: ContractRow, cfg: Settings,
            decommissioners: list[ProjectRow], first: bool = True, several: bool = False) -> None:
    """A contract's notice reminders. Their key's period names the contract, so that each contract of a project gets
    its own: the project's first contract by a period as it always was ('2027-03-31/90d', so that what was queued
    or sent before a project could hold several is not sent again), every later one by '/c<id>' after it."""
    as_of = c.sent_on  # (a run dated back judges the notice as it stands when sent: see due)
    st = c.look.status(holder.key, contract, as_of)
    if st.deadline is None:
        return
    if st.state in ("open", "due"):
        days = (st.deadline - as_of).days
        fallen = [n for n in cfg.notice_ladder if n >= days]  # (as_of on or after deadline - n days)
        if not fallen:
            return  # (most contracts, at portfolio scale: nothing is built for them)
        kind, period = "notice", f"{st.deadline.isoformat()}/{min(fallen)}d"
    elif st.state == "passed":
        kind, period = "notice-passed", st.deadline.isoformat()
    else:
        return
    if not first:
        period += f"/c{contract.id}"
    named = f"{holder.key} --contract {quote(contract.ref)}" if several and contract.ref else holder.key
    who: list[tuple[str, str | None, bool]] = [("owner", holder.owner, True),
                                               ("senior responsible officer", holder.sro, False)]
    for child in decommissioners:
        who.append((f"owner of {child.key}", child.owner, False))
    context = {"deadline": st.deadline.isoformat(), "contract_end": contract.end, "provider": contract.provider,
               "contract_ref": contract.ref, "notice": contract.notice, "state": st.state,
               "consequence": st.consequence,
               "run_on_to": st.run_on_to.isoformat() if st.run_on_to else None,
               "command": f"cycle contract notice {named} --served-on YYYY-MM-DD --ref REF"}
    if kind == "notice":
        rung = min(fallen)  # the latest rung reached; earlier ones missed while nothing ran say less
        summary = f"Notice deadline {dates.in_days(days)} ({st.deadline.isoformat()})"
        c.add(holder, kind, period, summary, (context, {"rung": rung, "days_left": days, "summary": summary}), who)
    else:
        runs_on = (f"the contract now runs on to {st.run_on_to.isoformat()}" if st.run_on_to
                   else "the contract now runs on past its end date")
        who.append(("governance lead", holder.governance_lead, False))
        summary = f"Notice deadline passed: {runs_on}"
        c.add(holder, kind, period, summary, (context, {"summary": summary}), who)


# --- the provider's side (issue 17 part 4): quarterly returns and overdue actions -------------------------------

_KPIS = "SELECT id, contract_id, key, title, unit, created_at FROM kpi ORDER BY contract_id, key"
_FIRST_VALUES = "SELECT kpi_id, MIN(quarter) AS first FROM kpi_value GROUP BY kpi_id"
_OPEN_ACTIONS = ("SELECT a.id, a.project_id, a.text, a.owner, a.due, a.created_at, k.key AS kpi FROM action a "
                 "LEFT JOIN kpi k ON k.id = a.kpi_id WHERE a.done_on IS NULL ORDER BY a.id")


def _returns(c: _Collector, held: dict[int, list[ContractRow]], by_id: dict[int, ProjectRow], cfg: Settings) -> None:
    """Each contract's return-due and return-late reminders: for every quarter that has ended and that the contract
    ran in, the indicators whose return for it was owed (indicators.owed, the rule a gate's `returns` criterion asks
    by) with no value yet. Read in three queries for the whole portfolio (indicators, the first quarter each has a
    value for, then the quarters' values)."""
    from cycle.calendar.quarters import quarter_of
    from cycle.performance.indicators import added_on, last_day, owed, return_due, running

    as_of, sent_on = c.plan.as_of, c.sent_on
    kpis: dict[int, list[Any]] = {}
    for k in c.sql.rows(_KPIS):
        kpis.setdefault(k.contract_id, []).append(k)
    if not kpis:
        return
    due_days = cfg.return_due_days
    added = {k.id: added_on(k.created_at) for found in kpis.values() for k in found}  # None: every quarter owed
    first_value = {r.kpi_id: r.first for r in c.sql.rows(_FIRST_VALUES)}
    latest = quarter_of(as_of) - 1  # the last quarter that has ended by as_of
    # the first quarter any indicator owes (owed holds from some quarter on: its earliest day and first value
    # answer for them all), at most 40 quarters back
    stamps = list(added.values())
    earliest = None if None in stamps else min(d for d in stamps if d is not None)
    earliest_value = min(first_value.values(), default=None)
    first = latest
    while first > latest - 40 and owed(first - 1, due_days, earliest, earliest_value):
        first = first - 1
    recorded = {(v.kpi_id, v.quarter) for v in c.sql.rows(
        "SELECT kpi_id, quarter FROM kpi_value WHERE quarter >= :first AND quarter <= :last",
        first=str(first), last=str(latest))}
    by_contract = {contract.id: contract for own in held.values() for contract in own}
    for contract_id, found in sorted(kpis.items()):
        contract = by_contract.get(contract_id)
        if contract is None:
            continue
        project = by_id[contract.project_id]
        st = c.look.status(project.key, contract, as_of)
        start, last = inputs.stored_day(contract.start), last_day(st)
        several = len(held.get(project.id, [])) > 1
        q = latest
        while q >= first:
            due = return_due(q, due_days)
            missing = [k for k in found if owed(q, due_days, added[k.id], first_value.get(k.id))
                       and (k.id, str(q)) not in recorded]
            if missing and running(q, start, last):  # (a run dated back, sent after the due date: late)
                _return(c, project, contract, q, due, missing, several, as_of <= due and sent_on <= due, sent_on)
            q = q - 1


def _return(c: _Collector, project: ProjectRow, contract: ContractRow, q: Quarter, due: date, missing: list[Any],
            several: bool, not_yet_due: bool, sent_on: date) -> None:
    kind = "return-due" if not_yet_due else "return-late"
    period = f"{q}/c{contract.id}"
    named = f"{quote(project.key)} --contract {quote(contract.ref)}" if several and contract.ref else quote(project.key)
    owner = c.person(project.owner)
    days_left = (due - sent_on).days
    names = ", ".join(k.key for k in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    which = f"{contract.ref} ({project.key})" if contract.ref else project.key
    summary = (f"Return for {q} due by {due.isoformat()}: {which}" if not_yet_due
               else f"Return for {q} late: {which}, no value for {names}")
    context = {"quarter": str(q), "quarter_about": q.describe(), "quarter_end": q.end.isoformat(),
               "return_due": due.isoformat(), "days_left": days_left, "days_late": max(0, -days_left),
               "provider": contract.provider, "contract_ref": contract.ref,
               "provider_contact": contract.provider_contact,
               "indicators": [{"kpi": k.key, "title": k.title, "unit": k.unit} for k in missing],
               "reply_to": project.owner, "reply_email": owner.email if owner is not None else None,
               "summary": summary,
               "command": (f"cycle kpi record {named} {quote(missing[0].key)} --quarter {q} --value VALUE"
                           if len(missing) == 1 else "cycle kpi import RETURN.csv")}
    if contract.provider_contact:
        who: list[tuple[str, str | None, bool]] = [(PROVIDER_CONTACT, contract.provider_contact, True)]
    elif not_yet_due:
        return  # nobody at the provider to ask; once it is late, the owner is told (docs/performance.md)
    else:  # nobody at the provider to tell: the owner chases it
        who = [("owner", project.owner, True)]
    c.add(project, kind, period, summary, (context,), who)


def _actions(c: _Collector, by_id: dict[int, ProjectRow], cfg: Settings) -> None:
    """Each open action past its due date: its owner, once; `action_escalate_days` later, the governance lead, once."""
    as_of, sent_on = c.plan.as_of, c.sent_on
    for a in c.sql.rows(_OPEN_ACTIONS):
        due = inputs.stored_day(a.due)
        if due is None or as_of <= due:
            continue
        project = by_id[a.project_id]
        overdue = (sent_on - due).days
        owner = c.person(project.owner)
        context = {"reply_to": project.owner, "reply_email": owner.email if owner is not None else None,
                   "action_id": a.id, "action": a.text, "action_owner": a.owner, "due": due.isoformat(),
                   "kpi": a.kpi, "days_overdue": overdue, "escalate_days": cfg.action_escalate_days,
                   "command": f"cycle action done {quote(project.key)} {a.id} --on YYYY-MM-DD --note WHAT"}
        period = f"#{a.id}"
        text = a.text if len(a.text) <= 80 else a.text[:77] + "..."
        summary = f"Action #{a.id} overdue since {due.isoformat()}: {text}"
        c.add(project, "action-overdue", period, summary, (context, {"summary": summary}),
              [("action owner", a.owner, True)])
        if (as_of - due).days > cfg.action_escalate_days:
            summary = f"Action #{a.id} still open, {overdue} days after its due date {due.isoformat()}"
            c.add(project, "action-escalated", period, summary, (context, {"summary": summary}),
                  [("governance lead", project.governance_lead, True)])


def _bodies(project: ProjectRow, gate: Gate) -> list[str | None]:
    """The bodies `gate`'s must decision criteria need a decision from (None: the project has no accountable
    body yet)."""
    return list(dict.fromkeys(b for c in gate.criteria if c.must and c.kind == "decision"
                              for b in required_bodies(project, c)))


def _gate_waiting(c: _Collector, project: ProjectRow, cfg: Settings) -> None:
    as_of = c.plan.as_of
    try:
        wf = registry.pinned(c.store, c.sql, project)  # the version it runs on
        if wf.stage(project.stage).final:
            return
        since = c.look.entered(project, None, creation=True)
        assert since is not None  # with creation, always a day
        waited = (as_of - since).days
        if waited <= cfg.gate_wait_days:
            return
        decisions = c.look.decisions(project)
        # A body that has decided something in this visit (a hold, say) is not waited on; a gate that needs
        # several bodies waits on those that have not.
        decided = {d.body for d in decisions if d.visit == project.visit}
        ways_out = wf.gates_from(project.stage, explicit=False)
        silent = {gate.id: [b for b in _bodies(project, gate) if b not in decided] for gate in ways_out}
        if not any(silent.values()):
            return
        evidence = c.look.evidence(project)
        facts = c.look.facts(project, as_of)
        # (gates.awaits_decision: evaluate's unmet must criteria, all of them decisions, found without wording
        # every criterion of every gate of every project)
        ready = [gate for gate in ways_out
                 if silent[gate.id] and awaits_decision(wf, gate, project, evidence, decisions, facts)]
    except CycleError as exc:
        c.plan.problems.append(Problem(project.key, "gate-waiting", project.stage, str(exc),
                                       f"cycle gate check {project.key}"))
        return
    if not ready:
        return
    first = ready[0]
    awaited = list(dict.fromkeys(b for g in ready for b in silent[g.id] if b is not None))
    body = awaited[0] if awaited else None
    waited = (c.sent_on - since).days
    summary = f"Waiting {waited} days for a decision on {', '.join(g.id for g in ready)}"
    c.add(project, "gate-waiting", f"{project.stage}/c{project.cycle}v{project.visit}", summary,
          ({"stage": project.stage, "stage_title": wf.stage(project.stage).title, "since": since.isoformat(),
           "days_waiting": waited,
           "gates": [{"id": g.id, "to": g.dest, "to_title": wf.stage(g.dest).title, "title": g.title}
                     for g in ready],
           "body": " and ".join(awaited) or None,
           "summary": summary,
           "command": (f"cycle decision record {project.key} --gate {first.id} --outcome go "
                       f"--body {quote(body) if body else 'BODY'} --ref MINUTES")},),
          [("owner", project.owner, True), ("governance lead", project.governance_lead, False)])


def due(store: Store, session: Session, as_of: date, cfg: Settings | None = None,
        lookup: Callable[[Sql, list[ProjectRow], dict[int, list[ContractRow]]], Lookup] = Portfolio,
        sent_on: date | None = None) -> Plan:
    """Every reminder due on `as_of`, each marked with its outbox row when it is already queued or sent. The
    portfolio is read in a few set-based queries (`Portfolio`; `lookup` is for a test's per-project oracle).

    `sent_on` is the day the reminders go (a run's today; by default `as_of`, as in a preview). A run dated earlier
    sends, that later day, what fell due on `as_of` as things stand when it is sent: a contract's notice is judged
    on `sent_on` (nothing asks for a notice served since, and the ladder's rung is the latest reached by then), and
    the days left, late, overdue or waiting are counted from `sent_on`."""
    with paused_gc():
        return _due(store, session, as_of, cfg or settings(), lookup, sent_on or as_of)


def _due(store: Store, session: Session, as_of: date, cfg: Settings,
         lookup: Callable[[Sql, list[ProjectRow], dict[int, list[ContractRow]]], Lookup], sent_on: date) -> Plan:
    sql = sql_of(session)
    projects = rows.projects(sql)
    held: dict[int, list[ContractRow]] = {}
    for h in rows.contracts(sql):
        held.setdefault(h.contract.project_id, []).append(h.contract)
    for found in held.values():
        found.sort(key=attrgetter("id"))
    c = _Collector(store, session, as_of, lookup(sql, projects, held), sent_on)
    by_id = {p.id: p for p in projects}
    by_key = {p.key: p for p in projects}
    for project in projects:
        own = held.get(project.id)
        if own:  # reviewed while one runs, whatever the project's stage (reviews.review_period)
            _reviews(c, project, own, cfg)
        _gate_waiting(c, project, cfg)
    # Notice reminders belong to the contract, so they go once per contract (to its holder's people
    # and those of a decommissioning project working on it), never once per linked project.
    # Every contract, whatever its project's stage: one closed or stopped with its contract running is followed.
    for project_id, own in sorted(held.items()):
        holder = by_id[project_id]
        decommissioners = [by_key[link.key] for link in c.look.links(holder)
                           if link.kind == "decommissioned-by" and link.stage != "closed"]
        for i, contract in enumerate(own):
            _notice(c, holder, contract, cfg, decommissioners, first=i == 0, several=len(own) > 1)
            ending.contract_end(c, holder, contract, cfg, decommissioners, first=i == 0, several=len(own) > 1)
    _returns(c, held, by_id, cfg)
    _actions(c, by_id, cfg)
    _assessments(c, held, by_id)
    statutory.reminders(c, by_key, cfg)
    _mark_queued(session, c.plan)
    return c.plan


#: How many days before a Procurement Act 2023 s.71(2) assessment falls due its reminder goes.
ASSESSMENT_LEAD_DAYS = 30


def _assessments(c: _Collector, held: dict[int, list[ContractRow]], by_id: dict[int, ProjectRow]) -> None:
    """The Procurement Act 2023 s.71(2) reminders (cycle.performance.pa2023): `assessment-due` to the owner from
    ASSESSMENT_LEAD_DAYS before the next assessment of a contract under the duty is due, `assessment-overdue` to
    the owner and the governance lead once it is past; each once per due day and contract (its key's period)."""
    as_of = c.sent_on
    for project_id, own in sorted(held.items()):
        for contract in own:
            if not pa2023.under_duty(contract):
                continue  # (nearly every contract: nothing is read for it)
            holder = by_id[project_id]
            st = c.look.status(holder.key, contract, as_of)
            due = pa2023.next_due(contract, st, [d for d in pa2023._assessed(c.sql, contract.id) if d <= as_of])
            if due is None or as_of < due - timedelta(days=ASSESSMENT_LEAD_DAYS):
                continue
            named = f"{holder.key} --contract {quote(contract.ref)}" if len(own) > 1 and contract.ref else holder.key
            context = {"provider": contract.provider, "contract_ref": contract.ref, "assessment_due": due.isoformat(),
                       "command": f"cycle kpi assess {named} --rating RATING --period FROM..TO"}
            period = f"{due.isoformat()}/c{contract.id}"
            if as_of <= due:
                summary = f"Procurement Act 2023 assessment of the contract's KPIs due by {due.isoformat()}"
                c.add(holder, "assessment-due", period, summary,
                      (context, {"days_left": (due - as_of).days, "summary": summary}),
                      [("owner", holder.owner, True)])
            else:
                summary = f"Procurement Act 2023 assessment of the contract's KPIs was due by {due.isoformat()}"
                c.add(holder, "assessment-overdue", period, summary,
                      (context, {"days_overdue": (as_of - due).days, "summary": summary}),
                      [("owner", holder.owner, True), ("governance lead", holder.governance_lead, False)])


_QUEUED = "SELECT project, kind, period, recipient, id, status, email FROM outbox WHERE project IN ({})"


def _mark_queued(session: Session, plan: Plan) -> None:
    sql = sql_of(session)
    keys = sorted(set(map(attrgetter("project"), plan.reminders)))
    found = {}
    for i in range(0, len(keys), 500):  # a bounded IN list (SQLite allows so many parameters), whatever the size
        chunk = keys[i:i + 500]
        marks = ", ".join(f":k{n}" for n in range(len(chunk)))
        for project, kind, period, recipient, *row in sql.tuples(_QUEUED.format(marks),
                                                                 **{f"k{n}": key for n, key in enumerate(chunk)}):
            found[(project, kind, period, recipient)] = row
    if not found:
        return
    for r in plan.reminders:
        queued = found.get((r.project, r.kind, r.period, r.recipient))  # (r.key)
        if queued is not None:
            r.outbox_id, r.status, email = queued
            if r.status == "cancelled":  # its date no longer applied then; due again, it is reopened (outbox.reopen)
                r.status = None
            elif r.status in ("sent", "sending"):
                r.email = email  # where it went (or is going); an unsent row goes to the current address


# --- queueing ------------------------------------------------------------------------------------

def preview(store: Store, as_of: date, cfg: Settings | None = None) -> Plan:
    """What a run on `as_of` would queue (nothing is written)."""
    with store.read() as s:
        return due(store, s, as_of, cfg)


def refuse_future(as_of: date, today: date | None = None) -> None:
    """A run that queues real reminders may not be dated after today (London): it would send, now, the reminders of
    that later day, and the real ones would then never go (only a preview may look ahead)."""
    today = today or clock.london_today()
    if as_of > today:
        raise BadInput(f"--as-of {as_of.isoformat()} is after today ({today.isoformat()}, London): a run sends real "
                       f"reminders now, so it cannot be dated in the future; preview that day with: "
                       f"cycle remind --dry-run --as-of {as_of.isoformat()}")


def enqueue(store: Store, as_of: date, *, actor: str, cfg: Settings | None = None,
            lease: Lease | None = None, today: date | None = None) -> Plan:
    """Queue every due reminder not already in the outbox, in the transaction that found it due.

    With `lease` (a scheduler's), nothing is queued unless the scheduler still holds it, checked (and renewed)
    first in that same transaction. `as_of` may not be after `today` (the London date of the caller's clock: a
    scheduler's, else the real one). A run dated earlier queues what fell due on `as_of`, as things stand today,
    when it is sent (see `due`).
    """
    today = today or clock.london_today()
    refuse_future(as_of, today)
    cfg = cfg or settings()
    with store.write() as s:
        if lease is not None:
            lease.check(s)
        plan = due(store, s, as_of, cfg, sent_on=today)
        now = clock.utc_now()
        for r in plan.new:  # (one with an outbox_id: its row was cancelled, and is reopened)
            row = outbox.add(s, actor=actor, project=r.project, kind=r.kind, period=r.period, recipient=r.recipient,
                             email=r.email, due_on=as_of.isoformat(), context=r.context, now=now,
                             cancelled=r.outbox_id)
            r.outbox_id, r.status = row.id, "queued"
    return plan
