"""Scratch space on disk for a long read: per-row state that would otherwise grow with the data in memory.

`audit verify` replays every row image the log holds and keeps, per row, what the later checks compare with
(cycle.audit.records, cycle.audit.moves). At 100,000 projects that was about 190 MB of dicts. A `Spill` keeps it
instead in a private temporary SQLite database (SQLite's "" file: on disk, removed when closed), behind a small
page cache, so that memory stays bounded however long the log is. It is never the store's database, holds nothing
after the read, and is written without journal or fsync: losing it loses nothing.

A `SpillMap` behaves as the dict it replaces for the keys a replay uses (ints, text, None): equal keys are one
key as in a dict (1, 1.0 and True), an unhashable key raises TypeError as a dict would, and values come back as
they were put (marshal, so the types a JSON payload holds, and tuples and bytes, survive).
"""

from __future__ import annotations

import marshal
import sqlite3
from collections.abc import Iterator
from itertools import count
from typing import Any

from cycle.errors import ScratchFailed

_INT64 = (-(2 ** 63), 2 ** 63 - 1)
_names = count()
#: SQLite's page cache for a spill, in KiB: with the writes held back (PENDING), what stays in memory.
CACHE_KIB = 8192
#: Writes a map holds back before it writes them at once (executemany): most of a replay's work is writes.
PENDING = 2000
#: Pages a spill may grow to (None: as many as the disk holds); tests make it small to see a full disk.
_MAX_PAGES: int | None = None


def _key(key: Any) -> Any:
    """A dict key as SQLite stores it: equal keys alike, different keys apart; TypeError for an unhashable one."""
    kind = type(key)
    if kind is int and _INT64[0] <= key <= _INT64[1]:
        return key
    if kind is str and key.isascii():
        return key
    hash(key)
    if isinstance(key, int) and _INT64[0] <= key <= _INT64[1]:
        return int(key)  # True is 1, as in a dict
    if isinstance(key, float) and key.is_integer() and _INT64[0] <= key <= _INT64[1]:
        return int(key)  # 1.0 is 1, as in a dict
    if isinstance(key, str):
        try:
            key.encode("utf-8")
            return key
        except UnicodeEncodeError:  # a lone surrogate (text that was not UTF-8): kept apart, as marshal keeps it
            pass
    return marshal.dumps(key, 2)


def _unkey(stored: Any) -> Any:
    return marshal.loads(stored) if isinstance(stored, bytes) else stored


def _value(value: Any) -> bytes:
    return marshal.dumps(value, 2)


class Spill:
    """A private temporary database for one long read; use it as a context manager (or close() it): a failure of
    the spill itself (a full disk) leaves it as ScratchFailed."""

    def __init__(self) -> None:
        try:
            self._db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
            for pragma in ("journal_mode = OFF", "synchronous = OFF", f"cache_size = -{CACHE_KIB}",
                           "temp_store = FILE", *([f"max_page_count = {_MAX_PAGES}"] if _MAX_PAGES else [])):
                self._db.execute(f"PRAGMA {pragma}")
            self._db.execute("BEGIN")  # one transaction for the spill's life: never committed, nothing to keep
        except sqlite3.Error as exc:
            raise ScratchFailed(str(exc)) from exc

    def map(self, indexed: bool = False) -> SpillMap:
        """A new, empty map; with `indexed`, each value also carries a project id to list it by (SpillMap.of)."""
        return SpillMap(self._db, f"m{next(_names)}", indexed)

    def bag(self) -> SpillBag:
        """A new, empty bag: values in an order of their own, each under a group."""
        return SpillBag(self._db, f"b{next(_names)}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, kind: Any, exc: Any, _tb: Any) -> None:
        self.close()
        if isinstance(exc, sqlite3.Error):  # the spill's own database (the store's errors reach here as CycleErrors)
            raise ScratchFailed(str(exc)) from exc


class SpillMap:
    """A dict kept in a Spill: get, [], in, pop, del, len, and items()/keys()/values() in key order.

    The last PENDING writes are held in memory (the newest value of each key, or _GONE) and written together."""

    def __init__(self, db: sqlite3.Connection, name: str, indexed: bool) -> None:
        self._db, self._name, self._indexed = db, name, indexed
        db.execute(f"CREATE TABLE {name} (k PRIMARY KEY, v BLOB NOT NULL{', p' if indexed else ''}) WITHOUT ROWID")
        if indexed:
            db.execute(f"CREATE INDEX {name}_p ON {name} (p, k)")
        self._get = f"SELECT v FROM {name} WHERE k = ?"
        self._put = f"INSERT OR REPLACE INTO {name} VALUES (?, ?{', ?' if indexed else ''})"
        self._del = f"DELETE FROM {name} WHERE k = ?"
        self._pending: dict[Any, Any] = {}  # stored key -> (stored key, value bytes[, project]) or _GONE

    def _read(self, k: Any) -> Any:
        """The value bytes under stored key `k`, or _MISSING."""
        held = self._pending.get(k, _MISSING)
        if held is _GONE:
            return _MISSING
        if held is not _MISSING:
            return held[1]
        found = self._db.execute(self._get, (k,)).fetchone()
        return _MISSING if found is None else found[0]

    def _hold(self, k: Any, write: Any) -> None:
        self._pending[k] = write
        if len(self._pending) >= PENDING:
            self.flush()

    def flush(self) -> None:
        """Write what is held back."""
        if not self._pending:
            return
        held, self._pending = self._pending, {}
        self._db.executemany(self._del, ((k,) for k, w in held.items() if w is _GONE))
        self._db.executemany(self._put, (w for w in held.values() if w is not _GONE))

    def get(self, key: Any, default: Any = None) -> Any:
        found = self._read(_key(key))
        return default if found is _MISSING else marshal.loads(found)

    def __getitem__(self, key: Any) -> Any:
        found = self._read(_key(key))
        if found is _MISSING:
            raise KeyError(key)
        return marshal.loads(found)

    def __contains__(self, key: Any) -> bool:
        return self._read(_key(key)) is not _MISSING

    def __setitem__(self, key: Any, value: Any) -> None:
        self.put(key, value)

    def put(self, key: Any, value: Any, project: Any = None) -> None:
        """Set `key` (with, in an indexed map, the project id it is listed under)."""
        k = _key(key)
        self._hold(k, (k, _value(value), _project(project)) if self._indexed else (k, _value(value)))

    def update(self, pairs: Any) -> None:
        """Set many keys at once (an iterable of (key, value))."""
        for k, v in pairs:
            self.put(k, v)

    def pop(self, key: Any, default: Any = None) -> Any:
        k = _key(key)
        found = self._read(k)
        if found is _MISSING:
            return default
        self._hold(k, _GONE)
        return marshal.loads(found)

    def __delitem__(self, key: Any) -> None:
        if self.pop(key, _MISSING) is _MISSING:
            raise KeyError(key)

    def __len__(self) -> int:
        self.flush()
        return int(self._db.execute(f"SELECT count(*) FROM {self._name}").fetchone()[0])

    def __bool__(self) -> bool:
        self.flush()
        return self._db.execute(f"SELECT 1 FROM {self._name} LIMIT 1").fetchone() is not None

    def items(self) -> Iterator[tuple[Any, Any]]:
        """(key, value) in key order (numbers first), read as they are used."""
        for k, v in self._each(f"SELECT k, v FROM {self._name} ORDER BY k"):
            yield _unkey(k), marshal.loads(v)

    def keys(self) -> Iterator[Any]:
        for (k,) in self._each(f"SELECT k FROM {self._name} ORDER BY k"):
            yield _unkey(k)

    def __iter__(self) -> Iterator[Any]:
        return self.keys()

    def values(self) -> Iterator[Any]:
        for (v,) in self._each(f"SELECT v FROM {self._name} ORDER BY k"):
            yield marshal.loads(v)

    def joined(self, other: SpillMap) -> Iterator[tuple[Any, Any, Any]]:
        """(key, value here, value in `other`) for each key in both maps (of one Spill), in key order."""
        self.flush()
        other.flush()
        for k, v, w in _paged(self._db.execute(f"SELECT a.k, a.v, b.v FROM {self._name} a JOIN {other._name} b "
                                               f"ON b.k = a.k ORDER BY a.k")):
            yield _unkey(k), marshal.loads(v), marshal.loads(w)

    def of(self, project: Any) -> list[Any]:
        """The values listed under `project` (an indexed map), in key order."""
        self.flush()
        return [marshal.loads(v) for (v,) in self._db.execute(
            f"SELECT v FROM {self._name} WHERE p = ? ORDER BY k", (_project(project),))]

    def _each(self, query: str) -> Iterator[tuple[Any, ...]]:
        # Its own cursor, fetched a page at a time.
        self.flush()
        yield from _paged(self._db.execute(query))


class SpillBag:
    """Values kept in a Spill, read back (as often as asked) in the order of a sort key given with each (text; then
    in the order added), all of them or those of one group (a project's key, say)."""

    def __init__(self, db: sqlite3.Connection, name: str) -> None:
        self._db, self._name = db, name
        db.execute(f"CREATE TABLE {name} (n INTEGER PRIMARY KEY, s, g, v BLOB NOT NULL)")
        db.execute(f"CREATE INDEX {name}_s ON {name} (s, n)")
        db.execute(f"CREATE INDEX {name}_g ON {name} (g, s, n)")
        self._held: list[tuple[Any, Any, bytes]] = []
        self._length = 0

    def add(self, value: Any, sort: str | None = None, group: Any = None) -> None:
        self._held.append((sort, _group(group), _value(value)))
        self._length += 1
        if len(self._held) >= PENDING:
            self.flush()

    def flush(self) -> None:
        if self._held:
            held, self._held = self._held, []
            self._db.executemany(f"INSERT INTO {self._name} (s, g, v) VALUES (?, ?, ?)", held)

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[Any]:
        self.flush()
        return (marshal.loads(v) for (v,) in _paged(self._db.execute(f"SELECT v FROM {self._name} ORDER BY s, n")))

    def of(self, group: Any) -> list[Any]:
        """The values of one group, in order."""
        if not self._length:
            return []
        self.flush()
        return [marshal.loads(v) for (v,) in self._db.execute(
            f"SELECT v FROM {self._name} WHERE g IS ? ORDER BY s, n", (_group(group),))]

    def each_of(self, group: Any) -> Iterator[Any]:
        """of(), read as it is used."""
        self.flush()
        return (marshal.loads(v) for (v,) in _paged(self._db.execute(
            f"SELECT v FROM {self._name} WHERE g IS ? ORDER BY s, n", (_group(group),))))

    def count(self, group: Any) -> int:
        self.flush()
        return int(self._db.execute(f"SELECT count(*) FROM {self._name} WHERE g IS ?", (_group(group),)).fetchone()[0])


def _group(group: Any) -> Any:
    return None if group is None else _key(group)


def _paged(cursor: sqlite3.Cursor) -> Iterator[tuple[Any, ...]]:
    try:
        while page := cursor.fetchmany(500):
            yield from page
    finally:
        _close(cursor)


def _close(cursor: sqlite3.Cursor) -> None:
    """Close a cursor a read left half-way (the reader of a report went away): the spill may be closed already."""
    try:
        cursor.close()
    except sqlite3.ProgrammingError:
        pass


_MISSING: Any = object()
_GONE: Any = object()


def _project(project: Any) -> Any:
    """A project id as an index value: compared as the replay compares it (1, 1.0 and True alike)."""
    try:
        return _key(project) if project is not None else None
    except TypeError:  # a list or dict where an id should be: listed under nothing a number or text finds
        return marshal.dumps(repr(project), 2)
