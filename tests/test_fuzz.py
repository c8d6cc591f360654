"""Every command, driven with random arguments: never a traceback, an exit code from the documented set, and
a command refused as bad input (exit 2) leaves the database exactly as it was.

The commands are found by walking the real `cycle` group, so a new command is fuzzed without being listed
here. Values mix the plausible (keys, dates, periods, quarters that exist) with the hostile: huge numbers,
empty text, control characters, text that is not UTF-8 (lone surrogates, as Python gets such bytes from
argv), dates and periods far out of range, negative numbers, unknown options.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cycle.cli import cli

from .conftest import BODY, CAMHS, ON_POSTGRES, Cli, Database

#: Exit codes `cycle --help` documents: 0 done, 1 verification failed, 2 bad input, 3 gate not met, 4 changed
#: by someone else, 5 database error, 6 not permitted.
DOCUMENTED = {0, 1, 2, 3, 4, 5, 6}
#: Commands that run until stopped, or start a world of their own; they have tests of their own.
SKIPPED = {("scheduler", "run"), ("demo",)}


def commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    out: list[tuple[tuple[str, ...], click.Command]] = []
    for name, command in sorted(group.commands.items()):
        here = (*path, name)
        if here in SKIPPED:
            continue
        if isinstance(command, click.Group):
            if command.invoke_without_command:
                out.append((here, command))
            out.extend(commands(command, here))
        else:
            out.append((here, command))
    return out


COMMANDS = commands()

PLAUSIBLE = ["camhs", "respite", "analyse-plan", "plan-do", "go", "hold", "recycle", "stop", BODY, "alice", "sam",
             "alice@council.example", "needs-assessment", "commissioning", "decommissioning", "2026-10-01",
             "2026-04-01", "2028-03-31", "6 months", "90 days", "60 working days", "180d", "2026-Q3", "1", "2", "12",
             "1.25m", "£1,250,000", "07:00", "approver", "manager", "md", "json", "html", "mermaid", "dot"]
HOSTILE = ["", " ", "\u200b", "-1", "0", "9" * 25, "1" * 50, "£" + "9" * 50, "1e309", "9999-12-31", "0000-01-01",
           "1066-10-14", "2026-02-30", "9999y", "9999 working days", "9999-Q4", "0000-Q1", "\x1b[2J\x1b[H",
           "a\nb", "a\rb", "nul\x00", "del\x7f", "nel\x85", "\u2028", "\u202eexe.txt", "caf\udcff", "\udc80",
           "x" * 5000, "--nonsense", "-", "'; DROP TABLE project; --", "%s%s%n", "../../etc", "{}", "[[]]"]
# Random text without path separators or a home-directory tilde: a FILE or --out value stays in the test's folder.
RANDOM = st.text(alphabet=st.characters(blacklist_characters="/~\\", blacklist_categories=("Cs",)), max_size=30)
VALUES = st.one_of(st.sampled_from(PLAUSIBLE), st.sampled_from(HOSTILE), RANDOM,
                   st.integers(min_value=-(10**30), max_value=10**30).map(str))


NUMBERS = ["1", "2", "0", "-1", "9" * 25, "1" * 50, "2147483648", "9223372036854775808", "1000000000000", " 3",
           "1.5", "0x10", "١٢"]
DATES = ["2026-10-01", "2026-12-06", "2027-03-31", "9999-12-31", "0001-01-01", "1066-10-14", "2101-01-01",
         "1989-12-31", "2026-02-30", "20261001", "2026-W40-1", "31/03/2027", "", "today"]
PERIODS = ["6 months", "90 days", "60 working days", "26w", "1y", "9999y", "9999 months", "9999 weeks",
           "9999 working days", "0 days", "-1 days", "12 fortnights", ""]
QUARTERS = ["2026-Q3", "2026-Q4", "9999-Q4", "0000-Q1", "1989-Q4", "2100-Q3", "2100-Q4", "2026-Q5", "2026Q1"]
MONEY = ["1250000", "£1,250,000.50", "1.25m", "350k", "1" * 50, "£" + "9" * 16, "1,25", "-5", "1e9", "999999999999k"]
# The kind of value a parameter takes, by its name: typed or not, a date option gets dates to chew on.
KINDS = [(("date", "as_of", "on", "due", "start", "end", "extension", "held_on", "served_on", "at"), DATES),
         (("notice", "run_on", "within"), PERIODS), (("quarter",), QUARTERS), (("value",), MONEY),
         (("id", "limit", "version", "drain", "expect"), NUMBERS)]


def values_for(param: click.Parameter) -> st.SearchStrategy[str]:
    name = param.name or ""
    for words, samples in KINDS:
        if any(name == w or name.startswith(w + "_") or name.endswith("_" + w) for w in words):
            return st.one_of(st.sampled_from(samples), VALUES)
    return VALUES


@st.composite
def invocations(draw: Any) -> list[str]:
    path, command = draw(st.sampled_from(COMMANDS))
    args = list(path)
    for param in command.params:
        if isinstance(param, click.Argument) and (param.required or draw(st.booleans())):
            args.append(draw(values_for(param)))
    options = [p for p in command.params if isinstance(p, click.Option) and not p.hidden
               and p.name not in ("help",)]
    if options:
        for option in draw(st.lists(st.sampled_from(options), max_size=4, unique_by=lambda o: o.name)):
            args.append(option.opts[-1] if len(option.opts[-1]) > 2 else option.opts[0])
            if not option.is_flag:
                if isinstance(option.type, click.Choice) and draw(st.booleans()):
                    args.append(draw(st.sampled_from(list(option.type.choices))))
                else:
                    args.append(draw(values_for(option)))
    if draw(st.integers(0, 9)) == 0:
        args.append(draw(st.sampled_from(["--nonsense", "extra", "--json", "-h"])))
    return args


@pytest.fixture
def seeded(run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """A database with projects at several stages, a contract, a milestone, people and an outbox row; the
    working folder is the test's own, so a FILE or --out a command is given lands there."""
    monkeypatch.chdir(tmp_path)
    run("init")
    run("people", "add", "alice", "--email", "alice@council.example")
    run(*CAMHS)
    run("project", "new", "respite", "--title", "Short breaks", "--accountable-body", BODY, "--owner", "alice")
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA 2026")
    run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY, "--ref", "m1",
        user="clerk")
    run("project", "advance", "camhs")
    run("contract", "set", "camhs", "--provider", "Trust X", "--start", "2025-04-01", "--end", "2028-03-31",
        "--notice", "6 months", "--run-on", "12 months", "--value", "3.6m")
    run("milestone", "add", "camhs", "Spec agreed", "--due", "2027-01-31")
    run("remind", "run", "--no-send")
    return run


# About 30 s on SQLite; on PostgreSQL each example dumps every table twice over the network, so fewer.
@settings(max_examples=int(os.environ.get("CYCLE_FUZZ_EXAMPLES", "100" if ON_POSTGRES else "300")), deadline=None,
          database=None, derandomize=bool(os.environ.get("CI")),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(args=invocations())
def test_no_command_gives_a_traceback_or_writes_when_it_refuses(seeded: Cli, db: Database, args: list[str]) -> None:
    before = db.dump()
    result = seeded.runner.invoke(cli, args, prog_name="cycle")
    shown = f"cycle {args!r} exited {result.exit_code}\nstdout: {result.stdout[-2000:]}\nstderr: {result.stderr}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{shown}\n{result.exception!r}")
    assert "Traceback" not in result.output, shown
    assert result.exit_code in DOCUMENTED, shown
    if result.exit_code == 2:
        assert db.dump() == before, shown


def test_every_command_is_fuzzed() -> None:
    """The walk finds the commands a person can run (a new one is fuzzed without being listed)."""
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"project new", "contract set", "contracts due", "outbox retry", "milestone done", "remind",
            "remind run", "report quarterly", "workflow check", "people add", "audit log"} <= names
    assert "scheduler run" not in names
