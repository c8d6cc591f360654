"""Reading a file a person names (a workflow, reminders.toml, a password file): only a regular file, only up to
a size limit, only UTF-8 text, and TOML only as deep as a person writes it.

A FIFO must not hang a command, /dev/zero or a huge file must not exhaust memory, and a file nested a
thousand levels deep must not reach a person as a RecursionError: each is Unreadable, one line.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from .errors import BadInput

#: The largest file cycle reads unless told otherwise (the built-in workflows are under 8 KB).
MAX_BYTES = 1_000_000


class Unreadable(BadInput):
    """A file cycle was asked to read is not what it should be; `problem` says what, without the path."""

    def __init__(self, path: str | Path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


def open_regular(path: str | Path, hint: str) -> tuple[int, os.stat_result]:
    """An open descriptor of the regular file at `path` (the caller closes it), and its fstat; a folder, a FIFO
    or a device is refused (`hint` says what to give the path of instead)."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then says what it is.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise Unreadable(path, f"cannot read the file ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise Unreadable(path, f"{kind}; give the path of {hint}")
    except OSError as exc:
        os.close(fd)
        raise Unreadable(path, f"cannot read the file ({exc.strerror})") from None
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_bytes(path: str | Path, what: str = "the file", limit: int = MAX_BYTES, hint: str | None = None) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (`what` names it in a refusal; `hint` says what to
    give instead of a folder or a device, default `what`)."""
    fd, st = open_regular(path, hint or what)
    try:
        if st.st_size > limit:
            raise Unreadable(path, f"{st.st_size} bytes, more than {what} may have ({limit}); is it the right file?")
        chunks, size = [], 0
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # it grew while being read
                raise Unreadable(path, f"more than {limit} bytes, more than {what} may have")
    except OSError as exc:
        raise Unreadable(path, f"cannot read the file ({exc.strerror})") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_text(path: str | Path, what: str = "the file", limit: int = MAX_BYTES, hint: str | None = None) -> str:
    """A regular file's text: UTF-8, no NUL, at most `limit` bytes."""
    raw = read_bytes(path, what, limit, hint)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if "\x00" in text:
        raise Unreadable(path, "it holds a NUL character")
    return text


def loads_toml(text: str, where: str | Path) -> dict[str, Any]:
    """TOML text as a dict; Unreadable naming `where` when it is not TOML or nests too deeply to read."""
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise Unreadable(where, f"not valid TOML ({exc})") from None
    except RecursionError:
        raise Unreadable(where, "not valid TOML: its arrays or tables are nested too deeply to read") from None


def read_toml(path: str | Path, what: str = "the file", limit: int = MAX_BYTES) -> dict[str, Any]:
    """A regular TOML file, read as `read_text` reads it."""
    return loads_toml(read_text(path, what, limit), path)
