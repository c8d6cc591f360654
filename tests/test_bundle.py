"""Audit bundles: `cycle audit export --bundle DIR [KEY]` and `cycle audit verify --bundle DIR --public-key FILE`,
through the real CLI. The verifier runs with no database at all (a subprocess that cannot import SQLAlchemy); the
tampering is done to a copy of one bundle as someone with a text editor would do it, most of it with the manifest
put right afterwards (a careful forger), so that the check behind the manifest is the one that has to notice."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cycle.audit import bundle as bundle_module
from cycle.audit.images import COVERED
from cycle.cli import cli

from .conftest import BODY, CAMHS, Cli, Database


def public_key(out: str) -> str:
    return out[out.index("-----BEGIN PUBLIC KEY-----"):]


def build(run: Any) -> str:
    """Two projects on the record, a checkpoint signed, two more entries after it; the public key (PEM)."""
    run("init")
    run(*CAMHS)
    run("project", "new", "respite", "--title", "Short breaks", "--accountable-body", BODY)
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA 2026 children chapter")
    run("evidence", "add", "respite", "needs-assessment", "--ref", "JSNA 2026 short breaks")
    run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY,
        "--ref", "CTB 2026-11-09 item 4", user="clerk")
    pem = public_key(run("audit", "keygen").stdout)
    run("audit", "checkpoint", "--sign")
    run("project", "advance", "camhs")
    run("evidence", "add", "camhs", "eia", "--ref", "EIA v1")
    return pem


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One bundle of the whole log and one of camhs, made once (on SQLite: checking them needs no database), and the
    public key's file; each test tampers with a copy."""
    where = tmp_path_factory.mktemp("made")
    env = {"CYCLE_HOME": str(where / "home"), "CYCLE_USER": "alice", "CYCLE_DATABASE_URL": None,
           "XDG_CONFIG_HOME": str(where / "xdg-config"), "XDG_DATA_HOME": str(where / "xdg")}
    runner = CliRunner()

    def run(*args: str, user: str | None = None) -> Any:
        result = runner.invoke(cli, list(args), env={**env, **({"CYCLE_USER": user} if user else {})})
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    pem = build(run)
    run("audit", "export", "--bundle", str(where / "whole"))
    run("audit", "export", "camhs", "--bundle", str(where / "camhs"))
    (where / "key.pub").write_text(pem)
    return where, where / "key.pub"


@pytest.fixture
def whole(made: tuple[Path, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "whole"
    shutil.copytree(made[0] / "whole", copy)
    return copy


@pytest.fixture
def key(made: tuple[Path, Path]) -> str:
    return str(made[1])


def verify(run: Cli, folder: Path, key: str, expect: int = 0) -> Any:
    return run("audit", "verify", "--bundle", str(folder), "--public-key", key, expect=expect)


def failed(run: Cli, folder: Path, key: str) -> str:
    result = verify(run, folder, key, expect=1)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def lines(folder: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / name).read_text().splitlines()]


def write_lines(folder: Path, name: str, items: list[dict[str, Any]]) -> None:
    (folder / name).write_text("".join(json.dumps(item) + "\n" for item in items))


def resum(folder: Path) -> None:
    """Put the manifest right after an edit, as a careful forger would."""
    sums = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in bundle_module.FILES}
    (folder / "manifest.txt").write_text(bundle_module.manifest(sums))


def seq_of(folder: Path, action: str, nth: int = 0) -> int:
    return [e["seq"] for e in lines(folder, "entries.jsonl") if e["action"] == action][nth]


# --- what a bundle proves, with no database -----------------------------------------------------------------

BLOCKED = """
import sys
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("sqlalchemy", "sqlmodel", "psycopg", "psycopg2", "alembic"):
            raise ImportError(f"{name} is blocked: the offline check must not need it")
        return None
sys.meta_path.insert(0, Blocked())
sys.argv = ["cycle", *sys.argv[1:]]
from cycle.cli import main
main()
"""


def test_a_bundle_verifies_in_a_fresh_directory_with_no_database_and_no_sqlalchemy(
        made: tuple[Path, Path], tmp_path: Path) -> None:
    fresh = tmp_path / "elsewhere"
    fresh.mkdir()
    shutil.copytree(made[0] / "whole", fresh / "bundle")
    shutil.copy(made[1], fresh / "signing.pub")
    nowhere = tmp_path / "no-such-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CYCLE_")}
    env |= {"CYCLE_HOME": str(nowhere), "HOME": str(fresh), "XDG_DATA_HOME": str(nowhere / "xdg"),
            "XDG_CONFIG_HOME": str(nowhere / "xdg-config")}
    for database in (None, f"sqlite:///{nowhere / 'cycle.db'}", "postgresql://nobody@127.0.0.1:1/nothing"):
        env.pop("CYCLE_DATABASE_URL", None)
        if database:
            env["CYCLE_DATABASE_URL"] = database
        done = subprocess.run([sys.executable, "-c", BLOCKED, "audit", "verify", "--bundle", "bundle",
                               "--public-key", "signing.pub"], cwd=fresh, env=env, capture_output=True, text=True,
                              timeout=120)
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
        assert done.stdout.startswith("Bundle verified: entries 1 to 8, signed by key ")
        assert "; 8 records in 4 tables match the entries. Entries 9 to 11 come after the checkpoint" in done.stdout
        assert not nowhere.exists()  # no home, no database, made or opened
    assert sorted(os.listdir(fresh)) == ["bundle", "signing.pub"]


def test_the_whole_bundle_says_what_it_proved(run: Cli, whole: Path, key: str) -> None:
    fp = json.loads((whole / "bundle.json").read_text())["key"]
    day = json.loads((whole / "bundle.json").read_text())["checkpoint"]["at"][:10]
    assert verify(run, whole, key).stdout == (
        f"Bundle verified: entries 1 to 8, signed by key {fp} on {day}; 8 records in 4 tables match the entries. "
        f"Entries 9 to 11 come after the checkpoint: they hang together, but no signature covers them (nor the 2 "
        f"records they last wrote).\n")
    found = run.json("audit", "verify", "--bundle", str(whole), "--public-key", key)
    assert (found["ok"], found["entries"], found["signed"]["seq"], found["records"]) == (
        True, {"from": 1, "to": 11, "count": 11, "of_project": None}, 8, 8)
    # sha256sum can check the files too
    sums = dict(line.split("  ")[::-1] for line in (whole / "manifest.txt").read_text().splitlines())
    assert sorted(sums) == sorted(bundle_module.FILES)


def test_a_project_bundle_holds_its_records_and_the_entries_from_its_first(run: Cli, made: tuple[Path, Path],
                                                                            key: str) -> None:
    folder = made[0] / "camhs"
    first = seq_of(folder, "project.create")
    assert first == lines(folder, "entries.jsonl")[0]["seq"] > 1
    tables = {r["table"] for r in lines(folder, "records.jsonl")}
    assert tables == {"project", "evidence", "decision"}
    assert {r["row"].get("key") for r in lines(folder, "records.jsonl") if r["table"] == "project"} == {"camhs"}
    out = verify(run, folder, key).stdout
    assert out.startswith(f"Bundle verified: entries {first} to 8 (project camhs's bundle: ")
    assert out.endswith(f"Entries before {first} are not in the bundle: it vouches for none of them.\n")


def test_every_covered_table_is_either_shared_or_says_how_it_belongs_to_a_project() -> None:
    for table, columns in COVERED.items():
        column = bundle_module.owner_column(table)
        assert column is None or column in columns, table
        if table in bundle_module.THROUGH:
            assert bundle_module.THROUGH[table][1] in COVERED
            assert list(COVERED).index(bundle_module.THROUGH[table][1]) < list(COVERED).index(table)


# --- tampering, caught and named ------------------------------------------------------------------------------

def edit_entry(folder: Path, n: int, **changes: Any) -> None:
    entries = lines(folder, "entries.jsonl")
    entries[n - 1].update(changes)
    write_lines(folder, "entries.jsonl", entries)


def test_an_entry_edited_is_named_by_line_and_entry(run: Cli, whole: Path, key: str) -> None:
    edit_entry(whole, 6, actor="mallory")
    resum(whole)
    assert failed(run, whole, key) == ("Bundle FAILED: entries.jsonl line 6 (entry 6): its hash does not match its "
                                       "contents (the entry was edited).\n")


def test_an_entry_edited_without_the_manifest_put_right_is_named_by_the_manifest(run: Cli, whole: Path,
                                                                                  key: str) -> None:
    edit_entry(whole, 6, actor="mallory")
    assert failed(run, whole, key) == ("Bundle FAILED: entries.jsonl does not match its SHA-256 in manifest.txt: the "
                                       "file (or the manifest) was changed after the export.\n")


def test_an_entry_deleted_is_named(run: Cli, whole: Path, key: str) -> None:
    entries = lines(whole, "entries.jsonl")
    write_lines(whole, "entries.jsonl", entries[:4] + entries[5:])
    resum(whole)
    assert failed(run, whole, key) == ("Bundle FAILED: entries.jsonl line 5 (entry 5): entry 5 is missing (found 6 "
                                       "next).\n")


def test_entries_reordered_are_named(run: Cli, whole: Path, key: str) -> None:
    entries = lines(whole, "entries.jsonl")
    entries[4], entries[5] = entries[5], entries[4]
    write_lines(whole, "entries.jsonl", entries)
    resum(whole)
    assert failed(run, whole, key) == ("Bundle FAILED: entries.jsonl line 5 (entry 5): entries are out of order: "
                                       "entry 6 comes before entry 5 (at line 6).\n")


@pytest.mark.parametrize("name", ["entries.jsonl", "records.jsonl"])
def test_a_line_longer_than_an_export_writes_is_named_not_read_whole(run: Cli, whole: Path, key: str, name: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A line of a gigabyte was read whole; past the limit (made small here, to stand for it) the check stops
    there and names it."""
    limit = max(len(line) for n in ("entries.jsonl", "records.jsonl") for line in (whole / n).read_bytes().splitlines(
        keepends=True)) + 100
    monkeypatch.setattr(bundle_module, "LINE", limit)
    items = lines(whole, name)
    items[2]["padding"] = "x" * (2 * limit)
    write_lines(whole, name, items)
    resum(whole)
    assert failed(run, whole, key) == (f"Bundle FAILED: {name} line 3: it is too long (over {limit:,} bytes, more "
                                       f"than an export writes a line): the file was changed after the export.\n")


def test_an_entry_edited_and_the_chain_rehashed_after_it_is_caught_by_the_signed_checkpoint(
        run: Cli, whole: Path, key: str) -> None:
    from cycle.audit.hashes import entry_hash

    entries = lines(whole, "entries.jsonl")
    entries[5]["actor"] = "mallory"
    for i in range(5, len(entries)):
        e = entries[i]
        e["prev_hash"] = entries[i - 1]["hash"]
        e["hash"] = entry_hash(e["prev_hash"], e["seq"], e["at"], e["actor"], e["project"], e["action"],
                               e["from_stage"], e["to_stage"], e["payload"])
    write_lines(whole, "entries.jsonl", entries)
    resum(whole)
    assert failed(run, whole, key) == (
        "Bundle FAILED: entries.jsonl line 8 (entry 8): its hash differs from the signed checkpoint's, so entries "
        "1 to 8 cannot be trusted: they hang together but do not lead to the signed head (the chain was "
        "rewritten).\n")


def test_entries_cut_off_before_the_checkpoint_are_named(run: Cli, whole: Path, key: str) -> None:
    entries = lines(whole, "entries.jsonl")
    write_lines(whole, "entries.jsonl", entries[:6])
    meta = json.loads((whole / "bundle.json").read_text())
    meta["entries"].update({"to": 6, "count": 6})
    (whole / "bundle.json").write_text(json.dumps(meta))
    resum(whole)
    assert failed(run, whole, key) == ("Bundle FAILED: entries.jsonl ends at entry 6, but the signed checkpoint is of "
                                       "entry 8: entries were cut off.\n")


def record_line(folder: Path, table: str, nth: int = 0) -> int:
    return [i for i, r in enumerate(lines(folder, "records.jsonl")) if r["table"] == table][nth] + 1


def test_a_record_edited_is_named_with_what_its_entry_says(run: Cli, whole: Path, key: str) -> None:
    records = lines(whole, "records.jsonl")
    n = record_line(whole, "evidence")
    records[n - 1]["row"]["ref"] = "JSNA 2019"
    write_lines(whole, "records.jsonl", records)
    resum(whole)
    seq = seq_of(whole, "evidence.add")
    assert failed(run, whole, key) == (f"Bundle FAILED: records.jsonl line {n}: evidence #1 differs from its entry: "
                                       f"ref is \"JSNA 2019\" but entry {seq} recorded \"JSNA 2026 children "
                                       f"chapter\".\n")


def test_a_record_removed_or_forged_is_named(run: Cli, whole: Path, key: str) -> None:
    records = lines(whole, "records.jsonl")
    n = record_line(whole, "decision")
    decision = records.pop(n - 1)
    write_lines(whole, "records.jsonl", records)
    resum(whole)
    seq = seq_of(whole, "decision.record")
    assert failed(run, whole, key) == (f"Bundle FAILED: records.jsonl lacks decision #1, which entry {seq} recorded "
                                       f"(it was removed from the bundle).\n")
    forged = {**decision, "id": 2, "row": {**decision["row"], "id": 2, "project_id": 2}}
    records.insert(n - 1, decision)
    records.insert(n, forged)
    write_lines(whole, "records.jsonl", records)
    resum(whole)
    assert failed(run, whole, key) == (f"Bundle FAILED: records.jsonl line {n + 1}: decision #2 is in no entry of the "
                                       f"bundle: it was written outside cycle (or its entry is not in the bundle).\n")


def test_records_out_of_order_or_twice_are_named(run: Cli, whole: Path, key: str) -> None:
    records = lines(whole, "records.jsonl")
    n = record_line(whole, "evidence")
    write_lines(whole, "records.jsonl", records[:n] + [records[n - 1]] + records[n:])
    resum(whole)
    assert failed(run, whole, key) == (f"Bundle FAILED: records.jsonl line {n + 1}: evidence #1 comes after #1: the "
                                       f"records are out of order, or one is there twice.\n")
    write_lines(whole, "records.jsonl", [*records[1:], records[0]])  # project #1 moved to the end
    resum(whole)
    assert failed(run, whole, key) == (f"Bundle FAILED: records.jsonl lacks project #1, which entry "
                                       f"{seq_of(whole, 'evidence.add', 2)} recorded (it was removed from the "
                                       f"bundle).\n")


def test_the_manifest_edited_is_named(run: Cli, whole: Path, key: str) -> None:
    text = (whole / "manifest.txt").read_text().splitlines()
    text[2] = "0" * 64 + text[2][64:]
    (whole / "manifest.txt").write_text("\n".join(text) + "\n")
    assert failed(run, whole, key) == ("Bundle FAILED: records.jsonl does not match its SHA-256 in manifest.txt: the "
                                       "file (or the manifest) was changed after the export.\n")
    (whole / "manifest.txt").write_text("\n".join(text[:2] + text[3:]) + "\n")
    assert failed(run, whole, key) == "Bundle FAILED: manifest.txt does not list records.jsonl (the manifest was " \
                                      "edited).\n"
    (whole / "manifest.txt").write_text("\n".join([*text[:2], "not a sum", *text[3:]]) + "\n")
    assert failed(run, whole, key) == ("Bundle FAILED: manifest.txt line 3: is not a line '<SHA-256>  <file>' (the "
                                       "manifest was edited).\n")


def test_a_file_added_to_the_bundle_is_named(run: Cli, whole: Path, key: str) -> None:
    (whole / "notes.txt").write_text("trust me\n")
    assert failed(run, whole, key) == ("Bundle FAILED: notes.txt is in the bundle but not in manifest.txt (it was "
                                       "added after the export).\n")


def test_a_checkpoint_too_long_a_pipe_or_a_link_is_named_as_such(run: Cli, whole: Path, key: str,
                                                                 tmp_path: Path) -> None:
    """checkpoint.txt is read as every small file of a bundle is: one past 64 KiB was cut short there and then
    reported as a bad signature; a pipe was "missing from the bundle"."""
    document = (whole / "checkpoint.txt").read_text()
    (whole / "checkpoint.txt").write_text(document + "x" * 70_000 + "\n")
    resum(whole)
    assert failed(run, whole, key) == ("Bundle FAILED: checkpoint.txt is longer than an export ever writes it "
                                       "(65,536 bytes): it was changed after the export.\n")
    (whole / "checkpoint.txt").write_text(document)
    resum(whole)
    (whole / "checkpoint.txt").unlink()
    os.mkfifo(whole / "checkpoint.txt")
    assert failed(run, whole, key) == ("Bundle FAILED: checkpoint.txt is not a regular file (a pipe or a device), "
                                       "which an export never writes (the bundle was changed after the export).\n")
    (whole / "checkpoint.txt").unlink()
    (tmp_path / "elsewhere.txt").write_text(document)
    (whole / "checkpoint.txt").symlink_to(tmp_path / "elsewhere.txt")
    assert failed(run, whole, key) == ("Bundle FAILED: checkpoint.txt is a link to another file, which an export "
                                       "never writes (the bundle was changed after the export).\n")


def test_the_checkpoint_or_its_signature_edited_or_another_key_is_named(run: Cli, whole: Path, key: str,
                                                                        tmp_path: Path) -> None:
    document = (whole / "checkpoint.txt").read_text()
    fp = json.loads((whole / "bundle.json").read_text())["key"]
    (whole / "checkpoint.txt").write_text(document.replace("seq: 8\n", "seq: 9\n"))
    resum(whole)
    said = failed(run, whole, key)
    assert said == (f"Bundle FAILED: checkpoint checkpoint.txt: signature does not verify against key {fp} ({key}): "
                    f"the checkpoint or its signature was changed after it was signed.\n")
    signature = document.rsplit("signature: ", 1)[1]
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    (whole / "checkpoint.txt").write_text(document.replace(signature, flipped))
    resum(whole)
    assert failed(run, whole, key) == said
    (whole / "checkpoint.txt").write_text(document)
    resum(whole)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    other = tmp_path / "other.pub"
    other.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.PEM,
                                                                             PublicFormat.SubjectPublicKeyInfo))
    said = failed(run, whole, str(other))
    assert said.startswith(f"Bundle FAILED: checkpoint checkpoint.txt is signed by key {fp}, not the key given ")
    assert said.endswith(f" ({other}).\n")


def test_bundle_json_edited_to_another_checkpoint_or_range_is_named(run: Cli, whole: Path, key: str) -> None:
    meta = json.loads((whole / "bundle.json").read_text())
    meta["entries"]["to"] = 99
    (whole / "bundle.json").write_text(json.dumps(meta))
    resum(whole)
    assert failed(run, whole, key) == ("Bundle FAILED: bundle.json says entries to 99, but entries.jsonl holds up to "
                                       "entry 11.\n")
    meta["entries"]["to"], meta["checkpoint"]["seq"] = 11, 3
    (whole / "bundle.json").write_text(json.dumps(meta))
    resum(whole)
    assert failed(run, whole, key) == ("Bundle FAILED: bundle.json names another checkpoint than checkpoint.txt "
                                       "holds (entry 8).\n")


def test_a_project_bundle_given_another_projects_record_names_it(run: Cli, made: tuple[Path, Path], key: str,
                                                                 tmp_path: Path) -> None:
    folder = tmp_path / "camhs"
    shutil.copytree(made[0] / "camhs", folder)
    theirs = [r for r in lines(made[0] / "whole", "records.jsonl") if r["table"] == "evidence"][1]
    records = lines(folder, "records.jsonl")
    n = record_line(folder, "evidence")
    records.insert(n, theirs)
    write_lines(folder, "records.jsonl", records)
    resum(folder)
    assert failed(run, folder, key) == (f"Bundle FAILED: records.jsonl line {n + 1}: evidence #2 is not project "
                                        f"camhs's: a project's bundle holds its rows only.\n")


@pytest.mark.parametrize("garbage", ["", "not json\n", "[1, 2]\n", '{"seq": 1}\n', "\xff\xfe\n"])
def test_entries_that_are_not_entries_are_named_not_crashed_on(run: Cli, whole: Path, key: str,
                                                               garbage: str) -> None:
    text = (whole / "entries.jsonl").read_text().splitlines(keepends=True)
    (whole / "entries.jsonl").write_text("".join(text[:2]) + garbage + "".join(text[3:]) if garbage else "")
    resum(whole)
    said = failed(run, whole, key)
    assert said.startswith("Bundle FAILED: entries.jsonl")
    assert "Traceback" not in said


# --- unusable input: exit 2, and nothing written --------------------------------------------------------------

def test_unusable_input_is_exit_2(run: Cli, whole: Path, key: str, tmp_path: Path) -> None:
    def refused(*args: str) -> str:
        result = run("audit", "verify", *args, expect=2)
        return result.stderr

    assert refused("--bundle", str(tmp_path / "nope"), "--public-key", key) == (
        f"Error: --bundle {tmp_path / 'nope'}: no such folder (give the folder `cycle audit export --bundle` "
        f"wrote)\n")
    bad = tmp_path / "bad.pub"
    bad.write_text("not a key\n")
    assert refused("--bundle", str(whole), "--public-key", str(bad)).startswith(f"Error: {bad} is not an Ed25519")
    assert refused("--bundle", str(whole)).startswith("Error: --bundle needs the public key it must be signed with")
    assert refused("--bundle", str(whole), "--public-key", str(tmp_path / "none.pub")).startswith(
        f"Error: --public-key {tmp_path / 'none.pub'}: no such file")
    assert refused("--bundle", str(whole), "--public-key", key, "--chain-only") == (
        "Error: --bundle is checked against the signed checkpoint it holds: leave out --chain-only\n")
    (whole / "manifest.txt").unlink()
    assert refused("--bundle", str(whole), "--public-key", key) == (
        f"Error: --bundle {whole} holds no manifest.txt: it is not a bundle (make one with: cycle audit export "
        f"--bundle DIR)\n")


# --- the export -------------------------------------------------------------------------------------------------

@pytest.fixture
def signed(run: Cli, db: Database) -> Cli:
    build(run)
    return run


def no_leftovers(folder: Path) -> None:
    assert [p for p in os.listdir(folder) if p.endswith((".part", ".old"))] == []


def test_export_refuses_the_database_an_existing_file_and_a_folder_of_other_files(
        signed: Cli, home: Path, tmp_path: Path, db: Database) -> None:
    before = len(db.audit())
    if db.dialect == "sqlite":
        assert signed("audit", "export", "--bundle", str(home / "cycle.db"), expect=2).stderr == (
            f"Error: --bundle {home / 'cycle.db'} is cycle's database ({home / 'cycle.db'}): choose a new folder; "
            f"--force does not change this\n")
    assert signed("audit", "export", "--bundle", str(home), "--force", expect=2).stderr == (
        f"Error: --bundle {home} is cycle's own folder ({home}): name a new folder; --force does not change this\n")
    assert signed("audit", "export", "--bundle", str(home / "keys" / "b"), expect=2).stderr == (
        f"Error: --bundle {home / 'keys' / 'b'} is in {home / 'keys'}, where cycle keeps its own files: choose a "
        f"folder elsewhere; --force does not change this\n")
    a_file = tmp_path / "report.txt"
    a_file.write_text("mine\n")
    assert signed("audit", "export", "--bundle", str(a_file), "--force", expect=2).stderr == (
        f"Error: --bundle {a_file} is a file, not a folder: choose a new folder; --force does not change this\n")
    assert a_file.read_text() == "mine\n"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work\n")
    assert signed("audit", "export", "--bundle", str(mine), "--force", expect=2).stderr == (
        f"Error: --bundle {mine} holds thesis.tex, which is no file of a bundle: choose a new folder (--force "
        f"replaces only an earlier bundle)\n")
    assert os.listdir(mine) == ["thesis.tex"]
    assert signed("audit", "export", "--bundle", str(tmp_path / "no" / "such"), expect=2).stderr == (
        f"Error: folder {tmp_path / 'no'} does not exist: create it or choose another --bundle\n")
    assert len(db.audit()) == before
    no_leftovers(tmp_path)


def test_export_replaces_an_earlier_bundle_only_with_force_and_is_audited(signed: Cli, tmp_path: Path,
                                                                          db: Database, key_file: str) -> None:
    folder = tmp_path / "b"
    out = signed("audit", "export", "--bundle", str(folder)).stdout
    assert out.startswith(f"Wrote the bundle to {folder}: entries 1 to 11 and 8 records, with the checkpoint of "
                          f"entry 8 signed by key ")
    entry = db.audit()[-1]
    assert (entry["action"], json.loads(entry["payload"])["sha256"]) == (
        "audit.export", hashlib.sha256((folder / "manifest.txt").read_bytes()).hexdigest())
    assert signed("audit", "export", "--bundle", str(folder), expect=2).stderr == (
        f"Error: {folder} holds a bundle already: add --force to replace it, or choose another --bundle\n")
    signed("audit", "export", "--bundle", str(folder), "--force")
    assert verify(signed, folder, key_file).stdout.startswith("Bundle verified: entries 1 to 8, ")
    assert json.loads((folder / "bundle.json").read_text())["entries"]["to"] == 12  # the first export's entry
    no_leftovers(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    signed("audit", "export", "respite", "--bundle", str(empty))
    assert verify(signed, empty, key_file).stdout.startswith("Bundle verified: entries 5 to 8 (project respite's")


@pytest.fixture
def key_file(home: Path) -> str:
    return str(home / "keys" / "checkpoint-signing.pub")


def test_export_without_a_signed_checkpoint_is_refused(run: Cli, db: Database, tmp_path: Path) -> None:
    run("init")
    assert run("audit", "export", "--bundle", str(tmp_path / "b"), expect=2).stderr == (
        "Error: the log keeps no signed checkpoint, and a bundle is checked against one: sign the head first with: "
        "cycle audit checkpoint --sign\n")
    assert not (tmp_path / "b").exists()
    no_leftovers(tmp_path)
    assert run("audit", "export", "nobody", "--bundle", str(tmp_path / "b"), expect=2).stderr.startswith("Error: ")


def test_a_record_changed_in_the_database_shows_in_the_bundle(signed: Cli, db: Database, tmp_path: Path,
                                                              key_file: str) -> None:
    db.tamper("UPDATE evidence SET ref = 'forged' WHERE id = 1")
    folder = tmp_path / "b"
    signed("audit", "export", "--bundle", str(folder))
    said = failed(signed, folder, key_file)
    assert said.startswith("Bundle FAILED: records.jsonl line ")
    assert ": evidence #1 differs from its entry: ref is \"forged\" but entry " in said




# --- a careless or hostile user ---------------------------------------------------------------------------------

def test_odd_input_to_verify(run: Cli, whole: Path, key: str, made: tuple[Path, Path], tmp_path: Path) -> None:
    a_file = whole / "bundle.json"
    assert run("audit", "verify", "--bundle", str(a_file), "--public-key", key, expect=2).stderr == (
        f"Error: --bundle {a_file} is not a folder: give the bundle's folder\n")
    private = tmp_path / "private.pem"
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    private.write_bytes(Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                                                   NoEncryption()))
    assert run("audit", "verify", "--bundle", str(whole), "--public-key", str(private),
               expect=2).stderr.startswith(f"Error: {private} is not an Ed25519 public key")
    # a project's bundle passed off as the whole record
    camhs = tmp_path / "camhs"
    shutil.copytree(made[0] / "camhs", camhs)
    meta = json.loads((camhs / "bundle.json").read_text())
    meta["project"] = None
    (camhs / "bundle.json").write_text(json.dumps(meta))
    resum(camhs)
    assert failed(run, camhs, key) == (f"Bundle FAILED: bundle.json holds the whole log but says its entries start at "
                                       f"{meta['entries']['from']}, not 1.\n")
    # --json names the failure too, exit 1
    edit_entry(whole, 2, at="2020-01-01T00:00:00Z")
    resum(whole)
    result = run("audit", "verify", "--bundle", str(whole), "--public-key", key, "--json", expect=1)
    found = json.loads(result.stdout)
    assert (found["ok"], found["file"], found["line"], found["seq"]) == (False, "entries.jsonl", 2, 2)


@pytest.mark.parametrize("value", [10 ** 400, True, {"nested": [1, 2]}, "\ud800 lone", "x" * 100_000])
def test_odd_values_in_a_record_are_named_not_crashed_on(run: Cli, whole: Path, key: str, value: Any) -> None:
    records = lines(whole, "records.jsonl")
    n = record_line(whole, "evidence")
    records[n - 1]["row"]["note"] = value
    write_lines(whole, "records.jsonl", records)
    resum(whole)
    said = failed(run, whole, key)
    assert said.startswith(f"Bundle FAILED: records.jsonl line {n}: evidence #1 differs from its entry: note is ")


def test_export_refuses_a_link_and_leaves_nothing_when_refused(signed: Cli, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    assert signed("audit", "export", "--bundle", str(tmp_path / "link"), "--force", expect=2).stderr == (
        f"Error: --bundle {tmp_path / 'link'} is a link, not a folder: choose a new folder; --force does not change "
        f"this\n")
    assert signed("audit", "export", "--bundle", "", expect=2).stderr == (
        "Error: --bundle needs a folder name, e.g. --bundle audit-bundle-2027-03-31\n")
    assert signed("audit", "export", "--bundle", "-", expect=2).stderr == (
        "Error: --bundle - is a stream, not a folder: name a new folder\n")
    assert os.listdir(real) == []
    no_leftovers(tmp_path)


def test_every_covered_table_says_how_a_project_bundle_picks_its_rows() -> None:
    """A table added to the records check later (the deputy table was) must be placed: owned by a project through a
    column it has, through a parent row, or shared; else a project's bundle fails with a database error."""
    from sqlmodel import SQLModel

    import cycle.db.models  # noqa: F401  (the tables)
    from cycle.audit import bundle
    from cycle.audit.images import COVERED

    for table in COVERED:
        column = bundle.owner_column(table)
        assert column is None or column in SQLModel.metadata.tables[table].columns, (table, column)


def test_every_covered_table_is_placed_once_in_the_table_of_ownership() -> None:
    """OWNERS is the one place: a covered table missing from it (or one that is not covered) fails here, not in a
    project's bundle."""
    assert list(bundle_module.OWNERS) == list(COVERED)
    for table, owner in bundle_module.OWNERS.items():
        if owner is not None and owner[1] not in (bundle_module.PROJECT, bundle_module.KEY):
            assert bundle_module.OWNERS[owner[1]] is not None, table  # owned through a row a project owns


def test_an_entry_as_read_has_the_columns_the_chain_hashes_and_a_bundle_holds() -> None:
    """One list of an entry's columns (cycle.audit.hashes.ENTRY_COLUMNS): the entry read, the CSV export and a
    bundle's entries give them in its order."""
    from cycle.audit.chain import Entry
    from cycle.audit.export import COLUMNS
    from cycle.audit.hashes import ENTRY_COLUMNS

    assert Entry._fields == (*ENTRY_COLUMNS, "damaged")
    assert COLUMNS == [*ENTRY_COLUMNS, "damaged"]
