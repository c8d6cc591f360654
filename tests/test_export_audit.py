"""`cycle export audit`: the log for an auditor, as CSV or JSON Lines, its first line naming the chain head it was
taken at; written whole or not at all, never over a file without --force, and itself an audit entry holding the
file's SHA-256 (so `audit verify` still passes)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest

from cycle.audit.chain import entry_hash

from .conftest import CAMHS, Cli, Database


@pytest.fixture
def logged(ready: Cli) -> Cli:
    ready("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA 2026")
    ready("project", "new", "dental", "--title", "Dental")
    ready("contract", "set", "camhs", "--provider", "Trust X, \"the\" trust", "--start", "2025-04-01",
          "--end", "2028-03-31", "--notice", "6 months")
    return ready


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty folder for the exports (tmp_path holds cycle's home too)."""
    made = tmp_path / "exports"
    made.mkdir()
    return made


def _csv(path: Path) -> list[list[str]]:
    text = path.read_bytes().decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))


def _head(run: Cli) -> str:
    return run("audit", "checkpoint").stdout.strip()


def test_csv_export_of_the_whole_log(logged: Cli, folder: Path) -> None:
    run = logged
    every = run.json("audit", "log")
    seq, digest = _head(run).split(":")
    out = folder / "audit.csv"
    said = run("export", "audit", "--format", "csv", "--out", str(out)).stdout
    data = out.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    assert said == (f"Exported {len(every)} audit entries (chain head {seq}:{digest}) to {out}, SHA-256 {sha}; "
                    f"recorded as audit entry {int(seq) + 1}.\n")
    first, header, *rows = _csv(out)
    assert first[:4] == ["cycle audit export", f"head_seq={seq}", f"head_hash={digest}", "project=(all)"]
    assert first[4].startswith("exported_at=")
    assert header == ["seq", "at", "actor", "project", "action", "from_stage", "to_stage", "payload", "prev_hash",
                      "hash", "damaged"]
    assert [(int(r[0]), r[9]) for r in rows] == [(e["seq"], e["hash"]) for e in every]
    # the cells are the chain's own text: an auditor can recompute every hash from the file alone
    for r in rows:
        assert entry_hash(r[8], int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7]) == r[9]
    # the export is on the record, with the file's hash and the head it was taken at
    [entry] = run.json("audit", "log", "--limit", "1")
    assert (entry["action"], entry["actor"], entry["project"]) == ("audit.export", "alice", None)
    payload = {k: v for k, v in entry["payload"].items()}
    assert payload == {"format": "csv", "file": str(out), "path": str(out), "sha256": sha, "entries": len(every),
                       "head": {"seq": int(seq), "hash": digest}}
    run("audit", "verify")
    assert run("audit", "log", "--limit", "1").stdout.rstrip().endswith(
        f"audit.export  {len(every)} entries to {out} (csv, head {seq}, SHA-256 {sha[:12]}...)")


def test_jsonl_export_of_one_project(logged: Cli, folder: Path) -> None:
    run = logged
    mine = run.json("audit", "log", "camhs")
    seq, digest = _head(run).split(":")
    out = folder / "camhs.jsonl"
    run("export", "audit", "camhs", "--format", "jsonl", "--out", str(out))
    first, *lines = out.read_text(encoding="utf-8").splitlines()
    header = json.loads(first)
    assert {k: header[k] for k in ("export", "head", "project")} == \
        {"export": "cycle audit log", "head": {"seq": int(seq), "hash": digest}, "project": "camhs"}
    assert [json.loads(line) for line in lines] == mine  # each entry as `audit log --json` gives it
    [entry] = run.json("audit", "log", "camhs", "--limit", "1")
    assert entry["action"] == "audit.export" and entry["payload"]["entries"] == len(mine)
    assert entry["payload"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    run("audit", "verify")


def test_an_existing_file_is_kept_without_force_and_replaced_with_it(logged: Cli, folder: Path) -> None:
    run = logged
    out = folder / "audit.csv"
    out.write_text("the auditor's own notes\n")
    head = _head(run)
    result = run("export", "audit", "--format", "csv", "--out", str(out), expect=2)
    assert result.stderr == f"Error: {out} already exists: add --force to replace it, or choose another --out\n"
    assert out.read_text() == "the auditor's own notes\n" and _head(run) == head  # nothing written, nothing recorded
    run("export", "audit", "--format", "csv", "--out", str(out), "--force")
    assert _csv(out)[0][0] == "cycle audit export"
    assert [p.name for p in folder.iterdir()] == ["audit.csv"]  # no temporary file left


def test_a_second_export_holds_the_first(logged: Cli, folder: Path) -> None:
    run = logged
    run("export", "audit", "--format", "jsonl", "--out", str(folder / "one.jsonl"))
    run("export", "audit", "--format", "jsonl", "--out", str(folder / "two.jsonl"))
    last = json.loads((folder / "two.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert last["action"] == "audit.export" and last["payload"]["file"] == str(folder / "one.jsonl")
    run("audit", "verify")


@pytest.mark.parametrize(("args", "line"), [
    (["--format", "csv"], "Error: Missing option '--out'. See: cycle export audit --help"),
    (["--format", "csv", "--out", "/dev/stdout"], "Error: --out /dev/stdout is standard output or another stream, "
                                                  "not a file: name a file, e.g. --out audit.csv"),
    (["--format", "xlsx", "--out", "a.x"], "Error: Invalid value for '--format': 'xlsx' is not one of 'csv', "
                                           "'jsonl'. See: cycle export audit --help"),
    (["nobody", "--format", "csv", "--out", "a.csv"], "Error: No project with key 'nobody'. See the keys with: "
                                                       "cycle project list"),
    (["--format", "csv", "--out", "missing/a.csv"], "Error: folder missing does not exist: create it or choose "
                                                    "another --out"),
])
def test_bad_input_writes_nothing(logged: Cli, folder: Path, monkeypatch: pytest.MonkeyPatch,
                                  args: list[str], line: str) -> None:
    monkeypatch.chdir(folder)
    head = _head(logged)
    result = logged("export", "audit", *args, expect=2)
    assert result.stderr.splitlines()[-1] == line
    assert list(folder.iterdir()) == [] and _head(logged) == head


def test_no_file_unless_its_entry_commits(logged: Cli, db: Database, folder: Path) -> None:
    out = folder / "audit.csv"
    db.jam_audit("disk quota exceeded")
    result = logged("export", "audit", "--format", "csv", "--out", str(out), expect=5)
    assert result.stderr == "Error: database error (disk quota exceeded); nothing was written.\n"
    assert list(folder.iterdir()) == []
    db.unjam_audit()
    logged("export", "audit", "--format", "csv", "--out", str(out))
    assert out.exists()


def test_never_into_the_database(run: Cli, db: Database, home: Path) -> None:
    run("init")
    run(*CAMHS)
    if db.dialect != "sqlite":
        pytest.skip("the database is a file on SQLite only")
    before = (home / "cycle.db").read_bytes()
    result = run("export", "audit", "--format", "csv", "--out", str(home / "cycle.db"), "--force", expect=2)
    assert result.stderr.startswith(f"Error: --out {home / 'cycle.db'} is cycle's database")
    assert (home / "cycle.db").read_bytes() == before


def test_an_entry_edited_to_hold_a_formula_is_exported_neutralised(logged: Cli, db: Database, folder: Path) -> None:
    db.drop_audit_triggers()
    db.tamper("UPDATE audit_entry SET actor = '=HYPERLINK(\"http://evil.example\")' WHERE seq = 2")
    out = folder / "audit.csv"
    logged("export", "audit", "--format", "csv", "--out", str(out))
    second = _csv(out)[3]
    assert second[:3] == ["2", second[1], "'=HYPERLINK(\"http://evil.example\")"]
    assert logged("audit", "verify", expect=1).stderr.startswith("Audit chain FAILED at entry 2")


@pytest.mark.sqlite_only
def test_a_damaged_entry_is_exported_and_marked(logged: Cli, db: Database, folder: Path) -> None:
    db.drop_audit_triggers()
    db.tamper("UPDATE audit_entry SET actor = x'ff00' WHERE seq = 2")
    logged("export", "audit", "--format", "csv", "--out", str(folder / "audit.csv"))
    second = _csv(folder / "audit.csv")[3]
    assert (second[2], second[10]) == ("x'ff00'", "actor is not text (it holds binary data, 2 bytes)")
    logged("export", "audit", "--format", "jsonl", "--out", str(folder / "audit.jsonl"))
    entry = json.loads((folder / "audit.jsonl").read_text(encoding="utf-8").splitlines()[2])
    assert (entry["seq"], entry["payload_error"]) == (2, "actor is not text (it holds binary data, 2 bytes)")
