"""Every table, as SQLModel models: projects and what gates read, people, installed workflows, the append-only audit
log, and the tables behind reminders (review meetings held, the outbox, delivery attempts, the scheduler lease).

`cycle init` creates them all (cycle.db.migrations); cycle.audit.images lists which the log vouches for."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import BigInteger, Column, Index, Integer, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


class _Stored(Protocol):
    id: int | None


def row_id(row: _Stored) -> int:
    """The id of a row that is in the database (loaded, or added and flushed): the database set it."""
    if row.id is None:
        raise RuntimeError(f"{type(row).__name__} has no id yet: flush the session first")
    return row.id


_project_version = Column("version", Integer, nullable=False)


class Project(SQLModel, table=True):
    """One service's commissioning project and where it stands."""

    __tablename__ = "project"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True, max_length=64)
    title: str
    workflow: str
    workflow_version: int | None = None  # the installed version of `workflow` it runs on (cycle.workflow.registry)
    stage: str
    cycle: int = 1  # which round of the cycle; review -> analyse starts the next one
    visit: int = 1  # bumped on every stage entry; a decision counts only for the visit it was made in
    lead_commissioner: str | None = None
    model: str | None = None
    accountable_body: str | None = None
    owner: str | None = None
    # Programme card (Derby seed 002): who answers for it, when, and what it is for.
    sro: str | None = None  # senior responsible officer
    lead: str | None = None
    governance_lead: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    aim: str | None = None
    scope: str | None = None
    benefits: str | None = None
    metrics: str | None = None
    # Seed 002's commissioning intentions: the programme (its key) the project belongs to; revision 0015.
    programme: str | None = Field(default=None, index=True)
    hub_role: str | None = None  # the hub's role in it (seed 001 Appendix A): lead, associate or partnership
    attrs: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    created_at: str
    updated_at: str
    # Optimistic concurrency: every UPDATE says WHERE version = <what was read>.
    version: int = Field(default=1, sa_column=_project_version)

    __mapper_args__ = {"version_id_col": _project_version}


class Programme(SQLModel, table=True):
    """A programme (seed 002: a commissioning intention) that projects belong to. Rows are only ever added."""

    __tablename__ = "programme"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True, max_length=64)
    title: str
    created_by: str
    created_at: str


class Evidence(SQLModel, table=True):
    """A named artefact recorded for a project in one cycle (a reference, not the document)."""

    __tablename__ = "evidence"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    cycle: int
    name: str
    ref: str
    note: str | None = None
    recorded_by: str
    recorded_at: str
    counts_for: str | None = None  # the criterion's evidence name it was attached to (--for); None: its own name


class Decision(SQLModel, table=True):
    """A gate decision by a governance body: go, hold, recycle (to an earlier stage) or stop."""

    __tablename__ = "decision"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    cycle: int
    visit: int
    gate: str
    outcome: str
    body: str
    ref: str
    recycle_to: str | None = None
    decided_on: str | None = None  # the meeting's date, ISO
    note: str | None = None
    recorded_by: str
    recorded_at: str


class AuditEntry(SQLModel, table=True):
    """One link of the hash chain. The database refuses UPDATE and DELETE on this table.

    The chain cannot fork: `seq` is the primary key and each entry is appended after the newest under
    the write lock; an entry whose prev_hash is not its predecessor's hash fails `audit verify`.
    """

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_txid", "txid", sqlite_where=text("txid IS NOT NULL"),
                            postgresql_where=text("txid IS NOT NULL")),)

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: str
    actor: str
    project: str | None = Field(default=None, index=True)
    action: str
    from_stage: str | None = None
    to_stage: str | None = None
    payload: str = Field(sa_column=Column(Text, nullable=False))
    prev_hash: str
    hash: str
    # PostgreSQL: the transaction that appended the entry, set by a trigger (never by the writer) and not
    # hashed; the database finds a transaction's entries by it (migration 0011). Empty on SQLite.
    txid: int | None = Field(default=None, sa_column=Column(BigInteger))


class WorkflowVersion(SQLModel, table=True):
    """One installed version of a workflow: its exact TOML text. The database refuses UPDATE and DELETE.

    Versions of a name count 1, 2, 3...; `sha256` is the SHA-256 of `source` (its UTF-8 bytes), and no
    text is installed twice under one name. Each row has a `workflow.install` audit entry holding the same.
    """

    __tablename__ = "workflow_version"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_workflow_version"),
                      UniqueConstraint("name", "sha256", name="uq_workflow_sha256"))

    id: int | None = Field(default=None, primary_key=True)
    name: str
    version: int
    sha256: str
    source: str = Field(sa_column=Column(Text, nullable=False))
    origin: str  # "built-in", or the file it was installed from
    installed_by: str
    installed_at: str


class Contract(SQLModel, table=True):
    """A contract a project holds (one of several: lots, providers, successive contracts): dates, value, notice
    terms and what happens without notice. Within its project it is named by its reference (unique there)."""

    __tablename__ = "contract"
    __table_args__ = (Index("uq_contract_ref", "project_id", "ref", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    provider: str | None = None
    ref: str | None = None
    start: str | None = None  # ISO dates
    end: str | None = None
    value_total: str | None = None  # decimal pounds, as text: exact, and the same on every database
    value_annual: str | None = None
    notice: str | None = None  # a period: "6 months", "90 days", "60 working days"
    extension_to: str | None = None  # the latest end date the extension options allow
    if_no_notice: str = "run-on"  # "run-on" (for run_on) or "ends"
    run_on: str | None = None  # a period, e.g. "12 months"
    notice_served_on: str | None = None
    notice_ref: str | None = None
    updated_at: str
    termination_costs: str | None = None  # penalties and costs due should it be terminated early, as it states them
    # OCDS (revision 0018): the contracting process and the contract's id in it (what `import ocds` matches on),
    # and the buyer as the file names it.
    ocid: str | None = Field(default=None, index=True)
    ocds_id: str | None = None
    buyer: str | None = None
    # What the Transparency Code 2015 asks a council to publish of each contract (revision 0019)
    title: str | None = None
    description: str | None = None
    department: str | None = None  # the department or service responsible
    review_date: str | None = None  # ISO date
    awarded_by: str | None = None  # "quote", "tender", or the route in words (e.g. a PSR direct award)
    sme: str | None = None  # "yes" | "no" | None (not recorded)
    vcse: str | None = None  # "yes" | "no" | None
    registration_number: str | None = None  # the supplier's charity or company number
    vat_not_recoverable: str | None = None  # decimal pounds, as text
    # The Procurement Act 2023's KPI duties (revision 0023, cycle.performance.pa2023): the regime it was let under
    # (pa2023 | pa2023-light-touch | psr | none; None: not recorded), and why KPIs could not appropriately assess
    # the supplier's performance (s.52(2); None: not exempt).
    regime: str | None = None
    kpis_exempt: str | None = None
    # The person (role provider, with an email) who gets the provider's reminders (revision 0024)
    provider_contact: str | None = None


class ContractFunder(SQLModel, table=True):
    """One organisation's part in paying for a contract (issue 16 part 2): a share or an amount, optionally
    within a named pooled budget (e.g. a section 75 pool). A contract's split is all of its rows; replacing it
    deletes them and adds the new ones (one audited change)."""

    __tablename__ = "contract_funder"

    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    position: int  # the order the funders were given in
    funder: str
    share: str | None = None  # a percentage as decimal text ('60', '33.34'), or None when split by amount
    amount: str | None = None  # decimal pounds as text ('1200.50'), or None when split by share
    pool: str | None = None  # the pooled budget the split is within (the same on each row of a contract)
    recorded_by: str
    recorded_at: str


class Link(SQLModel, table=True):
    """A directed link between two projects; every link is stored both ways (kind and its inverse)."""

    __tablename__ = "link"
    __table_args__ = (UniqueConstraint("project_id", "kind", "other_id", name="uq_link"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    kind: str  # decommissions | decommissioned-by | replaces | replaced-by
    other_id: int = Field(foreign_key="project.id")
    created_at: str


class Person(SQLModel, table=True):
    """Someone the product knows: the name is what CYCLE_USER (or the login) says when they act."""

    __tablename__ = "person"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    email: str
    created_at: str


class PersonRole(SQLModel, table=True):
    """A role a person holds: manager, governance-lead, admin, or approver for a named body."""

    __tablename__ = "person_role"
    __table_args__ = (UniqueConstraint("person_id", "role", "body", name="uq_person_role"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    role: str
    body: str = ""  # the body an approver decides for; empty for other roles


class Deputy(SQLModel, table=True):
    """Someone who may decide for a body in an approver's place, from one day to another (London dates, both
    inclusive; ISO text). Rows are added, never deleted: ending a window early moves `ends_on` back and says who
    ended it and when (cycle.governance.deputies)."""

    __tablename__ = "deputy"

    id: int | None = Field(default=None, primary_key=True)
    approver: str = Field(index=True)  # canonical login of the approver they stand in for
    deputy: str = Field(index=True)  # canonical login of the deputy
    body: str
    starts_on: str
    ends_on: str
    added_by: str
    added_at: str
    ended_by: str | None = None  # who ended the window early, and when
    ended_at: str | None = None


class GateRequest(SQLModel, table=True):
    """A manager asking a body to decide a gate; the requester may not decide it (separation of duties)."""

    __tablename__ = "gate_request"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    gate: str
    visit: int
    requested_by: str
    requested_at: str
    note: str | None = None


class Waiver(SQLModel, table=True):
    """A governance lead's waiver of one must criterion of one gate, for the project's current visit."""

    __tablename__ = "waiver"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    cycle: int
    visit: int
    gate: str
    criterion: str
    reason: str
    waived_by: str
    waived_at: str


class Milestone(SQLModel, table=True):
    """A programme card milestone with a due date."""

    __tablename__ = "milestone"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    title: str
    due: str
    done_on: str | None = None
    created_by: str
    created_at: str


# --- reminders: telling people, not the projects themselves ---------------------------------------

class ReviewMeeting(SQLModel, table=True):
    """A quarterly contract review meeting that was held (seed 001 section 8)."""

    __tablename__ = "review_meeting"
    __table_args__ = (UniqueConstraint("project_id", "quarter", name="uq_review_quarter"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    quarter: str  # '2026-Q3': financial year 2026/27, October-December 2026
    held_on: str  # ISO date
    note: str | None = None
    recorded_by: str
    recorded_at: str
    # Revision 0020: who attended (a JSON list of names) and each indicator's status for the quarter when the
    # meeting was recorded (JSON, cycle.performance.reviews); NULL for a meeting recorded before.
    attendees: str | None = Field(default=None, sa_column=Column(Text))
    snapshot: str | None = Field(default=None, sa_column=Column(Text))


# --- contract performance (seed 001 section 8): indicators, their targets and quarterly values, actions ------------

class Kpi(SQLModel, table=True):
    """A SMART performance indicator of a contract (issue 17): what is measured, in which unit, which way is better."""

    __tablename__ = "kpi"
    __table_args__ = (UniqueConstraint("contract_id", "key", name="uq_kpi_key"),)

    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    key: str  # the indicator's id within its contract, e.g. rtt-4wk
    title: str
    unit: str | None = None
    better: str  # higher | lower | band
    source: str | None = None
    created_by: str
    created_at: str


class KpiTarget(SQLModel, table=True):
    """An indicator's target from a quarter on: the row with the latest `from_quarter` not after a quarter judges it.
    Rows are only ever added (a change of target is a new row)."""

    __tablename__ = "kpi_target"
    __table_args__ = (UniqueConstraint("kpi_id", "from_quarter", name="uq_kpi_target_from"),)

    id: int | None = Field(default=None, primary_key=True)
    kpi_id: int = Field(foreign_key="kpi.id", index=True)
    from_quarter: str  # '2026-Q3'; the first target's is the first quarter cycle knows (it holds from the start)
    target: str | None = None  # decimals as text, exact on every database; higher/lower
    low: str | None = None  # band
    high: str | None = None
    tolerance: str  # how far short is still `near`, in the indicator's unit
    over: str | None = None  # how far better than target is still `met`; None: any better is met
    set_by: str
    set_at: str


class KpiValue(SQLModel, table=True):
    """An indicator's actual for one quarter, as the provider returned it."""

    __tablename__ = "kpi_value"
    __table_args__ = (UniqueConstraint("kpi_id", "quarter", name="uq_kpi_value_quarter"),)

    id: int | None = Field(default=None, primary_key=True)
    kpi_id: int = Field(foreign_key="kpi.id", index=True)
    quarter: str
    value: str  # a decimal as text
    note: str | None = None
    recorded_by: str
    recorded_at: str


class Action(SQLModel, table=True):
    """An action raised at a contract review (or any time): who owns it, by when, and when it was done."""

    __tablename__ = "action"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    kpi_id: int | None = Field(default=None, foreign_key="kpi.id")
    text: str
    owner: str
    due: str
    done_on: str | None = None
    done_note: str | None = None
    created_by: str
    created_at: str


class KpiAssessment(SQLModel, table=True):
    """An assessment of a contract's performance against its KPIs (Procurement Act 2023 s.71(2)), rated as the
    Procurement Regulations 2024 reg 39(5) words it; only ever added."""

    __tablename__ = "kpi_assessment"

    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    rating: str  # good | approaching-target | requires-improvement | inadequate | other
    period_from: str  # ISO dates: the period the assessment covers
    period_to: str
    note: str | None = None
    recorded_by: str
    recorded_at: str


class OutboxMessage(SQLModel, table=True):
    """One reminder to one person, from the moment it is due until it is delivered or has failed.

    (project, kind, period, recipient) is the reminder's idempotency key: the database holds it at
    most once, so a second tick, a second scheduler or a retry after a crash cannot queue it twice.
    """

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("project", "kind", "period", "recipient", name="uq_outbox_key"),)

    id: int | None = Field(default=None, primary_key=True)
    project: str = Field(index=True)  # for a contract's reminders: the project that holds the contract
    kind: str  # review-due | review-overdue | notice | notice-passed | gate-waiting | gate-request |
    #   assessment-due | assessment-overdue
    period: str  # '2026-Q3', '2027-09-30/90d', 'do-review/c1v3', ...
    recipient: str  # a person's name
    email: str  # their address when the reminder fell due
    due_on: str  # the London date on which the tick found it due
    context: str = Field(sa_column=Column(Text, nullable=False))  # JSON the templates render
    status: str = Field(default="pending", index=True)  # pending | sending | sent | failed | cancelled
    attempts: int = 0
    next_attempt_at: str  # UTC; a temporary failure pushes it back
    claimed_by: str | None = None  # the sender working on it while status is 'sending'
    claim_expires_at: str | None = None  # after this a crashed sender's claim is taken over
    first_attempt_at: str | None = None
    last_error: str | None = None
    message_id: str | None = None  # set on the first attempt, from (project, kind, period) and the sender's domain
    created_at: str
    sent_at: str | None = None


class DeliveryAttempt(SQLModel, table=True):
    """One try at handing one outbox row to the mail server, and what the server said."""

    __tablename__ = "delivery_attempt"

    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(foreign_key="outbox.id", index=True)
    attempt: int
    at: str
    outcome: str  # sent | temporary | permanent
    code: int | None = None  # the SMTP reply code, when there was one
    detail: str
    transport: str  # 'smtp host:port' or 'maildir PATH'
    others: str | None = None  # in a partial delivery, the other recipients' outcomes


class SchedulerLease(SQLModel, table=True):
    """Who runs the scheduler: one row per lease name, renewed while its holder is alive."""

    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True)
    holder: str  # host:pid:random, unique per running scheduler
    host: str
    pid: int
    started_at: str
    renewed_at: str
    expires_at: str  # UTC; after this another scheduler may take over



class Procurement(SQLModel, table=True):
    """A project's procurement (issue 18): the regime (psr, pa2023) and the route it follows
    (cycle/procurement/regimes.toml), whether it is a PA 2023 light touch contract, and its estimated value."""

    __tablename__ = "procurement"
    __table_args__ = (Index("uq_procurement_project", "project_id", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id")
    regime: str  # psr | pa2023
    route: str  # a route of the regime, e.g. direct-award-c, open
    light_touch: str  # "yes" | "no"
    value: str | None = None  # the estimated value, decimal pounds as text (over £5m: PA 2023 ss.52-53)
    started_by: str
    started_at: str


class ProcurementStep(SQLModel, table=True):
    """A step of a procurement's route, done on a day (a notice published, a decision, the award), with the record
    PSR reg 24 asks for: who decided, how the key criteria were applied, the reasons, conflicts of interest and how
    they were managed. Steps are only ever added."""

    __tablename__ = "procurement_step"

    id: int | None = Field(default=None, primary_key=True)
    procurement_id: int = Field(foreign_key="procurement.id", index=True)
    step: str
    done_on: str  # ISO date
    ref: str | None = None  # e.g. the notice's reference on the central digital platform
    note: str | None = None
    decided_by: str | None = None  # reg 24(d): the individuals (or committee, job titles) making the decision
    criteria: str | None = None  # reg 24(e)-(f): how the key criteria were taken into account
    reasons: str | None = None  # reg 24(g)
    conflicts: str | None = None  # reg 24(h): declared conflicts or potential conflicts of interest
    conflicts_managed: str | None = None  # reg 24(i): how they were managed
    recorded_by: str
    recorded_at: str
