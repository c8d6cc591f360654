"""Stop a report as soon as the reader of its output goes away (`cycle report quarterly | head -1`).

A report prints its title at once, then checks the whole record and reads the portfolio (seconds at portfolio
scale) before it writes again, and a closed pipe is only noticed at a write. While `watching()` lasts, a thread
waits for the reader of stdout (a pipe) to close it and then ends the process at once, with the code of a
command the closed pipe's SIGPIPE stopped (141), as cli.py ends one that noticed at a write. That is safe
because a report only reads: its scratch space (cycle.db.spill) is a temporary file the system already removed,
and the database sees a reader hang up.
"""

from __future__ import annotations

import os
import select
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_EVERY_MS = 100  # how often the watcher looks up from the pipe to see whether the report is done


def _pipe_fd() -> int | None:
    """stdout's file descriptor when it is a pipe (not a file, a terminal or click's test runner), else None."""
    try:
        fd = sys.stdout.fileno()
        return fd if stat.S_ISFIFO(os.fstat(fd).st_mode) else None
    except (AttributeError, OSError, ValueError):
        return None


def _watch(fd: int, done: threading.Event, before_exit: Callable[[], None] | None) -> None:
    poller = select.poll()
    poller.register(fd, 0)  # nothing asked: poll reports POLLERR when the pipe's last reader has closed it
    while not done.is_set():
        if poller.poll(_EVERY_MS):
            if before_exit is not None:
                before_exit()  # what a `finally` would have tidied (a progress line on the terminal)
            os._exit(141)


@contextmanager
def watching(before_exit: Callable[[], None] | None = None) -> Iterator[None]:
    """While the `with` lasts, end the process (code 141) as soon as the reader of stdout, a pipe, goes away,
    calling `before_exit` first: os._exit runs no `finally`."""
    fd = _pipe_fd()
    if fd is None or not hasattr(select, "poll"):
        yield
        return
    done = threading.Event()
    watcher = threading.Thread(target=_watch, args=(fd, done, before_exit), name="cycle-pipe-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
