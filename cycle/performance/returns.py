"""A provider's quarterly return: a CSV file of project,kpi,quarter,value[,note][,contract], checked in full and then
imported all or nothing, in one transaction (docs/performance.md#the-return-file).

Read as providers send them: with or without a byte order mark, CRLF or LF line ends, comma- or semicolon-separated
(a semicolon file may write decimals with a comma, 87,5). A bad row is named by its line number and what is wrong
with it, and nothing is written. The same file imported twice changes nothing the second time; a value that differs
from one recorded is refused unless `replace`, and then audited with the old value.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cycle import files, inputs
from cycle.audit import chain
from cycle.calendar import clock, quarters
from cycle.db import rows
from cycle.db.sql import Sql, sql_of
from cycle.errors import BadInput, CycleError, ProjectNotFound
from cycle.projects.programmes import KEY

from . import indicators
from .status import number, text_of

if TYPE_CHECKING:
    from cycle.db.store import Store

MAX_BYTES = 20_000_000
MAX_ROWS = 200_000
REQUIRED = ("project", "kpi", "quarter", "value")
OPTIONAL = ("note", "contract")
#: A header may name a column in other ways providers write it.
_ALIASES = {"indicator": "kpi", "kpi id": "kpi", "kpi_id": "kpi", "id": "kpi", "actual": "value", "comment": "note",
            "notes": "note", "contract ref": "contract", "contract_ref": "contract", "project key": "project"}


@dataclass(frozen=True)
class Row:
    """One row of a return, as read: its line number in the file, and its fields checked for form."""

    line: int
    project: str
    kpi: str
    quarter: str
    value: str  # as stored: text_of(number)
    note: str | None
    contract: str | None


@dataclass
class Imported:
    """What an import did (or, with --dry-run, would do)."""

    rows: int
    recorded: int = 0
    replaced: int = 0
    unchanged: int = 0
    projects: list[str] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "recorded": self.recorded, "replaced": self.replaced, "unchanged": self.unchanged,
                "projects": self.projects, "dry_run": self.dry_run}


class BadReturn(BadInput):
    """A return file with bad rows: the first named by its line, with how many more there are; nothing was written."""

    def __init__(self, path: str, problems: list[tuple[int, str]]):
        self.path, self.problems = path, problems
        line, problem = problems[0]
        more = len(problems) - 1
        tail = f" (and {more} more bad row{'s' if more > 1 else ''})" if more else ""
        super().__init__(f"{path}: line {line}: {problem}{tail}; nothing was imported")


def _delimiter(first_line: str, path: str) -> str:
    commas, semis, tabs = first_line.count(","), first_line.count(";"), first_line.count("\t")
    if semis and not commas:
        return ";"
    if tabs and not commas and not semis:
        return "\t"
    if commas:
        return ","
    raise BadInput(f"{path}: line 1 is not a header of comma-separated columns; it must name the columns "
                   f"project,kpi,quarter,value (and may add note and contract)")


def parse(path: str | Path, today: date) -> list[Row]:
    """Every row of the return file, checked for form (not yet against the database); BadReturn for any bad row."""
    where = str(path)
    raw = files.read_bytes(path, "a return file", MAX_BYTES)
    if raw.startswith(b"\xff\xfe") or raw.startswith(b"\xfe\xff"):
        raise BadInput(f"{where}: the file is UTF-16 text; save it as CSV UTF-8 (in Excel: Save As, "
                       f"'CSV UTF-8 (Comma delimited)')")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as CSV UTF-8 "
                       f"(in Excel: Save As, 'CSV UTF-8 (Comma delimited)')") from None
    if "\x00" in text:
        raise BadInput(f"{where}: it holds a NUL character; is it a CSV file?")
    if not text.strip():
        raise BadInput(f"{where}: the file is empty; a return has a header line (project,kpi,quarter,value) "
                       f"and a row per value")
    first = text.lstrip("\r\n").splitlines()[0]
    skip = 0
    if first.strip().casefold().startswith("sep=") and len(first.strip()) == 5:  # Excel's line naming the separator
        delimiter, skip = first.strip()[4], 1
    else:
        delimiter = _delimiter(first, where)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)

    def filled() -> list[str]:  # the next row with a cell that is not blank
        row = next(reader)
        while not any(cell.strip() for cell in row):
            row = next(reader)
        return row

    try:
        header_row = filled()
        if skip:  # the sep= line was the first row with anything in it
            header_row = filled()
    except csv.Error as exc:
        raise BadInput(f"{where}: line {reader.line_num}: not CSV ({exc})") from None
    except StopIteration:
        raise BadInput(f"{where}: the file has no header line; a return has a header line (project,kpi,quarter,"
                       f"value) and a row per value") from None
    names = [_ALIASES.get(h.strip().casefold(), h.strip().casefold()) for h in header_row]
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        raise BadInput(f"{where}: line {reader.line_num}: the header has no {', '.join(missing)} column; a return's "
                       f"header is project,kpi,quarter,value (and may add note and contract), not "
                       f"{delimiter.join(h.strip() for h in header_row)[:120]!r}")
    unknown = [h for h, n in zip(header_row, names, strict=True) if n not in REQUIRED + OPTIONAL and h.strip()]
    if unknown:
        raise BadInput(f"{where}: line {reader.line_num}: unknown column {unknown[0].strip()!r}; a return has the "
                       f"columns project, kpi, quarter, value, note and contract")
    twice = sorted({n for n in names if n and names.count(n) > 1})
    if twice:
        raise BadInput(f"{where}: line {reader.line_num}: the header names the column {twice[0]} twice")
    at = {n: i for i, n in enumerate(names)}
    out: list[Row] = []
    problems: list[tuple[int, str]] = []
    start = reader.line_num + 1
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue  # a blank line, or a row of empty cells as spreadsheets save them
            if len(out) + len(problems) >= MAX_ROWS:
                raise BadInput(f"{where}: more than {MAX_ROWS} rows; split the return into smaller files")
            try:
                out.append(_row(line, record, at, len(header_row), delimiter, today))
            except CycleError as exc:
                problems.append((line, str(exc)))
    except csv.Error as exc:
        problems.append((start, f"not CSV ({exc}); is a quote left open?"))
    if problems:
        raise BadReturn(where, problems)
    if not out:
        raise BadInput(f"{where}: the file has a header and no rows; nothing to import")
    return out


def _row(line: int, record: list[str], at: dict[str, int], width: int, delimiter: str, today: date) -> Row:
    if len(record) > width and any(cell.strip() for cell in record[width:]):
        hint = (" (is a decimal written with a comma, 87,5, in a comma-separated file? write 87.5, or quote it)"
                if delimiter == "," else "")
        raise BadInput(f"it has {len(record)} cells, the header {width}{hint}")

    def get(name: str) -> str | None:
        i = at.get(name)
        return record[i] if i is not None and i < len(record) else None

    def required(name: str) -> str:
        value = inputs.text(get(name), name, "ref", False)
        if value is None:
            raise BadInput(f"the {name} is empty")
        return value

    project = required("project").lower()  # keys are lower-case: a provider's CAMHS is camhs
    if not KEY.match(project):
        raise BadInput(f"project {_shown(project)} is not a project key (lower-case letters, digits and '-')")
    kpi = required("kpi").lower()
    if not KEY.match(kpi):
        raise BadInput(f"kpi {_shown(kpi)} is not an indicator id (lower-case letters, digits and '-')")
    quarter = str(indicators.quarter_reported(required("quarter"), today, "quarter"))
    value = text_of(number(get("value"), "value", decimal_comma=delimiter == ";"))
    note = inputs.text(get("note"), "note", "note", False)
    contract = inputs.text(get("contract"), "contract", "ref", False)
    return Row(line, project, kpi, quarter, value, note, contract)


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


# --- against the database -----------------------------------------------------------------------------------

@dataclass
class _Planned:
    row: Row
    kpi_id: int
    contract_ref: str | None
    existing: Any  # (id, value, note, recorded_by) of the value recorded, or None
    outcome: str  # recorded | replaced | unchanged


def _plan(sql: Sql, found: list[Row], replace: bool, today: date,
          back_fill: bool = False) -> tuple[list[_Planned], list[tuple[int, str]]]:
    projects: dict[str, Any] = {}
    kpis: dict[tuple[str, str | None, str], tuple[int, Any, date | None]] = {}
    spans: dict[int, tuple[date | None, date | None]] = {}
    seen: dict[tuple[int, str], Row] = {}
    plan: list[_Planned] = []
    problems: list[tuple[int, str]] = []
    for r in found:
        try:
            if r.project not in projects:
                projects[r.project] = rows.project(sql, r.project)
            project = projects[r.project]
            ident = (r.project, r.contract, r.kpi)
            if ident not in kpis:
                kpis[ident] = _kpi_of(sql, project, r.contract, r.kpi)
            kpi_id, c, added = kpis[ident]
            ref = c.ref
            if c.id not in spans:
                spans[c.id] = indicators.span(r.project, c, today)
            reported = quarters.parse_quarter(r.quarter)
            indicators.check_runs(r.project, c, reported, spans[c.id])
            if not back_fill:
                indicators.check_back_fill(r.project, r.kpi, c, added, reported)
        except ProjectNotFound:
            problems.append((r.line, f"no project with key {r.project!r}"))
            continue
        except CycleError as exc:
            problems.append((r.line, str(exc)))
            continue
        earlier = seen.get((kpi_id, r.quarter))
        if earlier is not None:
            also = f"{r.kpi} of {r.project} for {r.quarter} is also on line {earlier.line}, "
            if earlier.value != r.value:
                problems.append((r.line, also + f"with another value ({earlier.value}, here {r.value})"))
            elif r.note is not None and earlier.note != r.note:  # a row without a note repeats the one with it
                there = repr(earlier.note) if earlier.note is not None else "none"
                problems.append((r.line, also + f"with the same value and another note ({there} there, here "
                                                f"{r.note!r})"))
            continue
        seen[(kpi_id, r.quarter)] = r
        existing = sql.one("SELECT id, value, note, recorded_by FROM kpi_value WHERE kpi_id = :k AND quarter = :q",
                           k=kpi_id, q=r.quarter)
        if existing is not None and indicators.same_value(existing, r.value, r.note):
            outcome = "unchanged"
        elif existing is not None:
            if not replace:
                problems.append((r.line, indicators.refusal(f"{r.kpi} of {r.project} for {r.quarter}", existing,
                                                            r.value, r.note).replace("--replace", "kpi import "
                                                                                     "--replace")))
                continue
            outcome = "replaced"
        else:
            outcome = "recorded"
        plan.append(_Planned(r, kpi_id, ref, existing, outcome))
    return plan, problems


def _kpi_of(sql: Sql, project: Any, contract: str | None, kpi: str) -> tuple[int, Any, date | None]:
    found = rows.contracts_of(sql, project.id)
    chosen = [indicators._pick_contract(sql, project, contract)] if contract is not None or not found else found
    having = [(c, sql.one("SELECT id, created_at FROM kpi WHERE contract_id = :c AND key = :k", c=c.id, k=kpi))
              for c in chosen]
    having = [(c, r) for c, r in having if r is not None]
    if len(having) > 1:
        raise BadInput(f"{project.key} has an indicator {kpi} in {len(having)} contracts: add a contract column "
                       f"naming which")
    if not having:
        raise BadInput(f"{project.key} has no indicator {kpi!r}" +
                       (f" in contract {contract!r}" if contract is not None else ""))
    return having[0][1].id, having[0][0], indicators.added_on(having[0][1].created_at)


def import_file(store: Store, path: str | Path, *, replace: bool = False, dry_run: bool = False, actor: str,
                today: date | None = None, back_fill: bool = False) -> Imported:
    """Check every row of the return at `path`, then (unless `dry_run`) record them all in one transaction. A
    quarter before an indicator was added, of a contract with no start, is refused unless `back_fill`."""
    from cycle.db.models import KpiValue

    today = today or clock.london_today()
    found = parse(path, today)
    where = str(path)
    if dry_run:
        with store.reading() as sql:
            plan, problems = _plan(sql, found, replace, today, back_fill)
        if problems:
            raise BadReturn(where, problems)
        return _summary(found, plan, True)
    actor = store.actor(actor)
    with store.write() as s:
        plan, problems = _plan(sql_of(s), found, replace, today, back_fill)
        if problems:
            raise BadReturn(where, problems)
        by_project: dict[str, list[_Planned]] = {}
        for p in plan:
            if p.outcome != "unchanged":
                by_project.setdefault(p.row.project, []).append(p)
        for project, planned in sorted(by_project.items()):
            now = clock.utc_now()
            for p in planned:
                if p.existing is None:
                    s.add(KpiValue(kpi_id=p.kpi_id, quarter=p.row.quarter, value=p.row.value, note=p.row.note,
                                   recorded_by=actor, recorded_at=now))
                else:
                    v = s.get(KpiValue, p.existing.id)
                    assert v is not None
                    v.value, v.note, v.recorded_by, v.recorded_at = p.row.value, p.row.note, actor, now
                    s.add(v)
            s.flush()
            chain.append(s, actor=actor, action="kpi.import", project=project, at=now, payload={
                "file": Path(where).name, "values": [
                    {"kpi": p.row.kpi, "contract": p.contract_ref, "quarter": p.row.quarter, "value": p.row.value,
                     "note": p.row.note, "line": p.row.line,
                     **({"was": p.existing.value} if p.outcome == "replaced" else {})} for p in planned]})
    return _summary(found, plan, False)


def _summary(found: list[Row], plan: list[_Planned], dry_run: bool) -> Imported:
    out = Imported(len(found), dry_run=dry_run)
    for p in plan:
        setattr(out, p.outcome, getattr(out, p.outcome) + 1)
    out.projects = sorted({p.row.project for p in plan})
    return out
