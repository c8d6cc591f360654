"""`cycle import register`: a council's contract register (a CSV file) brought in through a mapping (TOML).

Two readings of the file, neither holding it in memory:

1. Every row is checked on its own (dates, amounts, periods, text, the project key it gives) and against the
   rows before it (a reference given twice); nothing is written. The first problem stops it, naming the line
   and the column.
2. In ONE write transaction, each row is compared with the database and applied: a project that does not exist
   is created at the mapping's stage (one `project.import` audit entry naming the file, its SHA-256 and the
   line); a contract is found by its project and reference: one that differs is updated (one `contract.set`
   entry with the old and new values), one the project does not hold yet is added (`contract.add`), both
   through contracts.set_terms; a row that matches is left alone. A problem here (an owner nobody registered,
   a project whose contract has no reference) rolls the whole import back. The file's SHA-256 must be the same
   as in the first reading.

A blank cell (one the mapping's [format] blank lists) means "not given": a new contract has nothing there, an
existing one keeps what it has. A second import of the same file therefore changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from cycle import contracts, inputs
from cycle.audit import chain, images
from cycle.audit.images import COVERED
from cycle.calendar import clock, dates
from cycle.db import rows
from cycle.db.sql import sql_of
from cycle.errors import BadInput
from cycle.files import Unreadable

from . import csvin
from .mapping import CONTRACT_COLUMN, DATE_FIELDS, DELIMITERS, MONEY_FIELDS, Mapping, load, shipped

if TYPE_CHECKING:
    from sqlmodel import Session

    from cycle.db.models import Project
    from cycle.db.sql import Sql
    from cycle.db.store import Store
    from cycle.workflow.definition import Workflow

ACTION = "project.import"
_COUNTED = {"create": "created", "add": "added", "change": "changed", "unchanged": "unchanged"}
_CHECKED = ("start", "end", "extension_to", "notice")  # what contracts.check_terms reads


class RowProblem(BadInput):
    """A row of the register cannot be imported as it is: its line, its column and what is wrong."""

    def __init__(self, line: int, column: str | None, problem: str, path: str):
        self.line, self.column, self.problem = line, column, problem
        where = f"line {line}, column {column!r}" if column else f"line {line}"
        super().__init__(f"{where}: {problem}; correct it in {path} (or the mapping) and import again. Nothing was "
                         f"imported.")


@dataclass
class Row:
    """A row checked: the project it belongs to and the contract terms it gives (only those not blank)."""

    line: int
    key: str
    title: str
    owner: str | None
    terms: dict[str, str]  # contract column -> value as cycle stores it
    columns: dict[str, str]  # contract column -> the CSV's column (for a problem found later)


@dataclass
class Planned:
    """What the import does (or, with --dry-run, would do) with one row."""

    line: int
    what: str  # create | add | change | unchanged
    key: str
    ref: str
    changes: dict[str, list[str | None]] = field(default_factory=dict)
    stage: str | None = None


@dataclass
class Imported:
    """What an import did: the file, its SHA-256 and encoding, and how many rows were created, changed or left."""

    file: str
    sha256: str
    encoding: str
    rows: int = 0
    created: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "encoding": self.encoding, "rows": self.rows,
                "created": self.created, "added": self.added, "changed": self.changed, "unchanged": self.unchanged,
                "first_seq": self.first_seq, "last_seq": self.last_seq,
                "dry_run": self.dry_run}


def mapping_of(name: str) -> Mapping:
    """--map: a mapping file, or the name of one cycle ships (cycle/interchange/mappings) when no such file exists."""
    given = Path(name).expanduser()
    if not given.exists() and not given.is_symlink() and name in shipped():
        return load(shipped()[name])
    return load(given)


# --- checking a row on its own --------------------------------------------------------------------------------

class _Checker:
    """Turns a record's cells into a Row, as the mapping says."""

    def __init__(self, mapping: Mapping, path: str):
        self.m, self.path = mapping, path
        self.used: dict[str, str] = {}  # field -> the column its value came from, in the row being checked

    def blank(self, cell: str) -> bool:
        return cell.strip().casefold() in self.m.blank

    def value(self, record: csvin.Record, name: str) -> str | None:
        """The field's cell (the first not blank, when the mapping names several columns); None if blank."""
        for column in self.m.columns.get(name, ()):
            cell = record.cells[column]
            if not self.blank(cell):
                self.used[name] = column
                return cell.strip()
        return None

    def problem(self, record: csvin.Record, name: str | None, text: str) -> RowProblem:
        column = (self.used.get(name) or self.m.columns[name][0]) if name in self.m.columns else None
        return RowProblem(record.line, column, text, self.path)

    def day(self, record: csvin.Record, name: str, cell: str) -> str:
        when = _parsed_day(cell, self.m.dates)
        if when is None:
            shown = cell if len(cell) <= 40 else cell[:37] + "..."
            raise self.problem(record, name, f"{shown!r} is not a date written as the mapping says "
                                             f"({' or '.join(self.m.dates)})")
        if not inputs.FIRST_DAY <= when <= inputs.LAST_DAY:
            raise self.problem(record, name, f"{when.isoformat()} is out of range; cycle takes dates from "
                                             f"{inputs.FIRST_DAY} to {inputs.LAST_DAY}")
        return when.isoformat()

    def money(self, record: csvin.Record, name: str, cell: str) -> str:
        try:
            return _amount(cell)
        except BadInput as exc:
            shown = cell if len(cell) <= 40 else cell[:37] + "..."
            why = ("more than £1,000,000,000,000" if "more than" in str(exc)
                   else "not an amount in pounds (write e.g. £1,234.50, 1234.5, 1.2m or 350k)")
            raise self.problem(record, name, f"{shown!r} is {why}") from None

    def yes_no(self, record: csvin.Record, name: str, cell: str) -> str:
        said = cell.strip().casefold()
        if said in self.m.yes:
            return "yes"
        if said in self.m.no:
            return "no"
        shown = cell if len(cell) <= 40 else cell[:37] + "..."
        raise self.problem(record, name, f"{shown!r} is neither yes nor no as the mapping writes them "
                                         f"([format] yes, no)")

    def row(self, record: csvin.Record) -> Row:
        self.used.clear()
        terms: dict[str, str] = {}
        raw: dict[str, str | None] = {}
        for name in self.m.columns:
            cell = self.value(record, name)
            raw[name] = cell
            if cell is None or name in ("owner", "project"):
                continue
            column = CONTRACT_COLUMN[name]
            try:
                if name in DATE_FIELDS:
                    terms[column] = self.day(record, name, cell)
                elif name in MONEY_FIELDS:
                    terms[column] = self.money(record, name, cell)
                elif name in ("sme", "vcse"):
                    terms[column] = self.yes_no(record, name, cell)
                elif name == "notice":
                    terms[column] = str(dates.parse_period(cell, "the notice period"))
                elif name == "awarded_by":
                    terms[column] = contracts.route(cell, "the route")
                else:
                    terms[column] = _text(cell, _KINDS.get(name, "text"))
            except RowProblem:
                raise
            except BadInput as exc:
                raise self.problem(record, name, str(exc)) from None
        if "ref" not in terms:
            raise self.problem(record, "reference", "no reference: every contract needs one, to be found again")
        self.cross_check(record, terms)
        key = _key(self.m.render(self.m.key, raw))
        if key is None:
            source = self.m.columns["project"][0] if "project" in self.m.columns else None
            raise RowProblem(record.line, source, f"the project key the mapping makes ({self.m.key}) is empty or not "
                             f"a key (lower-case letters, digits and '-', up to 64)", self.path)
        try:
            title = inputs.text(self.m.render(self.m.title, raw) or terms["ref"], "the project's title", "title")
            owner = self.m.render(self.m.owner, raw) if self.m.owner else None
            owner = inputs.text(owner, "the owner", "name") if owner else None
        except BadInput as exc:
            raise RowProblem(record.line, None, str(exc), self.path) from None
        columns = {CONTRACT_COLUMN[f]: self.used.get(f, c[0])
                   for f, c in self.m.columns.items() if f in CONTRACT_COLUMN}
        return Row(record.line, key, title, owner, terms, columns)

    def cross_check(self, record: csvin.Record, terms: dict[str, str]) -> None:
        start, end, most = (terms.get(k) for k in ("start", "end", "extension_to"))
        if start and end and end < start:
            raise self.problem(record, "end", f"the end date {end} is before the start date {start}")
        if end and most and most < end:
            raise self.problem(record, "maximum_end", f"the maximum end date {most} is before the current end date "
                                                      f"{end}; it is the latest end the extensions allow")


# A register repeats its dates, amounts, departments and providers: each distinct cell is checked once.
_KINDS = {"reference": "ref", "title": "title", "description": "note"}


@lru_cache(maxsize=8192)
def _parsed_day(cell: str, formats: tuple[str, ...]) -> date | None:
    for fmt in formats:
        try:
            return datetime.strptime(cell, fmt).date()
        except ValueError:
            continue
    return None


@lru_cache(maxsize=8192)
def _amount(cell: str) -> str:
    return inputs.money(cell.replace("GBP", "").replace("\u00a0", " ").strip(), "the amount")


@lru_cache(maxsize=8192)
def _text(cell: str, kind: str) -> str:
    return inputs.text(cell, "the text", kind)


def _key(text: str) -> str | None:
    """A project key from text: lower case, each run of other characters a '-', at most 64 characters."""
    import re
    import unicodedata

    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    key = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:64].rstrip("-")
    return key or None


def check_rows(reading: csvin.Reading, mapping: Mapping) -> Iterator[Row]:
    """Each row of the register checked, in order (the header checked against the mapping first)."""
    checker = _Checker(mapping, reading.path)
    seen: dict[str, int] = {}  # reference -> line: a reference given twice
    records = reading.records()
    first = True
    for record in records:
        if first:
            _check_header(reading, mapping)
            first = False
        row = checker.row(record)
        ref = row.terms["ref"]
        name = " ".join(ref.casefold().split())
        if name in seen:
            raise RowProblem(row.line, mapping.columns["reference"][0], f"reference {ref!r} is on line {seen[name]} "
                             f"too; a register names each contract once", reading.path)
        seen[name] = row.line
        yield row
    if first:
        _check_header(reading, mapping)


def _check_header(reading: csvin.Reading, mapping: Mapping) -> None:
    header = reading.header
    named = [c for cs in mapping.columns.values() for c in cs]
    missing = [c for c in named if c not in header]
    if missing:
        shown = ", ".join(repr(h) for h in header[:12]) + (", ..." if len(header) > 12 else "")
        other = [d for d in DELIMITERS if d != mapping.delimiter and len(header) == 1 and d in header[0]]
        if len(shown) > 400:
            shown = shown[:400] + "..."
        toml = '"\\t"' if other and other[0] == "\t" else f'"{other[0]}"' if other else ""
        hint = (f". It is one column holding {other[0]!r}: if the file is separated by {other[0]!r}, say so in a copy "
                f"of the mapping: [format] delimiter = {toml}") if other else ""
        raise BadInput(f"{reading.path}: the header line has no column {missing[0]!r}, which {mapping.path} maps; its "
                       f"columns are: {shown}{hint}")
    doubled = sorted({c for c in named if header.count(c) > 1})
    if doubled:
        raise BadInput(f"{reading.path}: the header line names column {doubled[0]!r} twice; rename one")


# --- comparing with the database and writing ----------------------------------------------------------------

class _Applier:
    """Compares each row with the database and, unless it is a dry run, writes it, in the caller's transaction."""

    def __init__(self, session: Session, store: Store, mapping: Mapping, wf: Workflow, actor: str, path: str,
                 sha256: str, dry_run: bool):
        self.s, self.store, self.m, self.wf, self.actor = session, store, mapping, wf, actor
        self.path, self.sha256, self.dry_run = path, sha256, dry_run
        self.stage = mapping.stage or wf.initial
        self.file = os.path.basename(path)
        self.new: dict[str, tuple[int, str]] = {}  # key of a project this import creates -> (line, its reference)
        self.sql = sql_of(session)  # the transaction's plain SQL (the ORM writes flush themselves: `update`)
        self.keys = rows.project_keys(self.sql)  # the projects there are: most rows of a first import are new
        self.first_seq: int | None = None
        self.last_seq: int | None = None

    def _appended(self, entry: Any) -> None:
        self.first_seq = self.first_seq or entry.seq
        self.last_seq = entry.seq

    def source(self, line: int) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "line": line}

    def plan(self, row: Row) -> Planned:
        """What the row does: creates its project (with the contract), adds a contract to its project (a
        reference the project does not hold yet), changes the contract with its reference, or nothing."""
        from sqlmodel import select

        from cycle.db.models import Project

        ref = row.terms["ref"]
        if row.key not in self.keys:
            self.keys.add(row.key)
            self.new[row.key] = (row.line, ref)
            if not self.dry_run:
                self.create(row)
            else:
                self.owner_of(row)
                self.check_terms(row, None)
            return Planned(row.line, "create", row.key, ref, stage=self.stage)
        if row.key in self.new and self.dry_run:  # made by an earlier row of this dry run: not in the database
            self.check_terms(row, None)
            return Planned(row.line, "add", row.key, ref, {n: [None, v] for n, v in row.terms.items()})
        project = self.s.exec(select(Project).where(Project.key == row.key)).one()
        holder_id, holder, found = rows.contract_holder(self.sql, project.id or 0, project.key)
        if holder != project.key:
            raise RowProblem(row.line, None, f"project {row.key} decommissions {holder} and works with its "
                             f"contracts; map the row to {holder}", self.path)
        contract = next((c for c in found if c.ref == ref), None)
        before = {name: getattr(contract, name) if contract is not None else None for name in row.terms}
        changes = {name: [before[name], value] for name, value in row.terms.items() if before[name] != value}
        if not changes:
            return Planned(row.line, "unchanged", row.key, ref)
        what = "change" if contract is not None else "add"
        if contract is None:  # what set_terms would refuse, found by a dry run too
            try:
                contracts.check_new(found, project.key, ref)
            except BadInput as exc:
                raise RowProblem(row.line, None, str(exc), self.path) from None
        self.check_terms(row, contract)
        if not self.dry_run:
            self.update(row, project)
        return Planned(row.line, what, row.key, ref, changes)

    def owner_of(self, row: Row) -> str | None:
        from cycle.governance import people

        if not row.owner:
            return None
        try:
            return people.named_person(self.s, row.owner, "the owner")
        except BadInput as exc:
            raise RowProblem(row.line, self.m.columns.get("owner", (None,))[0], str(exc), self.path) from None

    def check_terms(self, row: Row, contract: Any) -> None:
        """The row's terms together with what the contract keeps (contracts.check_terms: the notice period fits)."""
        terms = {name: row.terms.get(name, getattr(contract, name, None)) for name in _CHECKED}
        if not terms["end"] or not terms["notice"]:
            return  # the dates alone were checked with the row
        try:
            contracts.check_terms(SimpleNamespace(**terms))  # type: ignore[arg-type]
        except BadInput as exc:
            raise RowProblem(row.line, None, str(exc).replace("--extension-to", "the maximum end date"),
                             self.path) from None

    def create(self, row: Row) -> None:
        """The project and its contract, in plain SQL (an import creates thousands: the ORM would be most of the
        time), each row's image noted for the entry (cycle.audit.images)."""
        owner = self.owner_of(row)
        self.check_terms(row, None)
        now = clock.utc_now()
        sql = self.sql
        project = {**dict.fromkeys(COVERED["project"]), "key": row.key, "title": row.title, "workflow": self.wf.name,
                   "workflow_version": self.wf.version, "stage": self.stage, "cycle": 1, "visit": 1, "owner": owner,
                   "attrs": "{}", "created_at": now, "updated_at": now, "version": 1}
        project["id"] = project_id = _insert(sql, "project", project)
        images.note(sql.info, "project", project_id, project, None)
        contract = {**dict.fromkeys(COVERED["contract"]), "project_id": project_id, "if_no_notice": "run-on",
                    "updated_at": now, **row.terms}
        contract["id"] = contract_id = _insert(sql, "contract", contract)
        images.note(sql.info, "contract", contract_id, contract, None)
        self._appended(chain.append(
            sql, actor=self.actor, action=ACTION, project=row.key, to_stage=self.stage, at=now,
            payload={"workflow": self.wf.name, "workflow_version": self.wf.version,
                     "workflow_sha256": self.wf.sha256, "title": row.title, "owner": owner, "stage": self.stage,
                     "contract": row.terms, "imported": self.source(row.line)}))

    def update(self, row: Row, project: Project) -> None:
        """Change or add the row's contract through contracts.set_terms (upsert by the project and reference)."""
        project.updated_at = clock.utc_now()  # its version moves on, as for `contract set`
        self.s.add(project)
        self.s.flush()
        try:
            contracts.set_terms(self.s, project, dict(row.terms), self.actor, mode="upsert",
                                imported=self.source(row.line))
        except BadInput as exc:
            raise RowProblem(row.line, None, str(exc), self.path) from None
        seq = chain.head(self.sql)[0]
        self.first_seq = self.first_seq or seq
        self.last_seq = seq


def _insert(sql: Sql, table: str, image: dict[str, Any]) -> int:
    """INSERT a row of every column of `image` but its id; the new row's id."""
    columns = [c for c in image if c != "id"]
    quoted = ", ".join(f'"{c}"' for c in columns)
    found = sql.one(f"INSERT INTO {table} ({quoted}) VALUES ({', '.join(':' + c for c in columns)}) RETURNING id",
                    **{c: image[c] for c in columns})
    return int(found.id)


def _same_ref(a: str, b: str) -> bool:
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def import_register(store: Store, file: str, map_name: str, *, actor: str, dry_run: bool = False,
                    each: Callable[[Planned], None] | None = None) -> Imported:
    """Import the register `file` through the mapping `map_name` (a file, or a shipped mapping's name): all of
    it in one transaction, or nothing. `each` is told what is done with each row, in order (with `dry_run`, what
    would be, and nothing is written)."""
    from cycle.workflow import registry

    mapping = mapping_of(map_name)
    first = csvin.reading(file, mapping.encoding, mapping.delimiter)
    count = sum(1 for _ in check_rows(first, mapping))  # every row checked before anything is written
    done = Imported(file, first.sha256, first.codec, rows=count, dry_run=dry_run)
    second = csvin.reading(file, first.encoding, mapping.delimiter)
    actor = store.actor(actor)
    with (store.read() if dry_run else store.write()) as s:
        wf = registry.get(store, s, mapping.workflow)
        stage = mapping.stage or wf.initial
        if not wf.has_stage(stage) or wf.stage(stage).final:  # a final stage is entered through its gate, which
            stages = ", ".join(st.id for st in wf.stages if not st.final)  # follows the contracts left running
            raise BadInput(f"{mapping.path}: project.stage: {stage!r} is not a stage of workflow {wf.name} a project "
                           f"can be imported at; its stages are: {stages}")
        applier = _Applier(s, store, mapping, wf, actor, file, first.sha256, dry_run)
        for row in check_rows(second, mapping):
            planned = applier.plan(row)
            counter = _COUNTED[planned.what]
            setattr(done, counter, getattr(done, counter) + 1)
            if each is not None:
                each(planned)
        if second.sha256 != first.sha256:
            raise Unreadable(file, "it changed while it was being imported; nothing was imported: import it again")
        done.first_seq, done.last_seq = applier.first_seq, applier.last_seq
    return done

