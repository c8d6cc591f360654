"""The chain's arithmetic, with no database: canonical JSON, an entry's hash, the walk along a chain of entries,
and the fingerprint of a row image.

`audit verify` walks the entries the database holds (cycle.audit.chain, cycle.audit.verify); `audit verify --bundle`
walks the entries a bundle holds (cycle.audit.bundle), on a machine that may have no database at all. Both use this
one module, so the two can never disagree on what a hash is or when an entry is bad; it imports neither SQLAlchemy
nor cycle.db.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from .images import COVERED, LATER

GENESIS = "0" * 64

#: Told how long work is getting on: (what, done so far, out of). The CLI shows it on a terminal; the library
#: calls it now and then (a batch at a time), never for every row.
Progress = Callable[[str, int, int], None]
_US = "\x1f"
_RS = "\x1e"

# Everything orjson would otherwise write its own way goes to the fallback below (and fails there as
# json fails): datetimes, dataclasses and subclasses of str, int, dict and list.
_ORJSON = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | \
    orjson.OPT_PASSTHROUGH_SUBCLASS
_NOT_ASCII = re.compile("[^\x00-\x7e]")


def canonical_json(payload: Any) -> str:
    """Sorted keys, no spaces, ASCII only: the text json.dumps(payload, sort_keys=True,
    separators=(",", ":"), ensure_ascii=True) writes, written by orjson (a sixth of the time on an
    advance's snapshot). Floats are written as orjson writes them (0.00001, not 1e-05; NaN as null);
    no payload cycle writes has one."""
    try:
        text = orjson.dumps(payload, option=_ORJSON).decode()
    except TypeError:  # what orjson does not write: keys that are not text, integers past 64 bits, lone surrogates
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    if text.isascii() and "\x7f" not in text:
        return text
    return _NOT_ASCII.sub(_escaped, text)  # outside strings, JSON text is ASCII already


def _escaped(match: re.Match[str]) -> str:
    """A character as ensure_ascii=True writes it: \\uXXXX, or a surrogate pair past U+FFFF."""
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"


def entry_hash(prev_hash: str, seq: int, at: str, actor: str, project: str | None, action: str,
               from_stage: str | None, to_stage: str | None, payload: str) -> str:
    fields = _US.join((str(seq), at, actor, project or "", action, from_stage or "", to_stage or ""))
    digest = hashlib.sha256(f"{prev_hash}{_RS}{fields}{_US}".encode())
    digest.update(payload.encode())  # the payload, often 2 KB, is not copied into a joined string first
    return digest.hexdigest()

#: An entry's columns, in the order the chain's rows (and a bundle's entries, and an export's) give them: the one
#: list (the audit_entry table's own columns are the migrations').
ENTRY_COLUMNS = ("seq", "at", "actor", "project", "action", "from_stage", "to_stage", "payload", "prev_hash", "hash")
#: ENTRY_COLUMNS as SQL lists them.
COLUMNS = ", ".join(ENTRY_COLUMNS)
_NAMES = ENTRY_COLUMNS
_MAY_BE_NULL = frozenset({"project", "from_stage", "to_stage"})


def damage(row: tuple[Any, ...]) -> str | None:
    """The first column of an entry's row (in ENTRY_COLUMNS order) that holds what cycle never writes
    there, and what it holds; None when every column has the type cycle writes."""
    for name, value in zip(_NAMES, row, strict=True):
        if name == "seq":
            if type(value) is not int:
                return f"seq is not a whole number (it holds {_kind(value)})"
        elif value is None:
            if name not in _MAY_BE_NULL:
                return f"{name} is empty (NULL)"
        elif type(value) is not str:
            return f"{name} is not text (it holds {_kind(value)})"
        elif not value.isascii() and not _utf8(value):
            return f"{name} is not UTF-8 text"
    return None


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: a byte that was not UTF-8 (store.lenient_text)
        return False
    return True


def _kind(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"binary data, {len(value)} bytes"
    if isinstance(value, int | float):
        shown = repr(value)
        return f"the number {shown if len(shown) <= 24 else shown[:24] + '...'}"
    if isinstance(value, str):
        shown = _shown(value)
        return f"the text {shown[:24]!r}{'...' if len(shown) > 24 else ''}"
    return f"a value of type {type(value).__name__}"


def _shown(value: Any) -> str:
    """A column's value as text a person can read, whatever it holds (for a damaged entry)."""
    if value is None:
        return "NULL"
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return f"x'{data[:16].hex()}{'...' if len(data) > 16 else ''}'"
    if isinstance(value, str):
        return value if _utf8(value) else value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return str(value)

@dataclass
class Verification:
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    bad_seq: int | None = None
    problem: str | None = None
    checkpoint: str | None = None
    untrusted: tuple[int, int] | None = None  # entries that cannot be trusted, first and last

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "head": {"seq": self.head_seq, "hash": self.head_hash},
                "bad_seq": self.bad_seq, "problem": self.problem, "checkpoint": self.checkpoint,
                "untrusted": {"from": self.untrusted[0], "to": self.untrusted[1]} if self.untrusted else None}


CHECKING = "Checking the audit chain"  # what walk() tells `progress` it is doing


def walk_rows(batches: Iterable[Sequence[tuple[Any, ...]]], checkpoint: tuple[int, str] | None = None,
              progress: Progress | None = None, total: int = 0, start: tuple[int, str] | None = None) -> Verification:
    """Walk entries (rows in ENTRY_COLUMNS order, a batch at a time) in sequence order; stop at the first bad one. The
    chain starts at `start` (the first entry's sequence number and the hash it must follow; default: entry 1 after
    GENESIS). Against `checkpoint` (sequence, hash) when given: the entry it names must have its hash."""
    expected_seq, prev = start or (1, GENESIS)
    before = expected_seq - 1  # entries before the first walked
    sha256 = hashlib.sha256
    n = 0
    cp_seq, cp_hash = checkpoint if checkpoint else (None, None)
    cp_seen = cp_seq == 0  # entry 0 is the empty log (hash GENESIS, what `checkpoint` prints before any entry)
    if cp_seen and cp_hash != GENESIS:
        return _bad(0, 0, GENESIS, 0, "it differs from the checkpoint kept outside the database "
                                      "(the chain was rewritten)", checkpoint)
    row: tuple[Any, ...] = ()
    # Each failure asks damage() first: a column of the wrong type explains it better than a hash does.
    try:
        for rows in batches:
            for row in rows:
                seq, at, actor, project, action, fr, to, payload, prev_hash, digest = row
                if seq != expected_seq:
                    return _bad(n, before + n, prev, expected_seq, damage(row) or _misplaced(seq, expected_seq),
                                checkpoint)
                if prev_hash != prev:
                    return _bad(n, before + n, prev, expected_seq, damage(row) or _RELINKED, checkpoint)
                # `is None`, not `or`: a 0 or b'' in a column is damage, not an empty text
                canon = _US.join((str(seq), at, actor, "" if project is None else project, action,
                                  "" if fr is None else fr, "" if to is None else to, payload))
                if sha256((prev + _RS + canon).encode("utf-8")).hexdigest() != digest:
                    return _bad(n, before + n, prev, expected_seq, damage(row) or _EDITED, checkpoint)
                if seq == cp_seq:
                    cp_seen = True
                    if digest != cp_hash:
                        return _rewritten(seq, checkpoint, before)
                prev, expected_seq, n = digest, seq + 1, n + 1
            if progress is not None:
                progress(CHECKING, n, max(total, n))
    except (TypeError, ValueError):  # joining or encoding a column cycle never writes (bytes, NULL, not UTF-8)
        problem = damage(row)
        if problem is None:
            raise
        return _bad(n, before + n, prev, expected_seq, problem, checkpoint)
    result = Verification(True, n, before + n, prev, checkpoint=_fmt(checkpoint))
    if checkpoint and not cp_seen:
        result.ok, result.bad_seq = False, cp_seq
        result.problem = (f"the log ends at entry {before + n} but the checkpoint names entry {cp_seq}: "
                          f"entries after {before + n} were cut off")
    return result

_RELINKED = "its previous-hash does not match the entry before it (an entry was removed, reordered or rewritten)"
_EDITED = "its hash does not match its contents (the entry was edited)"


def _misplaced(seq: int, expected: int) -> str:
    return f"entry {expected} is {'missing' if seq > expected else 'out of order'} (found {seq} next)"


def _bad(n: int, head_seq: int, prev: str, seq: int, problem: str,
         checkpoint: tuple[int, str] | None) -> Verification:
    return Verification(False, n, head_seq, prev, bad_seq=seq, problem=problem, checkpoint=_fmt(checkpoint))


def _rewritten(seq: int, checkpoint: tuple[int, str] | None, before: int = 0) -> Verification:
    """The entry a checkpoint names is not the one kept: the chain up to it was rewritten somewhere, so no
    entry up to it can be trusted, however well they hang together."""
    problem = (f"it differs from the checkpoint kept outside the database (the chain was rewritten), so entries "
               f"{before + 1} to {seq} cannot be trusted: they are consistent with each other but do not lead to "
               f"the kept head")
    return Verification(False, 0, 0, GENESIS, bad_seq=seq, problem=problem, checkpoint=_fmt(checkpoint),
                        untrusted=(before + 1, seq))

def _fmt(checkpoint: tuple[int, str] | None) -> str | None:
    return f"{checkpoint[0]}:{checkpoint[1]}" if checkpoint else None


def digest(image: dict[str, Any]) -> bytes:
    """A short fingerprint of a row image (its canonical JSON); a value JSON cannot hold (a blob written
    by hand) gets one that matches no image."""
    try:
        text = canonical_json(image)
    except (TypeError, ValueError):
        text = "\x00" + repr(sorted(image.items(), key=lambda kv: str(kv[0])))
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def row_image(image: Any) -> tuple[str, int, dict[str, Any] | None] | None:
    """(table, id, row) of one of an entry's images, or None when it is not one (then it vouches for nothing)."""
    if not isinstance(image, dict):
        return None
    table, row_id, row = image.get("table"), image.get("id"), image.get("row")
    if table not in COVERED or not isinstance(row_id, int) or isinstance(row_id, bool):
        return None
    if row is not None and not isinstance(row, dict):
        return None
    if row is not None and table in LATER:  # an image from before those columns were added
        row = {**dict.fromkeys(LATER[table]), **row}
    return table, row_id, row
