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
import re
import unicodedata
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
from cycle.db.sql import INSERT_BATCH
from cycle.errors import BadInput
from cycle.files import Unreadable
from cycle.governance import identity

from . import csvin
from .mapping import CONTRACT_COLUMN, DATE_FIELDS, DELIMITERS, MONEY_FIELDS, Mapping, load, shipped

if TYPE_CHECKING:
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
        #: (field, its columns, the contract's column or None, how its cell is checked), in the mapping's order
        self.fields = [(name, columns, CONTRACT_COLUMN.get(name) if name not in ("owner", "project") else None,
                        _CHECKS.get(name), _KINDS.get(name, "text")) for name, columns in mapping.columns.items()]
        self.key, self.title = _renderer(mapping, mapping.key), _renderer(mapping, mapping.title)
        self.owner = _renderer(mapping, mapping.owner) if mapping.owner else None

    def blank(self, cell: str) -> bool:
        return cell.strip().casefold() in self.m.blank

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

    def notice(self, record: csvin.Record, name: str, cell: str) -> str:
        return _notice(cell)

    def route(self, record: csvin.Record, name: str, cell: str) -> str:
        return _route(cell)

    def row(self, record: csvin.Record) -> Row:
        used = self.used
        used.clear()
        cells, blank = record.cells, self.m.blank
        terms: dict[str, str] = {}
        raw: dict[str, str | None] = {}
        for name, columns, column, check, kind in self.fields:
            cell = None
            for source in columns:  # the first not blank, when the mapping names several columns
                found = cells[source].strip()
                if found.casefold() not in blank:
                    used[name] = source
                    cell = found
                    break
            raw[name] = cell
            if cell is None or column is None:
                continue
            try:
                terms[column] = check(self, record, name, cell) if check is not None else _text(cell, kind)
            except RowProblem:
                raise
            except BadInput as exc:
                raise self.problem(record, name, str(exc)) from None
        if "ref" not in terms:
            raise self.problem(record, "reference", "no reference: every contract needs one, to be found again")
        if "end" in terms and ("start" in terms or "extension_to" in terms):
            self.cross_check(record, terms)
        made = _key(self.key(raw))
        if made is None:
            named = self.m.columns["project"][0] if "project" in self.m.columns else None
            raise RowProblem(record.line, named, f"the project key the mapping makes ({self.m.key}) is empty or not "
                             f"a key (lower-case letters, digits and '-', up to 64)", self.path)
        try:
            title = self.title(raw) or terms["ref"]
            # the title field's cell, checked already as text of the same kind, or checked here
            title = terms["title"] if title == raw.get("title") else _text(title, "title", "the project's title")
            owner = self.owner(raw) if self.owner else None
            owner = _text(owner, "name", "the owner") if owner else None
        except BadInput as exc:
            raise RowProblem(record.line, None, str(exc), self.path) from None
        return Row(record.line, made, title, owner, terms)

    def cross_check(self, record: csvin.Record, terms: dict[str, str]) -> None:
        start, end, most = (terms.get(k) for k in ("start", "end", "extension_to"))
        if start and end and end < start:
            raise self.problem(record, "end", f"the end date {end} is before the start date {start}")
        if end and most and most < end:
            raise self.problem(record, "maximum_end", f"the maximum end date {most} is before the current end date "
                                                      f"{end}; it is the latest end the extensions allow")


_CHECKS: dict[str, Callable[[_Checker, csvin.Record, str, str], str]] = {
    **dict.fromkeys(DATE_FIELDS, _Checker.day), **dict.fromkeys(MONEY_FIELDS, _Checker.money),
    "sme": _Checker.yes_no, "vcse": _Checker.yes_no, "notice": _Checker.notice, "awarded_by": _Checker.route}

# A register repeats its dates, amounts, departments and providers: each distinct cell is checked once.
_KINDS = {"reference": "ref", "title": "title", "description": "note"}


def _renderer(mapping: Mapping, template: str) -> Callable[[dict[str, str | None]], str]:
    """A [project] template as a function of the row's fields; one that is a single field alone, a look-up."""
    whole = _ONE_FIELD.fullmatch(template)
    if whole is not None:
        name = whole.group(1)
        return lambda raw: raw.get(name) or ""
    return lambda raw: mapping.render(template, raw)


_ONE_FIELD = re.compile(r"\{([^{}]*)\}")


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


@lru_cache(maxsize=1024)
def _notice(cell: str) -> str:
    return str(dates.parse_period(cell, "the notice period"))


@lru_cache(maxsize=1024)
def _route(cell: str) -> str:
    return contracts.route(cell, "the route")


@lru_cache(maxsize=8192)
def _text(cell: str, kind: str, what: str = "the text") -> str:
    return inputs.text(cell, what, kind)


_NOT_KEY = re.compile(r"[^a-z0-9]+")


def _key(text: str) -> str | None:
    """A project key from text: lower case, each run of other characters a '-', at most 64 characters."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    folded = text.lower()
    key = _NOT_KEY.sub("-", folded).strip("-")[:64].rstrip("-")
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
        name = contracts.folded(ref)
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
    """Compares each row with the database and, unless it is a dry run, writes it, in the caller's transaction.

    The projects a row creates are written a batch at a time (INSERT_BATCH rows, one statement per table, their
    entries chained as one append after another would chain them): a first import creates thousands. Before a
    row that reads or changes what is there, the batch so far is written, so that the entries follow the lines."""

    def __init__(self, sql: Sql, store: Store, mapping: Mapping, wf: Workflow, actor: str, path: str,
                 sha256: str, dry_run: bool):
        self.sql, self.store, self.m, self.wf, self.actor = sql, store, mapping, wf, actor
        self.path, self.sha256, self.dry_run = path, sha256, dry_run
        self.stage = mapping.stage or wf.initial
        self.file = os.path.basename(path)
        self.new: dict[str, tuple[int, str]] = {}  # key of a project this import creates -> (line, its reference)
        self.keys = rows.project_keys(sql)  # the projects there are: most rows of a first import are new
        self.registered: set[str] | None = None  # every registered person's login (canonical), read when first needed
        self.pending: list[tuple[Row, str | None, str]] = []  # (row, owner, time) of projects not written yet
        self.first_seq: int | None = None
        self.last_seq: int | None = None

    def _appended(self, seq: int) -> None:
        self.first_seq = self.first_seq or seq
        self.last_seq = seq

    def source(self, line: int) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "line": line}

    def plan(self, row: Row) -> Planned:
        """What the row does: creates its project (with the contract), adds a contract to its project (a
        reference the project does not hold yet), changes the contract with its reference, or nothing."""
        ref = row.terms["ref"]
        if row.key not in self.keys:
            self.keys.add(row.key)
            self.new[row.key] = (row.line, ref)
            owner = self.owner_of(row)
            self.check_terms(row, None)
            if not self.dry_run:
                self.pending.append((row, owner, clock.utc_now()))
                if len(self.pending) >= INSERT_BATCH:
                    self.write_new()
            return Planned(row.line, "create", row.key, ref, stage=self.stage)
        if row.key in self.new and self.dry_run:  # made by an earlier row of this dry run: not in the database
            self.check_terms(row, None)
            return Planned(row.line, "add", row.key, ref, {n: [None, v] for n, v in row.terms.items()})
        self.write_new()  # the projects made so far are in the database, and their entries before this row's
        project = rows.project(self.sql, row.key)
        holder_id, holder, found = rows.contract_holder(self.sql, project.id, project.key)
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
            self.update(row, project.id)
        return Planned(row.line, what, row.key, ref, changes)

    def owner_of(self, row: Row) -> str | None:
        """The row's owner as a login, who must be a registered person once anyone is (people.named_person's rule,
        against every registered login read once)."""
        if not row.owner:
            return None
        column = self.m.columns.get("owner", (None,))[0]
        try:
            name = identity.login(row.owner, "the owner")
        except BadInput as exc:
            raise RowProblem(row.line, column, str(exc), self.path) from None
        if self.registered is None:
            # (a name hand-written in bytes that are not UTF-8 is read, and matches nobody, rather than stop it)
            self.registered = {identity.canonical(r.name) for r in self.sql.rows_of_any_text("SELECT name FROM person")}
        if self.registered and identity.canonical(name) not in self.registered:
            from cycle.governance import people

            raise RowProblem(row.line, column, str(people.not_registered(name, "the owner")), self.path)
        return name

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

    def write_new(self) -> None:
        """The projects of the rows waiting, each with its contract and its `project.import` entry: each table's
        rows in one INSERT (plain SQL: the ORM would be most of the time), each row's image noted for its entry
        (cycle.audit.images), the entries chained one after another and written together."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        sql = self.sql
        made = [{**_NEW_PROJECT, "key": row.key, "title": row.title, "workflow": self.wf.name,
                 "workflow_version": self.wf.version, "stage": self.stage, "owner": owner, "created_at": now,
                 "updated_at": now} for row, owner, now in pending]
        project_ids = {key: id_ for id_, key in sql.insert_rows("project", made, "id, key")}
        signed = [{**_NEW_CONTRACT, "project_id": project_ids[row.key], "updated_at": now, **row.terms}
                  for row, _, now in pending]
        contract_ids = {project_id: id_ for id_, project_id in sql.insert_rows("contract", signed, "id, project_id")}
        batch = chain.Batch(sql)
        for (row, owner, now), project, contract in zip(pending, made, signed, strict=True):
            project_id = project["id"] = project_ids[row.key]
            contract["id"] = contract_ids[project_id]
            images.note(sql.info, "project", project_id, project, None)
            images.note(sql.info, "contract", contract["id"], contract, None)
            self._appended(batch.append(
                actor=self.actor, action=ACTION, project=row.key, to_stage=self.stage, at=now,
                payload={"workflow": self.wf.name, "workflow_version": self.wf.version,
                         "workflow_sha256": self.wf.sha256, "title": row.title, "owner": owner, "stage": self.stage,
                         "contract": row.terms, "imported": self.source(row.line)}).seq)
        batch.write()

    def update(self, row: Row, project_id: int) -> None:
        """Change or add the row's contract through contracts.set_terms (upsert by the project and reference)."""
        from cycle.db.models import Project

        session = self.sql.session()
        project = session.get(Project, project_id)
        assert project is not None  # read in this transaction a moment ago
        project.updated_at = clock.utc_now()  # its version moves on, as for `contract set`
        session.add(project)
        session.flush()
        try:
            contracts.set_terms(session, project, dict(row.terms), self.actor, mode="upsert",
                                imported=self.source(row.line))
        except BadInput as exc:
            raise RowProblem(row.line, None, str(exc), self.path) from None
        self._appended(chain.head(self.sql)[0])


# The columns of a project and a contract an import creates, but for those each row gives (and the id, which the
# database gives): every column, so that the rows of a batch have the same ones and the image holds them all.
_NEW_PROJECT = {**{c: None for c in COVERED["project"] if c != "id"}, "cycle": 1, "visit": 1, "attrs": "{}",
                "version": 1}
_NEW_CONTRACT = {**{c: None for c in COVERED["contract"] if c != "id"}, "if_no_notice": "run-on"}


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
    # A write can go through the ORM (a row that changes a contract: contracts.set_terms), in the same transaction.
    with (store.reading() if dry_run else store.writing(orm=True)) as sql:
        wf = registry.get(store, sql, mapping.workflow)
        stage = mapping.stage or wf.initial
        if not wf.has_stage(stage) or wf.stage(stage).final:  # a final stage is entered through its gate, which
            stages = ", ".join(st.id for st in wf.stages if not st.final)  # follows the contracts left running
            raise BadInput(f"{mapping.path}: project.stage: {stage!r} is not a stage of workflow {wf.name} a project "
                           f"can be imported at; its stages are: {stages}")
        applier = _Applier(sql, store, mapping, wf, actor, file, first.sha256, dry_run)
        for row in check_rows(second, mapping):
            planned = applier.plan(row)
            counter = _COUNTED[planned.what]
            setattr(done, counter, getattr(done, counter) + 1)
            if each is not None:
                each(planned)
        applier.write_new()
        if second.sha256 != first.sha256:
            raise Unreadable(file, "it changed while it was being imported; nothing was imported: import it again")
        done.first_seq, done.last_seq = applier.first_seq, applier.last_seq
    return done
