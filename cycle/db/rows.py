"""The rows the read side reads, typed: one named tuple per table (ProjectRow, EvidenceRow, ...), read in plain SQL.

Read-only commands and advance read through here (see cycle.db.sql.Sql), so they need neither the ORM nor its
start-up cost; write commands that hold an ORM session reach the same queries through sql_of(session), and turn
an ORM object they hold into its row with row_of. A gate is checked on these rows everywhere.

Each reader selects exactly the fields of its row type: a table's row type has every column of the table
(TABLES), and a row read from a join says where each field comes from (JOINED). tests/test_architecture.py checks
both against the models.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from contextlib import closing
from typing import Any, NamedTuple, TypeVar

from cycle.errors import ProjectNotFound
from cycle.governance import identity

from .sql import Sql


class ProjectRow(NamedTuple):
    id: int
    key: str
    title: str
    workflow: str
    workflow_version: int | None
    stage: str
    cycle: int
    visit: int
    lead_commissioner: str | None
    model: str | None
    accountable_body: str | None
    owner: str | None
    sro: str | None
    lead: str | None
    governance_lead: str | None
    start_date: str | None
    end_date: str | None
    aim: str | None
    scope: str | None
    benefits: str | None
    metrics: str | None
    programme: str | None
    hub_role: str | None
    attrs: str
    created_at: str
    updated_at: str
    version: int


class EvidenceRow(NamedTuple):
    id: int
    project_id: int
    cycle: int
    name: str
    ref: str
    note: str | None
    recorded_by: str
    recorded_at: str
    counts_for: str | None


class DecisionRow(NamedTuple):
    id: int
    project_id: int
    cycle: int
    visit: int
    gate: str
    outcome: str
    body: str
    ref: str
    recycle_to: str | None
    decided_on: str | None
    note: str | None
    recorded_by: str
    recorded_at: str


class WaiverRow(NamedTuple):
    id: int
    project_id: int
    cycle: int
    visit: int
    gate: str
    criterion: str
    reason: str
    waived_by: str
    waived_at: str


class ContractRow(NamedTuple):
    id: int
    project_id: int
    provider: str | None
    ref: str | None
    start: str | None
    end: str | None
    value_total: str | None
    value_annual: str | None
    notice: str | None
    extension_to: str | None
    if_no_notice: str
    run_on: str | None
    notice_served_on: str | None
    notice_ref: str | None
    updated_at: str
    termination_costs: str | None
    ocid: str | None
    ocds_id: str | None
    buyer: str | None
    title: str | None
    description: str | None
    department: str | None
    review_date: str | None
    awarded_by: str | None
    sme: str | None
    vcse: str | None
    registration_number: str | None
    vat_not_recoverable: str | None
    regime: str | None
    kpis_exempt: str | None
    provider_contact: str | None


class FunderRow(NamedTuple):
    """One organisation's part in paying for a contract (contract_funder)."""

    id: int
    contract_id: int
    position: int
    funder: str
    share: str | None
    amount: str | None
    pool: str | None
    recorded_by: str
    recorded_at: str


class ProcurementRow(NamedTuple):
    """A project's procurement: its regime and route (procurement; cycle.procurement)."""

    id: int
    project_id: int
    regime: str
    route: str
    light_touch: str
    value: str | None
    started_by: str
    started_at: str


class ProcurementStepRow(NamedTuple):
    """A step of a procurement done on a day, with the PSR reg 24 record (procurement_step)."""

    id: int
    procurement_id: int
    step: str
    done_on: str
    ref: str | None
    note: str | None
    decided_by: str | None
    criteria: str | None
    reasons: str | None
    conflicts: str | None
    conflicts_managed: str | None
    recorded_by: str
    recorded_at: str


class LinkedProject(NamedTuple):
    """A link from a project: its kind, and the other project's key and stage."""

    kind: str
    key: str
    stage: str


class Holder(NamedTuple):
    """The project that holds a contract: its key and stage (HeldContract)."""

    key: str
    stage: str


class HeldContract(NamedTuple):
    """A contract, and the project holding it."""

    holder: Holder
    contract: ContractRow


class DeputyRow(NamedTuple):
    id: int
    approver: str
    deputy: str
    body: str
    starts_on: str
    ends_on: str
    added_by: str
    added_at: str
    ended_by: str | None
    ended_at: str | None


class _DecommissionedService(NamedTuple):
    id: int
    key: str


#: The table each table's row type is read from, whole.
TABLES: dict[type[Any], str] = {ProjectRow: "project", EvidenceRow: "evidence", DecisionRow: "decision",
                                WaiverRow: "waiver", ContractRow: "contract",
                                FunderRow: "contract_funder", ProcurementRow: "procurement",
                                ProcurementStepRow: "procurement_step", DeputyRow: "deputy"}
#: Rows read from joins: where each field comes from (table.column), and the alias the query gives each table.
JOINED: dict[type[Any], dict[str, str]] = {
    LinkedProject: {"kind": "link.kind", "key": "project.key", "stage": "project.stage"},
    Holder: {"key": "project.key", "stage": "project.stage"},
    _DecommissionedService: {"id": "project.id", "key": "project.key"},
}
_ALIAS = {"project": "p", "link": "l", "contract": "c"}

R = TypeVar("R", bound=tuple[Any, ...])


def _select(row: type[Any], alias: str = "") -> str:
    """The select list of a row type: a table's columns (prefixed with `alias.`), or a join's fields."""
    if row in JOINED:
        return ", ".join(f'{_ALIAS[t]}."{c}" AS "{field}"' for field, (t, _, c) in
                         ((f, where.partition(".")) for f, where in JOINED[row].items()))
    prefix = f"{alias}." if alias else ""
    return ", ".join(f'{prefix}"{column}"' for column in row._fields)


def row_of(row: type[R], obj: object) -> R:
    """An ORM object (or any object with the fields) as the row type the read side takes."""
    return row._make(getattr(obj, field) for field in row._fields)  # type: ignore[attr-defined, no-any-return]


_PROJECT = f"SELECT {_select(ProjectRow)} FROM project"


def project(sql: Sql, key: str, for_update: bool = False) -> ProjectRow:
    """The project with this key (ProjectNotFound if there is none); `for_update` locks its row (PostgreSQL)."""
    found = sql.typed(ProjectRow, _PROJECT + " WHERE key = :key" + (sql.for_update if for_update else ""), key=key)
    if not found:
        raise ProjectNotFound(key)
    return found[0]


def programme_titles(sql: Sql) -> dict[str, str]:
    """Every programme (revision 0015): key -> title, in key order."""
    return {r.key: r.title for r in sql.rows("SELECT key, title FROM programme ORDER BY key")}


def project_keys(sql: Sql) -> set[str]:
    """Every project's key."""
    return {r[0] for r in sql.tuples("SELECT key FROM project")}


def key_taken(sql: Sql, key: str) -> bool:
    return sql.one("SELECT 1 AS taken FROM project WHERE key = :key", key=key) is not None


def projects(sql: Sql, stage: str | None = None, workflow: str | None = None,
             programme: str | None = None) -> list[ProjectRow]:
    where, given = _projects_where(stage, workflow, programme)
    return sql.typed(ProjectRow, _PROJECT + where + " ORDER BY key", **given)


def stream_projects(sql: Sql, stage: str | None = None, workflow: str | None = None,
                    programme: str | None = None, key: str | None = None) -> Generator[ProjectRow, None, None]:
    """projects() (or the one with `key`), a batch at a time (for listings of any size)."""
    where, given = _projects_where(stage, workflow, programme, key)
    with closing(sql.stream(_PROJECT + where + " ORDER BY key", **given)) as found:
        yield from map(ProjectRow._make, found)


def key_width(sql: Sql, stage: str | None = None, workflow: str | None = None,
              programme: str | None = None) -> int | None:
    """The length of the longest key projects() would give; None when it would give none."""
    where, given = _projects_where(stage, workflow, programme)
    width = sql.one(f"SELECT max(length(key)) AS width FROM project{where}", **given).width
    return None if width is None else int(width)


def _projects_where(stage: str | None, workflow: str | None,
                    programme: str | None = None, key: str | None = None) -> tuple[str, dict[str, Any]]:
    given = {name: value for name, value in (("stage", stage), ("workflow", workflow), ("programme", programme),
                                             ("key", key)) if value}
    return (" WHERE " + " AND ".join(f"{name} = :{name}" for name in given) if given else ""), given


_EVIDENCE = f"SELECT {_select(EvidenceRow)} FROM evidence WHERE project_id = :id ORDER BY id"
_DECISIONS = f"SELECT {_select(DecisionRow)} FROM decision WHERE project_id = :id ORDER BY id"
_WAIVERS = f"SELECT {_select(WaiverRow)} FROM waiver WHERE project_id = :id AND visit = :visit ORDER BY id"
_LINKS = (f"SELECT {_select(LinkedProject)} FROM link l JOIN project p ON p.id = l.other_id "
          f"WHERE l.project_id = :id ORDER BY l.id")


def evidence(sql: Sql, project_id: int) -> list[EvidenceRow]:
    return sql.typed(EvidenceRow, _EVIDENCE, id=project_id)


def decisions(sql: Sql, project_id: int) -> list[DecisionRow]:
    return sql.typed(DecisionRow, _DECISIONS, id=project_id)


def waivers(sql: Sql, project_id: int, visit: int) -> dict[tuple[str, str], WaiverRow]:
    """The waivers in force: (gate, criterion) -> waiver, for the project's current stage visit."""
    return {(w.gate, w.criterion): w for w in sql.typed(WaiverRow, _WAIVERS, id=project_id, visit=visit)}


def links(sql: Sql, project_id: int) -> list[LinkedProject]:
    """Every link from this project, with the other project's key and stage."""
    return sql.typed(LinkedProject, _LINKS, id=project_id)


_CONTRACT = f"SELECT {_select(ContractRow)} FROM contract"
_OWN_CONTRACTS = _CONTRACT + " WHERE project_id = :id ORDER BY id"
_DECOMMISSIONED = (f"SELECT {_select(_DecommissionedService)} FROM link l JOIN project p ON p.id = l.other_id "
                   f"WHERE l.project_id = :id AND l.kind = 'decommissions' ORDER BY l.id")


def contracts_of(sql: Sql, project_id: int) -> list[ContractRow]:
    """The project's own contracts, in the order they were recorded (zero, one or several)."""
    return sql.typed(ContractRow, _OWN_CONTRACTS, id=project_id)


def contract_holder(sql: Sql, project_id: int, key: str) -> tuple[int, str, list[ContractRow]]:
    """(id, key, contracts) of the project holding the contracts this project works with: its own if it has
    any, else those of the service it decommissions (recorded or not), else itself with none."""
    own = contracts_of(sql, project_id)
    if own:
        return project_id, key, own
    parent = sql.typed(_DecommissionedService, _DECOMMISSIONED, id=project_id)
    if not parent:
        return project_id, key, []
    service = parent[0]
    return service.id, service.key, contracts_of(sql, service.id)


_FUNDERS = f"SELECT {_select(FunderRow)} FROM contract_funder"


def procurement(sql: Sql, project_id: int) -> tuple[ProcurementRow, list[ProcurementStepRow]] | None:
    """A project's procurement and its steps in the order recorded; None when it has none."""
    found = sql.typed(ProcurementRow, f"SELECT {_select(ProcurementRow)} FROM procurement WHERE project_id = :p",
                      p=project_id)
    if not found:
        return None
    return found[0], sql.typed(ProcurementStepRow, f"SELECT {_select(ProcurementStepRow)} FROM procurement_step "
                                                   f"WHERE procurement_id = :p ORDER BY id", p=found[0].id)


def procurements(sql: Sql) -> list[tuple[str, ProcurementRow, list[ProcurementStepRow]]]:
    """Every project's procurement, by project key: its key, the procurement and its steps in the order recorded
    (two queries, whatever the number of projects)."""
    found = sql.typed(ProcurementRow, f"SELECT {_select(ProcurementRow)} FROM procurement")
    if not found:
        return []
    keys = dict(sql.tuples("SELECT p.id, p.key FROM project p JOIN procurement pr ON pr.project_id = p.id"))
    steps: dict[int, list[ProcurementStepRow]] = {}
    for r in sql.typed(ProcurementStepRow, f"SELECT {_select(ProcurementStepRow)} FROM procurement_step ORDER BY id"):
        steps.setdefault(r.procurement_id, []).append(r)
    return sorted(((keys[p.project_id], p, steps.get(p.id, [])) for p in found if p.project_id in keys),
                  key=lambda t: t[0])


def funders(sql: Sql, contract_id: int) -> list[FunderRow]:
    """Who pays for one contract, in the order they were given."""
    return sql.typed(FunderRow, _FUNDERS + " WHERE contract_id = :id ORDER BY position, id", id=contract_id)


def all_funders(sql: Sql) -> dict[int, list[FunderRow]]:
    """Who pays for every funded contract, by contract id (a list reads them once, not per contract)."""
    out: dict[int, list[FunderRow]] = {}
    for r in sql.typed(FunderRow, _FUNDERS + " ORDER BY contract_id, position, id"):
        out.setdefault(r.contract_id, []).append(r)
    return out


# --- every project's rows at once (the reminders' due scan reads the portfolio in a few queries, not per project)

_ALL_LINKS = (f"SELECT l.project_id, p.id, {_select(LinkedProject)} FROM link l JOIN project p ON p.id = l.other_id "
              f"ORDER BY l.id")


def grouped(sql: Sql, row: type[R], order: str = "id") -> dict[int, list[R]]:
    """Every row of a table read whole (evidence, decision, waiver), by project_id, in `order`."""
    out: dict[int, list[R]] = {}
    for r in sql.typed(row, f"SELECT {_select(row)} FROM {TABLES[row]} ORDER BY {order}"):
        out.setdefault(r.project_id, []).append(r)  # type: ignore[attr-defined]
    return out


def all_links(sql: Sql) -> dict[int, list[tuple[int, LinkedProject]]]:
    """Every link, by project_id: (the other project's id, the link as `links` reads it), in link order."""
    out: dict[int, list[tuple[int, LinkedProject]]] = {}
    for project_id, other_id, *link in sql.tuples(_ALL_LINKS):
        out.setdefault(project_id, []).append((other_id, LinkedProject._make(link)))
    return out


_HELD = (f"SELECT {_select(Holder)}, {_select(ContractRow, 'c')} FROM project p "
         f"JOIN contract c ON c.project_id = p.id ORDER BY p.key")


def contracts(sql: Sql) -> list[HeldContract]:
    """Every contract, with the key and stage of the project holding it."""
    width = len(Holder._fields)
    return [HeldContract(Holder._make(r[:width]), ContractRow._make(r[width:])) for r in sql.tuples(_HELD)]


def stream_contracts(sql: Sql) -> Generator[HeldContract, None, None]:
    """Every contract with the project holding it, by the project's key (then the contract's id), a batch at a
    time (for listings of any size)."""
    width = len(Holder._fields)
    with closing(sql.stream(_HELD + ", c.id")) as found:
        for r in found:
            yield HeldContract(Holder._make(r[:width]), ContractRow._make(r[width:]))


def contract_key_width(sql: Sql) -> int | None:
    """The length of the longest key of a project holding a contract; None when no project holds one."""
    width = sql.one("SELECT max(length(p.key)) AS width FROM project p JOIN contract c ON c.project_id = p.id").width
    return None if width is None else int(width)


def contract_terms(sql: Sql) -> list[tuple[int, str | None, str | None, str, str | None]]:
    """(id, end, notice, if_no_notice, run_on) of every contract: what its dates follow from, and no more."""
    return sql.tuples('SELECT id, "end", notice, if_no_notice, run_on FROM contract')


def contracts_with_ids(sql: Sql, ids: list[int]) -> list[HeldContract]:
    """`contracts`, for these contract ids only (read in bounded IN lists), by project key."""
    width = len(Holder._fields)
    found = []
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        marks = ", ".join(f":c{n}" for n in range(len(chunk)))
        found += sql.tuples(_HELD.replace(" ORDER BY", f" WHERE c.id IN ({marks}) ORDER BY"),
                            **{f"c{n}": cid for n, cid in enumerate(chunk)})
    found.sort(key=lambda r: r[0])  # (the project's key: each chunk came in that order, not the whole)
    return [HeldContract(Holder._make(r[:width]), ContractRow._make(r[width:])) for r in found]


_PUBLISHED = (f"SELECT p.key AS project_key, p.title AS project_title, {_select(ContractRow, 'c')} FROM project p "
              f"JOIN contract c ON c.project_id = p.id ORDER BY c.ref, p.key, c.id")


def stream_published(sql: Sql) -> Generator[tuple[str, str, ContractRow], None, None]:
    """Every contract with its project's key and title, by reference, a batch at a time (the transparency export)."""
    with closing(sql.stream(_PUBLISHED)) as found:
        for r in found:
            yield r[0], r[1], ContractRow._make(r[2:])


def contract_columns(alias: str) -> str:
    """The select list of a whole ContractRow from the contract table under `alias` (for joins elsewhere)."""
    return _select(ContractRow, alias)


_DEPUTIES = f"SELECT {_select(DeputyRow)} FROM deputy WHERE body = :body"


def deputy_windows(sql: Sql, body: str, *, deputy: str | None = None, approver: str | None = None,
                   on: str | None = None, approvers: Sequence[str] | None = None) -> list[DeputyRow]:
    """The deputy windows of `body`, earliest first (by first day): of `deputy`, standing in for `approver`, running
    on the day `on` (a cancelled window never runs), standing in for one of `approvers` (the body's approvers now,
    as the caller read them: a deputy's deputy does not count), each only if given. The one lookup of windows
    (cycle.governance.deputies, authority, requests); names compared as logins (cycle.governance.identity)."""
    running, day = (" AND starts_on <= :day AND ends_on >= :day", {"day": on}) if on is not None else ("", {})
    found = sql.typed(DeputyRow, _DEPUTIES + running + " ORDER BY starts_on, id", body=body, **day)
    return [r for r in found if (deputy is None or identity.same(r.deputy, deputy))
            and (approver is None or identity.same(r.approver, approver))
            and (approvers is None or identity.among(r.approver, approvers))]
