"""No traceback on any input: one rule for numbers, dates, periods and quarters, and text that is not UTF-8.

Each case below gave a traceback (or an overflow deep in the database) before; each is now one line on
stderr, exit 2, and nothing written. The rules themselves live in cycle/inputs.py; the CLI's parameter
types (commands/_common.py) apply them as the arguments are parsed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Cli, Database

BIG = "1" * 50
ID25 = "9" * 25


def refused(run: Cli, db: Database, *args: str, env: dict[str, str] | None = None) -> str:
    """Run a command that must be refused as bad input; return its one line on stderr."""
    before = db.dump()
    result = run.runner.invoke(_cli(), list(args), env=env, prog_name="cycle")
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert db.dump() == before
    return lines[0]


def _cli():  # type: ignore[no-untyped-def]
    from cycle.cli import cli

    return cli


@pytest.fixture
def live(ready: Cli) -> Cli:
    ready("contract", "set", "camhs", "--provider", "Trust X", "--start", "2025-04-01", "--end", "2028-03-31",
          "--notice", "6 months")
    ready("milestone", "add", "camhs", "Spec agreed", "--due", "2027-01-31")
    return ready


CASES = [
    (["contract", "set", "camhs", "--value", BIG],
     "Error: --value is more than £1,000,000,000,000; give the amount in pounds, e.g. 1.25m"),
    (["contract", "set", "camhs", "--annual-value", "£" + BIG + ".50"],
     "Error: --annual-value is more than £1,000,000,000,000; give the amount in pounds, e.g. 1.25m"),
    (["contract", "set", "camhs", "--end", "9999-12-31", "--run-on", "12 months"],
     "Error: --end 9999-12-31 is out of range; cycle takes dates from 1990-01-01 to 2100-12-31"),
    (["contract", "set", "camhs", "--start", "0206-09-15"],
     "Error: --start 0206-09-15 is out of range; cycle takes dates from 1990-01-01 to 2100-12-31"),
    (["contract", "set", "camhs", "--run-on", "9999y"],
     "Error: --run-on '9999y' is longer than cycle takes (at most 1200 months (100 years)); write e.g. "
     "'6 months' or '2y'"),
    (["contract", "set", "camhs", "--notice", "9999 weeks"],
     "Error: --notice '9999 weeks' is longer than cycle takes (at most 9999 days); write "
     "e.g. '6 months' or '2y'"),
    (["contracts", "due", "--as-of", "9999-12-31"],
     "Error: --as-of 9999-12-31 is out of range; cycle takes dates from 1990-01-01 to 2100-12-31"),
    (["contracts", "due", "--within", "9999y"],
     "Error: --within '9999y' is longer than cycle takes (at most 1200 months (100 years)); write e.g. "
     "'6 months' or '2y'"),
    (["report", "quarterly", "--quarter", "9999-Q4"],
     "Error: --quarter '9999-Q4' is out of range; cycle takes quarters from 1989-Q4 to 2100-Q3"),
    (["report", "quarterly", "--quarter", "0000-Q1"],
     "Error: --quarter '0000-Q1' is out of range; cycle takes quarters from 1989-Q4 to 2100-Q3"),
    (["review", "record", "camhs", "--quarter", "0000-Q1", "--held-on", "2026-01-01"],
     "Error: --quarter '0000-Q1' is out of range; cycle takes quarters from 1989-Q4 to 2100-Q3"),
    (["outbox", "retry", ID25],
     "Error: ID 999999999999... (25 digits) is out of range; an id is a whole number from 1 to 2147483647"),
    (["milestone", "done", "camhs", ID25],
     "Error: MILESTONE_ID 999999999999... (25 digits) is out of range; an id is a whole number from 1 to "
     "2147483647"),
    (["milestone", "done", "camhs", "0"],
     "Error: MILESTONE_ID 0 is out of range; an id is a whole number from 1 to 2147483647"),
    (["milestone", "add", "camhs", "Far away", "--due", "2999-01-01"],
     "Error: --due 2999-01-01 is out of range; cycle takes dates from 1990-01-01 to 2100-12-31"),
    (["project", "set", "camhs", "--expect-version", ID25],
     "Error: --expect-version 999999999999... (25 digits) is out of range; give 0 to 2147483647 (a version "
     "number)"),
    (["project", "show", "camhs", "--as-of", "1066-10-14"],
     "Error: --as-of 1066-10-14 is out of range; cycle takes dates from 1990-01-01 to 2100-12-31"),
    (["decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", "B", "--ref", "r",
      "--date", "2026-02-30"],
     "Error: --date '2026-02-30' is not a date; use YYYY-MM-DD, e.g. 2027-03-31"),
    (["scheduler", "run", "--drain-every", "1000000000000"],
     "Error: --drain-every 1000000000000 is out of range; give 1 to 1440 minutes"),
    (["workflow", "show", "commissioning", "--version", ID25],
     "Error: --version 999999999999... (25 digits) is out of range; give 1 to 2147483647 (a version number)"),
]


@pytest.mark.parametrize("args, line", CASES, ids=[" ".join(a[:2]) + f" {i}" for i, (a, _) in enumerate(CASES)])
def test_numbers_dates_periods_and_quarters_out_of_range_are_one_line_exit_2(live: Cli, db: Database,
                                                                             args: list[str], line: str) -> None:
    assert refused(live, db, *args) == line


def test_drain_every_is_refused_before_the_scheduler_takes_the_lease(live: Cli, db: Database) -> None:
    refused(live, db, "scheduler", "run", "--drain-every", "1000000000000")
    assert live("scheduler", "status").stdout.startswith("No scheduler is running on this database.")


@pytest.mark.parametrize("args", [
    ["project", "show", "caf\udcff"],
    ["project", "new", "respite", "--title", "Short \udcc3breaks"],
    ["evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA \udcff"],
    ["contract", "set", "camhs", "--start", "2025-04-0\udcb1"],
])
def test_an_argument_that_is_not_utf8_is_one_line_exit_2(live: Cli, db: Database, args: list[str]) -> None:
    n = next(i for i, a in enumerate(args, 1) if "\udc00" <= max(a))
    assert refused(live, db, *args) == (f"Error: argument {n} is not valid UTF-8 text; type it again, or set "
                                        f"your terminal to UTF-8.")


@pytest.mark.parametrize("args", [
    ["report", "quarterly", "--quarter", "2026-Q3", "--out", "nul\x00"],
    ["workflow", "check", "a\x00.toml"],
    ["project", "show", "camhs\x00"],
])
def test_an_argument_with_a_nul_is_one_line_exit_2(live: Cli, db: Database, args: list[str]) -> None:
    """Found by tests/test_fuzz.py: a NUL in --out gave ValueError('embedded null byte')."""
    n = next(i for i, a in enumerate(args, 1) if "\x00" in a)
    assert refused(live, db, *args) == f"Error: argument {n} holds a NUL character, which no argument may hold."


@pytest.mark.sqlite_only  # on PostgreSQL the actor is the database login, whatever CYCLE_USER says
def test_cycle_user_that_is_not_utf8_is_one_line_exit_2(live: Cli, db: Database) -> None:
    line = refused(live, db, "evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA",
                   env={"CYCLE_USER": "al\udcffice"})
    assert line.startswith("Error: CYCLE_USER 'al\\udcffice' is not a login name")


def test_a_notice_ladder_out_of_range_is_refused(live: Cli, db: Database, home: Path) -> None:
    (home / "reminders.toml").write_text("[reminders]\nnotice_ladder = [99999999999]\n", encoding="utf-8")
    assert refused(live, db, "remind", "--dry-run") == (
        f"Error: {home / 'reminders.toml'}: [reminders] notice_ladder must be a list of days before the "
        f"deadline, each from 0 to 3660, e.g. [120, 90, 60, 30, 7]")


def test_a_password_file_that_is_not_utf8_is_one_line_exit_2(live: Cli, db: Database, tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_bytes(b"caf\xe9\xff\n")
    line = refused(live, db, "outbox", "send",
                   env={"CYCLE_SMTP_HOST": "127.0.0.1", "CYCLE_SMTP_PASSWORD_FILE": str(secret)})
    assert line == (f"Error: cannot read the SMTP password file {secret}: not UTF-8 text (invalid continuation "
                    f"byte at byte 3)")


# --- rows written by hand: what cycle reads back must not give a traceback either ----------------

READS = [["contracts", "due"], ["contract", "show", "camhs"], ["project", "show", "camhs"], ["project", "list"],
         ["milestone", "list", "camhs"], ["remind", "--dry-run"], ["review", "list"], ["gate", "check", "camhs"],
         ["report", "quarterly", "--quarter", "2026-Q3"], ["report", "gate-audit", "camhs"], ["audit", "log"]]


@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01", "not a date", "2026-02-30"])
def test_dates_out_of_range_in_hand_edited_rows_give_no_traceback(live: Cli, db: Database, value: str) -> None:
    live("review", "record", "camhs", "--quarter", "2025-Q4", "--held-on", "2026-03-01")
    db.tamper('UPDATE contract SET "end" = :v, extension_to = :v, notice_served_on = :v',
              "UPDATE milestone SET due = :v, done_on = :v", "UPDATE project SET start_date = :v, end_date = :v",
              "UPDATE review_meeting SET held_on = :v", params={"v": value})
    db.tamper("UPDATE contract SET notice = '99999 months', run_on = 'forever'")
    for args in READS:
        result = live.runner.invoke(_cli(), args, prog_name="cycle")
        assert result.exit_code in (0, 1), (args, result.exit_code, result.output, result.exception)
        assert isinstance(result.exception, SystemExit | None), (args, repr(result.exception))


DATE_OPTIONS = {"as_of", "start", "end", "start_date", "end_date", "extension_to", "served_on", "due", "on",
                "decided_on", "held_on"}


def test_every_date_option_is_the_one_date_type_and_says_date_in_help() -> None:
    """Item 20: date options were TEXT in some places and DATE in others."""
    import click

    from cycle.cli import cli
    from cycle.commands._common import DATE

    found = []

    def walk(group: click.Group, path: str) -> None:
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                walk(command, f"{path} {name}")
            ctx = click.Context(command, info_name=name)
            for param in command.params:
                if param.name in DATE_OPTIONS and not getattr(param, "hidden", False):
                    found.append(f"{path} {name} {param.opts[0]}")
                    assert param.type is DATE, (path, name, param.name)
                    help_record = param.get_help_record(ctx)
                    assert help_record is not None and help_record[0].endswith(" DATE"), help_record

    walk(cli, "cycle")
    assert len(found) >= 15, found
