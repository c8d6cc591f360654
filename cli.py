"""The `cycle` command line: the root group, the one place errors become a line on stderr and an exit code,
and the command groups (cycle.commands, one module per noun). Commands parse, call the library, print."""

from __future__ import annotations

import errno
import io
from typing import Any

import click

from cycle._version import __version__
from cycle.commands import (
    action,
    audit,
    contract,
    db,
    decision,
    demo,
    evidence,
    export,
    gate,
    imports,
    interchange,
    kpi,
    milestone,
    ocds,
    people,
    procurement,
    programme,
    project,
    reminders,
    report,
    site,
    workflow,
)
from cycle.commands._common import CONTEXT, completing_keys
from cycle.errors import CycleError, DatabaseFailed, GateNotMet


class CycleGroup(click.Group):
    """Turns the library's errors into one line on stderr and the documented exit code."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # An argument the shell passed as bytes that are not UTF-8 reaches Python as lone surrogates; refuse it
        # here, once, before any command could store it or send it to the database.
        # A NUL cannot come from a shell, only from a program calling cycle; no file name or text may hold one.
        for n, arg in enumerate(args, 1):
            if any(0xD800 <= ord(ch) <= 0xDFFF for ch in arg):
                click.echo(f"Error: argument {n} is not valid UTF-8 text; type it again, or set your terminal to "
                           f"UTF-8.", err=True)
                ctx.exit(2)
            if "\x00" in arg:
                click.echo(f"Error: argument {n} holds a NUL character, which no argument may hold.", err=True)
                ctx.exit(2)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        _closed_stdout_fails()
        _terminate_unwinds()
        _quiet_pool()
        try:
            return self._invoke(ctx)
        finally:
            _notices()

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":
                raise  # a bare group prints its help, as click does
            where = (exc.ctx or ctx).command_path
            message = exc.format_message().rstrip()
            end = "" if message.endswith((".", "?", "!")) else "."
            click.echo(f"Error: {message}{end} See: {where} --help", err=True)
            ctx.exit(exc.exit_code)
        except StdoutClosed:
            # `cycle project list >&-`: nothing could be printed, so the command did not do all it was asked.
            click.echo("Error: cannot write the output: standard output is closed; send it to a file, a pipe or "
                       f"/dev/null (--out FILE where the command has it). {_LOST_AFTER}", err=True)
            ctx.exit(1)
        except BrokenPipeError:
            # The reader went away (`cycle audit log | head`): stop there, quietly, with the code of a command
            # the closed pipe's SIGPIPE ended; what is still buffered goes nowhere rather than to a traceback.
            _stdout_to_devnull()
            ctx.exit(141)
        except OSError as exc:
            if exc.errno not in _OUTPUT_LOST or exc.filename is not None:  # a named file is the command's own
                raise
            # Standard output is a full disk or a broken device (`cycle report ... > /dev/full`): say so in one
            # line, not a traceback; what is still buffered goes nowhere.
            _stdout_to_devnull()
            click.echo(f"Error: cannot write the output: {exc.strerror or exc}; free some space or write it "
                       f"elsewhere (--out FILE where the command has it). {_LOST_AFTER}", err=True)
            ctx.exit(1)
        except GateNotMet as exc:
            from cycle.commands import output

            click.echo(output.refused(exc.check), err=True)
            ctx.exit(exc.exit_code)
        except CycleError as exc:
            if isinstance(exc, DatabaseFailed):
                _damaged(exc)
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except Exception as exc:  # a database failure must not reach a person as a traceback
            if not type(exc).__module__.startswith(_DATABASE_MODULES):
                raise
            _damaged(exc)
            from cycle.db.sql import database_failure

            err = database_failure(exc)
            click.echo(f"Error: {err}", err=True)
            ctx.exit(err.exit_code)


#: Where a database error comes from: SQLAlchemy, or a driver's own, raised where cycle reads the DB-API cursor
#: directly (the walk of the audit chain).
_DATABASE_MODULES = ("sqlalchemy", "sqlite3", "psycopg")


def _damaged(exc: Exception) -> None:
    """When `exc` says SQLite found the database file damaged, whichever command met it: say so as `audit verify`
    does, and exit 1 (verification failed: nothing in the file can be vouched for)."""
    from cycle.audit.verify import damaged

    reason = damaged(exc)
    if reason is None:
        return
    from cycle.commands._common import any_store

    click.echo(f"Audit FAILED: the database at {any_store().describe()} is damaged ({reason}), so nothing in it "
               f"can be vouched for. Restore it from a backup and verify again.", err=True)
    click.get_current_context().exit(1)


#: Output is lost after the command's work: a change it made is recorded (a run again would make it twice).
_LOST_AFTER = ("Anything the command changed was recorded before its output was lost: see `cycle audit log --limit "
               "5` before running it again.")

#: The errors of a write that lost output: no space, the device failed, over a quota or the largest file size.
_OUTPUT_LOST = frozenset({errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG})


class StdoutClosed(OSError):
    """A write to standard output when the command was started with it closed."""


class _ClosedOutput(io.RawIOBase):
    """Standard output when it was closed: every write fails, as a write to a closed descriptor does (EBADF)."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raise StdoutClosed(errno.EBADF, "standard output is closed")


def _closed_stdout_fails() -> None:
    """`cycle ... >&-`: started with descriptor 1 closed, Python has no sys.stdout, and click would print into
    nothing and exit 0. Give it one whose writes fail (CycleGroup says so in one line, exit 1), and keep
    descriptor 1 taken by /dev/null, so that no file the command opens (its database) becomes standard output."""
    import os
    import sys

    if sys.stdout is not None:
        return
    try:
        os.fstat(1)
    except OSError:
        fd = os.open(os.devnull, os.O_WRONLY)
        if fd != 1:
            os.dup2(fd, 1)
            os.close(fd)
    sys.stdout = io.TextIOWrapper(_ClosedOutput(), encoding="utf-8", write_through=True)


def _terminate_unwinds() -> None:
    """SIGTERM (`timeout 60 cycle report ... --out q.md`, a service stopped) ends the command as Ctrl-C does: the
    transaction rolls back, a half-written --out file is removed, the progress line is cleared, exit 143. Without
    this the process just ends, leaving its .part file for good. (`scheduler run` sets its own, to release its
    lease.)"""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_terminate)


def _quiet_pool() -> None:
    """SQLAlchemy's pool logs a connection it could not reset (the PostgreSQL server went away mid `audit log`) with
    a traceback, through logging's last-resort handler, on stderr. The command's own error is the one line a
    person needs (exit 5); the pool's log goes nowhere."""
    import logging

    pool = logging.getLogger("sqlalchemy.pool")
    pool.addHandler(logging.NullHandler())
    pool.propagate = False


def _exit_on_terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def _notices() -> None:
    """Print, once each, what finding the settings noticed (cycle.reminders.settings.notices), if they were read."""
    import sys

    settings = sys.modules.get("cycle.reminders.settings")
    while settings is not None and settings.notices:
        click.echo(f"Warning: {settings.notices.pop(0)}", err=True)


def _stdout_to_devnull() -> None:
    import os
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (click's test runner): nothing is left to flush
        pass


@click.group(cls=CycleGroup, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="cycle")
def cli() -> None:
    """Commissioning projects through gated stages: analyse, plan, do, review.

    \b
    Start:   cycle init
    Try it:  cycle demo
    Then:    cycle project new camhs --title "CAMHS Tiers 2 and 3" --owner alice
             cycle gate check camhs

    Data lives in $CYCLE_HOME (default ~/.local/share/cycle), or the database named by
    $CYCLE_DATABASE_URL. The actor recorded in the audit log is $CYCLE_USER, else your login name.
    Exit codes: 0 done, 1 verification failed (or mail due not delivered, or output not written), 2 bad input,
    3 gate not met, 4 changed by someone else, 5 database error, 6 not permitted (the refusal is recorded).
    """


for command in (db.init, demo.demo, project.project, programme.programme, gate.gate, milestone.milestone,
                evidence.evidence, decision.decision, contract.contract, contract.contracts, kpi.kpi,
                kpi.performance, action.action, report.report,
                people.people, audit.audit, export.export, db.db, workflow.workflow, reminders.review,
                reminders.remind, reminders.outbox, reminders.scheduler, imports.import_, procurement.procurement,
                site.site):
    cli.add_command(command)
imports.import_.add_command(ocds.import_ocds)
imports.import_.add_command(interchange.import_register)
export.export.add_command(ocds.export_ocds)
completing_keys(cli)


def main() -> None:
    cli(prog_name="cycle")


if __name__ == "__main__":
    main()
