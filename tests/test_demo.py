"""`cycle demo` touches nothing real: not the SMTP server configured, not the database configured,
not a folder that already holds something. Its invented people get no email."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import CAMHS, Cli, Database
from .smtpd import SmtpServer, smtp_fixture  # noqa: F401 - the `smtp` fixture


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>" for p in folder.rglob("*")}


def test_the_demo_mails_its_own_maildir_whatever_smtp_is_configured(run: Cli, smtp: SmtpServer, home: Path,
                                                                    tmp_path: Path) -> None:
    """CYCLE_SMTP_* point at a real server (the fixture), and so does the reminders.toml of the home in use."""
    home.mkdir(exist_ok=True)
    (home / "reminders.toml").write_text(f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\n')
    demo = tmp_path / "demo"
    run("demo", "--home", str(demo))
    assert smtp.received == [] and smtp.handler.data_commands == 0
    assert len(list((demo / "mail" / "new").iterdir())) == 2  # the request and the reminder, in its own Maildir
    assert os.environ["CYCLE_SMTP_HOST"] == "127.0.0.1"  # the settings are back once the demo is done


def test_the_demo_leaves_the_configured_database_alone(run: Cli, db: Database, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    run("init")
    run(*CAMHS)
    monkeypatch.setenv("CYCLE_DATABASE_URL", db.url())  # named outright, on SQLite too
    before = db.dump()
    demo = tmp_path / "demo"
    out = run("demo", "--home", str(demo)).stdout
    assert db.dump() == before
    assert (demo / "cycle.db").is_file()
    assert out.rstrip().endswith(f"Explore the demo's data with: CYCLE_HOME={demo} CYCLE_DATABASE_URL= "
                                 f"cycle project list")


@pytest.mark.parametrize("contents", ["a file", "a folder"])
def test_the_demo_refuses_a_home_that_is_not_empty(run: Cli, tmp_path: Path, contents: str) -> None:
    """Someone's real home (a database, an append-only log) would get demo projects for ever."""
    home = tmp_path / "real-home"
    (home / "workflows").mkdir(parents=True)
    if contents == "a file":
        (home / "cycle.db").write_bytes(b"SQLite format 3\x00 ... someone's records")
    before = _tree(home)
    result = run("demo", "--home", str(home), expect=2)
    assert result.stdout == ""
    assert result.stderr == (f"Error: --home {home} is not empty; the demo writes its own database and mail there. "
                             f"Give a new or empty folder, or leave --home out for a temporary one\n")
    assert _tree(home) == before


def test_the_demo_takes_an_empty_home(run: Cli, tmp_path: Path) -> None:
    home = tmp_path / "empty"
    home.mkdir()
    assert run("demo", "--home", str(home)).stdout.rstrip().endswith("cycle project list")
    assert (home / "cycle.db").is_file()
