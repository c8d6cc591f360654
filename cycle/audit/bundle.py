"""An audit bundle: the record in a folder of plain files, and its check on a machine with no database.

`cycle audit export --bundle DIR` (cycle.audit.export) writes:

    bundle.json      what the bundle holds: the project (or none), the entries' range, the signed checkpoint
    entries.jsonl    the audit entries, one JSON object a line, each column as the chain hashes it
    records.jsonl    the records the entries vouch for, one row image a line ({"table", "id", "row"}), by table
                     (in cycle.audit.images.COVERED's order) and id
    checkpoint.txt   the latest signed checkpoint the log keeps (cycle.audit.signing)
    README.txt       how to check it
    manifest.txt     the SHA-256 of each file above, as `sha256sum` writes them (`sha256sum -c manifest.txt`)

`verify` checks a bundle against a public key given apart from it: the manifest, the checkpoint's signature, the
chain (cycle.audit.hashes, the walk `audit verify` runs on the database) up to the checkpoint's sequence and hash,
and each record against the latest image of it the entries hold. It imports neither SQLAlchemy nor the store, and
opens no database (the per-row state of a long replay goes to a private scratch file, cycle.db.spill).

The chain is global: an entry's hash covers the one before it, whatever project each names. A project's bundle
therefore holds every entry from the project's first to the head, not only the project's: a suffix of the chain
checks against the signed head without what came before (its first entry's previous-hash is taken as given, and the
head's hash commits to every entry after it), so the bundle proves those entries, not the ones before.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cycle.errors import BadInput

from .hashes import ENTRY_COLUMNS, GENESIS, digest, row_image, walk_rows
from .images import COVERED

FORMAT = "cycle audit bundle"
VERSION = 1
MANIFEST = "manifest.txt"
META = "bundle.json"
ENTRIES = "entries.jsonl"
RECORDS = "records.jsonl"
CHECKPOINT = "checkpoint.txt"
README = "README.txt"
FILES = (META, ENTRIES, RECORDS, CHECKPOINT, README)  # what the manifest lists, in this order

#: What an owner column holds: the project's id (the project's own row names itself by its id), or its key; any other
#: value of OWNERS names the covered table whose row owns it in turn.
PROJECT, KEY = "project", "key"
#: Which project owns a row of each covered table: (the column that says, what it holds); None for a table no project
#: owns (people, programmes, workflows, deputies: in a whole bundle, never in a project's). The one place a covered
#: table is placed: a project's bundle picks its rows (cycle.audit.export) and its check tells them (below) by it.
OWNERS: dict[str, tuple[str, str] | None] = {
    "project": ("id", PROJECT), "programme": None, "evidence": ("project_id", PROJECT),
    "decision": ("project_id", PROJECT), "waiver": ("project_id", PROJECT), "gate_request": ("project_id", PROJECT),
    "milestone": ("project_id", PROJECT), "contract": ("project_id", PROJECT),
    "contract_funder": ("contract_id", "contract"), "procurement": ("project_id", PROJECT),
    "procurement_step": ("procurement_id", "procurement"), "link": ("project_id", PROJECT), "person": None,
    "person_role": None, "deputy": None, "review_meeting": ("project_id", PROJECT), "kpi": ("contract_id", "contract"),
    "kpi_target": ("kpi_id", "kpi"), "kpi_value": ("kpi_id", "kpi"), "action": ("project_id", PROJECT),
    "kpi_assessment": ("contract_id", "contract"), "outbox": ("project", KEY),
    "delivery_attempt": ("outbox_id", "outbox"), "workflow_version": None}
#: Tables no project owns.
SHARED = tuple(table for table, owner in OWNERS.items() if owner is None)
#: Tables whose rows belong to a project through another table's row: (the column naming it, that table).
THROUGH = {table: owner for table, owner in OWNERS.items() if owner is not None and owner[1] not in (PROJECT, KEY)}


def owner_column(table: str) -> str | None:
    """The column that ties a row of `table` to its project (or, for THROUGH, to its parent row); None for SHARED."""
    owner = OWNERS[table]
    return None if owner is None else owner[0]


def owned(table: str) -> str:
    """The SQL condition that picks a project's rows of `table` (:pid, the project's id; :key, its key), which a
    project owns (not SHARED)."""
    owner = OWNERS[table]
    assert owner is not None, table
    column, holds = owner
    if holds == PROJECT:
        return f"{column} = :pid"
    if holds == KEY:
        return f"{column} = :key"
    return f"{column} IN (SELECT id FROM {holds} WHERE {owned(holds)})"


def readme(project: str | None) -> str:
    whose = f"project {project}'s record" if project else "the whole record"
    return (f"A cycle audit bundle: {whose}, as its audit entries and the records they vouch for, with the latest\n"
            "signed checkpoint. Check it, on any machine with cycle installed and no database, against the public\n"
            "key published for the signing key (never one taken from this folder):\n\n"
            "    cycle audit verify --bundle THIS-FOLDER --public-key cycle-signing.pub\n\n"
            f"{MANIFEST} holds each file's SHA-256 (sha256sum -c {MANIFEST}); docs/audit.md says what a bundle\n"
            "proves and what it cannot.\n")


def manifest(sums: dict[str, str]) -> str:
    return "".join(f"{sums[name]}  {name}\n" for name in FILES)


# --- the check ---------------------------------------------------------------------------------------------

@dataclass
class Checked:
    """What verify found: `ok`, else the first failure (`problem`, in `file` at `line`, about entry `seq`)."""

    ok: bool
    problem: str | None = None
    file: str | None = None
    line: int | None = None
    seq: int | None = None
    project: str | None = None
    first: int = 0
    last: int = 0
    entries: int = 0
    project_entries: int = 0
    signed: dict[str, Any] | None = None
    records: int = 0
    tables: int = 0
    records_after: int = 0  # records whose latest image is in an entry after the checkpoint

    @property
    def failure(self) -> str:
        """The failure, naming the file (and line, and entry) where it is."""
        if self.file is None:
            return str(self.problem)
        if self.line is None:
            return f"{self.file} {self.problem}"
        entry = f" (entry {self.seq:,})" if self.seq is not None and self.file == ENTRIES else ""
        return f"{self.file} line {self.line:,}{entry}: {self.problem}"

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problem": self.problem, "file": self.file, "line": self.line, "seq": self.seq,
                "project": self.project, "entries": {"from": self.first, "to": self.last, "count": self.entries,
                                                      "of_project": self.project_entries if self.project else None},
                "signed": self.signed, "records": self.records, "tables": self.tables,
                "records_after_checkpoint": self.records_after}


class _Failed(Exception):
    def __init__(self, file: str | None, problem: str, line: int | None = None, seq: int | None = None):
        """`problem`: a sentence after a line ("its hash ..."), else what the file does ("does not ..."); with no
        `file`, the whole message."""
        super().__init__(problem)
        self.file, self.problem, self.line, self.seq = file, problem, line, seq


def verify(folder: str, public_key: bytes, key_name: str) -> Checked:
    """Check the bundle in `folder` against `public_key` (its bytes, from the file `key_name`). BadInput when it
    cannot be checked at all: no such folder, no manifest, a key file that is not a public key."""
    from . import signing

    root = Path(folder)
    if not root.is_dir():
        raise BadInput(f"--bundle {folder}: no such folder (give the folder `cycle audit export --bundle` wrote)"
                       if not root.exists() else f"--bundle {folder} is not a folder: give the bundle's folder")
    if not (root / MANIFEST).is_file():
        raise BadInput(f"--bundle {folder} holds no {MANIFEST}: it is not a bundle (make one with: cycle audit "
                       f"export --bundle DIR)")
    signing.load_public_key(public_key, key_name)  # BadInput: not a key at all
    checked = Checked(False)
    try:
        _verify(root, public_key, key_name, checked)
    except _Failed as failed:
        checked.ok, checked.problem, checked.file = False, failed.problem, failed.file
        checked.line, checked.seq = failed.line, failed.seq
        return checked
    checked.ok = True
    return checked


_SUM_LINE = re.compile(r"([0-9a-f]{64})  ([^\n/\\]+)")


#: The most a manifest or bundle.json can hold (an export writes a few hundred bytes): a longer one is not read
#: whole, so that a hostile bundle cannot make the check take the machine's memory.
SMALL = 1 << 20
#: The most checkpoint.txt can hold (a signed checkpoint is a few hundred bytes).
CHECKPOINT_SIZE = 64 * 1024
_CHANGED = "which an export never writes (the bundle was changed after the export)"


def _regular(root: Path, name: str) -> Path:
    """root/name, once it is a regular file of the bundle; _Failed when it is a link, a pipe or a device, or missing."""
    path = root / name
    if path.is_symlink():
        raise _Failed(name, f"is a link to another file, {_CHANGED}")
    if not path.is_file():
        if path.exists():
            raise _Failed(name, f"is not a regular file (a pipe or a device), {_CHANGED}")
        raise _Failed(name, "is missing from the bundle (the manifest lists it)")
    return path


def _small(root: Path, name: str, limit: int = SMALL) -> bytes:
    """The bytes of `name`, one of the bundle's small files (read as cycle reads any small file it is given,
    cycle.audit.signing.read_small); _Failed if it is a link, a pipe or a device, longer than `limit`, or cannot be
    read."""
    from .signing import NotRegular, TooLarge, read_small

    try:
        return read_small(_regular(root, name), name, limit)
    except NotRegular:  # it became one after the look above
        raise _Failed(name, f"is not a regular file (a pipe or a device), {_CHANGED}") from None
    except TooLarge:
        raise _Failed(name, f"is longer than an export ever writes it ({limit:,} bytes): it was changed after the "
                            f"export") from None
    except OSError as exc:
        raise _Failed(name, f"cannot be read ({exc.strerror or exc})") from None


def _manifest(root: Path) -> None:
    try:
        text = _small(root, MANIFEST).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Failed(MANIFEST, f"cannot be read ({exc})") from None
    listed: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        found = _SUM_LINE.fullmatch(line)
        if found is None:
            raise _Failed(MANIFEST, "is not a line '<SHA-256>  <file>' (the manifest was edited)", n)
        if found.group(2) in listed:
            raise _Failed(MANIFEST, f"{found.group(2)} is listed twice (the manifest was edited)", n)
        listed[found.group(2)] = found.group(1)
    for name in FILES:
        if name not in listed:
            raise _Failed(MANIFEST, f"does not list {name} (the manifest was edited)")
    for name, wanted in listed.items():
        if name not in FILES:
            raise _Failed(MANIFEST, f"lists {name}, which is no file of a bundle (the manifest was edited)")
        path = _regular(root, name)
        sha = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    sha.update(chunk)
        except OSError as exc:
            raise _Failed(name, f"cannot be read ({exc.strerror or exc})") from None
        if sha.hexdigest() != wanted:
            raise _Failed(name, f"does not match its SHA-256 in {MANIFEST}: the file (or the manifest) was changed "
                                f"after the export")
    others = sorted(set(os.listdir(root)) - {*FILES, MANIFEST})
    if others:
        raise _Failed(others[0], f"is in the bundle but not in {MANIFEST} (it was added after the export)")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        twice = next(k for i, (k, _) in enumerate(pairs) if k in dict(pairs[:i]))
        raise ValueError(f"{twice!r} is given twice in one object, so readers could take either value")
    return found


def _loads(data: bytes) -> Any:
    """json.loads, refusing what readers could take differently or not at all (ValueError): a key given twice in
    one object, nesting deeper than the parser goes."""
    try:
        return json.loads(data, object_pairs_hook=_unique)
    except RecursionError:
        raise ValueError("nested deeper than a bundle's JSON ever is") from None


def _meta(root: Path) -> dict[str, Any]:
    try:
        meta = _loads(_small(root, META))
    except (OSError, ValueError) as exc:
        raise _Failed(META, f"is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _Failed(META, f"does not say it is a {FORMAT!r}")
    if meta.get("version") != VERSION:
        raise _Failed(META, f"is a bundle of version {meta.get('version')!r}, which this version of cycle does "
                            f"not read (it reads version {VERSION})")
    entries, project = meta.get("entries"), meta.get("project")
    if not isinstance(entries, dict) or not all(type(entries.get(k)) is int for k in ("from", "to", "count")):
        raise _Failed(META, "has no entries range ({\"from\", \"to\", \"count\"})")
    if project is not None and not isinstance(project, str):
        raise _Failed(META, "names a project that is not text")
    if project is None and entries["from"] != 1:
        raise _Failed(META, f"holds the whole log but says its entries start at {entries['from']}, not 1")
    return meta


def _verify(root: Path, public_key: bytes, key_name: str, checked: Checked) -> None:
    from . import signing

    _manifest(root)
    meta = _meta(root)
    checked.project = project = meta["project"]
    if _small(root, README) != readme(project).encode():
        raise _Failed(README, "is not the README an export writes: its instructions were changed after the export")
    document = _small(root, CHECKPOINT, CHECKPOINT_SIZE)
    try:
        signed = signing.check(document, CHECKPOINT, public_key, key_name)
    except (signing.BadSignature, BadInput) as exc:
        raise _Failed(None, str(exc)) from None
    checked.signed = signed.as_dict()
    said = meta.get("checkpoint")
    if not isinstance(said, dict) or (said.get("seq"), said.get("hash")) != (signed.seq, signed.hash):
        raise _Failed(META, f"names another checkpoint than {CHECKPOINT} holds (entry {signed.seq})")
    with _Replay(project) as replay:
        first = meta["entries"]["from"]
        chain = walk_rows(_entries(root / ENTRIES, replay, checked), (signed.seq, signed.hash),
                          start=(first, _first_prev(root / ENTRIES)) if project is not None else (1, GENESIS))
        checked.first, checked.last = first, chain.head_seq
        if not chain.ok:
            _chain_failed(chain, checked, signed.seq, root / ENTRIES)
        if checked.entries == 0:
            raise _Failed(ENTRIES, "holds no entries")
        for key, wanted in (("to", checked.last), ("count", checked.entries)):
            if meta["entries"][key] != wanted:
                raise _Failed(META, f"says entries {key} {meta['entries'][key]}, but {ENTRIES} holds "
                                    f"{'up to entry ' if key == 'to' else ''}{wanted}")
        _records(root, replay, checked, signed.seq)
    if meta.get("records") != checked.records:
        raise _Failed(META, f"says {meta.get('records')} records, but {RECORDS} holds {checked.records}")


def _chain_failed(chain: Any, checked: Checked, cp_seq: int, path: Path) -> None:
    if chain.untrusted:
        raise _Failed(ENTRIES, f"its hash differs from the signed checkpoint's, so entries {chain.untrusted[0]:,} to "
                               f"{chain.untrusted[1]:,} cannot be trusted: they hang together but do not lead to the "
                               f"signed head (the chain was rewritten)", chain.entries + 1 + (
                                   chain.bad_seq - checked.first - chain.entries), chain.bad_seq)
    if chain.bad_seq == cp_seq and chain.problem and "cut off" in chain.problem:
        raise _Failed(ENTRIES, f"ends at entry {chain.head_seq:,}, but the signed checkpoint is of entry "
                               f"{cp_seq:,}: entries were cut off")
    line = chain.entries + 1
    later = _out_of_order(path, line, chain.bad_seq)
    if later is not None:
        raise _Failed(ENTRIES, f"entries are out of order: entry {later[0]:,} comes before entry {chain.bad_seq:,} "
                               f"(at line {later[1]:,})", line, chain.bad_seq)
    raise _Failed(ENTRIES, chain.problem or "is not a chain", line, chain.bad_seq)


def _out_of_order(path: Path, line: int, seq: int) -> tuple[int, int] | None:
    """When `line` of entries.jsonl holds a later entry than `seq`, the one it should, and entry `seq` is on a later
    line: (the entry `line` holds, the line `seq` is on). None otherwise."""
    found: int | None = None
    with open(path, "rb") as f, suppress(_Failed):  # a line past the limit: the walk had not come to it
        for n, text in _lines(f, ENTRIES):
            if n < line:
                continue
            try:
                entry = orjson.loads(text)
            except orjson.JSONDecodeError:
                entry = None
            at = entry.get("seq") if isinstance(entry, dict) else None
            if n == line:
                if type(at) is not int or at <= seq:  # the entry itself, or one again (the walk says so)
                    return None
                found = at
            elif found is not None and at == seq:
                return found, n
    return None


#: The longest line entries.jsonl or records.jsonl may hold: an export writes an entry or a record a line, the
#: longest a few megabytes; a longer line is not read whole, so that a hostile bundle cannot make the check take the
#: machine's memory.
LINE = 64 << 20


def _lines(f: Any, name: str) -> Iterator[tuple[int, bytes]]:
    """The lines of the bundle's file `name` (open as `f`), numbered from 1; _Failed at one longer than LINE."""
    n = 0
    while line := f.readline(LINE + 1):
        n += 1
        if len(line) > LINE:
            raise _Failed(name, f"it is too long (over {LINE:,} bytes, more than an export writes a line): the file "
                                f"was changed after the export", n)
        yield n, line


def _first_prev(path: Path) -> str:
    """The previous-hash of a project bundle's first entry, taken as given: the chain checks from there on."""
    with open(path, "rb") as f:
        first = next(_lines(f, ENTRIES), None)
    prev = _entry_row(first[1], 1)[8] if first else GENESIS
    return prev if isinstance(prev, str) else GENESIS


def _entries(path: Path, replay: _Replay, checked: Checked) -> Iterator[list[tuple[Any, ...]]]:
    """The entries in `path` as rows for walk_rows, a batch at a time; each replayed (`replay`) as it passes."""
    batch: list[tuple[Any, ...]] = []
    with open(path, "rb") as f:
        for n, line in _lines(f, ENTRIES):
            row = _entry_row(line, n)
            checked.entries = n
            if replay.project is not None and row[3] == replay.project:
                checked.project_entries += 1
            replay.entry(row)
            batch.append(row)
            if len(batch) == 1000:
                yield batch
                batch = []
    yield batch


def _entry_row(line: bytes, n: int) -> tuple[Any, ...]:
    try:
        entry = _loads(line)
    except ValueError as exc:
        raise _Failed(ENTRIES, f"is not a JSON object ({exc})", n) from None
    if not isinstance(entry, dict):
        raise _Failed(ENTRIES, "is not a JSON object", n)
    missing = [name for name in ENTRY_COLUMNS if name not in entry]
    if missing:
        raise _Failed(ENTRIES, f"has no {missing[0]!r} field", n, entry.get("seq") if type(entry.get("seq")) is
                      int else None)
    if entry.get("damaged"):
        raise _Failed(ENTRIES, f"the entry was damaged in the database ({entry['damaged']})", n, entry["seq"])
    return tuple(entry[name] for name in ENTRY_COLUMNS)


class _Replay:
    """The latest image of each row the entries hold: table -> id -> (entry, fingerprint or None: deleted, the
    value of the row's owner column), kept in a scratch file so that memory does not grow with the log."""

    def __init__(self, project: str | None):
        from cycle.db.spill import Spill

        self.project = project
        self.spill = Spill()
        self.latest = {table: self.spill.map() for table in COVERED}

    def __enter__(self) -> _Replay:
        return self

    def __exit__(self, *_: Any) -> None:
        self.spill.close()

    def entry(self, row: tuple[Any, ...]) -> None:
        payload = row[7]
        if not isinstance(payload, str) or '"rows":[' not in payload:
            return
        try:
            images = orjson.loads(payload).get("rows")
        except (orjson.JSONDecodeError, AttributeError):
            return  # the walk names an entry whose payload was changed; one cycle never wrote images nothing
        if not isinstance(images, list):
            return
        for image in images:
            found = row_image(image)
            if found is None:
                continue
            table, row_id, kept = found
            column = owner_column(table)
            owner = kept.get(column) if kept is not None and column is not None else None
            self.latest[table][row_id] = (row[0], None if kept is None else digest(kept),
                                          owner if isinstance(owner, int | str) else None)

    def image(self, root: Path, seq: int, table: str, row_id: int) -> dict[str, Any]:
        """The image of table #row_id entry `seq` holds (read again: only its fingerprint was kept)."""
        with open(root / ENTRIES, "rb") as f:
            for _, line in _lines(f, ENTRIES):
                entry = json.loads(line)
                if entry.get("seq") == seq:
                    for image in orjson.loads(entry["payload"])["rows"]:
                        found = row_image(image)
                        if found is not None and found[:2] == (table, row_id) and found[2] is not None:
                            return found[2]
        return {}


@dataclass
class _Owners:
    """A project bundle's project (its id and key) and the rows of it seen so far: a row's own table tells whose
    it is (OWNERS)."""

    key: str | None
    project_id: int | None = None
    seen: dict[str, set[int]] = field(default_factory=dict)

    def owns(self, table: str, owner: Any) -> bool:
        """A row of `table` whose owner column (OWNERS) holds `owner` is the project's."""
        if self.key is None:
            return True
        placed = OWNERS[table]
        if placed is None:
            return False
        holds = placed[1]
        if holds == PROJECT:
            return bool(owner == self.project_id)
        if holds == KEY:
            return bool(owner == self.key)
        return owner in self.seen.get(holds, ())


def _label(table: str, row_id: Any, row: dict[str, Any] | None = None) -> str:
    if table == "project" and row and isinstance(row.get("key"), str):
        return f"project {row['key']}"
    return f"{table} #{row_id}"


class _Reader:
    """records.jsonl a record at a time, with a look at the next one."""

    def __init__(self, f: Any):
        self.lines = _lines(f, RECORDS)
        self.next: tuple[int, str, int, dict[str, Any]] | None = None
        self.take()

    def take(self) -> tuple[int, str, int, dict[str, Any]] | None:
        taken = self.next
        found = next(self.lines, None)
        self.next = None if found is None else (found[0], *_record(found[1], found[0]))
        return taken


def _records(root: Path, replay: _Replay, checked: Checked, cp_seq: int) -> None:
    """Each record against the latest image of it the entries hold, table by table, side by side in id order; a row
    the entries say exists (of the project, in a project's bundle) that the records have not got is missing."""
    owners = _Owners(replay.project)
    order = {table: i for i, table in enumerate(COVERED)}
    tables: set[str] = set()

    def missing(table: str, row_id: int, seq: int, kept: bytes | None, owner: Any) -> None:
        if kept is not None and owners.owns(table, owner):
            raise _Failed(RECORDS, f"lacks {_label(table, row_id)}, which entry {seq:,} recorded (it was removed from "
                                   f"the bundle)", None, seq)

    with open(root / RECORDS, "rb") as f:
        reader = _Reader(f)
        for table in COVERED:
            if reader.next is not None and order[reader.next[1]] < order[table]:
                n, early, row_id, _ = reader.next
                raise _Failed(RECORDS, f"{early} #{row_id} comes after the rows of a later table: the records "
                                       f"are out of order", n)
            images = iter(replay.latest[table].items())
            image = next(images, None)
            last_id: int | None = None
            while reader.next is not None and reader.next[1] == table:
                n, _, row_id, row = reader.take()  # type: ignore[misc]
                if last_id is not None and row_id <= last_id:
                    raise _Failed(RECORDS, f"{_label(table, row_id, row)} comes after #{last_id}: the records are "
                                           f"out of order, or one is there twice", n)
                last_id = row_id
                while image is not None and image[0] < row_id:
                    missing(table, image[0], *image[1])
                    image = next(images, None)
                known = None
                if image is not None and image[0] == row_id:
                    known, image = image[1], next(images, None)
                _record_checked(root, replay, owners, table, row_id, row, known, n, cp_seq, checked)
                checked.records += 1
                tables.add(table)
            while image is not None:
                missing(table, image[0], *image[1])
                image = next(images, None)
        if reader.next is not None:
            n, early, row_id, _ = reader.next
            raise _Failed(RECORDS, f"{early} #{row_id} comes after the rows of a later table: the records are out "
                                   f"of order", n)
    checked.tables = len(tables)
    if replay.project is not None and owners.project_id is None:
        raise _Failed(RECORDS, f"holds no row of project {replay.project}")


def _record(line: bytes, n: int) -> tuple[str, int, dict[str, Any]]:
    try:
        record = _loads(line)
    except ValueError as exc:
        raise _Failed(RECORDS, f"is not a JSON object ({exc})", n) from None
    if not isinstance(record, dict) or set(record) != {"table", "id", "row"}:
        raise _Failed(RECORDS, "is not a record ({\"table\", \"id\", \"row\"})", n)
    table, row_id, row = record["table"], record["id"], record["row"]
    if table not in COVERED:
        raise _Failed(RECORDS, f"names {table!r}, which is not a table the log vouches for", n)
    if type(row_id) is not int or not isinstance(row, dict) or row.get("id") != row_id:
        raise _Failed(RECORDS, f"is not a {table} row with its id", n)
    return table, row_id, row


def _record_checked(root: Path, replay: _Replay, owners: _Owners, table: str, row_id: int, row: dict[str, Any],
                    known: tuple[int, bytes | None, Any] | None, n: int, cp_seq: int, checked: Checked) -> None:
    label = _label(table, row_id, row)
    if table == "project" and owners.key is not None and row.get("key") == owners.key:
        owners.project_id = row_id
    column = owner_column(table)
    if not owners.owns(table, row.get(column) if column else None):
        raise _Failed(RECORDS, f"{label} is not project {owners.key}'s: a project's bundle holds its rows only", n)
    owners.seen.setdefault(table, set()).add(row_id) if owners.key is not None else None
    if known is None:
        raise _Failed(RECORDS, f"{label} is in no entry of the bundle: it was written outside cycle (or its entry "
                               f"is not in the bundle)", n)
    seq, kept, _ = known
    if kept is None:
        raise _Failed(RECORDS, f"{label} was deleted by entry {seq:,}, but the bundle holds it", n, seq)
    if digest(row) != kept:
        image = replay.image(root, seq, table, row_id)
        columns = [c for c in COVERED[table] if row.get(c, _ABSENT) != image.get(c, _ABSENT)] or ["a column"]
        said = "; ".join(f"{c} is {_shown(row.get(c, _ABSENT))} but entry {seq:,} recorded "
                         f"{_shown(image.get(c, _ABSENT))}" for c in columns[:3])
        raise _Failed(RECORDS, f"{label} differs from its entry: {said}", n, seq)
    if seq > cp_seq:
        checked.records_after += 1


_ABSENT = object()


def _shown(value: Any) -> str:
    if value is _ABSENT:
        return "absent"
    shown = json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= 60 else shown[:57] + "..."
