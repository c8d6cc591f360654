"""The smaller leaks of issue 15 (items 13 and 20): each a clear line and the right exit code, nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest

from .conftest import ON_POSTGRES, Cli, Database

# --- item 13 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:///file:x?mode=memory&uri=true"])
def test_an_in_memory_database_is_refused_with_a_clear_line(run: Cli, monkeypatch: pytest.MonkeyPatch,
                                                            url: str) -> None:
    monkeypatch.setenv("CYCLE_DATABASE_URL", url)
    for args in (["init"], ["project", "list"]):
        result = run(*args, expect=2)
        assert result.stdout == ""
        assert result.stderr == (f"Error: CYCLE_DATABASE_URL {url!r} is an in-memory SQLite database, gone when the "
                                 f"command ends; name a file, e.g. sqlite:////path/to/cycle.db (or unset it for "
                                 f"$CYCLE_HOME/cycle.db)\n")


@pytest.mark.parametrize("limit", ["9223372036854775807", "9223372036854775808", "9" * 40])
def test_audit_log_with_a_huge_limit_shows_the_whole_log(ready: Cli, limit: str) -> None:
    whole = ready("audit", "log").stdout
    assert ready("audit", "log", "--limit", limit).stdout == whole
    assert len(ready.json("audit", "log", "--limit", limit)) == len(ready.json("audit", "log"))
    assert len(ready.json("audit", "log", "--limit", "1")) == 1


@pytest.mark.sqlite_only
@pytest.mark.parametrize("damage", ["not a database", "malformed"])
def test_audit_verify_on_a_damaged_file_fails_verification_with_a_line(ready: Cli, home: Path, db: Database,
                                                                       damage: str) -> None:
    for n in range(30):  # enough rows for several pages
        ready("evidence", "add", "camhs", "needs-assessment", "--ref", f"JSNA {n} " + "x" * 280)
    db.engine.dispose()
    path = home / "cycle.db"
    data = bytearray(path.read_bytes())
    if damage == "not a database":
        data[:100] = os.urandom(100)
    else:
        page = int.from_bytes(data[16:18], "big") or 65536
        for at in range(page, len(data), page):  # every page but the first (the schema): the rows are gone
            data[at:at + page] = b"\xa5" * page
    path.write_bytes(bytes(data))
    reason = "file is not a database" if damage == "not a database" else "database disk image is malformed"
    for json in ([], ["--json"]):
        result = ready("audit", "verify", *json, expect=1)
        assert result.stdout == ""
        assert result.stderr == (f"Audit FAILED: the database at {path} is damaged ({reason}), so nothing in it can "
                                 f"be vouched for. Restore it from a backup and verify again.\n")


def test_scheduler_run_at_an_empty_time_is_refused(ready: Cli) -> None:
    for at in ("", " ", "25:00"):
        result = ready("scheduler", "run", "--at", at, expect=2)
        assert result.stderr == f"Error: --at {at!r} is not a time of day; write HH:MM, e.g. 07:00 (London time)\n"


@pytest.mark.parametrize("notice", ["9999y", "101 years", "1201 months", "1429w"])
def test_a_notice_too_long_is_refused_in_the_users_own_terms(ready: Cli, db: Database, notice: str) -> None:
    before = db.dump()
    result = ready("contract", "set", "camhs", "--provider", "Trust X", "--start", "2026-01-01", "--end",
                   "2027-01-01", "--notice", notice, expect=2)
    most = "9999 days" if notice.endswith("w") else "1200 months (100 years)"
    assert result.stderr == (f"Error: --notice {notice!r} is longer than cycle takes (at most {most}); write e.g. "
                             f"'6 months' or '2y'\n")
    assert db.dump() == before
    ready("contract", "set", "camhs", "--provider", "Trust X", "--notice", "100y")  # the longest, read back whole
    assert "  notice          1200 months;" in ready("contract", "show", "camhs").stdout


def test_a_programme_cannot_end_before_it_starts(ready: Cli, db: Database) -> None:
    before = db.dump()
    result = ready("project", "set", "camhs", "--start-date", "2026-05-01", "--end-date", "2026-01-01", expect=2)
    said = ("Error: the programme would end ({end}) before it starts ({start}); nothing changed. Give an end on or "
            "after the start: cycle project set camhs --end-date YYYY-MM-DD\n")
    assert result.stderr == said.format(start="2026-05-01", end="2026-01-01")
    assert db.dump() == before
    ready("project", "set", "camhs", "--start-date", "2026-05-01", "--end-date", "2026-05-01")  # one day is fine
    result = ready("project", "set", "camhs", "--start-date", "2026-06-01", expect=2)  # against the stored end
    assert result.stderr == said.format(start="2026-06-01", end="2026-05-01")
    result = ready("project", "set", "camhs", "--end-date", "2026-04-30", expect=2)
    assert result.stderr == said.format(start="2026-05-01", end="2026-04-30")


@pytest.mark.skipif(ON_POSTGRES, reason="the in-memory URL is SQLite's")
def test_nothing_is_created_for_an_in_memory_url(run: Cli, monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("CYCLE_DATABASE_URL", "sqlite://")
    run("init", expect=2)
    assert not home.exists() or not (home / "cycle.db").exists()


# --- item 20 ---------------------------------------------------------------------------------------


def test_counts_of_one_are_singular(ready: Cli) -> None:
    """(`workflow check` of a workflow with 1 gate: tests/test_docs.py; `queued 1 reminder`: tests/test_reminders.py)"""
    out = ready("audit", "verify").stdout
    assert "(1 project, 0 evidence, 0 decisions, 0 waivers, 2 workflow versions and 0 other rows)" in out


def _commands() -> list[tuple[str, click.Command]]:
    from cycle.cli import cli

    found = []

    def walk(command: click.Command, path: str) -> None:
        found.append((path, command))
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}")

    walk(cli, "cycle")
    return found


def test_every_option_of_every_command_has_help() -> None:
    bare = [f"{path} {'/'.join(p.opts)}" for path, command in _commands() for p in command.params
            if isinstance(p, click.Option) and not p.help and not p.hidden]
    assert bare == []


def test_every_bare_group_shows_its_help_and_exits_2(run: Cli) -> None:
    groups = [path for path, command in _commands() if isinstance(command, click.Group)]
    assert "cycle remind" in groups and len(groups) > 10
    for path in groups:
        result = run(*path.split()[1:], expect=2)
        assert result.stderr.startswith(f"Usage: {path} [OPTIONS] "), path
        assert result.stdout == "", path


def test_milestone_done_of_an_unknown_id_points_to_milestone_list(ready: Cli) -> None:
    result = ready("milestone", "done", "camhs", "7", expect=2)
    assert result.stderr == "Error: camhs has no milestone #7; see them with: cycle milestone list camhs\n"


@pytest.mark.parametrize("where", ["config", "home", "both"])
def test_reminders_toml_is_read_from_the_config_folder_and_still_from_the_old_place(
        ready: Cli, home: Path, where: str) -> None:
    new = home.parent / "xdg-config" / "cycle" / "reminders.toml"
    old = home / "reminders.toml"
    bad = "[reminders]\nnotice_lader = [10]\n"  # a typo the check names, with the file it read
    if where in ("config", "both"):
        new.parent.mkdir(parents=True)
        new.write_text(bad)
    if where in ("home", "both"):
        old.write_text(bad.replace("lader", "ladr"))
    read = old if where == "home" else new
    typo = "notice_ladr" if where == "home" else "notice_lader"
    result = ready("remind", "--dry-run", expect=2)
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"Error: {read}: [reminders] has unknown key '{typo}'; it knows: ")
    if where == "both":
        assert lines[1:] == [f"Warning: {new} and {old} both exist: cycle reads {new} and ignores {old}; merge them "
                             f"into {new} and remove {old}"]
    else:
        assert lines[1:] == []


def test_a_dangling_link_at_the_config_folder_s_reminders_toml_is_named_not_passed_over(ready: Cli,
                                                                                       home: Path) -> None:
    """A reminders.toml in the config folder that is a link to a file since moved away was taken for no file,
    and cycle quietly read the old place's settings instead (left by adv15b): it is named, exit 2."""
    new = home.parent / "xdg-config" / "cycle" / "reminders.toml"
    new.parent.mkdir(parents=True)
    new.symlink_to(home.parent / "moved-away.toml")
    (home / "reminders.toml").write_text("[reminders]\nreview_lead_days = 5\n")
    result = ready("remind", "--dry-run", expect=2)
    assert result.stderr.startswith(f"Error: {new}"), result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_the_warning_about_two_reminders_toml_comes_once_per_command(ready: Cli, home: Path) -> None:
    new = home.parent / "xdg-config" / "cycle" / "reminders.toml"
    new.parent.mkdir(parents=True)
    new.write_text("[reminders]\nreview_lead_days = 3\n")
    (home / "reminders.toml").write_text("[reminders]\nreview_lead_days = 5\n")
    result = ready("remind", "run", "--no-send")
    assert result.stderr.count("Warning: ") == 1


def _completions(args: list[str], incomplete: str) -> list[str]:
    from click.shell_completion import BashComplete

    from cycle.cli import cli

    return [c.value for c in BashComplete(cli, {}, "cycle", "_CYCLE_COMPLETE").get_completions(args, incomplete)]


def test_shell_completion_offers_project_keys(ready: Cli) -> None:
    ready("project", "new", "camhs-next", "--title", "CAMHS from 2028", "--workflow", "commissioning")
    ready("project", "new", "school-nursing", "--title", "School Nursing 5-19", "--workflow", "commissioning")
    assert _completions(["project", "show"], "ca") == ["camhs", "camhs-next"]
    assert _completions(["gate", "check"], "") == ["camhs", "camhs-next", "school-nursing"]
    assert _completions(["contract", "correct"], "s") == ["school-nursing"]
    assert _completions(["report", "gate-audit"], "camhs-") == ["camhs-next"]
    assert _completions(["project", "new"], "c") == []  # a new key is not one of the old
    assert _completions(["project", "show"], "%") == [] and _completions(["project", "show"], "_") == []
    assert "remind" in _completions([], "re")


def test_shell_completion_without_a_database_offers_nothing_and_creates_nothing(run: Cli, home: Path) -> None:
    assert _completions(["project", "show"], "") == []
    assert not (home / "cycle.db").exists()


def test_a_relative_xdg_folder_is_ignored_as_the_xdg_rules_say(ready: Cli, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """XDG_CONFIG_HOME=cfg made the settings file depend on the folder cycle was run from (cron's is not yours): a
    relative value is invalid and ignored (XDG Base Directory spec), so ~/.config/cycle is read."""
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    monkeypatch.setenv("XDG_CONFIG_HOME", "cfg")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cfg" / "cycle").mkdir(parents=True)
    (tmp_path / "cfg" / "cycle" / "reminders.toml").write_text("[reminders]\nnotice_lader = [10]\n")
    out = ready("remind", "--dry-run").stdout
    assert f"[smtp] in {tmp_path / 'me' / '.config' / 'cycle' / 'reminders.toml'}, to send by email" in out


@pytest.mark.sqlite_only
def test_a_relative_xdg_data_folder_is_ignored_and_the_database_does_not_follow_the_working_folder(
        run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CYCLE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    monkeypatch.setenv("XDG_DATA_HOME", "data")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    run("init")
    assert (tmp_path / "me" / ".local" / "share" / "cycle" / "cycle.db").is_file()
    assert not (tmp_path / "work" / "data").exists()
