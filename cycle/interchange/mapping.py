"""A register's mapping file (TOML): which of the CSV's columns holds each field, how its dates and money are
written, and the project a row's contract belongs to (docs/import.md).

    [columns]                     # field = "the CSV's column name" (or a list: the first not blank counts)
    reference = "Contract reference"
    provider = "Supplier name"
    end = "End date"
    ...
    [format]
    dates = ["%d/%m/%Y"]          # strptime formats, tried in turn
    blank = ["", "N/A", "-"]      # cells that mean "not given"
    encoding = "auto"             # auto, utf-8, utf-8-sig, windows-1252
    [project]
    key = "{reference}"           # made into a key: lower case, '-' between words
    title = "{title}"
    workflow = "commissioning"
    stage = "do"

Read as cycle reads every TOML file a person names (cycle.files): a regular file, small, UTF-8. Every problem
is one line naming the file and the entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cycle import files
from cycle.errors import BadInput

from . import csvin

#: Every field a register's column can hold, and what it is (docs/import.md).
FIELDS: dict[str, str] = {
    "reference": "the contract's reference (required: it names the contract on every import)",
    "title": "the title of the agreement",
    "provider": "the supplier's name",
    "start": "the start date",
    "end": "the current end date (without extensions not yet taken)",
    "maximum_end": "the latest end date the extension options allow",
    "value": "the total value, in pounds",
    "annual_value": "the annual value, in pounds",
    "notice": "the notice period, e.g. '6 months'",
    "department": "the department or service responsible",
    "owner": "the owner of a project the import creates (a person's login)",
    "description": "the goods or services provided",
    "review_date": "the review date",
    "awarded_by": "quote, tender, or the route in words",
    "sme": "whether the supplier is an SME (yes/no)",
    "vcse": "whether the supplier is a voluntary or community sector organisation (yes/no)",
    "registration_number": "the supplier's charity or company number",
    "vat_not_recoverable": "VAT that cannot be recovered, in pounds",
    "project": "the key of the project the contract belongs to",
}
DATE_FIELDS = ("start", "end", "maximum_end", "review_date")
MONEY_FIELDS = ("value", "annual_value", "vat_not_recoverable")
#: The contract's column for each field that is a contract term.
CONTRACT_COLUMN = {"reference": "ref", "title": "title", "provider": "provider", "start": "start", "end": "end",
                   "maximum_end": "extension_to", "value": "value_total", "annual_value": "value_annual",
                   "notice": "notice", "department": "department", "description": "description",
                   "review_date": "review_date", "awarded_by": "awarded_by", "sme": "sme", "vcse": "vcse",
                   "registration_number": "registration_number", "vat_not_recoverable": "vat_not_recoverable"}
MAX_MAP_BYTES = 64 * 1024
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_DIRECTIVES = re.compile(r"%[dmyYbBH%MS]")
DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class Mapping:
    """A mapping file, checked."""

    path: str
    columns: dict[str, tuple[str, ...]]  # field -> the CSV's column (or columns: the first not blank counts)
    dates: tuple[str, ...] = ("%Y-%m-%d", "%d/%m/%Y")
    blank: frozenset[str] = frozenset({"", "-", "n/a", "none"})  # compared case-folded
    encoding: str = "auto"
    delimiter: str = ","
    yes: frozenset[str] = frozenset({"yes", "y", "true", "1"})
    no: frozenset[str] = frozenset({"no", "n", "false", "0"})
    key: str = "{reference}"
    title: str = "{reference}"
    owner: str | None = None
    workflow: str = "commissioning"
    stage: str | None = None  # None: the workflow's first stage
    extra: dict[str, Any] = field(default_factory=dict)

    def render(self, template: str, values: dict[str, str | None]) -> str:
        """A [project] template with each {field} replaced by the row's cell (empty when blank)."""
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1)) or "", template)


def _where(path: str, entry: str, problem: str) -> BadInput:
    return BadInput(f"{path}: {entry}: {problem}")


def _strings(path: str, entry: str, value: Any, allow_empty: bool = False) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or (not value and not allow_empty):
        raise _where(path, entry, "give a text, or a list of texts, e.g. [\"%d/%m/%Y\"]")
    if len(value) > 50 or any(len(v) > 200 for v in value):
        raise _where(path, entry, "at most 50 texts of at most 200 characters")
    return list(value)


def _text(path: str, entry: str, value: Any, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise _where(path, entry, "give a text of 1 to 200 characters")
    if choices is not None and value not in choices:
        raise _where(path, entry, f"{value!r} is not one of: {', '.join(repr(c) for c in choices)}")
    return value


def _template(path: str, entry: str, value: Any, columns: dict[str, tuple[str, ...]]) -> str:
    text = _text(path, entry, value)
    for name in _PLACEHOLDER.findall(text):
        if name not in FIELDS:
            raise _where(path, entry, f"{{{name}}} is not a field; the fields are: {', '.join(FIELDS)}")
        if name not in columns:
            raise _where(path, entry, f"{{{name}}} names a field [columns] does not map to a column; map it there")
    if "{" in _PLACEHOLDER.sub("", text) or "}" in _PLACEHOLDER.sub("", text):
        raise _where(path, entry, "a brace that does not enclose a field; write fields as {reference}")
    return text


def load(path: str | Path) -> Mapping:
    """The mapping file at `path`, checked; BadInput naming the file and the entry."""
    where = str(path)
    data = files.read_toml(path, "a mapping file", limit=MAX_MAP_BYTES)
    unknown = sorted(set(data) - {"columns", "format", "project", "about"})
    if "about" in data and not isinstance(data["about"], str):
        raise _where(where, "about", "give a text saying what register the mapping is for")
    if unknown:
        raise _where(where, unknown[0], "unknown table; a mapping has [columns], [format] and [project]")
    columns_in = data.get("columns")
    if not isinstance(columns_in, dict) or not columns_in:
        raise _where(where, "[columns]", "missing: name the CSV's column for each field, e.g. reference = \"Ref\"")
    columns: dict[str, tuple[str, ...]] = {}
    for name, column in columns_in.items():
        if name not in FIELDS:
            raise _where(where, f"columns.{name}", f"not a field; the fields are: {', '.join(FIELDS)}")
        given = column if isinstance(column, list) and column and len(column) <= 5 else [column]
        columns[name] = tuple(_text(where, f"columns.{name}", c).strip() for c in given)
    if "reference" not in columns:
        raise _where(where, "columns.reference", "missing: the contract's reference names it on every import")
    named = [c for cs in columns.values() for c in cs]
    twice = sorted({c for c in named if named.count(c) > 1})
    if twice:
        raise _where(where, "[columns]", f"column {twice[0]!r} is given for two fields; give each field its own")
    found: dict[str, Any] = {"columns": columns}
    fmt = data.get("format", {})
    if not isinstance(fmt, dict):
        raise _where(where, "format", "must be a table: [format]")
    for name in sorted(set(fmt) - {"dates", "blank", "encoding", "delimiter", "yes", "no"}):
        raise _where(where, f"format.{name}", "unknown; [format] has dates, blank, encoding, delimiter, yes, no")
    if "dates" in fmt:
        dates = _strings(where, "format.dates", fmt["dates"])
        for d in dates:
            if not _DIRECTIVES.search(d) or re.search(r"%[^dmyYbBH%MS]", d):
                raise _where(where, "format.dates", f"{d!r} is not a date format; write e.g. \"%d/%m/%Y\" "
                                                    f"(%d day, %m month, %Y year, %b month name)")
            try:
                datetime(2027, 3, 31).strftime(d)
            except ValueError:
                raise _where(where, "format.dates", f"{d!r} is not a date format") from None
        found["dates"] = tuple(dates)
    if "blank" in fmt:
        found["blank"] = frozenset(v.strip().casefold() for v in _strings(where, "format.blank", fmt["blank"], True))
    for name in ("yes", "no"):
        if name in fmt:
            found[name] = frozenset(v.strip().casefold() for v in _strings(where, f"format.{name}", fmt[name]))
    if "encoding" in fmt:
        found["encoding"] = _text(where, "format.encoding", fmt["encoding"], csvin.ENCODINGS)
    if "delimiter" in fmt:
        found["delimiter"] = _text(where, "format.delimiter", fmt["delimiter"], DELIMITERS)
    project = data.get("project", {})
    if not isinstance(project, dict):
        raise _where(where, "project", "must be a table: [project]")
    for name in sorted(set(project) - {"key", "title", "owner", "workflow", "stage"}):
        raise _where(where, f"project.{name}", "unknown; [project] has key, title, owner, workflow, stage")
    if "project" in columns and "key" in project:
        raise _where(where, "project.key", "give either columns.project (the key is in a column) or project.key")
    found["key"] = ("{project}" if "project" in columns
                    else _template(where, "project.key", project.get("key", "{reference}"), columns))
    default_title = "{title}" if "title" in columns else "{reference}"
    found["title"] = _template(where, "project.title", project.get("title", default_title), columns)
    if "owner" in project:
        found["owner"] = _template(where, "project.owner", project["owner"], columns)
    elif "owner" in columns:
        found["owner"] = "{owner}"
    if "workflow" in project:
        found["workflow"] = _text(where, "project.workflow", project["workflow"])
    if "stage" in project:
        found["stage"] = _text(where, "project.stage", project["stage"])
    return Mapping(where, **found)


def shipped() -> dict[str, Path]:
    """The mappings that come with cycle (cycle/interchange/mappings): name -> file."""
    folder = Path(__file__).parent / "mappings"
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}
