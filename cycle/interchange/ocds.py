"""OCDS 1.1 (the Open Contracting Data Standard): contracts in from release and record packages (Find a Tender,
Contracts Finder), and out as a release package; both validated against the OCDS 1.1.5 schemas cycle ships
(cycle/data/ocds, Apache 2.0), offline.

Import: the file is read safely (a regular file, at most MAX_BYTES, UTF-8, nested at most MAX_DEPTH deep) and
validated against its package schema before anything is read from it. The releases of one `ocid` are compiled
into one, oldest `date` first, by OCDS's merge rules for what cycle reads (objects merged field by field, the
objects of an array merged by their `id`, a later value replacing an earlier one, null removing it); a record's
`compiledRelease` is used as it is. Each of its contracts is matched on (`ocid`, contract `id`): a contract seen
before is updated where a field the file gives differs (one audit entry, old and new values); a new one goes to
the project `project` names or, by default, to the project whose key is made from the ocid, created when there
is none. All of a file's changes are made in one transaction, or none is. See docs/ocds.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cycle import files, inputs, outfile
from cycle.calendar import clock
from cycle.errors import BadInput

if TYPE_CHECKING:
    from sqlmodel import Session

    from cycle.db.models import Contract
    from cycle.db.store import Store

#: The OCDS version cycle reads and writes, and the patch release of its schemas cycle ships.
VERSION = "1.1"
SCHEMA_TAG = "1__1__5"
SCHEMAS = Path(__file__).resolve().parent.parent / "data" / "ocds" / SCHEMA_TAG
#: The largest file `import ocds` reads (a Find a Tender page of releases is a few megabytes).
MAX_BYTES = 50_000_000
#: How deep a file may nest (OCDS itself goes about 8 levels deep).
MAX_DEPTH = 64
#: The fields of a contract an import sets, in the order a change is shown.
FIELDS = ("provider", "ref", "start", "end", "extension_to", "value_total", "buyer", "ocid", "ocds_id")

_PACKAGES = {"releases": "release-package-schema.json", "records": "record-package-schema.json"}


class Invalid(BadInput):
    """An OCDS file cycle will not read: names the file, where in it (a JSON path) and what is wrong."""

    def __init__(self, path: str, where: str, problem: str):
        self.path, self.where, self.problem = path, where, problem
        super().__init__(f"{path}: {where}: {problem}" if where else f"{path}: {problem}")


# --- the schemas -----------------------------------------------------------------------------------------

@lru_cache(maxsize=2)
def validator(name: str) -> Any:
    """A draft-04 validator for one of the shipped schemas (by file name), resolving the absolute `$ref`s between
    them from the files (a `referencing` registry): nothing is fetched. `date-time` is checked (rfc3339-validator)."""
    from jsonschema import Draft4Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT4

    docs = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(SCHEMAS.glob("*.json"))}
    registry: Any = Registry().with_resources(
        (doc["id"], DRAFT4.create_resource(doc)) for doc in docs.values())
    return Draft4Validator(docs[name], registry=registry, format_checker=Draft4Validator.FORMAT_CHECKER)


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _shown(text: str, limit: int = 160) -> str:
    text = _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else
                            f"\\u{ord(m.group()):04x}", text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def schema_problem(doc: Any, name: str) -> tuple[str, str] | None:
    """(JSON path, what is wrong) of the most telling way `doc` breaks the schema `name`; None when it is valid."""
    from jsonschema.exceptions import best_match

    try:
        error = best_match(validator(name).iter_errors(doc))
    except RecursionError:  # MAX_DEPTH keeps a file well short of this; a document built in code may not be
        return "$", "nested too deeply to check"
    if error is None:
        return None
    return _shown(error.json_path, 120), _shown(error.message)


# --- reading a file --------------------------------------------------------------------------------------

def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(doc: Any) -> int:
    deepest, todo = 0, [(doc, 1)]
    while todo:
        value, depth = todo.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        if isinstance(value, dict):
            todo.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            todo.extend((v, depth + 1) for v in value)
    return deepest


def read(path: str) -> tuple[dict[str, Any], str]:
    """(the package, the file's SHA-256) of an OCDS 1.1 release or record package that validates; Invalid (or
    files.Unreadable) naming what is wrong otherwise."""
    raw = files.read_bytes(path, "an OCDS file", MAX_BYTES, hint="an OCDS release or record package (.json)")
    sha256 = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8-sig")  # JSON is UTF-8 (RFC 8259); a byte order mark is tolerated
    except UnicodeDecodeError as exc:
        raise Invalid(path, "", f"not UTF-8 text ({exc.reason} at byte {exc.start}); OCDS files are UTF-8 JSON") \
            from None
    try:
        doc = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise Invalid(path, "", f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise Invalid(path, "", f"nested too deeply to read (an OCDS file nests at most {MAX_DEPTH} levels)") \
            from None
    except ValueError as exc:  # NaN or Infinity; an integer of more than 4,300 digits
        raise Invalid(path, "", f"not valid JSON ({_shown(str(exc))})") from None
    if _depth(doc) > MAX_DEPTH:
        raise Invalid(path, "", f"nested more than {MAX_DEPTH} levels deep; an OCDS file nests far less")
    if not isinstance(doc, dict):
        raise Invalid(path, "$", "not an OCDS package: the file holds a JSON "
                                 f"{type(doc).__name__.replace('list', 'array').replace('dict', 'object')}, "
                                 "not an object with releases or records")
    kind = "releases" if "releases" in doc else "records" if "records" in doc else None
    if kind is None:
        raise Invalid(path, "$", "not an OCDS release or record package: it has neither 'releases' nor 'records'")
    version = doc.get("version")
    if version != VERSION:
        shown = "no version (OCDS 1.0)" if version is None else f"version {_shown(json.dumps(version, default=str))}"
        raise Invalid(path, "$.version", f"{shown}: cycle reads OCDS {VERSION} packages (\"version\": \"{VERSION}\")")
    problem = schema_problem(doc, _PACKAGES[kind])
    if problem is not None:
        raise Invalid(path, *problem)
    return doc, sha256


# --- what a file says ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Found:
    """One contract as the file gives it: what matches it, where it came from, and the terms cycle records (None:
    the file does not say)."""

    ocid: str
    ocds_id: str
    release_id: str
    title: str
    terms: dict[str, str | None]

    @property
    def name(self) -> str:
        return f"ocid {self.ocid} contract {self.ocds_id}"


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    """OCDS's merge of a later release into the compiled one: objects field by field, arrays of objects with an
    `id` by their id, anything else replaced; null removes."""
    for name, value in new.items():
        if value is None:
            into.pop(name, None)
        elif isinstance(value, dict) and isinstance(into.get(name), dict):
            _merge(into[name], value)
        elif (isinstance(value, list) and isinstance(into.get(name), list) and value
              and all(isinstance(v, dict) and "id" in v for v in value)
              and all(isinstance(v, dict) and "id" in v for v in into[name])):
            by_id = {str(v["id"]): v for v in into[name]}
            for item in value:
                old = by_id.get(str(item["id"]))
                if old is None:
                    into[name].append(item)
                    by_id[str(item["id"])] = item
                else:
                    _merge(old, item)
        elif isinstance(value, dict):
            into[name] = {}
            _merge(into[name], value)
        else:
            into[name] = value


def _when(release: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(release["date"]).replace("Z", "+00:00").replace("z", "+00:00"))


def compiled(releases: list[dict[str, Any]]) -> dict[str, Any]:
    """The releases of one ocid compiled into one (oldest date first; in file order on the same date)."""
    out: dict[str, Any] = {}
    for release in sorted(releases, key=_when):
        _merge(out, json.loads(json.dumps(release, default=str), parse_float=Decimal))  # a copy, never shared
    return out


@dataclass
class Process:
    """One ocid's compiled release, and where in the file each part was last given: `where` is the latest
    release's JSON path, `origins` each contract's (by its id) in the latest release that holds it."""

    where: str
    release: dict[str, Any]
    origins: dict[str, str]


def _compiled_from(releases: list[tuple[str, dict[str, Any]]]) -> Process:
    """(JSON path, release) pairs of one ocid as a Process, oldest date first (file order on the same date)."""
    ordered = sorted(releases, key=lambda pair: _when(pair[1]))
    origins = {str(c.get("id")): f"{where}.contracts[{j}]" for where, r in ordered
               for j, c in enumerate(r.get("contracts") or []) if isinstance(c, dict)}
    return Process(ordered[-1][0], compiled([r for _, r in ordered]), origins)


def processes(path: str, doc: dict[str, Any]) -> list[Process]:
    """Each ocid of the package compiled, in the order the file first names them."""
    if "releases" in doc:
        grouped: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for i, release in enumerate(doc["releases"]):
            grouped.setdefault(release["ocid"], []).append((f"$.releases[{i}]", release))
        return [_compiled_from(found) for found in grouped.values()]
    out = []
    for i, record in enumerate(doc["records"]):
        where = f"$.records[{i}]"
        if isinstance(record.get("compiledRelease"), dict):
            process = _compiled_from([(f"{where}.compiledRelease", record["compiledRelease"])])
        else:
            embedded = [(f"{where}.releases[{k}]", r) for k, r in enumerate(record["releases"])
                        if "ocid" in r and "url" not in r]
            if not embedded:
                raise Invalid(path, f"{where}.releases", "its releases are linked (by url), not embedded, and it has "
                                                         "no compiledRelease: cycle reads what the file holds")
            process = _compiled_from(embedded)
        if process.release.get("ocid") != record["ocid"]:
            raise Invalid(path, where, f"the record's ocid {_shown(str(record['ocid']))} is not its release's "
                                       f"({_shown(str(process.release.get('ocid')))})")
        out.append(process)
    return out


def _day(value: Any, path: str, where: str) -> str | None:
    """The day of an OCDS date-time as written (the publisher's own date: 2028-03-31T23:59:59+01:00 is 31 March)."""
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError:
        raise Invalid(path, where, f"{_shown(str(value))} is not a date-time such as 2027-04-01T00:00:00Z") from None


def _money(value: Any, path: str, where: str) -> str | None:
    if not isinstance(value, dict) or value.get("amount") is None:
        return None
    amount, currency = value["amount"], value.get("currency")
    if currency != "GBP":
        raise Invalid(path, f"{where}.currency", f"the value is in {_shown(str(currency))}, not GBP: cycle records "
                                                 "contract values in pounds")
    try:
        exact = Decimal(str(amount)) + 0  # -0 is 0
        if exact < 0:
            raise Invalid(path, f"{where}.amount", f"{amount} is negative: cycle records what the buyer pays")
        if exact > inputs.MAX_MONEY:
            raise Invalid(path, f"{where}.amount", f"{_shown(str(amount), 40)} is more than £{inputs.MAX_MONEY:,}")
        return str(exact.quantize(Decimal("0.01")))
    except InvalidOperation:
        raise Invalid(path, f"{where}.amount", f"{_shown(str(amount), 40)} is not an amount") from None


def _text(value: Any, path: str, where: str, kind: str = "text") -> str | None:
    if value is None or value == "":
        return None
    try:
        return inputs.text(str(value), where, kind, False)
    except BadInput as exc:
        raise Invalid(path, where, str(exc).removeprefix(where).strip()) from None


def _party_names(release: dict[str, Any]) -> dict[str, str]:
    return {str(p["id"]): str(p["name"]) for p in release.get("parties") or []
            if isinstance(p, dict) and p.get("id") is not None and p.get("name")}


def _org_name(ref: Any, parties: dict[str, str]) -> str | None:
    if not isinstance(ref, dict):
        return None
    name = ref.get("name") or (parties.get(str(ref["id"])) if ref.get("id") is not None else None)
    return str(name) if name else None


def contracts_in(path: str, process: Process) -> Iterator[Found]:
    """The contracts of one compiled release, with the terms cycle records."""
    where, release = process.where, process.release
    ocid = _text(release["ocid"], path, f"{where}.ocid", "ref") or ""
    parties = _party_names(release)
    with_role = {role: [str(p["name"]) for p in release.get("parties") or []
                        if isinstance(p, dict) and p.get("name") and role in (p.get("roles") or [])]
                 for role in ("buyer", "supplier")}
    buyer = _org_name(release.get("buyer"), parties) or next(iter(with_role["buyer"]), None)
    awards = {str(a["id"]): a for a in release.get("awards") or [] if isinstance(a, dict) and "id" in a}
    title = ((release.get("tender") or {}).get("title") if isinstance(release.get("tender"), dict) else None)
    for i, contract in enumerate(release.get("contracts") or []):
        at = process.origins.get(str(contract.get("id")), f"{where}.contracts[{i}]")
        award = awards.get(str(contract.get("awardID")))
        suppliers = [n for n in (_org_name(s, parties) for s in (award or {}).get("suppliers") or []) if n]
        if not suppliers and len(awards) <= 1:
            suppliers = with_role["supplier"]  # the release's one supplier, named only among its parties
        period = contract.get("period") if isinstance(contract.get("period"), dict) else {}
        terms = {"provider": _text("; ".join(dict.fromkeys(suppliers)) or None, path, f"{at} supplier"),
                 "start": _day(period.get("startDate"), path, f"{at}.period.startDate"),
                 "end": _day(period.get("endDate"), path, f"{at}.period.endDate"),
                 "extension_to": _day(period.get("maxExtentDate"), path, f"{at}.period.maxExtentDate"),
                 "value_total": _money(contract.get("value"), path, f"{at}.value"),
                 "buyer": _text(buyer, path, f"{where}.buyer")}
        ocds_id = _text(contract["id"], path, f"{at}.id", "ref") or ""
        name = " ".join(str(title or contract.get("title") or ocid).split())[:200]  # the process's, for its project
        named = f"{where}.tender.title" if title else f"{at}.title"
        yield Found(ocid, ocds_id, str(release.get("id")), _text(name, path, named, "title") or ocid, terms)


def read_contracts(path: str) -> tuple[list[Found], str]:
    """Every contract an OCDS file holds (validated; see `read`), and the file's SHA-256."""
    doc, sha256 = read(path)
    found: list[Found] = []
    seen: dict[tuple[str, str], str] = {}
    for process in processes(path, doc):
        for c in contracts_in(path, process):
            if (c.ocid, c.ocds_id) in seen:  # two records of one ocid, or one contract twice in a release
                raise Invalid(path, process.where, f"{c.name} is also in {seen[c.ocid, c.ocds_id]}: one file, "
                                                   "one of each")
            seen[c.ocid, c.ocds_id] = process.where
            found.append(c)
    return found, sha256


# --- writing what it says --------------------------------------------------------------------------------

def key_for(ocid: str) -> str:
    """The project key made from an ocid: lower case, each run of other characters a '-', at most 64 long
    ('ocds-b5fd17-2c1f...' stays as it is)."""
    key = re.sub(r"[^a-z0-9]+", "-", ocid.lower()).strip("-")[:64].rstrip("-")
    return key or "ocds"


@dataclass
class Change:
    """What an import did (or, dry, would do) to one contract: created, updated or unchanged."""

    what: str  # created | updated | unchanged
    project: str
    found: Found
    changes: dict[str, list[str | None]] = field(default_factory=dict)
    new_project: bool = False


@dataclass
class Imported:
    file: str
    sha256: str
    changes: list[Change]
    dry_run: bool

    def count(self, what: str) -> int:
        return sum(1 for c in self.changes if c.what == what)

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "dry_run": self.dry_run,
                "created": self.count("created"), "updated": self.count("updated"),
                "unchanged": self.count("unchanged"),
                "contracts": [{"what": c.what, "project": c.project, "new_project": c.new_project,
                               "ocid": c.found.ocid, "contract_id": c.found.ocds_id,
                               "release_id": c.found.release_id, "changes": c.changes} for c in self.changes]}


class _DryRun(Exception):
    """Raised inside the write transaction of a dry run, so that it rolls back."""


def import_file(store: Store, path: str, *, actor: str, project: str | None = None, workflow: str = "commissioning",
                dry_run: bool = False) -> Imported:
    """Import an OCDS file's contracts (see the module's docstring), all in one transaction, or none of them; with
    `dry_run`, what would change, with nothing written."""
    from cycle.projects import programmes

    found, sha256 = read_contracts(path)
    if project is not None and not programmes.KEY.match(project):
        raise BadInput(f"--project {project!r} must be a project key: lower-case letters, digits and '-'")
    actor = store.actor(actor)
    source = {"file": os.path.basename(path), "sha256": sha256}
    done: list[Change] = []
    try:
        with store.write() as s:
            for c in found:
                done.append(_apply(store, s, c, {**source, "ocid": c.ocid, "release_id": c.release_id,
                                                  "contract_id": c.ocds_id}, actor, project, workflow))
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return Imported(path, sha256, done, dry_run)


def _matching(s: Session, c: Found) -> Contract | None:
    from cycle.db.models import Contract
    from cycle.db.sql import sql_of

    matched = sql_of(s).rows("SELECT id FROM contract WHERE ocid = :ocid AND ocds_id = :ocds_id",
                             ocid=c.ocid, ocds_id=c.ocds_id)
    if len(matched) > 1:
        raise BadInput(f"{c.name} matches {len(matched)} contracts in the database (edited outside cycle?): "
                       f"cycle keeps one; see them with: cycle contracts list --status all --json")
    if matched:
        return s.get(Contract, matched[0].id)
    return _exported_by_cycle(s, c)


def _exported_by_cycle(s: Session, c: Found) -> Contract | None:
    """A contract recorded in cycle that `export ocds --ocid-prefix` wrote (ocid PREFIX-KEY-ID, contract id ID):
    itself, so that importing an export does not make it twice (the import then records the ocid on it)."""
    from cycle.db.models import Contract
    from cycle.db.sql import sql_of

    m = re.fullmatch(r"(ocds-[a-z0-9]{6})-(.+)-([0-9]{1,18})", c.ocid)
    if m is None or m.group(3) != c.ocds_id or m.group(1) not in _our_prefixes(s):
        return None  # not an ocid this database's own exports gave (another organisation's cycle: its own contract)
    found = sql_of(s).rows("SELECT c.id FROM contract c JOIN project p ON p.id = c.project_id WHERE c.id = :id "
                           "AND p.key = :key AND c.ocid IS NULL", id=int(m.group(3)), key=m.group(2))
    return s.get(Contract, found[0].id) if found else None


def _our_prefixes(s: Session) -> set[str]:
    """The OCID prefixes this database's `export ocds` entries say it exported with (`ocid_prefix`)."""
    from cycle.db.sql import sql_of

    prefixes: set[str] = set()
    for row in sql_of(s).rows("SELECT payload FROM audit_entry WHERE action = 'ocds.export'"):
        try:
            prefix = json.loads(row.payload).get("ocid_prefix")
        except (ValueError, TypeError, AttributeError):
            continue  # a payload edited out of shape: audit verify names it; it vouches for no prefix
        if isinstance(prefix, str):
            prefixes.add(prefix)
    return prefixes


def _apply(store: Store, s: Session, c: Found, source: dict[str, str], actor: str, project: str | None,
           workflow: str) -> Change:
    from cycle import contracts
    from cycle.db import rows
    from cycle.db.models import Project, row_id
    from cycle.db.sql import sql_of
    from cycle.projects import engine

    contract = _matching(s, c)
    new_project = False
    if contract is not None:
        found = s.get(Project, contract.project_id)
        assert found is not None  # a foreign key
        holder = engine.load_for_write(s, found.key)  # its row locked, as any change to a project's contract
    else:
        key = project or key_for(c.ocid)
        if not rows.key_taken(sql_of(s), key):
            engine._create(store, s, actor=actor, key=key, title=c.title, workflow=workflow, imported=source)
            new_project = True
        holder = engine.load_for_write(s, key)
        _, holder_key, _ = rows.contract_holder(sql_of(s), row_id(holder), key)
        if holder_key != key:
            raise BadInput(f"{c.name}: project {key} works with the contracts of {holder_key}, the service it "
                           f"decommissions; import it into that project with --project {holder_key}")
    terms: dict[str, str | None] = {name: value for name, value in c.terms.items() if value is not None}
    terms.update(ocid=c.ocid, ocds_id=c.ocds_id)
    if contract is None:
        terms["ref"] = c.ocds_id  # its name among the project's contracts
    before = {f: getattr(contract, f) for f in FIELDS} if contract is not None else {}
    changes = {f: [before.get(f), v] for f, v in terms.items() if before.get(f) != v}
    if not changes:
        return Change("unchanged", holder.key, c)
    engine._touch(s, holder, holder.version)  # before the entry, which carries the project's new image too
    try:
        if contract is None:
            contracts.set_terms(s, holder, terms, actor, mode="add", imported=source)
        else:
            contracts.set_terms(s, holder, terms, actor, which=contract.ref, imported=source)
    except BadInput as exc:
        raise BadInput(f"{c.name}: {exc}") from None
    return Change("created" if contract is None else "updated", holder.key, c, changes, new_project)


# --- export ----------------------------------------------------------------------------------------------

@dataclass
class Exported:
    """What `export ocds` wrote: the file, how many releases, its SHA-256, and the audit entry recording it."""

    path: str
    releases: int
    sha256: str
    seq: int

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.path, "releases": self.releases, "sha256": self.sha256, "seq": self.seq}


def _stamp(day: str | None, end: bool = False) -> str | None:
    """A stored day as an OCDS date-time: the start of the day, or for an end date its last second."""
    return f"{day}T23:59:59Z" if day and end else f"{day}T00:00:00Z" if day else None


def _amount(text: str | None) -> int | float | None:
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None  # edited outside cycle: the records check names it; the export leaves it out
    return int(value) if value == value.to_integral_value() else float(value)


def _sound(text: Any) -> Any:
    """Text read leniently from a database edited by hand (a lone surrogate where a byte was not UTF-8) with each
    such character as U+FFFD, so that the file can be written; anything else as it is."""
    if isinstance(text, str) and not text.isascii():
        return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)
    return text


def _org_id(name: str) -> str:
    return "cycle-" + hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:12]


#: The OCDS extension whose planning.budget.budgetBreakdown names each funder (sourceParty) and its part.
BUDGET_BREAKDOWN = ("https://raw.githubusercontent.com/open-contracting-extensions/ocds_budget_breakdown_extension/"
                    "master/extension.json")


def _funding(funders: list[Any], party: Any) -> dict[str, Any]:
    """Who pays (contract_funder rows, in order) as planning.budget: each funder a party with the role "funder"
    (OCDS 1.1's partyRole codelist) and a budgetBreakdown line naming it (sourceParty) with its share or amount."""
    from cycle.funding import of_rows

    split = of_rows(funders)
    assert split is not None
    lines = []
    for i, part in enumerate(split.parts, 1):
        given = part.as_dict()
        line: dict[str, Any] = {"id": str(i), "sourceParty": {"id": party(part.funder, "funder"), "name": part.funder}}
        if given["share"] is not None:
            line["description"] = f"{given['share']}% of the contract's value"
        else:
            line["description"] = "an amount of the contract's value"
            amount = _amount(given["amount"])
            if amount is not None:
                line["amount"] = {"amount": amount, "currency": "GBP"}
        lines.append(line)
    within = f", within {split.pool}" if split.pool else ""
    return {"budget": {"description": f"Funded by {split.summary()}{within}", "budgetBreakdown": lines}}


def release_of(key: str, title: str, body: str | None, c: Any, ocid_prefix: str | None,
               funders: list[Any] | None = None) -> dict[str, Any]:
    """One contract (a ContractRow) as an OCDS release of its own; `funders` (its contract_funder rows) as
    funder parties and planning.budget (_funding)."""
    key, title, body, c = _sound(key), _sound(title), _sound(body), type(c)._make(map(_sound, c))
    funders = [type(f)._make(map(_sound, f)) for f in funders or []]
    ocid = c.ocid or (f"{ocid_prefix}-{key}-{c.id}" if ocid_prefix else None)
    if ocid is None:
        raise BadInput(f"{key}'s contract {c.ref or c.id} has no ocid (it was not imported from OCDS): give "
                       f"--ocid-prefix, your organisation's registered OCID prefix, e.g. --ocid-prefix ocds-b5fd17")
    contract_id = c.ocds_id or str(c.id)
    stamp = c.updated_at if str(c.updated_at).endswith("Z") else f"{c.updated_at}Z"
    release: dict[str, Any] = {
        "ocid": ocid, "id": f"{ocid}-cycle-{re.sub(r'[^0-9]', '', str(c.updated_at))}", "date": stamp[:19] + "Z",
        "tag": ["contract"], "initiationType": "tender", "language": "en"}
    parties: dict[str, dict[str, Any]] = {}

    def party(name: str, role: str) -> str:
        """The party of this name (one per organisation, whatever its roles), given `role`; its id."""
        held = parties.setdefault(_org_id(name), {"id": _org_id(name), "name": name, "roles": []})
        if role not in held["roles"]:
            held["roles"].append(role)
        return str(held["id"])

    buyer = c.buyer or body
    if buyer:
        release["buyer"] = {"id": party(buyer, "buyer"), "name": buyer}
    if funders:
        release["planning"] = _funding(funders, party)
    award_id = f"{contract_id}-award"
    award: dict[str, Any] = {"id": award_id}
    if c.provider:
        award["suppliers"] = [{"id": party(c.provider, "supplier"), "name": c.provider}]
    release["awards"] = [award]
    period = {k: v for k, v in {"startDate": _stamp(c.start), "endDate": _stamp(c.end, True),
                                "maxExtentDate": _stamp(c.extension_to, True)}.items() if v}
    contract: dict[str, Any] = {"id": contract_id, "awardID": award_id, "title": title}
    if c.ref:
        contract["description"] = f"Reference {c.ref}"
    if period:
        contract["period"] = period
    amount = _amount(c.value_total)
    if amount is not None:
        contract["value"] = {"amount": amount, "currency": "GBP"}
    release["contracts"] = [contract]
    if parties:
        release["parties"] = list(parties.values())
    return release


def export_package(store: Store, out: str, *, actor: str, project: str | None = None, force: bool = False,
                   ocid_prefix: str | None = None, publisher: str | None = None) -> Exported:
    """Write every contract (or `project`'s) as an OCDS 1.1 release package to `out`, validated against the schema
    before it is written (whole, or not at all: cycle.outfile), and record the export as an audit entry
    ("ocds.export": the file, its SHA-256, how many releases) in the transaction that puts it in place."""
    from cycle.audit import chain
    from cycle.db import rows

    if ocid_prefix is not None and not re.fullmatch(r"ocds-[a-z0-9]{6}", ocid_prefix):
        raise BadInput(f"--ocid-prefix {_shown(ocid_prefix, 40)!r} is not an OCID prefix: 'ocds-' and six letters "
                       f"or digits, as the Open Contracting Partnership registers them, e.g. ocds-b5fd17")
    publisher = inputs.text(publisher, "--publisher", "name", False)
    outfile.check(out, force, printable=False)
    actor = store.actor(actor)
    releases = []
    with store.reading(snapshot=True) as sql, sql.any_text():
        if project is not None:
            rows.project(sql, project)  # ProjectNotFound rather than an empty file for a key nobody has
        titles = {r.key: (r.title, r.accountable_body)
                  for r in sql.rows("SELECT key, title, accountable_body FROM project")}
        split_of = rows.all_funders(sql)
        with closing(rows.stream_contracts(sql)) as found:
            for held in found:
                if project is None or held.holder.key == project:
                    title, body = titles[held.holder.key]
                    releases.append(release_of(held.holder.key, title, body, held.contract, ocid_prefix,
                                               split_of.get(held.contract.id)))
    if not releases:
        whose = f"{project} has no contract" if project else "there are no contracts"
        raise BadInput(f"nothing to export: {whose}; record one with: cycle contract set KEY --provider NAME ...")
    buyers = {r["buyer"]["name"] for r in releases if "buyer" in r}
    package = {"uri": Path(out).expanduser().resolve().as_uri(), "version": VERSION,
               "publishedDate": clock.utc_now()[:19] + "Z",
               "publisher": {"name": publisher or (next(iter(buyers)) if len(buyers) == 1 else "cycle")},
               **({"extensions": [BUDGET_BREAKDOWN]} if any("planning" in r for r in releases) else {}),
               "releases": releases}
    problem = schema_problem(package, "release-package-schema.json")
    if problem is not None:
        where, what = problem
        raise BadInput(f"the OCDS export would not validate ({where}: {what}); nothing written. A value edited "
                       f"outside cycle? Run: cycle audit verify")
    text = json.dumps(package, ensure_ascii=False, indent=2) + "\n"
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    pending = outfile.prepare(out, text, force)
    entry = outfile.place_recorded(pending, store.writing, lambda sql: chain.append(
        sql, actor=actor, action="ocds.export", project=project,
        payload={"file": out, "path": os.path.abspath(pending.path), "sha256": digest,
                 "releases": len(releases), "ocds_version": VERSION,
                 "schema": SCHEMA_TAG, "ocid_prefix": ocid_prefix}))
    return Exported(str(pending.path), len(releases), digest, entry.seq)
