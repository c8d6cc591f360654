"""The governance site (`cycle site build`): the whole record as plain data, a project at a time, and the folder it
is written to, swapped in whole.

`record` gives the chain's check, then each project's page (its gate-audit part from cycle.reporting, with its
milestones, procurement steps, audit trail, next gate and dates), and, once every project has been read, the
portfolio's rows and each governance body's decisions (kept on disk meanwhile, cycle.db.spill). The pages are
rendered outside cycle/ (cycle.reports.site); `write` puts them in a new folder beside DIR and swaps it in, so a
reader sees the old site or the new one, never half of either.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import re
import secrets
import shutil
import socket
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from cycle import outfile, reporting
from cycle.audit import chain
from cycle.audit.chain import Progress
from cycle.calendar import clock, quarters
from cycle.db import rows
from cycle.db.spill import Spill, SpillBag
from cycle.db.store import Store
from cycle.errors import BadInput, DatabaseBusy
from cycle.performance import portfolio
from cycle.procurement import record as procurement

#: The file that marks a folder as a site cycle wrote (so a rebuild may replace it, and nothing else).
MARK = ".cycle-site"
#: What a site holds at its top (cycle.reports.site's pages, and MARK), and the files a desktop leaves in a folder
#: it shows (on a file share, say), which a rebuild may drop.
SITE_NAMES = frozenset({MARK, "index.html", "projects", "bodies", ".DS_Store", "Thumbs.db", "desktop.ini"})
_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,80}")
#: Names a plain key may not have: Windows' reserved device names (a site copied to a file share), and a digest
#: page's own form, which a plain key such as `p-1143da2bc54c495c4be3` would otherwise share with another project.
_NOT_PLAIN = re.compile(r"index|con|nul|prn|aux|com[1-9]|lpt[1-9]|p-[0-9a-f]{20}", re.IGNORECASE)


def project_page(key: str) -> str:
    """The project page's path in the site: the key itself when it is a plain name, else a digest of it (a key
    written by hand could hold a slash, a dot-dot or a name the file system refuses)."""
    if _SAFE_KEY.fullmatch(key) and not _NOT_PLAIN.fullmatch(key):
        return f"projects/{key}.html"
    return f"projects/p-{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()[:20]}.html"


def body_page(body: str) -> str:
    """A governance body's page: named by a digest of its name (free text)."""
    return f"bodies/b-{hashlib.sha256(body.encode('utf-8', 'surrogatepass')).hexdigest()[:20]}.html"


@dataclass
class Record:
    """The site's data: `projects` first (read once, as they come); then `portfolio` and `bodies`, filled as the
    projects were read."""

    generated: str
    chain: dict[str, Any]
    projects: Iterator[dict[str, Any]]
    portfolio: SpillBag
    decisions: SpillBag
    bodies: Counter[str]
    quarter: str


class _Lockstep:
    """Rows of a stream ordered by project key, handed out one project's at a time."""

    def __init__(self, found: Iterator[Any], owner: Callable[[Any], Any]) -> None:
        self._found, self._owner = found, owner
        self._next = next(found, None)

    def take(self, key: str) -> list[Any]:
        mine = []
        while self._next is not None and self._owner(self._next) == key:
            mine.append(self._next)
            self._next = next(self._found, None)
        return mine


@contextmanager
def record(store: Store, progress: Progress | None = None, today: date | None = None) -> Iterator[Record]:
    """The site's data, read as it is used in read transactions that last as long as the `with`."""
    today = today or clock.london_today()
    shown = quarters.quarter_of(today) - 1  # the last whole quarter: its returns are the latest judged
    with ExitStack() as stack:
        audit = stack.enter_context(reporting.gate_audit(store, None, None, progress))
        sql = stack.enter_context(store.reading(snapshot=True))
        spill = stack.enter_context(Spill())

        def lockstep(found: Any, owner: Callable[[Any], Any]) -> _Lockstep:
            return _Lockstep(stack.enter_context(closing(found)), owner)

        own = lockstep(rows.stream_projects(sql), lambda p: p.key)
        entries = lockstep(chain._entries_by_project(sql), lambda e: e.project)
        milestones = lockstep(sql.stream("SELECT p.key, m.id, m.title, m.due, m.done_on FROM milestone m JOIN "
                                         "project p ON p.id = m.project_id ORDER BY p.key, m.due, m.id"),
                              lambda r: r[0])
        steps = lockstep(sql.stream("SELECT p.key, pr.regime, pr.route, s.step, s.done_on, s.ref, s.decided_by "
                                    "FROM procurement pr JOIN project p ON p.id = pr.project_id LEFT JOIN "
                                    "procurement_step s ON s.procurement_id = pr.id ORDER BY p.key, s.id"),
                         lambda r: r[0])
        indicators = lockstep(stack.enter_context(portfolio.board(store, shown, today)), lambda line: line.project)
        statutory: dict[str, list[procurement.DueItem]] = {}
        for item in procurement.due(store, today, 366):  # a few per procurement
            statutory.setdefault(item.key, []).append(item)
        table, decisions, bodies = spill.bag(), spill.bag(), Counter[str]()

        def each() -> Iterator[dict[str, Any]]:
            for p in audit["projects"]:
                key = p["key"]
                found = own.take(key)
                if len(found) != 1:  # a project made between the two reads: the streams would not line up
                    raise DatabaseBusy("the record changed while the site was read")
                waiting = _next_gate(store, sql, found[0])
                lines = indicators.take(key)
                status = dict(Counter(line.status or "not-judged" for line in lines))
                dates = [{"date": c["notice_deadline_on"], "what": f"notice deadline, contract {c['ref'] or '-'}"
                                  + (f". {c['notice_deadline_advice']}" if c["notice_deadline_advice"] else "")}
                         for c in p["contracts"] if c["notice_deadline_on"] and c["notice_deadline_on"] >= str(today)
                         and c["status"] in ("open", "due")]  # not once notice is served: nothing is due then
                dates += [{"date": i.day.isoformat(), "what": f"{i.regime} {i.step} ({i.status}): {i.text}"}
                          for i in statutory.get(key, []) if i.day is not None]
                dates.sort(key=lambda d: d["date"])
                procured = steps.take(key)
                page = {**p, "page": project_page(key), "next": waiting, "dates": dates,
                        "indicators": [{"contract": line.contract, "kpi": line.kpi, "title": line.title,
                                        "value": line.value, "status": line.status or "not-judged"} for line in lines],
                        "indicator_status": status,
                        "milestones": [{"id": m[1], "title": m[2], "due": m[3], "done_on": m[4]}
                                       for m in milestones.take(key)],
                        "procurement": ({"regime": procured[0][1], "route": procured[0][2],
                                         "steps": [{"step": s[3], "done_on": s[4], "ref": s[5], "decided_by": s[6]}
                                                   for s in procured if s[3] is not None]} if procured else None),
                        "trail": [{"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action,
                                   "from": e.from_stage, "to": e.to_stage} for e in entries.take(key)]}
                table.add({"key": key, "title": p["title"], "page": page["page"], "stage": p["stage"],
                           "cycle": p["cycle"], "owner": p["owner"], "next": waiting,
                           "date": dates[0] if dates else None, "indicators": status}, sort=key)
                if p["accountable_body"]:
                    bodies[str(p["accountable_body"])] += 0  # its page, linked from the project's, even if empty
                for d in p["decisions"]:
                    body = str(d["body"])
                    bodies[body] += 1
                    decisions.add({**d, "project": key, "title": p["title"], "page": page["page"]},
                                  sort=f"{d['at']}\x00{d['seq']:020d}", group=body)
                yield page

        yield Record(audit["generated"], audit["chain"], each(), table, decisions, bodies, str(shown))


def _next_gate(store: Store, sql: Any, p: rows.ProjectRow) -> list[dict[str, Any]]:
    """Every gate out of the project's stage (as the quarterly report reads them), each open or with what it waits
    on."""
    return [{"gate": way.gate, "to": way.to, "waits_on": way.waits_on}
            for way in reporting._ways_out(store, sql, p)]


# --- the folder ----------------------------------------------------------------------------------------------------

def check(out: str, force: bool, option: str = "--out") -> Path:
    """DIR, once cycle may write a site there; else BadInput saying why (naming DIR as `option`). Never cycle's own
    files or folders, never a file, never a folder holding anything but a site cycle wrote, never one beside which
    nothing may be written (the new site is written there); a site already there needs --force."""
    if not out.strip():
        raise BadInput(f"{option} is empty: give a folder for the site, e.g. {option} governance-site")
    if "\x00" in out:
        raise BadInput(f"{option} holds a NUL character: give a folder name")
    # `..` resolved: the new folder goes beside DIR itself
    path = Path(os.path.abspath(outfile.check_place(out, option=option, folder=True, holds=True)))
    try:
        path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        pass  # a new folder, or a path through a file: said below
    except OSError as exc:  # a name too long, a folder one may not look in
        raise BadInput(f"cannot use {option} {out}: {exc.strerror or exc}; choose another folder") from None
    if path.is_symlink():
        raise BadInput(f"{option} {out} is a symbolic link: give the folder itself")
    if path.exists():
        if not path.is_dir():
            raise BadInput(f"{option} {out} is not a folder: give a new folder, or one a site was built in")
        try:
            held = [p.name for p in path.iterdir()]
        except OSError as exc:
            raise BadInput(f"cannot read {option} {out}: {exc.strerror or exc}; choose another folder") from None
        if held and MARK not in held:
            raise BadInput(f"{option} {out} holds files that are not a site cycle built: give a new or empty folder; "
                           f"--force does not change this")
        foreign = sorted(set(held) - SITE_NAMES)
        if foreign:  # a site folder someone saved their own files in: replacing it would delete them
            raise BadInput(f"{option} {out} holds files a site build did not write ({', '.join(foreign[:5])}): move "
                           f"them elsewhere or choose another folder; --force does not change this")
        if held and not force:
            raise BadInput(f"{option} {out} already holds a site: add --force to replace it, or choose another "
                           f"folder")
    probe = _beside(path, "part")  # the new site is written beside DIR, and swapped in there
    try:
        probe.mkdir(mode=0o700)
        probe.rmdir()
    except OSError as exc:
        raise BadInput(f"cannot write the site to {option} {out}: {exc.strerror or exc} (making a folder in "
                       f"{path.parent}); choose another folder") from None
    return path


def write(out: str, pages: Iterable[tuple[str, Iterable[str]]], force: bool, option: str = "--out") -> Path:
    """Write every page (its path in the site, its text in pieces) to a new folder beside DIR, then swap it in:
    the old site (if any) goes only once the new one is whole. The folder written."""
    path = check(out, force, option)
    _clear_stale(path)
    temp = _beside(path, "part")
    try:
        temp.mkdir(mode=0o755)
        mode = stat.S_IMODE(temp.stat().st_mode)  # a new DIR's, as the umask makes it
        os.chmod(temp, 0o700)  # nobody else reads the pages while they are written
        for name, text in pages:
            page = temp / name
            page.parent.mkdir(parents=True, exist_ok=True)
            with open(page, "w", encoding="utf-8", errors="backslashreplace", newline="\n") as f:  # text not UTF-8
                for piece in text:
                    f.write(piece)
        (temp / MARK).write_text("A site built by `cycle site build`; a rebuild replaces this folder whole.\n",
                                 encoding="utf-8")
        check(out, force, option)  # again, at the last moment
        if path.is_dir():  # DIR's group and permissions (a folder private, or shared with a web server's group)
            was = path.stat()
            if was.st_gid != temp.stat().st_gid:
                try:
                    os.chown(temp, -1, was.st_gid)
                except PermissionError:
                    pass  # a group one is not in: the permissions still hold
            mode = stat.S_IMODE(was.st_mode)
        os.chmod(temp, mode)
        _swap(temp, path)
    except OSError as exc:
        raise BadInput(f"cannot write the site to {out}: {exc.strerror or exc}; choose another folder") from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)  # what is left: the new site not placed, or the old one swapped out
    return path


def _beside(path: Path, kind: str) -> Path:
    """A new folder's name beside DIR for this build: the site being written (`part`) or the old one moved aside
    (`old`), named so that a later build can tell it is a site build's and whether that build is still running."""
    return path.with_name(f".{path.name}.{_BUILD}-{_host()}-{os.getpid()}-{secrets.token_hex(4)}.{kind}")


_BUILD = "cycle-site"


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:40] or "_"


def _clear_stale(path: Path) -> None:
    """Remove what a build of DIR killed half way left beside it (its folder being written, or the old site moved
    aside): only a folder named as this machine's builds name theirs, of a process that is no longer running, owned
    by this user and holding only what a site holds. Another build's, running now or on another machine, and
    anything else, is left alone."""
    own = re.compile(rf"\.{re.escape(path.name)}\.{_BUILD}-{re.escape(_host())}-(\d+)-[0-9a-f]{{8}}\.(part|old)")
    try:
        beside = list(os.scandir(path.parent))
    except OSError:
        return  # the build says why when it writes
    for entry in beside:
        found = own.fullmatch(entry.name)
        if found is None or _running(int(found.group(1))):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != os.geteuid():
                continue
            if set(os.listdir(entry.path)) <= SITE_NAMES:
                shutil.rmtree(entry.path)
        except OSError:
            pass  # gone meanwhile, or not ours to remove: left as it is


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process (or no pid at all): not ours to judge
        return True
    return True


_RENAME_EXCHANGE = 2


def _swap(new: Path, path: Path) -> None:
    """Put `new` at `path`: in one step when `path` is there too (Linux renameat2 RENAME_EXCHANGE, leaving the old
    site at `new`), else by a rename; on a system without the exchange, the old site is moved aside first."""
    if not path.exists():
        os.rename(new, path)
        return
    if _exchange(new, path):
        return
    aside = _beside(path, "old")
    os.rename(path, aside)
    os.rename(new, path)
    os.rename(aside, new)  # removed with the temporary folder


def _exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(done == 0)
