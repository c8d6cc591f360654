"""A command's --out file: never cycle's database or its own files, never an existing file unless asked
(--force), and never half-written: the text goes to a temporary file in the same folder, renamed into place.

`check` runs before a command does its work, so a refused --out costs nothing; `write` checks again at the
moment of writing (the folder may have changed meanwhile).
"""

from __future__ import annotations

import atexit
import os
import secrets
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

from . import config
from .errors import BadInput

_S = TypeVar("_S")
_R = TypeVar("_R")


def own_files() -> list[Path]:
    """The files an --out may never be, however it is spelt: the database (with SQLite's files beside it),
    and the files cycle keeps in $CYCLE_HOME and its config folder."""
    home = config.home()
    files = [home / "cycle.db", home / "reminders.toml", config.config_dir() / "reminders.toml"]
    database = _database_file()
    if database is not None:
        files.append(database)
    for db in [home / "cycle.db", *([database] if database is not None else [])]:  # whatever the file's name
        files += [db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal")]
    workflows = home / "workflows"
    if workflows.is_dir():
        files += [p for p in workflows.iterdir()]
    return files + _mail_files()


def _mail_files() -> list[Path]:
    """The SMTP password file and CA file the settings name, wherever they are (a report over the password file
    stops every email). A settings file that cannot be read names none: the command reading it says why."""
    from cycle.reminders.settings import read_config

    try:
        smtp = read_config("smtp")
    except (BadInput, OSError, RecursionError):
        smtp = {}
    named = [os.environ.get("CYCLE_SMTP_PASSWORD_FILE") or smtp.get("password_file"),
             os.environ.get("CYCLE_SMTP_CAFILE") or smtp.get("cafile")]
    return [Path(str(n)).expanduser() for n in named if n]


def own_folders() -> list[Path]:
    """The folders cycle reads every file of (a new file there is a workflow, an email template, a message, a
    setting), so an --out may not put one there."""
    home = config.home()
    return [home / "workflows", home / "templates", home / "mail", home / "keys", config.config_dir()]


def _inside(path: Path, folder: Path) -> bool:
    """`path` lands in `folder` or below it: where the write would put it (its folder's real path), however
    either is spelt."""
    try:
        landing = Path(os.path.realpath(path.parent)) / path.name
        return landing.is_relative_to(Path(os.path.realpath(folder)))
    except (OSError, ValueError):
        return False


_STREAMS = ("/proc/", "/dev/fd/", "/dev/stdin", "/dev/stdout", "/dev/stderr")


def _a_stream(path: Path) -> bool:
    """`path` is, or links (at any step) to, a process's stream (/dev/stdout, /proc/self/fd/1, ...): --force would
    replace the link itself (/dev/stdout, for root), and without it the file behind it would be refused as
    existing, so neither writes where the person meant."""
    try:
        step, seen = Path(os.path.abspath(path)), 0
        while True:
            where = Path(os.path.realpath(step.parent)) / step.name
            if str(where).startswith(_STREAMS) or str(step).startswith(_STREAMS):
                return True
            if not where.is_symlink() or seen > 40:
                return False
            step, seen = Path(os.path.join(where.parent, os.readlink(where))), seen + 1
    except (OSError, ValueError):
        return False


def _database_file() -> Path | None:
    """The SQLite file the store opens (cycle.db.store reads the same URL the same way), or None for a server."""
    url = config.database_url()
    if not url.startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        name = make_url(url).database
    except (ArgumentError, ValueError):
        return None
    return Path(name) if name and name != ":memory:" else None


def _same(a: Path, b: Path) -> bool:
    """The same file: by resolved path (a symlink, `..`), or by inode (a hard link)."""
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except (OSError, RuntimeError):  # a symlink loop, an unreadable folder: not provably the same
        return False


def _cannot(out: str, exc: OSError) -> BadInput:
    """What to say when the file system refuses --out."""
    return BadInput(f"cannot write --out {out}: {exc.strerror or exc}; choose another file")


def check(out: str, force: bool, printable: bool = True) -> Path:
    """The --out path, once it is one cycle may write; else BadInput saying why and what to do (`printable`: the
    command prints without --out, so a stream is better left to that)."""
    try:
        return _check(out, force, printable)
    except OSError as exc:  # a name too long for the file system, a folder it may not read, ...
        raise _cannot(out, exc) from None


def _check(out: str, force: bool, printable: bool) -> Path:
    if not out.strip():
        raise BadInput("--out is empty: give a file name, e.g. --out report.md")
    if "\x00" in out:
        raise BadInput("--out holds a NUL character: give a file name")
    path = check_place(out, printable=printable)
    if path.is_dir():
        raise BadInput(f"--out {out} is a folder: name a file in it, e.g. --out {path / 'report.md'}")
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise BadInput(f"--out {out} is not a regular file: choose a file")
        if not force:
            raise BadInput(f"{out} already exists: add --force to replace it, or choose another --out")
    return path


def check_place(out: str, *, option: str = "--out", folder: bool = False, holds: bool = False,
                printable: bool = True) -> Path:
    """Where `option` OUT (a name, not empty) may put what a command writes, a file or (`folder`) a folder, as far
    as cycle's own files go: never one of them, however spelt (nor, when the folder is replaced whole, `holds`, one
    holding them), never a stream, never cycle's folder or one it reads its own files from (nor one holding such a
    folder, with `holds`), and in a folder that exists (a folder's `..` resolved first: what is written goes beside
    the folder itself). The path, as given; BadInput saying why and what to do; OSError as the system gives it.
    `printable`: the command prints without --out, so a stream is better left to that."""
    given = Path(out).expanduser()
    path = Path(os.path.abspath(given)) if folder else given
    for own in own_files():
        if holds and (_same(path, own) or _inside(own, path)):
            raise BadInput(f"{option} {out} is or holds one of cycle's own files ({own}): choose another folder; "
                           f"--force does not change this")
        if _same(path, own):
            database = own.name.endswith((".db", "-wal", "-shm", "-journal"))
            what = "cycle's database" if database else "one of cycle's own files"
            raise BadInput(f"{option} {out} is {what} ({own}): choose {'a new folder' if folder else 'another file'}; "
                           f"--force does not change this")
    if out.strip() == "-" or _a_stream(path):  # "-" means standard output to many tools: never a file named "-"
        if folder:
            raise BadInput(f"{option} {out} is a stream, not a folder: name a new folder")
        raise BadInput(f"{option} {out} is standard output or another stream, not a file: "
                       + (f"leave out {option} to print it" if printable else "name a file, e.g. --out audit.csv"))
    if folder and _same(path, config.home()):
        raise BadInput(f"{option} {out} is cycle's own folder ({config.home()}): name a new folder; --force does not "
                       f"change this")
    for own_folder in own_folders():
        if not folder and _inside(path, own_folder):
            raise BadInput(f"{option} {out} is in {own_folder}, a folder cycle reads its own files from: choose "
                           f"another folder; --force does not change this")
        if folder and (_inside(path, own_folder) or _same(path, own_folder) or (holds and _inside(own_folder, path))):
            where = "holds" if holds and _inside(own_folder, path) and not _inside(path, own_folder) else "is in"
            raise BadInput(f"{option} {out} {where} {own_folder}, where cycle keeps its own files: choose a folder "
                           f"elsewhere; --force does not change this")
    if not path.parent.is_dir():
        raise BadInput(f"folder {path.parent} does not exist: create it or choose another {option}")
    return given


def write(out: str, text: str | Iterable[str], force: bool) -> Path:
    """Write `text` (a string, or pieces of one) to --out: all of it, or nothing. The path written."""
    pending = prepare(out, text, force)
    try:
        return pending.place()
    finally:
        pending.discard()


class Pending:
    """An --out file written whole to a temporary file beside it, not yet in place: `place` puts it there (a
    command that must record the file first, such as an audited export, does so in between); `discard` removes
    what is left (always call it)."""

    def __init__(self, out: str, path: Path, temp: Path, force: bool):
        self.out, self.path, self.temp, self.force = out, path, temp, force

    def place(self) -> Path:
        """Put the file in place (checked again, at the last moment: nothing took its place meanwhile)."""
        out, path, temp, force = self.out, self.path, self.temp, self.force
        try:
            check(out, force)
            if force:
                if path.is_file():
                    os.chmod(temp, path.stat().st_mode & 0o777)  # never setuid, setgid or sticky bits
                os.replace(temp, path)
            else:
                _link(temp, path, out)
        except OSError as exc:
            raise _cannot(out, exc) from None
        return path

    def discard(self) -> None:
        self.temp.unlink(missing_ok=True)
        _UNPLACED.discard(self.temp)


#: Temporary files this process is writing and has not yet placed or discarded. A command ended by SIGTERM
#: (`timeout 60 cycle report ... --out q.md`) unwinds as SystemExit, and every `finally` above removes its file;
#: but the signal can land between a file's creation and the `try` that owns it. What is left here when the
#: interpreter exits is removed then.
_UNPLACED: set[Path] = set()


@atexit.register
def _remove_unplaced() -> None:
    for temp in list(_UNPLACED):
        try:
            temp.unlink(missing_ok=True)
        except OSError:
            pass


def place_recorded(pending: Pending, transaction: Callable[[], AbstractContextManager[_S]],
                   record: Callable[[_S], _R]) -> _R:
    """Record the file (`record`, inside a `transaction()`: an audited export's entry) and put it in place in the
    same transaction; what `record` returned. Whatever fails, the temporary file goes, and a file put in place
    whose record did not commit is removed: an export nobody can see must not stay."""
    placed = False
    try:
        with transaction() as inside:
            recorded = record(inside)
            pending.place()
            placed = True
    except BaseException:
        if placed:  # in place, but its record did not commit
            pending.path.unlink(missing_ok=True)
        raise
    finally:
        pending.discard()
    return recorded


def prepare(out: str, text: str | Iterable[str], force: bool) -> Pending:
    """Write `text` (a string, or pieces of one) to a temporary file beside --out, flushed to disk."""
    path = check(out, force)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    _UNPLACED.add(temp)  # before it exists: a signal as it is made still finds it (_remove_unplaced)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask decides, as for any new file
    except OSError as exc:
        _UNPLACED.discard(temp)  # not made: a file of that name is not this process's to remove
        raise _cannot(out, exc) from None
    pending = Pending(out, path, temp, force)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            for piece in [text] if isinstance(text, str) else text:
                f.write(piece)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        pending.discard()
        raise _cannot(out, exc) from None
    except BaseException:
        pending.discard()
        raise
    return pending


def _link(temp: Path, path: Path, out: str) -> None:
    """Put `temp` in place at `path` only if nothing is there (a second process may have written it meanwhile)."""
    try:
        os.link(temp, path)
    except FileExistsError:
        raise BadInput(f"{out} already exists: add --force to replace it, or choose another --out") from None
    except OSError:  # a file system without hard links: the check above is the best there is
        if path.exists():
            raise BadInput(f"{out} already exists: add --force to replace it, or choose another --out") from None
        os.replace(temp, path)
