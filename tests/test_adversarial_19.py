"""Adversarial tests of issue 19 parts 1 and 3 (deputies; the offline bundle), through the real CLI.

The bundle is made once (SQLite, as tests/test_bundle.py makes it) and each test tampers with a copy as a careful
forger would, putting the manifest right afterwards so that the check behind the manifest has to notice."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from click.testing import CliRunner
from sqlalchemy import text

from cycle.audit import chain
from cycle.cli import cli

from .conftest import BODY, Cli, Database
from .test_bundle import build, resum
from .test_moves import forge

# --- the bundle ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    where = tmp_path_factory.mktemp("adv19")
    env = {"CYCLE_HOME": str(where / "home"), "CYCLE_USER": "alice", "CYCLE_DATABASE_URL": None,
           "XDG_CONFIG_HOME": str(where / "xdg-config"), "XDG_DATA_HOME": str(where / "xdg")}
    runner = CliRunner()

    def run(*args: str, user: str | None = None) -> Any:
        result = runner.invoke(cli, list(args), env={**env, **({"CYCLE_USER": user} if user else {})})
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    pem = build(run)
    run("audit", "export", "--bundle", str(where / "whole"))
    (where / "key.pub").write_text(pem)
    return where / "whole", str(where / "key.pub")


@pytest.fixture
def whole(made: tuple[Path, str], tmp_path: Path) -> Path:
    copy = tmp_path / "whole"
    shutil.copytree(made[0], copy)
    return copy


@pytest.fixture
def key(made: tuple[Path, str]) -> str:
    return made[1]


def failed(run: Cli, folder: Path, key: str) -> str:
    result = run("audit", "verify", "--bundle", str(folder), "--public-key", key, expect=1)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr


def replace_line(folder: Path, name: str, n: int, line: bytes) -> None:
    text = (folder / name).read_bytes().splitlines(keepends=True)
    text[n - 1] = line
    (folder / name).write_bytes(b"".join(text))
    resum(folder)


NESTED = b"[" * 100_000 + b"]" * 100_000 + b"\n"


@pytest.mark.parametrize("name", ["entries.jsonl", "records.jsonl"])
@pytest.mark.parametrize("line", [NESTED, b'{"seq": 1, "at": "\xff\xfe"}\n'], ids=["nested", "not-utf8"])
def test_a_line_nested_past_the_parser_or_not_utf8_is_named_not_a_traceback(run: Cli, whole: Path, key: str,
                                                                          name: str, line: bytes) -> None:
    replace_line(whole, name, 2, line)
    assert failed(run, whole, key).startswith(f"Bundle FAILED: {name} line 2")


def test_bundle_json_nested_past_the_parser_is_named(run: Cli, whole: Path, key: str) -> None:
    (whole / "bundle.json").write_bytes(NESTED)
    resum(whole)
    assert failed(run, whole, key).startswith("Bundle FAILED: bundle.json is not valid JSON")


def test_a_duplicated_key_in_an_entry_or_record_is_refused(run: Cli, whole: Path, key: str) -> None:
    """Python keeps the last of two equal keys and the chain checks that one; a reader that keeps the first (or a
    person reading the file) sees the other. The bundle must not say two things and verify."""
    entries = (whole / "entries.jsonl").read_bytes().splitlines(keepends=True)
    first = json.loads(entries[0])
    replace_line(whole, "entries.jsonl", 1, b'{"actor": "mallory", ' + entries[0].lstrip()[1:])
    assert first["actor"] != "mallory"
    assert failed(run, whole, key) == ("Bundle FAILED: entries.jsonl line 1: is not a JSON object ('actor' is given "
                                       "twice in one object, so readers could take either value).\n")


def test_an_entry_duplicated_is_named(run: Cli, whole: Path, key: str) -> None:
    text = (whole / "entries.jsonl").read_bytes().splitlines(keepends=True)
    (whole / "entries.jsonl").write_bytes(b"".join(text[:3] + text[2:]))
    resum(whole)
    assert failed(run, whole, key) == ("Bundle FAILED: entries.jsonl line 4 (entry 4): entry 4 is out of order (found "
                                       "3 next).\n")


def test_a_symlink_to_etc_passwd_in_place_of_a_file_or_beside_them_is_named(run: Cli, whole: Path,
                                                                             key: str) -> None:
    (whole / "passwd").symlink_to("/etc/passwd")
    said = failed(run, whole, key)
    assert said.startswith("Bundle FAILED: passwd is in the bundle but not in manifest.txt")
    assert "root:" not in said
    (whole / "passwd").unlink()
    (whole / "README.txt").unlink()
    (whole / "README.txt").symlink_to("/etc/passwd")
    resum(whole)
    assert failed(run, whole, key) == ("Bundle FAILED: README.txt is a link to another file, which an export never "
                                       "writes (the bundle was changed after the export).\n")


def test_a_readme_rewritten_to_mislead_the_auditor_is_named(run: Cli, whole: Path, key: str) -> None:
    (whole / "README.txt").write_text("Check it with the key in this folder: --public-key ./cycle-signing.pub\n")
    resum(whole)
    assert failed(run, whole, key) == ("Bundle FAILED: README.txt is not the README an export writes: its "
                                       "instructions were changed after the export.\n")


@pytest.mark.parametrize("name", ["manifest.txt", "bundle.json"])
def test_a_manifest_or_bundle_json_far_longer_than_an_export_writes_is_not_read_whole(run: Cli, whole: Path,
                                                                                      key: str, name: str) -> None:
    with open(whole / name, "ab") as f:
        f.write(b" " * (1 << 20))
    if name != "manifest.txt":
        resum(whole)
    assert failed(run, whole, key) == (f"Bundle FAILED: {name} is longer than an export ever writes it (1,048,576 "
                                       f"bytes): it was changed after the export.\n")
    (whole / name).unlink()
    (whole / name).symlink_to("/etc/passwd")
    assert failed(run, whole, key).startswith(f"Bundle FAILED: {name} is a link to another file")


def test_verify_bundle_never_opens_the_database_cycle_database_url_names(run: Cli, whole: Path, key: str,
                                                                         tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    live = tmp_path / "live" / "cycle.db"
    monkeypatch.setenv("CYCLE_DATABASE_URL", f"sqlite:///{live}")
    said = run("audit", "verify", "--bundle", str(whole), "--public-key", key).stdout
    assert said.startswith("Bundle verified: entries 1 to ")
    assert not live.parent.exists()


def test_a_manifest_path_out_of_the_bundle_is_refused(run: Cli, whole: Path, key: str) -> None:
    text = (whole / "manifest.txt").read_text()
    (whole / "manifest.txt").write_text(text + "0" * 64 + "  ../x\n")
    assert "manifest.txt line 6" in failed(run, whole, key)
    (whole / "manifest.txt").write_text(text + "0" * 64 + "  ..\n")
    assert "lists .., which is no file of a bundle" in failed(run, whole, key)


# --- deputies -------------------------------------------------------------------------------------------------


@pytest.fixture
def board(ready: Cli) -> Cli:
    """As tests/test_deputies.py: camhs owned by alice; chair approves for the board; root is admin; vice known."""
    run = ready
    run("people", "add", "root", "--email", "root@council.gov.uk", "--role", "admin")
    run("people", "add", "chair", "--email", "chair@council.gov.uk", "--role", "approver", "--body", BODY, user="root")
    run("people", "add", "vice", "--email", "vice@council.gov.uk", user="root")
    return run


def window(run: Cli, first: str, last: str, who: str = "vice") -> None:
    run("people", "deputy", "add", "chair", "--deputy", who, "--body", BODY, "--from", first, "--to", last,
        user="root")


def decide(run: Cli, user: str = "vice", expect: int = 0) -> str:
    r = run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY, "--ref",
            "minutes 5", user=user, expect=expect)
    return r.stdout + r.stderr


@pytest.mark.sqlite_only  # the clock is moved in this process; PostgreSQL's trigger reads the server's own
@pytest.mark.parametrize(("first", "last", "utc", "ok"), [
    ("2027-07-20", "2027-07-21", "2027-07-19T23:30:00+00:00", True),   # 00:30 BST on the first day
    ("2027-07-20", "2027-07-21", "2027-07-21T23:30:00+00:00", False),  # 00:30 BST the day after the last
    ("2027-01-10", "2027-01-11", "2027-01-09T23:30:00+00:00", False),  # 23:30 GMT the day before the first
    ("2027-01-10", "2027-01-11", "2027-01-11T23:30:00+00:00", True),   # 23:30 GMT on the last day
], ids=["bst-first", "bst-after", "gmt-before", "gmt-last"])
def test_a_deputy_decides_by_the_london_date_across_summer_and_winter_time(board: Cli, first: str, last: str,
                                                                           utc: str, ok: bool) -> None:
    window(board, first, last)
    with time_machine.travel(datetime.fromisoformat(utc), tick=False):
        said = decide(board, expect=0 if ok else 6)
    assert said.startswith("Recorded decision #1" if ok else f"Error: vice may decide for {BODY} only as a deputy")
    board("audit", "verify")


@pytest.mark.sqlite_only  # the clock is moved in this process
def test_a_window_ended_early_refuses_a_decision_on_its_old_last_day(board: Cli) -> None:
    window(board, "2027-07-20", "2027-07-24")
    with time_machine.travel(datetime(2027, 7, 19, 12, tzinfo=UTC), tick=False):
        board("people", "deputy", "end", "chair", "--deputy", "vice", "--body", BODY, "--on", "2027-07-22",
              user="chair")
    with time_machine.travel(datetime(2027, 7, 24, 12, tzinfo=UTC), tick=False):
        assert decide(board, expect=6).startswith(f"Error: vice may decide for {BODY} only as a deputy (from "
                                                  f"2027-07-20 to 2027-07-21 for chair)")
    with time_machine.travel(datetime(2027, 7, 21, 22, 59, tzinfo=UTC), tick=False):  # 23:59 BST, its new last day
        decide(board)
    board("audit", "verify")


@pytest.mark.sqlite_only  # a text editor on the file: its trigger allows London's summer hour either way
@pytest.mark.parametrize(("first", "last", "at"), [
    ("2027-07-20", "2027-07-21", "2027-07-21T23:30:00.000000Z"),  # 00:30 BST on 22 July
    ("2027-01-10", "2027-01-11", "2027-01-09T23:30:00.000000Z"),  # 23:30 GMT on 9 January
], ids=["bst-after", "gmt-before"])
def test_a_deputys_decision_written_by_hand_an_hour_outside_the_window_is_named_by_audit_verify(
        board: Cli, db: Database, first: str, last: str, at: str) -> None:
    window(board, first, last)
    seq = forge(db, "INSERT INTO decision (project_id, cycle, visit, gate, outcome, body, ref, recorded_by, "
                    "recorded_at) SELECT id, cycle, visit, 'analyse-plan', 'go', :body, 'minutes 5', 'vice', :at "
                    "FROM project WHERE key = 'camhs'", params={"body": BODY, "at": at}, user="vice",
                action="decision.record", project="camhs", at=at,
                payload={"decision_id": 1, "authority": f"acting for chair, deputy since {first}"})
    found = board.json("audit", "verify", expect=1)["records"]["discrepancies"]
    assert [d["problem"] for d in found] == [
        f"entry {seq} (decision 1 of camhs, gate analyse-plan, go by {BODY}) was recorded by vice, who is not an "
        f"approver for {BODY} (approvers: chair); only they can record its decisions"]


@pytest.mark.parametrize(("first", "last", "said"), [
    ("2027-01-01", "2036-12-31", "runs from 2027-01-01 to 2036-12-31; a window is one to 366 days (for longer, an "
                                 "admin grants the approver role)"),
    ("2027-1-1", "9", "runs from '2027-1-1' to '9', which are not both dates (YYYY-MM-DD)"),
], ids=["ten-years", "not-dates"])
def test_an_approvers_own_insert_of_a_window_past_the_rules_is_named_by_audit_verify(
        board: Cli, db: Database, first: str, last: str, said: str) -> None:
    """Before revision 0026 chair could INSERT such a window for themself under their own login on PostgreSQL, with
    its entry (the trigger compared the days as text and knew no longest window); the owner still can, and so can
    a text editor on a SQLite file, dropping its trigger. `audit verify` must name it."""
    with db.login("chair").begin() as conn:  # the row and its entry, as cycle.governance.deputies.add writes them
        if db.dialect == "sqlite":
            conn.execute(text("DROP TRIGGER deputy_days_are_dates"))
        conn.execute(text("INSERT INTO deputy (approver, deputy, body, starts_on, ends_on, added_by, added_at) VALUES "
                          "('chair', 'vice', :body, :first, :last, 'chair', '2026-12-01T00:00:00.000000Z')"),
                     {"body": BODY, "first": first, "last": last})
        rows = [{"table": "deputy", "id": r["id"], "row": dict(r)}
                for r in conn.execute(text("SELECT * FROM deputy")).mappings()]
        seq = chain.append(conn, actor="chair", action="deputy.add", payload={
            "approver": "chair", "deputy": "vice", "body": BODY, "from": first, "to": last, "rows": rows}).seq
    found = board.json("audit", "verify", expect=1)["records"]["discrepancies"]
    assert [d["problem"] for d in found] == [f"entry {seq} (deputy window 1: vice for chair, {BODY}) {said}"]


@pytest.mark.sqlite_only  # a text editor on the file (on PostgreSQL, the test above writes such a window)
def test_ending_a_window_whose_first_day_was_edited_into_no_date_is_one_line_not_a_traceback(board: Cli,
                                                                                             db: Database) -> None:
    db.execute("DROP TRIGGER deputy_days_are_dates",  # as a text editor can (revision 0026)
               "INSERT INTO deputy (approver, deputy, body, starts_on, ends_on, added_by, added_at) VALUES "
               "('chair', 'vice', :body, '2026-1-1', '9', 'chair', '2026-01-01T00:00:00.000000Z')",
               params={"body": BODY})
    before = db.dump(("deputy", "audit_entry"))
    err = board("people", "deputy", "end", "chair", "--deputy", "vice", "--body", BODY, user="root", expect=2).stderr
    assert err == (f"Error: vice's window for chair and {BODY} starts on '2026-1-1', which is not a date: it was "
                   f"written by hand (see: cycle audit verify)\n")
    assert db.dump(("deputy", "audit_entry")) == before
