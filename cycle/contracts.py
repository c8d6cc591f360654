"""Contracts on projects: notice deadlines, their status on any date, and what happens if nothing is done."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cycle.audit import chain
from cycle.calendar import clock, dates
from cycle.db import rows
from cycle.db.rows import ContractRow, ProjectRow, row_of
from cycle.db.sql import sql_of

from . import inputs
from .errors import BadInput
from .funding import of_rows
from .inputs import stored_day
from .shell import quote

if TYPE_CHECKING:
    from sqlmodel import Session

    from cycle.db.models import Contract, Project
    from cycle.db.sql import Sql
    from cycle.db.store import Store
    from cycle.funding import Funding

#: A notice deadline this close (or closer) is "due" rather than "open".
DUE_DAYS = 90

#: What the Transparency Code 2015 asks to be published of a contract beyond its terms (revision 0019).
TRANSPARENCY = ("title", "description", "department", "review_date", "awarded_by", "sme", "vcse",
                "registration_number", "vat_not_recoverable")
#: `--regime`: the procurement regime a contract was let under (revision 0022; cycle.performance.pa2023 reads it):
#: the Procurement Act 2023, a light-touch contract under it (s.9), the Health Care Services (Provider Selection
#: Regime) Regulations 2023, or none of these (e.g. let under the Public Contracts Regulations 2015, or below
#: threshold). Not recorded: None.
REGIMES = ("pa2023", "pa2023-light-touch", "psr", "none")
#: `--awarded-by`: the Code's two routes; any other text says what the route was (e.g. a PSR direct award).
ROUTES = ("quote", "tender")
YES_NO = ("yes", "no")
_JSON = {"review_date": "review_on"}  # a date is *_on in JSON (docs/json.md)


def parse_money(text: str, what: str) -> str:
    """'£1,250,000', '1250000.50', '1.25m', '350k' -> '1250000.00' (cycle.inputs.money)."""
    return inputs.money(text, what)


@dataclass
class Status:
    """A contract as it stands on `as_of` (notice recorded as served after `as_of` had not been served then)."""

    holder: str
    contract: ContractRow
    as_of: date
    deadline: date | None
    state: str  # incomplete | open | due | passed | served | served-late | ends | ended
    days_to_deadline: int | None
    run_on_to: date | None
    consequence: str
    #: The last day of the contract's term as things stand on `as_of`: its end date, or the end of its
    #: run-on once the deadline has gone by without notice (None: it runs on with no run-on period stated).
    effective_end: date | None = None
    #: The notice deadline when it falls on a weekend or bank holiday and notice has still to be served.
    deadline_off: dates.NonWorking | None = None
    #: Whether its holder has other contracts too (then a command about this one names it: `address`).
    several: bool = False
    #: Who pays for it (cycle.funding), when the reader asked: show, lists and reports fill it in.
    funding: Funding | None = None
    #: The next assessment of its performance the Procurement Act 2023 asks for (s.71(2), cycle.performance.pa2023),
    #: when the reader asked: `contract show` and `contracts due` fill it in.
    assessment_due: date | None = None
    #: What a change of its value or term needs under its regime (cycle.procurement.changes): `contract set` fills
    #: it in.
    change_notice: str | None = None
    #: What the Act's KPI duties flag on it (s.52(1) too few KPIs, s.71(2) an assessment due), in words.
    flags: tuple[str, ...] = ()

    def address(self, option: str = "--ref") -> str:
        """The holder's key as a command names this contract: 'camhs', or 'camhs --ref CAMHS-LOT2' among several."""
        ref = self.contract.ref
        return f"{quote(self.holder)} {option} {quote(ref)}" if self.several and ref else quote(self.holder)

    @property
    def end(self) -> date | None:
        return stored_day(self.contract.end)

    @property
    def served_on(self) -> date | None:
        """The day notice was served, if it had been by `as_of`."""
        served = stored_day(self.contract.notice_served_on)
        return served if served is not None and served <= self.as_of else None

    def key_dates(self) -> dict[str, date | None]:
        c = self.contract
        return {"notice_served_on": self.served_on, "notice_deadline": self.deadline,
                "contract_start": stored_day(c.start), "contract_end": stored_day(c.end)}

    def as_dict(self) -> dict[str, Any]:
        c = self.contract
        return {"project": self.holder, "provider": c.provider, "ref": c.ref, "start": c.start, "end": c.end,
                "value_total": c.value_total, "value_annual": c.value_annual, "notice": c.notice,
                "extension_to": c.extension_to, "if_no_notice": c.if_no_notice, "run_on": c.run_on,
                "notice_served_on": c.notice_served_on, "notice_ref": c.notice_ref,
                "termination_costs": c.termination_costs, "provider_contact": c.provider_contact,
                **{_JSON.get(name, name): getattr(c, name, None) for name in TRANSPARENCY},
                "regime": getattr(c, "regime", None), "kpis_exempt": getattr(c, "kpis_exempt", None),
                "assessment_due_on": _iso(self.assessment_due),
                "as_of": self.as_of.isoformat(),
                "notice_deadline": _iso(self.deadline), "status": self.state,
                "days_to_deadline": self.days_to_deadline, "run_on_to": _iso(self.run_on_to),
                "if_nothing_is_done": self.consequence,
                "notice_served_by_as_of": self.served_on is not None, "effective_end": _iso(self.effective_end),
                "notice_deadline_not_working_day": self.deadline_off.as_dict() if self.deadline_off else None,
                "notice_deadline_advice": self.deadline_advice,
                "funding": self.funding.as_dict(c.value_total) if self.funding else None}

    @property
    def deadline_advice(self) -> str | None:
        """'Saturday 25 December 2027 is Christmas Day, ...: serve notice by Friday 24 December 2027, ...'."""
        return self.deadline_off.advice(today=self.as_of) if self.deadline_off else None


@lru_cache(maxsize=1024)  # a portfolio's contracts share few periods (Period is frozen)
def _period(text: str | None) -> dates.Period | None:
    """A stored period, or None when it is not one cycle could have written (as inputs.stored_day)."""
    try:
        return dates.parse_period(text) if text else None
    except BadInput:
        return None


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def run_on_date(c: ContractRow, nation: str | None = None) -> date | None:
    """The last day of the contract's run-on (dates.run_on_end), when its terms give a run-on period."""
    if c.if_no_notice != "run-on" or not c.end or not c.run_on:
        return None
    if not nation:
        from cycle.reminders.settings import bank_holidays

        nation = bank_holidays()
    return _run_on_end(c.end, c.run_on, nation)


@lru_cache(maxsize=16384)
def _run_on_end(end_text: str, run_on_text: str, nation: str) -> date | None:
    end, period = stored_day(end_text), _period(run_on_text)
    return dates.run_on_end(end, period, nation) if end is not None and period is not None else None


@lru_cache(maxsize=16384)  # a portfolio's contracts share end dates and notice periods: the arithmetic once each
def _schedule(end_text: str, notice_text: str, nation: str) -> tuple[date, date, dates.NonWorking | None] | None:
    """(end, notice deadline, what the deadline is if not a working day) from a contract's stored terms; None when
    the end date or notice period is missing or unreadable (the contract is 'incomplete')."""
    end, notice = stored_day(end_text), _period(notice_text)
    if end is None or notice is None:
        return None
    deadline = dates.notice_deadline(end, notice, nation)
    return end, deadline, dates.non_working(deadline, nation)


def status(holder: str, c: ContractRow, as_of: date, due_days: int = DUE_DAYS, nation: str | None = None,
           several: bool = False) -> Status:
    """The contract on `as_of`. Its terms give one run-on period: without notice by the deadline it runs
    on from its end date for that period and then ends (a contract that rolls on again is not modelled).
    `nation`: whose bank holidays count (default: the setting, reminders.settings.bank_holidays)."""
    if not nation:
        from cycle.reminders.settings import bank_holidays

        nation = bank_holidays()
    served = stored_day(c.notice_served_on)
    if served is not None and served > as_of:
        served = None  # recorded later: on as_of, notice had not been served
    schedule = _schedule(c.end, c.notice, nation) if c.end and c.notice else None
    named = f"{holder} --ref {quote(c.ref)}" if several and c.ref else holder
    if schedule is None:
        return Status(holder, c, as_of, None, "incomplete", None, None,
                      f"Unknown: set the end date and notice period with: cycle contract set {named} "
                      f"--end YYYY-MM-DD --notice '6 months'", several=several)
    end, deadline, off = schedule
    days = (deadline - as_of).days
    run_on = run_on_date(c, nation)
    runs_on = (f"the contract runs on to {run_on.isoformat()}" if run_on
               else "the contract runs on past its end date (no run-on period stated)")

    def make(state: str, consequence: str, run_on_to: date | None = None, until: date | None = end) -> Status:
        return Status(holder, c, as_of, deadline, state, days, run_on_to, consequence, until, several=several)

    def ran_on(to: date, why: str) -> Status:
        return make("ended", f"Ended on {to.isoformat()}, at the end of its run-on: {why}, so it ran on for "
                             f"{c.run_on} from its end date {c.end}.", to, to)

    if c.if_no_notice == "ends":
        if as_of > end:
            return make("ended", f"Ended on {end.isoformat()}.")
        return make("ends", f"Ends on {end.isoformat()} without notice (its terms need none).")
    if served is not None and served <= deadline:
        if as_of > end:
            return make("ended", f"Ended on {end.isoformat()}: notice served on {served.isoformat()}, on time.")
        return make("served", f"Notice served on {served.isoformat()}, on time: ends on {end.isoformat()}.")
    if served is not None:
        if run_on is not None and as_of > run_on:
            return ran_on(run_on, f"notice was served on {served.isoformat()}, after the deadline "
                                  f"{deadline.isoformat()}")
        return make("served-late", f"Notice served on {served.isoformat()}, after the deadline "
                                   f"{deadline.isoformat()}: {runs_on}.", run_on, run_on)
    if as_of > deadline:
        if run_on is not None and as_of > run_on:
            return ran_on(run_on, f"the notice deadline {deadline.isoformat()} passed without notice")
        if as_of > end:
            now = (f"since {end.isoformat()} the contract has been running on, to {run_on.isoformat()}, the end of "
                   f"its run-on of {c.run_on}" if run_on else
                   f"since {end.isoformat()} the contract has been running on (no run-on period stated; set it "
                   f"with: cycle contract set {named} --run-on PERIOD)")
            return make("passed", f"Notice deadline {deadline.isoformat()} passed without notice: {now}.",
                        run_on, run_on)
        return make("passed", f"Notice deadline {deadline.isoformat()} has passed: {runs_on}.", run_on, run_on)
    state = "due" if days <= due_days else "open"
    st = make(state, f"Serve notice by {deadline.isoformat()} ({dates.in_days(days)}) or {runs_on}.", run_on)
    st.deadline_off = off
    return st


def statuses_of(sql: Sql, project: ProjectRow, today: date) -> list[Status]:
    """The status on `today` of every contract the project works with (its own, or those of the service it
    decommissions), in the order they were recorded; empty when there is none yet."""
    _, holder, found = rows.contract_holder(sql, project.id, project.key)
    return [status(holder, c, today, several=len(found) > 1) for c in found]


def live(found: list[Status]) -> list[Status]:
    """The contracts a `date` criterion or a review follows: every one not ended, or all when each has ended (so
    that a project with one contract is judged on it, whatever its state, as before several were possible)."""
    return [st for st in found if st.state != "ended"] or found


def of_project(store: Store, key: str) -> list[ContractRow]:
    """The contracts project `key` holds itself, in the order they were recorded (for importers and indicators:
    each is named by its `ref` within the project, and by its `id` across the database)."""
    with store.reading() as sql:
        return rows.contracts_of(sql, rows.project(sql, key).id)


# --- reading and writing ---------------------------------------------------------------------------

class Ambiguous(BadInput):
    """A command that changes or shows one contract, on a project holding several, without saying which."""

    def __init__(self, key: str, holder: str, found: list[ContractRow], option: str):
        whose = f"{key} has" if key == holder else f"{key} works with the contracts of {holder}, which has"
        super().__init__(f"{whose} {len(found)} contracts ({refs(found)}): say which with {option}")


def refs(found: list[ContractRow]) -> str:
    """'CAMHS-2027-01, CAMHS-LOT2' (a contract with no reference, written by hand, by its id)."""
    return ", ".join(c.ref or f"no reference, id {c.id}" for c in found)


def choose(found: list[ContractRow], key: str, holder: str, which: str | None,
           option: str = "--ref") -> ContractRow | None:
    """The contract `which` names among the holder's (None: the only one; None back when there is none)."""
    if which is not None:
        match = [c for c in found if c.ref == which]
        if not match:
            whose = f"{key} has" if key == holder else f"{key} works with the contracts of {holder}, which has"
            alike = _alike(found, which)
            if alike is not None:  # not a hint to add a second contract of the same reference
                raise BadInput(f"{whose} no contract {which!r}, but has {alike.ref!r}: a reference is given as it "
                               f"was recorded, e.g. {option} {quote(alike.ref or '')}")
            theirs = f" (its contracts: {refs(found)})" if found else ""
            raise BadInput(f"{whose} no contract {which!r}{theirs}; add one with: cycle contract add "
                           f"{quote(holder)} --ref {quote(which)} --provider NAME")
        return match[0]
    if len(found) > 1:
        raise Ambiguous(key, holder, found, option)
    return found[0] if found else None


def _alike(found: list[ContractRow] | list[Contract], ref: str, but: int | None = None) -> Any:
    """The contract (other than id `but`) whose reference is `ref` but for case and spacing ('CAMHS-LOT2' for
    'camhs-lot2', 'C 2' for 'C  2'): a provider's spreadsheet or a careless operator naming one contract twice."""
    wanted = folded(ref)
    return next((c for c in found if c.ref and c.ref != ref and c.id != but and folded(c.ref) == wanted), None)


def holder_of(session: Session, project: Project, which: str | None = None,
              option: str = "--ref") -> tuple[int, str, Contract | None]:
    """(id, key, contract to change) of the project that holds this project's contracts: itself, or the service
    it decommissions (see rows.contract_holder); the contract is the one `which` names (`choose`)."""
    from cycle.db.models import Contract  # the ORM only where a contract is written

    holder_id, holder_key, found = rows.contract_holder(sql_of(session), project.id or 0, project.key)
    row = choose(found, project.key, holder_key, which, option)
    return holder_id, holder_key, session.get(Contract, row.id) if row is not None else None


FIELDS = ("provider", "ref", "start", "end", "value_total", "value_annual", "notice", "extension_to",
          "if_no_notice", "run_on", "termination_costs", "buyer", "ocid", "ocds_id", *TRANSPARENCY, "regime",
          "kpis_exempt", "provider_contact")


def clean_terms(given: dict[str, str | None]) -> dict[str, str | None]:
    """Validate and normalise `contract set` options one by one (cross-checks happen in `check_terms`)."""
    out: dict[str, str | None] = {}
    for name, value in given.items():
        if value is None:
            continue
        flag = _FLAGS.get(name, f"--{name.replace('_', '-')}")
        if name in ("start", "end", "extension_to", "review_date"):
            out[name] = dates.parse_date(value, flag).isoformat()
        elif name in ("value_total", "value_annual", "vat_not_recoverable"):
            out[name] = parse_money(value, flag)
        elif name in ("sme", "vcse"):
            out[name] = yes_no(value, flag)
        elif name == "awarded_by":
            out[name] = route(value, flag)
        elif name == "regime":
            if value.strip() not in REGIMES:
                raise BadInput(f"--regime must be one of {', '.join(REGIMES)}, not {value[:40]!r} (pa2023: let under "
                               f"the Procurement Act 2023; psr: the NHS Provider Selection Regime)")
            out[name] = value.strip()
        elif name == "kpis_exempt":  # "" withdraws an exemption (set_terms), as --provider-contact "" clears it
            out[name] = inputs.text(value, "--kpis-exempt", "note") if value.strip() else ""
        elif name in ("title", "description"):
            out[name] = inputs.text(value, flag, "title" if name == "title" else "note")
        elif name in ("notice", "run_on"):
            out[name] = str(dates.parse_period(value, f"--{name.replace('_', '-')}"))
        elif name == "provider_contact":  # "" clears it; a name is checked against the people list (set_terms)
            out[name] = inputs.text(value, "--provider-contact", "name") if value.strip() else ""
        elif name == "if_no_notice":
            if value not in ("run-on", "ends"):
                raise BadInput("--if-no-notice must be run-on (with --run-on PERIOD) or ends")
            out[name] = value
        else:
            out[name] = inputs.text(value, f"--{name.replace('_', '-')}", "ref" if name == "ref" else "text")
    if out.get("if_no_notice") == "ends":
        if out.get("run_on"):
            raise BadInput(f"--if-no-notice ends and --run-on {given['run_on']!r} contradict each other: a contract "
                           f"that ends without notice does not run on; drop --run-on, or use --if-no-notice run-on")
        out["run_on"] = None  # a run-on recorded before no longer applies; the audit entry shows it cleared
    elif out.get("run_on"):
        out["if_no_notice"] = "run-on"  # a run-on period means the contract runs on without notice
    return out


_FLAGS = {"value_total": "--value", "value_annual": "--annual-value", "vat_not_recoverable": "--vat-not-recoverable",
          "awarded_by": "--awarded-by"}


def yes_no(value: str, what: str) -> str:
    """'yes' or 'no' (also y/n, true/false, 1/0, any case)."""
    said = value.strip().casefold()
    if said in ("yes", "y", "true", "1"):
        return "yes"
    if said in ("no", "n", "false", "0"):
        return "no"
    shown = value if len(value) <= 40 else value[:37] + "..."
    raise BadInput(f"{what} {shown!r} is neither yes nor no; give yes or no")


def route(value: str, what: str) -> str:
    """How the contract was awarded: 'quote' (an invitation to quote), 'tender' (a published invitation to tender),
    or, for neither, the route in words ('direct award (PSR direct award process C)')."""
    said = inputs.text(value, what)
    words = folded(said)
    if words in ("quote", "invitation to quote", "itq", "rfq", "request for quotation"):
        return "quote"
    if words in ("tender", "published invitation to tender", "invitation to tender", "itt"):
        return "tender"
    return said


def check_terms(c: Contract) -> None:
    start, end, ext = stored_day(c.start), stored_day(c.end), stored_day(c.extension_to)
    if start and end and end < start:
        raise BadInput(f"the end date {end} is before the start date {start}")
    if end and ext and ext < end:
        raise BadInput(f"--extension-to {ext} is before the end date {end}; it is the latest end the extensions allow")
    if end and c.notice:
        from cycle.reminders.settings import bank_holidays

        deadline = dates.notice_deadline(end, dates.parse_period(c.notice), bank_holidays())
        if start and deadline < start:
            raise BadInput(f"a notice period of {c.notice} is longer than the contract ({start} to {end}): "
                           f"notice would have to be served by {deadline}, before it starts")


def check_regime(c: Contract) -> None:
    """Refuse (BadInput) a contract under a built-in regime that started before that regime's law came into force,
    as a procurement step dated before it is refused (cycle.procurement.clocks.before_in_force): the Procurement
    Act 2023 on 24 February 2025 (one awarded before stays under the Public Contracts Regulations 2015: SI 2024/716
    reg 5(3)(a), as amended by SI 2024/959), the Provider Selection Regime on 1 January 2024 (SI 2023/1348 reg
    1(1))."""
    from cycle.procurement.clocks import before_in_force

    start = stored_day(c.start)
    law = {"pa2023": "pa2023", "pa2023-light-touch": "pa2023", "psr": "psr"}.get(c.regime or "")
    if start is None or law is None:
        return
    too_early = before_in_force(law, start)
    if too_early is None:
        return
    before = ("stays under the Public Contracts Regulations 2015 (SI 2024/716 reg 5(3)(a))" if law == "pa2023" else
              "was let under the rules before it (the Public Contracts Regulations 2015, or the NHS procurement "
              "regulations of 2013)")
    raise BadInput(f"--regime {c.regime}: the contract starts on {start}, {too_early}; a contract awarded before "
                   f"that day {before}: check --start, or give --regime none")


def check_new(found: list[ContractRow] | list[Contract], holder_key: str, ref: str) -> None:
    """Refuse (BadInput) a new contract of reference `ref` beside the holder's contracts `found` (none of which has
    that very reference): one whose reference differs from `ref` only in case or spacing is the same contract, and
    one recorded without a reference cannot be told from a second. (An importer's dry run asks this too.)"""
    alike = _alike(found, ref)
    if alike is not None:
        raise BadInput(f"{holder_key} already has a contract {alike.ref}, which {ref!r} differs from only in "
                       f"case or spacing: a reference names one contract of a project; change that one with: "
                       f"cycle contract set {quote(holder_key)} --ref {quote(alike.ref)} ...")
    unnamed = [c for c in found if not c.ref]
    if unnamed:
        raise BadInput(f"{holder_key}'s contract with {unnamed[0].provider or 'no provider'} has no reference, "
                       f"and once it has a second contract each is named by its own; give it one first with: "
                       f"cycle contract set {quote(holder_key)} --ref REF")


#: How `set_terms` finds its contract: set (the one named, or the only one; created when there is none), add
#: (a new one, by a reference the holder has not used), upsert (the one with this reference, else a new one).
MODES = ("set", "add", "upsert")


def set_terms(session: Session, project: Project, terms: dict[str, str | None], actor: str,
              which: str | None = None, mode: str = "set",
              imported: dict[str, Any] | None = None) -> tuple[Contract, str | None]:
    """Record or change one contract's terms (see MODES) and append its audit entry (contract.set, or
    contract.add for a new contract made by add or upsert), in the caller's transaction. An upsert that changes
    nothing writes nothing. For importers: `clean_terms` first, then this, once per row, in one transaction;
    `imported` (the file, its SHA-256, where in it) goes into the entry. Returns the contract and, for a change of
    its value or term under a regime, the line saying what notice that needs (cycle.procurement.changes)."""
    from cycle.db.models import Contract

    assert mode in MODES
    holder_id, holder_key, found = rows.contract_holder(sql_of(session), project.id or 0, project.key)
    new_ref = terms.get("ref")
    if mode != "set":
        if not new_ref:
            raise BadInput(f"a contract added to a project needs its reference; e.g.: cycle contract add "
                           f"{quote(holder_key)} --ref REF --provider NAME")
        which = new_ref if mode == "upsert" and any(c.ref == new_ref for c in found) else None
        if mode == "add" and any(c.ref == new_ref for c in found):
            raise BadInput(f"{holder_key} already has a contract {new_ref}; change it with: cycle contract set "
                           f"{quote(holder_key)} --ref {quote(new_ref)} ...")
        if which is None:
            check_new(found, holder_key, new_ref)
    elif which is None and len(found) > 1 and new_ref:
        which = new_ref  # with several, `contract set --ref R` names the contract to change
    row = choose(found, project.key, holder_key, which) if which is not None or mode == "set" else None
    contract = session.get(Contract, row.id) if row is not None else None
    if new_ref and any(c.ref == new_ref and (row is None or c.id != row.id) for c in found) and mode == "set":
        raise BadInput(f"{holder_key} already has a contract {new_ref}: a reference names one contract of a project")
    alike = _alike(found, new_ref, row.id if row is not None else None) if new_ref and mode == "set" else None
    if alike is not None:
        raise BadInput(f"{holder_key} already has a contract {alike.ref}, which {new_ref!r} differs from only in case "
                       f"or spacing: a reference names one contract of a project")
    if "provider_contact" in terms:
        terms = {**terms, "provider_contact": _provider_contact(session, terms["provider_contact"])}
    if terms.get("kpis_exempt") == "":
        terms = {**terms, "kpis_exempt": None}
    before = {f: getattr(contract, f) for f in FIELDS} if contract else {}
    created = contract is None
    if contract is None:
        contract = Contract(project_id=holder_id, updated_at=clock.utc_now())
    for name, value in terms.items():
        setattr(contract, name, value)
    check_terms(contract)
    if terms.keys() & {"regime", "start"}:
        check_regime(contract)
    changes = {f: [before.get(f), getattr(contract, f)] for f in FIELDS
               if before.get(f) != getattr(contract, f) and f in terms}
    if mode == "upsert" and not created and not changes:
        return contract, None  # the same terms again (a re-import): nothing written, no entry
    notice = None
    if not created and changes.keys() & {"value_total", "end", "extension_to"}:
        from cycle.procurement import changes as modified  # a notice the change needs (PSR reg 13; PA 2023 s.75)

        today = clock.london_today()
        notice = modified._assess(sql_of(session), holder_id, holder_key, contract.ref, before,
                                 {f: getattr(contract, f) for f in FIELDS}, contract.regime, today)
    contract.updated_at = clock.utc_now()
    session.add(contract)
    session.flush()
    action = "contract.add" if created and mode != "set" else "contract.set"
    chain.append(session, actor=actor, action=action, project=project.key,
                 payload={"contract_of": holder_key, **({"contract_ref": contract.ref} if contract.ref else {}),
                          "changes": changes, **({"imported": imported} if imported else {}),
                          **({"change_notice": notice.as_payload()} if notice else {})})
    if notice is None:
        return contract, None
    if notice.needed and notice.tracked:
        modified._record_pending(session, holder_key, notice, actor, today, clock.utc_now())
    return contract, notice.line(holder_key)


def _provider_contact(session: Session, name: str | None) -> str | None:
    """The name a contract stores as its provider contact: None for "" (cleared), else a person in the people list
    with an email and the role `provider`, as the list spells them (BadInput, one line, otherwise)."""
    from cycle.governance import people

    if not name:
        return None
    try:
        name = people.check_name(name)
    except BadInput as exc:
        raise BadInput(f"--provider-contact: {exc}") from None
    person = people.get(session, name)
    if person is None:
        raise BadInput(f"--provider-contact {name} is not in the people list; add them first with: cycle people add "
                       f"{quote(name)} --email ADDRESS --role {people.PROVIDER}")
    if not (person.email or "").strip():
        raise BadInput(f"--provider-contact {person.name} has no email address for the reminders; give one with: "
                       f"cycle people add {quote(person.name)} --email ADDRESS")
    if not person.has(people.PROVIDER):
        held = ", ".join(f"{r} for {b}" if b else r for r, b in person.roles) or "none"
        raise BadInput(f"--provider-contact {person.name} does not hold the {people.PROVIDER} role (roles: {held}); "
                       f"grant it with: cycle people add {quote(person.name)} --role {people.PROVIDER}")
    return person.name


def serve_notice(session: Session, project: Project, served_on: str, ref: str, actor: str, today: date,
                 which: str | None = None) -> Status:
    _, holder_key, contract = holder_of(session, project, which, "--contract")
    if contract is None:
        whose = (f"{project.key} has no contract" if holder_key == project.key else
                 f"{project.key} works with the contract of {holder_key}, the service it decommissions, which has none")
        raise BadInput(f"{whose}; record it first with: cycle contract set {holder_key} "
                       f"--provider NAME --start YYYY-MM-DD --end YYYY-MM-DD --notice '6 months'")
    when = dates.parse_date(served_on, "--served-on")
    if when > today:
        raise BadInput(f"--served-on {when} is in the future; record notice once it has been served")
    start = stored_day(contract.start)
    if start is not None and when < start:
        raise BadInput(f"--served-on {when} is before the contract starts ({contract.start})")
    if contract.notice_served_on:
        raise BadInput(f"notice was already recorded as served on {contract.notice_served_on} ({contract.notice_ref})")
    contract.notice_served_on, contract.notice_ref = when.isoformat(), ref
    contract.updated_at = clock.utc_now()
    session.add(contract)
    session.flush()
    result = status(holder_key, row_of(ContractRow, contract), today)
    chain.append(session, actor=actor, action="contract.notice", project=project.key,
                 payload={"contract_of": holder_key, **({"contract_ref": contract.ref} if contract.ref else {}),
                          "served_on": when.isoformat(), "ref": ref,
                          "notice_deadline": _iso(result.deadline), "status": result.state})
    return result


def _may_fall_in(end_text: str | None, notice_text: str | None, if_no_notice: str, run_on_text: str | None,
                 nation: str, first: date, last: date) -> bool:
    """Whether a contract on these terms may have its notice deadline, end date or run-on end in [first, last]
    (False for one whose end date or notice period is missing or unreadable: it is 'incomplete')."""
    schedule = _schedule(end_text, notice_text, nation) if end_text and notice_text else None
    if schedule is None:  # no notice period (an OCDS import gives none): its end date, when known, is an event
        end_only = stored_day(end_text)
        return end_only is not None and first <= end_only <= last
    end, deadline, _ = schedule
    run_on = _run_on_end(end_text, run_on_text, nation) if if_no_notice == "run-on" and run_on_text else None
    return deadline <= last and max(end, run_on or end) >= first


def due(sql: Sql, as_of: date, within: str) -> list[tuple[date, str, Status]]:
    """Live contracts with an event in [as_of, as_of + within], soonest first: a notice deadline that can
    still be met, or the day the contract's term ends as things stand (its end date, or the end of its
    run-on once the deadline has gone by without notice). Every contract, whatever its project's stage: a
    project closed (or stopped) with its contract running on must not drop it out of sight."""
    from cycle.reminders.settings import bank_holidays

    nation = bank_holidays()
    until = dates.window_end(as_of, within, nation)
    # Every event is the notice deadline, the end date or the run-on's end, and deadline <= end <= run-on end: a
    # contract with none of them in the window is passed over, from its terms alone, once per set of terms (a
    # portfolio's contracts share end dates and notice periods), and only the others are read in full.
    in_window: dict[tuple[str | None, str | None, str, str | None], bool] = {}
    wanted = []
    for contract_id, end, notice, if_no_notice, run_on in rows.contract_terms(sql):
        key = (end, notice, if_no_notice, run_on)
        found = in_window.get(key)
        if found is None:
            found = in_window[key] = _may_fall_in(*key, nation, as_of, until)
        if found:
            wanted.append(contract_id)
    out = []
    for held in rows.contracts_with_ids(sql, wanted):
        c = held.contract
        st = status(held.holder.key, c, as_of, nation=nation)
        if st.state == "incomplete":  # its end date, if known: a contract ending must not be out of sight for want
            if st.end and as_of <= st.end <= until:  # of a notice period
                out.append((st.end, "end date", st))
            continue
        if st.state == "ended":
            continue
        st.funding = of_rows(rows.funders(sql, c.id))
        events = []
        if st.deadline and st.state in ("open", "due") and as_of <= st.deadline <= until:
            events.append((st.deadline, "notice deadline"))
        if st.state in ("passed", "served-late"):
            if st.run_on_to and as_of <= st.run_on_to <= until:
                events.append((st.run_on_to, "run-on ends"))
            elif st.run_on_to is None and st.end and as_of <= st.end <= until:
                events.append((st.end, "runs on from"))  # no run-on period stated: no end in sight
        elif st.end and as_of <= st.end <= until:
            events.append((st.end, "end date"))
        if events:
            when, what = min(events)
            out.append((when, what, st))
    return sorted(out, key=lambda item: (item[0], item[2].holder))


# --- the register: every contract ----------------------------------------------------------------------

#: `contracts list --status`: live is every contract that has not ended on the day (one whose terms are
#: incomplete too, so that it stays in sight until they are set), ended those that have, all both.
WHICH = ("live", "ended", "all")


@dataclass
class Listing:
    """`contracts list` as it streams: the longest holder's key (for the columns), then each contract's status."""

    width: int
    rows: Iterator[Status]


def folded(text: str | None) -> str:
    """A contract's reference or provider as compared for "the same one": NFC, spacing and case ignored ('C  2'
    and 'c 2'); the one normaliser of a reference (`contract set`/`add`, and a register import's rows)."""
    import unicodedata

    return " ".join(unicodedata.normalize("NFC", text or "").split()).casefold()


def _fixed(value: Any) -> Any:
    """Text read leniently (a byte that was not UTF-8 as a lone surrogate) with each such byte as U+FFFD."""
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def _readable(held: rows.HeldContract) -> rows.HeldContract:
    return rows.HeldContract(rows.Holder._make(map(_fixed, held.holder)), ContractRow._make(map(_fixed, held.contract)))


@contextmanager
def listing(store: Store, as_of: date, provider: str | None = None, which: str = "live") -> Iterator[Listing]:
    """Every contract (each project's, by its key), its status on `as_of`, read as it is used in one read
    transaction that lasts as long as the `with`: memory stays bounded however many there are. `provider` keeps
    the contracts of that provider only (whatever its case and spacing); `which` is one of WHICH."""
    from cycle.reminders.settings import bank_holidays

    if which not in WHICH:
        raise BadInput(f"--status must be one of {', '.join(WHICH)}, not {which!r}")
    wanted = folded(inputs.text(provider, "--provider")) if provider is not None else None
    nation = bank_holidays()

    def kept(found: Iterator[rows.HeldContract]) -> Iterator[Status]:
        for held in map(_readable, found):
            if wanted is not None and folded(held.contract.provider) != wanted:
                continue
            st = status(held.holder.key, held.contract, as_of, nation=nation)
            if which == "all" or (st.state == "ended") == (which == "ended"):
                st.funding = of_rows(funders.get(held.contract.id, []))
                yield st

    with store.reading(snapshot=True) as sql, sql.any_text():  # a hand-edited name that is not UTF-8 is shown
        funders = {k: [rows.FunderRow._make(map(_fixed, r)) for r in v] for k, v in rows.all_funders(sql).items()}
        width = rows.contract_key_width(sql)
        with closing(rows.stream_contracts(sql)) as found:  # closed before the transaction ends
            yield Listing(width or 0, kept(found) if width is not None else iter(()))
