"""Progress for long work (audit verify, the reports), shown on stderr only when stderr is a terminal.

The library takes an optional callback (cycle.audit.chain.Progress: what, done, out of) and calls it a batch at
a time; this turns it into one line rewritten in place, at most ten times a second, cleared when the work is
done. Piped or redirected, nothing is written at all, so scripts and logs see exactly what they saw before.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

_CLEAR = "\r\x1b[K"  # back to the start of the line, and wipe it
_EVERY = 0.1  # seconds between two updates of the line


class TerminalProgress:
    """A callback for the library's progress: one line on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last = 0.0
        self._shown = False
        self._ended = False
        self._lock = threading.Lock()  # the pipe watcher's thread may end the line while the work writes it

    def __call__(self, what: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last < _EVERY and done < total:
            return
        self._last = now
        share = f" ({min(done * 100 // total, 100)}%)" if total > 0 else ""
        with self._lock:
            if not self._ended:
                self._write(f"{_CLEAR}{what}: {done:,} of {total:,} entries{share}")
                self._shown = True

    def clear(self, for_good: bool = False) -> None:
        """Wipe the line; `for_good`: and show it no more (the process ends at once, mid-work: commands/pipe.py)."""
        with self._lock:
            self._ended = self._ended or for_good
            if self._shown:
                self._write(_CLEAR)
                self._shown = False

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # the terminal went away: the work goes on without it
            pass


def _on_a_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or not a real file (click's test runner)
        return False


_showing: list[TerminalProgress] = []  # the progress() whose line is on the terminal now, if any


@contextmanager
def progress() -> Iterator[TerminalProgress | None]:
    """A progress callback while the `with` lasts when stderr is a terminal, else None (nothing is shown)."""
    stream = sys.stderr
    if not _on_a_terminal(stream):
        yield None
        return
    shown = TerminalProgress(stream)
    _showing.append(shown)
    try:
        yield shown
    finally:
        _showing.remove(shown)
        shown.clear()


def clear_progress() -> None:
    """Wipe the progress line on the terminal, if one is shown, and show none after: for a process that ends at
    once, skipping the `finally` that would have cleared it (the pipe watcher's os._exit)."""
    for shown in list(_showing):
        shown.clear(for_good=True)
