"""--out never destroys data: not the database, not cycle's own files, not an existing file without --force,
and a file is written whole or not at all."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import ON_POSTGRES, Cli, Database

COMMANDS = [["report", "gate-audit", "--format", "md"],
            ["report", "quarterly", "--quarter", "2026-Q3"],
            ["workflow", "diagram", "commissioning", "--format", "dot"]]
IDS = ["gate-audit", "quarterly", "diagram"]


def _help(args: list[str]) -> str:
    return f"cycle {' '.join(args[:2])} --help"


@pytest.mark.parametrize("args", COMMANDS, ids=IDS)
def test_out_refuses_an_existing_file_without_force_and_replaces_it_with(ready: Cli, tmp_path: Path,
                                                                        args: list[str]) -> None:
    out = tmp_path / "board.md"
    out.write_text("last quarter's report, kept\n")
    result = ready(*args, "--out", str(out), expect=2)
    assert result.stderr == f"Error: {out} already exists: add --force to replace it, or choose another --out\n"
    assert result.stdout == ""
    assert out.read_text() == "last quarter's report, kept\n"
    ready(*args, "--out", str(out), "--force")
    assert out.read_text() == ready(*args).stdout
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []  # no temporary file left


@pytest.mark.sqlite_only
@pytest.mark.parametrize("how", ["as-is", "relative", "symlink", "hard-link", "wal"])
def test_out_never_overwrites_the_database_even_with_force(ready: Cli, home: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    database = home / "cycle.db"
    before = database.read_bytes()
    if how == "as-is":
        out = str(database)
    elif how == "relative":
        monkeypatch.chdir(tmp_path)
        out = os.path.join("home", "..", "home", "cycle.db")
    elif how == "symlink":
        (tmp_path / "report.md").symlink_to(database)
        out = str(tmp_path / "report.md")
    elif how == "hard-link":
        os.link(database, tmp_path / "report.md")
        out = str(tmp_path / "report.md")
    else:
        out = str(home / "cycle.db-wal")
    for force in ([], ["--force"]):
        result = ready("report", "gate-audit", "--out", out, *force, expect=2)
        assert result.stderr == (f"Error: --out {out} is cycle's database ({database}"
                                 f"{'-wal' if how == 'wal' else ''}): choose another file; "
                                 f"--force does not change this\n")
        assert database.read_bytes() == before
    ready("project", "show", "camhs")  # the database still works


def test_out_never_overwrites_cycles_own_files(ready: Cli, home: Path, tmp_path: Path) -> None:
    """On PostgreSQL there is no database file, but $CYCLE_HOME's own files are still cycle's."""
    (home / "workflows").mkdir(exist_ok=True)
    team = home / "workflows" / "fast-track.toml"
    team.write_text("# the team's workflow\n")
    settings = home / "reminders.toml"
    settings.write_text("# reminders\n")
    for own in (team, settings):
        result = ready("report", "quarterly", "--quarter", "2026-Q3", "--out", str(own), "--force", expect=2)
        assert result.stderr == (f"Error: --out {own} is one of cycle's own files ({own}): choose another file; "
                                 f"--force does not change this\n")
    assert team.read_text() == "# the team's workflow\n" and settings.read_text() == "# reminders\n"


@pytest.mark.skipif(not ON_POSTGRES, reason="the database file is refused on SQLite (above)")
def test_on_postgresql_the_home_database_name_is_still_refused(ready: Cli, home: Path) -> None:
    result = ready("report", "gate-audit", "--out", str(home / "cycle.db"), expect=2)
    assert result.stderr.startswith(f"Error: --out {home / 'cycle.db'} is cycle's database")


@pytest.mark.parametrize("args", COMMANDS, ids=IDS)
def test_out_into_a_missing_folder_says_so_and_writes_nothing(ready: Cli, tmp_path: Path, args: list[str]) -> None:
    missing = tmp_path / "no-such-folder"
    result = ready(*args, "--out", str(missing / "r.md"), expect=2)
    assert result.stdout == ""
    assert result.stderr == f"Error: folder {missing} does not exist: create it or choose another --out\n"
    assert not missing.exists()


@pytest.mark.parametrize("value, said", [
    ("", "--out is empty: give a file name, e.g. --out report.md"),
    ("   ", "--out is empty: give a file name, e.g. --out report.md"),
])
def test_an_empty_out_is_a_clear_error(ready: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str,
                                      said: str) -> None:
    monkeypatch.chdir(tmp_path)
    result = ready("report", "gate-audit", "--out", value, expect=2)
    assert result.stderr == f"Error: {said}\n"
    assert [p.name for p in tmp_path.iterdir()] == ["home"]


@pytest.mark.parametrize("args, then", [
    (["report", "gate-audit"], "leave out --out to print it"),
    (["export", "audit", "--format", "csv"], "name a file, e.g. --out audit.csv"),
])
def test_out_dash_is_refused_not_written_as_a_file_named_dash(ready: Cli, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch, args: list[str],
                                                             then: str) -> None:
    """Many tools read `--out -` as "print it"; cycle never wrote there, it made a file called "-"."""
    monkeypatch.chdir(tmp_path)
    result = ready(*args, "--out", "-", expect=2)
    assert result.stderr == f"Error: --out - is standard output or another stream, not a file: {then}\n"
    assert result.stdout == "" and not (tmp_path / "-").exists()


def test_out_naming_a_folder_or_a_fifo_is_refused(ready: Cli, tmp_path: Path) -> None:
    result = ready("report", "gate-audit", "--out", str(tmp_path), "--force", expect=2)
    assert result.stderr == (f"Error: --out {tmp_path} is a folder: name a file in it, e.g. "
                             f"--out {tmp_path / 'report.md'}\n")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = ready("report", "gate-audit", "--out", str(fifo), "--force", expect=2)
    assert result.stderr == f"Error: --out {fifo} is not a regular file: choose a file\n"


def test_force_replaces_a_symlink_not_the_file_it_points_to(ready: Cli, tmp_path: Path) -> None:
    """A link planted where the report goes cannot redirect the write onto another file."""
    victim = tmp_path / "minutes.txt"
    victim.write_text("the board's minutes\n")
    link = tmp_path / "report.md"
    link.symlink_to(victim)
    ready("report", "gate-audit", "--out", str(link), "--force")
    assert victim.read_text() == "the board's minutes\n"
    assert not link.is_symlink() and link.read_text().startswith("# ")


def test_a_refused_out_does_no_work(ready: Cli, db: Database, tmp_path: Path) -> None:
    out = tmp_path / "exists.md"
    out.write_text("kept\n")
    before = db.dump()
    ready("workflow", "diagram", "commissioning", "--format", "dot", "--out", str(out), expect=2)
    assert db.dump() == before


def test_force_keeps_the_files_permissions(ready: Cli, tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    out.write_text("old\n")
    out.chmod(0o640)
    ready("report", "gate-audit", "--out", str(out), "--force")
    assert out.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("folder, name", [("workflows", "fast-track.toml"), ("templates", "notice.txt"),
                                          ("mail", "report.md"), ("config", "report.md")])
def test_out_never_puts_a_new_file_in_a_folder_cycle_reads_its_own_files_from(ready: Cli, home: Path, tmp_path: Path,
                                                                            folder: str, name: str) -> None:
    """A report written into $CYCLE_HOME/workflows/ made every `workflow list` exit 2; into templates/ it would
    have become the notice email (a project title holding {{ ... }} run as template code)."""
    where = tmp_path / "xdg-config" / "cycle" if folder == "config" else home / folder
    where.mkdir(parents=True, exist_ok=True)
    for out in (where / name, tmp_path / "link" / name):
        (tmp_path / "link").unlink(missing_ok=True)
        (tmp_path / "link").symlink_to(where)
        for force in ([], ["--force"]):
            result = ready("report", "gate-audit", "--format", "md", "--out", str(out), *force, expect=2)
            assert result.stderr == (f"Error: --out {out} is in {where}, a folder cycle reads its own files from: "
                                     f"choose another folder; --force does not change this\n")
    assert list(where.iterdir()) == []
    ready("workflow", "list")


@pytest.mark.sqlite_only
@pytest.mark.parametrize("suffix", ["-wal", "-journal"])
def test_out_never_overwrites_the_files_beside_a_database_whatever_its_name(run: Cli, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          suffix: str) -> None:
    database = tmp_path / "live.sqlite"
    monkeypatch.setenv("CYCLE_DATABASE_URL", f"sqlite:///{database}")
    run("init")
    beside = tmp_path / f"live.sqlite{suffix}"
    result = run("report", "gate-audit", "--out", str(beside), "--force", expect=2)
    assert result.stderr == (f"Error: --out {beside} is cycle's database ({beside}): choose another file; "
                             f"--force does not change this\n")
    assert not beside.exists()


@pytest.mark.parametrize("target", ["/proc/self/fd/1", "/dev/fd/1"])
def test_out_naming_standard_output_is_refused_and_never_replaced(ready: Cli, tmp_path: Path, target: str) -> None:
    """`--out /dev/stdout --force > report.md` replaced the link /dev/stdout itself with a file (for root, for every
    program on the machine). A link to standard output is refused, with or without --force; the test uses a link
    of its own so a regression cannot break the machine's /dev/stdout."""
    import subprocess

    from .conftest import cycle_exe

    link = tmp_path / "stdout"
    link.symlink_to(target)
    printed = tmp_path / "printed.md"
    for force in ([], ["--force"]):
        with printed.open("w") as stdout:
            done = subprocess.run([*cycle_exe(), "report", "gate-audit", "--out", str(link), *force], stdout=stdout,
                                  stderr=subprocess.PIPE, text=True, timeout=120)
        assert (done.returncode, done.stderr) == (2, f"Error: --out {link} is standard output or another stream, "
                                                     f"not a file: leave out --out to print it\n")
        assert link.is_symlink() and os.readlink(link) == target
    assert printed.read_text() == ""


@pytest.mark.parametrize("how", ["environment", "settings"])
def test_out_never_overwrites_the_smtp_password_or_ca_file_even_with_force(ready: Cli, home: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         how: str) -> None:
    """They are cycle's files wherever they live: a report over the password file stopped every email."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    password, ca = secrets / "smtp-password", secrets / "council-ca.pem"
    password.write_text("s3cret\n")
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    if how == "environment":
        monkeypatch.setenv("CYCLE_SMTP_PASSWORD_FILE", str(password))
        monkeypatch.setenv("CYCLE_SMTP_CAFILE", str(ca))
    else:
        (home / "reminders.toml").write_text(f'[smtp]\npassword_file = "{password}"\ncafile = "{ca}"\n')
    for own in (password, ca):
        result = ready("report", "gate-audit", "--out", str(own), "--force", expect=2)
        assert result.stderr == (f"Error: --out {own} is one of cycle's own files ({own}): choose another file; "
                                 f"--force does not change this\n")
    assert password.read_text() == "s3cret\n" and ca.read_text() == "-----BEGIN CERTIFICATE-----\n"


def test_force_never_carries_setuid_or_setgid_bits_to_the_report(ready: Cli, tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    out.write_text("old\n")
    out.chmod(0o6755)
    ready("report", "gate-audit", "--out", str(out), "--force")
    assert out.stat().st_mode & 0o7777 == 0o755


def test_a_name_too_long_for_the_file_system_is_one_line(ready: Cli, db: Database, tmp_path: Path) -> None:
    before = db.dump()
    long = tmp_path / ("x" * 300)
    result = ready("report", "gate-audit", "--out", str(long), expect=2)
    assert result.stderr == f"Error: cannot write --out {long}: File name too long; choose another file\n"
    assert db.dump() == before


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_standard_output_on_a_full_disk_is_one_line_not_a_traceback(ready: Cli, db: Database) -> None:
    """`cycle report ... > /dev/full` (a full disk): one line saying the output could not be written, exit 1."""
    from .conftest import as_user, cycle_exe

    for args in (("project", "list"), ("report", "quarterly", "--quarter", "2026-Q3"), ("audit", "log")):
        with open("/dev/full", "w") as full:
            done = subprocess.run([*cycle_exe(), *args], stdout=full, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, **as_user(db, "alice")}, timeout=120)
        assert done.returncode == 1, (args, done.stderr)
        assert done.stderr.startswith("Error: cannot write the output: No space left on device;"), (args, done.stderr)
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, (args, done.stderr)
