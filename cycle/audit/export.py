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
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cycle import csvout, outfile
from cycle.calendar.clock import utc_now
from cycle.db import rows
from cycle.errors import BadInput

from . import chain

if TYPE_CHECKING:
    from cycle.db.store import Store

FORMATS = ("csv", "jsonl")
#: The CSV's columns: an entry's columns as the chain holds them (the payload as the text hashed), and
#: `damaged` saying which column holds what cycle never writes there (empty for a sound entry).
COLUMNS = ["seq", "at", "actor", "project", "action", "from_stage", "to_stage", "payload", "prev_hash", "hash",
           "damaged"]
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
