"""`cycle export audit`: the audit log (all of it, or one project's entries) as a file for an auditor's
spreadsheet or tools, CSV (cycle.csvout) or JSON Lines.

The file's first line says which chain head it was exported at. It is written whole or not at all
(cycle.outfile), and the export is itself an audit entry ("audit.export": who, what, to which file, its
SHA-256 and that head), appended in the transaction that puts the file in place: a file is in place only if
its entry is committed.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cycle import csvout, outfile
from cycle.calendar.clock import utc_now
from cycle.db import rows
from cycle.errors import BadInput

from . import bundle, chain, signing
from .hashes import ENTRY_COLUMNS, _shown

if TYPE_CHECKING:
    from cycle.db.store import Store

FORMATS = ("csv", "jsonl")
#: The CSV's columns: an entry's columns as the chain holds them (the payload as the text hashed), and
#: `damaged` saying which column holds what cycle never writes there (empty for a sound entry).
COLUMNS = [*ENTRY_COLUMNS, "damaged"]
_BATCH = 200


@dataclass
class Exported:
    """What an export wrote: the file, how many entries, the head it was taken at, the file's SHA-256, and the
    audit entry that records it."""

    path: str
    entries: int
    head_seq: int
    head_hash: str
    sha256: str
    seq: int

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.path, "entries": self.entries, "head": {"seq": self.head_seq, "hash": self.head_hash},
                "sha256": self.sha256, "seq": self.seq}


def _hashed(pieces: Iterable[str], digest: Any) -> Iterator[str]:
    """`pieces` as they pass, each added to `digest` as the file holds it (UTF-8, line ends as they are)."""
    for piece in pieces:
        digest.update(piece.encode("utf-8", "surrogateescape"))
        yield piece


def _csv(found: Iterator[chain.Entry], first: list[str], counted: list[int]) -> Iterator[str]:
    def records() -> Iterator[tuple[Any, ...]]:
        for e in found:
            counted[0] += 1
            yield (*e[:10], e.damaged)
    return csvout.lines(COLUMNS, records(), first=first)


def _jsonl(found: Iterator[chain.Entry], first: dict[str, Any], counted: list[int],
           as_dict: Callable[[chain.Entry], dict[str, Any]]) -> Iterator[str]:
    batch = [json.dumps(first, ensure_ascii=False) + "\n"]
    for e in found:
        counted[0] += 1
        batch.append(json.dumps(as_dict(e), ensure_ascii=False) + "\n")
        if len(batch) == _BATCH:
            yield "".join(batch)
            batch.clear()
    yield "".join(batch)


def export_log(store: Store, out: str, fmt: str, *, actor: str, project: str | None = None, force: bool = False,
               as_dict: Callable[[chain.Entry], dict[str, Any]] | None = None) -> Exported:
    """Write the log (all, or `project`'s entries) to `out` in `fmt` (FORMATS), as of the chain's head when the
    read began, and record the export as an audit entry. `as_dict` gives a JSON Lines entry (`audit log
    --json`'s shape; default: its columns)."""
    if fmt not in FORMATS:
        raise BadInput(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    outfile.check(out, force, printable=False)
    actor = store.actor(actor)
    digest = hashlib.sha256()
    counted = [0]
    exported_at = utc_now()
    with store.reading(snapshot=True) as sql:
        if project is not None:
            rows.project(sql, project)  # ProjectNotFound rather than an empty file for a key nobody has
        head_seq, head_hash = chain.head(sql)
        with closing(chain.iter_entries(sql, project)) as found:
            if fmt == "csv":
                first = ["cycle audit export", f"head_seq={head_seq}", f"head_hash={head_hash}",
                         f"project={project or '(all)'}", f"exported_at={exported_at}"]
                pieces = _csv(found, first, counted)
            else:
                header = {"export": "cycle audit log", "head": {"seq": head_seq, "hash": head_hash},
                          "project": project, "exported_at": exported_at}
                pieces = _jsonl(found, header, counted, as_dict or (lambda e: e._asdict()))
            pending = outfile.prepare(out, _hashed(pieces, digest), force)
    entry = outfile.place_recorded(pending, store.writing, lambda sql: chain.append(
        sql, actor=actor, action="audit.export", project=project,
        payload={"format": fmt, "file": out, "path": os.path.abspath(pending.path),
                 "sha256": digest.hexdigest(), "entries": counted[0],
                 "head": {"seq": head_seq, "hash": head_hash}}))
    return Exported(str(pending.path), counted[0], head_seq, head_hash, digest.hexdigest(), entry.seq)


# --- a bundle: the record in a folder, to check with no database (cycle.audit.bundle) ----------------------------

@dataclass
class ExportedBundle:
    """What `audit export --bundle` wrote: the folder, the entries' range, the records, the signed checkpoint it
    holds, the manifest's SHA-256 and the audit entry that records the export."""

    path: str
    project: str | None
    first: int
    last: int
    records: int
    checkpoint: dict[str, Any]
    sha256: str
    seq: int

    def as_dict(self) -> dict[str, Any]:
        return {"folder": self.path, "project": self.project, "entries": {"from": self.first, "to": self.last},
                "records": self.records, "checkpoint": self.checkpoint, "manifest_sha256": self.sha256,
                "seq": self.seq}


def check_folder(out: str, force: bool) -> Path:
    """--bundle DIR, once cycle may write a bundle there: never the database or one of cycle's own files or folders,
    never an existing file, never a folder holding anything but an earlier bundle (and that only with --force);
    else BadInput saying why."""
    if not out.strip() or "\x00" in out:
        raise BadInput("--bundle needs a folder name, e.g. --bundle audit-bundle-2027-03-31")
    try:
        path = outfile.check_place(out, option="--bundle", folder=True)
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise BadInput(f"--bundle {out} is {'a link' if path.is_symlink() else 'a file'}, not a folder: choose a "
                           f"new folder; --force does not change this")
        if path.is_dir():
            found = sorted(os.listdir(path))
            strange = [name for name in found if name not in (*bundle.FILES, bundle.MANIFEST)
                       or not (path / name).is_file() or (path / name).is_symlink()]
            if strange:
                raise BadInput(f"--bundle {out} holds {strange[0]}, which is no file of a bundle: choose a new "
                               f"folder (--force replaces only an earlier bundle)")
            if found and not force:
                raise BadInput(f"{out} holds a bundle already: add --force to replace it, or choose another "
                               f"--bundle")
    except OSError as exc:
        raise BadInput(f"cannot write --bundle {out}: {exc.strerror or exc}; choose another folder") from None
    return path


def _json_line(value: dict[str, Any]) -> str:
    """One line of a bundle's JSON Lines: ASCII (any text survives, lone surrogates too); a value JSON cannot hold
    (binary data written by hand) as cycle shows it, which then matches no image."""
    return json.dumps(value, ensure_ascii=True, default=_shown) + "\n"


def _records(sql: Any, project: tuple[int, str] | None) -> Iterator[str]:
    from cycle.db.sql import undecodable

    from .images import COVERED

    for table in COVERED:
        if project is not None and bundle.OWNERS[table] is None:
            continue
        where = f" WHERE {bundle.owned(table)}" if project is not None else ""
        params = {"pid": project[0], "key": project[1]} if project is not None else {}
        query = f"SELECT * FROM {table}{where} ORDER BY id"
        done = 0
        for lenient in (False, True):
            try:
                with sql.any_text() if lenient else nullcontext(), closing(sql.stream(query, **params)) as found:
                    for n, row in enumerate(found):
                        if n >= done:
                            record = row._asdict()
                            yield _json_line({"table": table, "id": record.get("id"), "row": record})
                            done += 1
                break
            except Exception as exc:  # SQLite text that is not UTF-8, written by hand: read it as it is
                if lenient or not undecodable(exc):
                    raise


def _write(path: Path, pieces: Iterable[str]) -> str:
    """Write `pieces` to a new file, flushed to disk; its SHA-256."""
    sha = hashlib.sha256()
    with open(path, "x", encoding="ascii", newline="") as f:
        for piece in pieces:
            f.write(piece)
            sha.update(piece.encode("ascii"))
        f.flush()
        os.fsync(f.fileno())
    return sha.hexdigest()


def export_bundle(store: Store, out: str, *, actor: str, project: str | None = None,
                  force: bool = False) -> ExportedBundle:
    """Write a bundle (cycle.audit.bundle) of the whole log, or of `project`, to the folder `out`: to a temporary
    folder beside it, renamed into place in the transaction that records the export (an `audit.export` entry), so
    that the folder is a whole bundle or is not there. BadInput when the log keeps no signed checkpoint that covers
    what the bundle would hold."""
    import shutil

    path = check_folder(out, force)
    actor = store.actor(actor)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        os.mkdir(temp, 0o755)
    except OSError as exc:
        raise BadInput(f"cannot write --bundle {out}: {exc.strerror or exc}; choose another folder") from None
    try:
        with store.reading(snapshot=True) as sql:
            owned = None
            first = 1
            if project is not None:
                row = rows.project(sql, project)  # ProjectNotFound for a key nobody has
                owned = (row.id, row.key)
                found = sql.one("SELECT min(seq) AS seq FROM audit_entry WHERE project = :key", key=project)
                first = found.seq if found and type(found.seq) is int else 0
            head_seq, head_hash = chain.head(sql)
            signed = _latest_signed(sql)
            if first == 0 or first > head_seq:
                raise BadInput(f"project {project} has no audit entries to export")
            if signed.seq < first:
                raise BadInput(f"the latest signed checkpoint (of entry {signed.seq:,}) is older than project "
                               f"{project}'s first entry ({first:,}), so nothing signed covers it: sign the head "
                               f"first with: cycle audit checkpoint --sign")
            counted = [0]

            def entry_lines() -> Iterator[str]:
                batch = []
                with closing(chain.iter_entries(sql, None, after=first - 1)) as found:
                    for e in found:
                        value = e._asdict()
                        if not value["damaged"]:
                            del value["damaged"]
                        batch.append(_json_line(value))
                        counted[0] += 1
                        if len(batch) == _BATCH:
                            yield "".join(batch)
                            batch.clear()
                yield "".join(batch)

            records = [0]

            def record_lines() -> Iterator[str]:
                for line in _records(sql, owned):
                    records[0] += 1
                    yield line

            sums = {bundle.ENTRIES: _write(temp / bundle.ENTRIES, entry_lines()),
                    bundle.RECORDS: _write(temp / bundle.RECORDS, record_lines()),
                    bundle.CHECKPOINT: _write(temp / bundle.CHECKPOINT, [signed.document]),
                    bundle.README: _write(temp / bundle.README, [bundle.readme(project)])}
        meta = {"format": bundle.FORMAT, "version": bundle.VERSION, "project": project,
                "entries": {"from": first, "to": head_seq, "count": counted[0], "head_hash": head_hash},
                "records": records[0], "checkpoint": signed.as_dict(), "key": signed.key,
                "exported_at": utc_now(), "exported_by": actor}
        sums[bundle.META] = _write(temp / bundle.META, [json.dumps(meta, indent=2, ensure_ascii=True) + "\n"])
        manifest = bundle.manifest(sums)
        manifest_sha = _write(temp / bundle.MANIFEST, [manifest])
        old, placed = None, False
        try:
            with store.writing() as sql:
                entry = chain.append(sql, actor=actor, action="audit.export", project=project, payload={
                    "format": "bundle", "folder": out, "path": os.path.abspath(path), "sha256": manifest_sha,
                    "entries": counted[0], "records": records[0], "head": {"seq": head_seq, "hash": head_hash},
                    "checkpoint": signed.seq})
                old = _place(temp, path, out, force)
                placed = True
        except BaseException:
            if placed:  # in place, but its record did not commit: an export nobody can see must not stay
                shutil.rmtree(path, ignore_errors=True)
                if old is not None:
                    os.rename(old, path)
            raise
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return ExportedBundle(str(path), project, first, head_seq, records[0], signed.as_dict(), manifest_sha, entry.seq)


def _latest_signed(sql: Any) -> signing.Signed:
    """The newest signed checkpoint the log keeps, as signed; BadInput without one, or when it cannot be read."""
    found = signing._newest(sql)
    if found is None:
        raise BadInput("the log keeps no signed checkpoint, and a bundle is checked against one: sign the head "
                       "first with: cycle audit checkpoint --sign")
    document = found.payload.get("document")
    if found.fields is None or not (isinstance(document, str) and document.isascii()):
        why = found.unreadable or ("no 'document' field" if "document" not in found.payload else
                                   "a field has the wrong type")
        raise BadInput(f"the latest signed checkpoint (entry {found.entry}) cannot be read ({why}): sign the head "
                       f"again with: cycle audit checkpoint --sign")
    return signing.Signed(**found.fields, document=document)


def _place(temp: Path, path: Path, out: str, force: bool) -> Path | None:
    """Rename the written bundle into place (an earlier bundle, with --force, moved aside first: the old folder,
    for the caller to remove once the export is committed)."""
    check_folder(out, force)  # again, at the last moment: nothing took its place meanwhile
    old = None
    try:
        if path.is_dir() and any(path.iterdir()):
            old = path.with_name(f".{path.name}.{secrets.token_hex(4)}.old")
            os.rename(path, old)
        os.rename(temp, path)  # over an empty folder, or where nothing is
    except OSError as exc:
        if old is not None and not path.exists():
            os.rename(old, path)
        raise BadInput(f"cannot write --bundle {out}: {exc.strerror or exc}; choose another folder") from None
    return old
