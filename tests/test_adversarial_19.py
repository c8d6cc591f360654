"""Adversarial tests of issue 19 parts 1 and 3 (deputies; the offline bundle), through the real CLI.

The bundle is made once (SQLite, as tests/test_bundle.py makes it) and each test tampers with a copy as a careful
forger would, putting the manifest right afterwards so that the check behind the manifest has to notice."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cycle.cli import cli

from .conftest import Cli
from .test_bundle import build, resum

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
