"""Signed checkpoints: `cycle audit keygen`, `cycle audit checkpoint --sign`, `cycle audit verify --checkpoint FILE
--public-key FILE`, through the real CLI. The tampering is done as someone with a text editor (the checkpoint file)
or write access to the database (the log) would do it."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from .conftest import Cli, Database
from .test_audit import build_history, failed, rewrite_from, rows

KEY_LINE = "Error: no signing key: create one with: cycle audit keygen"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def keygen(run: Cli, *args: str) -> tuple[str, str]:
    """Run keygen; (the public key as printed, its fingerprint)."""
    out = run("audit", "keygen", *args).stdout
    fp = out.split("fingerprint ")[1].split(":")[0]
    pem = out[out.index("-----BEGIN PUBLIC KEY-----"):]
    return pem, fp


@pytest.fixture
def history(run: Cli, db: Database) -> Cli:
    build_history(run)
    return run


def signed(run: Cli, tmp_path: Path, name: str = "cp.txt") -> Path:
    out = tmp_path / name
    assert run("audit", "checkpoint", "--sign", "--out", str(out)).stdout == f"Wrote the signed checkpoint to {out}\n"
    return out


def public_file(tmp_path: Path, pem: str, name: str = "key.pub") -> Path:
    path = tmp_path / name
    path.write_text(pem)
    return path


# --- keygen --------------------------------------------------------------------------------------------

def test_keygen_makes_a_private_folder_and_file_and_prints_the_public_key(run: Cli, home: Path) -> None:
    pem, fp = keygen(run)
    keys = home / "keys"
    assert mode(keys) == 0o700
    assert mode(keys / "checkpoint-signing.key") == 0o600
    assert (keys / "checkpoint-signing.pub").read_text() == pem
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n") and pem.endswith("-----END PUBLIC KEY-----\n")
    assert len(fp) == 19 and fp.count(" ") == 3
    assert sorted(os.listdir(keys)) == ["checkpoint-signing.key", "checkpoint-signing.pub"]  # no temporary left


def test_keygen_under_a_permissive_umask_is_still_private(run: Cli, home: Path) -> None:
    old = os.umask(0)
    try:
        keygen(run)
    finally:
        os.umask(old)
    assert mode(home / "keys") == 0o700
    assert mode(home / "keys" / "checkpoint-signing.key") == 0o600


def test_keygen_refuses_to_overwrite_without_force(run: Cli, home: Path) -> None:
    pem, fp = keygen(run)
    before = (home / "keys" / "checkpoint-signing.key").read_bytes()
    result = run("audit", "keygen", expect=2)
    assert result.stderr == (f"Error: a signing key exists already ({home / 'keys' / 'checkpoint-signing.key'}); "
                             f"checkpoints signed with it verify only against its public key. To replace it "
                             f"anyway: cycle audit keygen --force\n")
    assert (home / "keys" / "checkpoint-signing.key").read_bytes() == before
    pem2, fp2 = keygen(run, "--force")
    assert fp2 != fp and pem2 != pem
    assert mode(home / "keys" / "checkpoint-signing.key") == 0o600


def test_a_keys_folder_others_may_read_is_refused_with_the_fix(run: Cli, home: Path) -> None:
    keys = home / "keys"
    keys.mkdir(parents=True)
    keys.chmod(0o755)
    result = run("audit", "keygen", expect=2)
    assert result.stderr == (f"Error: the keys folder {keys} may be read by others (mode 755): make it private "
                             f"with: chmod 700 {keys}\n")
    assert os.listdir(keys) == []


def test_a_private_key_file_others_may_read_is_refused_when_signing(ready: Cli, home: Path) -> None:
    keygen(ready)
    key = home / "keys" / "checkpoint-signing.key"
    key.chmod(0o644)
    before = rows(ready.db)
    result = ready("audit", "checkpoint", "--sign", expect=2)
    assert result.stderr == (f"Error: the keys file {key} may be read by others (mode 644): make it private with: "
                             f"chmod 600 {key}\n")
    assert rows(ready.db) == before


def test_a_private_key_that_is_not_one_is_refused(ready: Cli, home: Path) -> None:
    keygen(ready)
    key = home / "keys" / "checkpoint-signing.key"
    key.write_text("not a key\n")
    result = ready("audit", "checkpoint", "--sign", expect=2)
    assert result.stderr == (f"Error: {key} is not an Ed25519 private key in PEM: move it away and run: "
                             f"cycle audit keygen\n")


# --- signing -------------------------------------------------------------------------------------------

def test_sign_without_a_key_is_one_line_and_writes_nothing(ready: Cli, tmp_path: Path) -> None:
    before = rows(ready.db)
    result = ready("audit", "checkpoint", "--sign", "--out", str(tmp_path / "cp.txt"), expect=2)
    assert result.stderr == KEY_LINE + "\n"
    assert rows(ready.db) == before
    assert not (tmp_path / "cp.txt").exists()


def test_a_signed_checkpoint_verifies_and_is_kept_in_the_log(history: Cli, tmp_path: Path) -> None:
    pem, fp = keygen(history)
    head = history("audit", "checkpoint").stdout.strip()
    out = signed(history, tmp_path)
    text = out.read_text()
    lines = text.splitlines()
    assert lines[0] == "cycle signed checkpoint"
    assert lines[1:3] == [f"seq: {head.split(':')[0]}", f"hash: {head.split(':')[1]}"]
    assert lines[3].startswith("at: 20") and lines[3].endswith("Z")
    assert lines[4] == f"key: {fp}"
    assert lines[5].startswith("signature: ") and len(lines) == 6
    entry = history.db.audit()[-1]
    assert entry["action"] == "audit.checkpoint" and entry["seq"] == int(head.split(":")[0]) + 1
    assert json.loads(entry["payload"])["document"] == text
    assert f"signed head {head[:15]}... with key {fp}" in history("audit", "log").stdout
    result = history("audit", "verify", "--checkpoint", str(out), "--public-key", str(public_file(tmp_path, pem)))
    assert result.stdout.startswith("Audit chain verified: 17 entries, head 17:")
    assert f", matches checkpoint {head} (signed by key {fp} at " in result.stdout
    data = history.json("audit", "verify", "--checkpoint", str(out), "--public-key", str(tmp_path / "key.pub"))
    assert data["ok"] is True and data["checkpoint"] == head and data["signed"]["key"] == fp


def test_the_public_key_as_raw_base64_works_too(history: Cli, tmp_path: Path) -> None:
    pem, _ = keygen(history)
    out = signed(history, tmp_path)
    der = base64.b64decode("".join(pem.splitlines()[1:-1]))
    raw = public_file(tmp_path, base64.b64encode(der[-32:]).decode() + "\n", "raw.pub")
    history("audit", "verify", "--checkpoint", str(out), "--public-key", str(raw))


def test_a_copy_through_a_windows_editor_or_mail_client_still_verifies(history: Cli, tmp_path: Path) -> None:
    pem, _ = keygen(history)
    out = signed(history, tmp_path)
    out.write_bytes(b"\xef\xbb\xbf" + out.read_bytes().replace(b"\n", b"\r\n") + b"\r\n\r\n")
    history("audit", "verify", "--checkpoint", str(out), "--public-key", str(public_file(tmp_path, pem)))


@pytest.mark.parametrize("field", ["seq", "hash", "at", "key"])
def test_one_byte_changed_in_the_checkpoint_is_named(history: Cli, tmp_path: Path, field: str) -> None:
    """The key line too: the signature holds with it put back, so the checkpoint was edited, not signed by another
    key."""
    pem, fp = keygen(history)
    out = signed(history, tmp_path)
    data = bytearray(out.read_bytes())
    at = data.index(f"\n{field}: ".encode()) + len(field) + 3  # the value's first character
    data[at] = ord("1") if data[at] != ord("1") else ord("2")
    out.write_bytes(bytes(data))
    line = failed(history, "--checkpoint", str(out), "--public-key", str(public_file(tmp_path, pem)))
    assert line == (f"Audit FAILED: checkpoint {out}: signature does not verify against key {fp} "
                    f"({tmp_path / 'key.pub'}): the checkpoint or its signature was changed after it was signed.")


@pytest.mark.parametrize("where", [12, -5])  # inside the base64, and near its end
def test_one_byte_changed_in_the_signature_is_named(history: Cli, tmp_path: Path, where: int) -> None:
    pem, fp = keygen(history)
    out = signed(history, tmp_path)
    text = out.read_text()
    start = text.index("signature: ") + len("signature: ")
    sig = text[start:].rstrip("\n")
    i = where % len(sig.rstrip("="))
    changed = sig[:i] + ("A" if sig[i] != "A" else "B") + sig[i + 1:]
    out.write_text(text[:start] + changed + "\n")
    assert failed(history, "--checkpoint", str(out), "--public-key", str(public_file(tmp_path, pem))) == (
        f"Audit FAILED: checkpoint {out}: signature does not verify against key {fp} ({tmp_path / 'key.pub'}): "
        f"the checkpoint or its signature was changed after it was signed.")


def test_a_signature_that_is_not_base64_is_named_as_not_verifying(history: Cli, tmp_path: Path) -> None:
    pem, fp = keygen(history)
    out = signed(history, tmp_path)
    text = out.read_text()
    out.write_text(text[:text.index("signature: ")] + "signature: =not base64!\n")
    assert "signature does not verify against key" in failed(
        history, "--checkpoint", str(out), "--public-key", str(public_file(tmp_path, pem)))


def test_a_checkpoint_signed_by_another_key_is_named(history: Cli, tmp_path: Path, home: Path) -> None:
    first_pem, first_fp = keygen(history)
    _, second_fp = keygen(history, "--force")
    out = signed(history, tmp_path)  # signed with the second key
    assert failed(history, "--checkpoint", str(out), "--public-key", str(public_file(tmp_path, first_pem))) == (
        f"Audit FAILED: checkpoint {out} is signed by key {second_fp}, not the key given {first_fp} "
        f"({tmp_path / 'key.pub'}).")


def test_the_log_changed_before_the_signed_checkpoint_is_the_chain_failure(history: Cli, tmp_path: Path,
                                                                            db: Database) -> None:
    pem, _ = keygen(history)
    out = signed(history, tmp_path)
    head = out.read_text().splitlines()[1].split(": ")[1]
    db.drop_audit_triggers()
    rewrite_from(db, 8, {"actor": "mallory"})  # consistently: only the checkpoint shows it
    assert failed(history, "--checkpoint", str(out), "--public-key", str(public_file(tmp_path, pem))) == (
        f"Audit chain FAILED at entry {head}: it differs from the checkpoint kept outside the database (the chain "
        f"was rewritten), so entries 1 to {head} cannot be trusted: they are consistent with each other but do not "
        f"lead to the kept head. To find where it was rewritten, check against an earlier checkpoint: "
        f"cycle audit verify --checkpoint SEQ:HASH")


def test_the_log_cut_off_before_the_signed_checkpoint_is_named(history: Cli, tmp_path: Path, db: Database) -> None:
    pem, _ = keygen(history)
    out = signed(history, tmp_path)
    db.drop_audit_triggers()
    db.execute("DELETE FROM audit_entry WHERE seq >= 15")
    line = failed(history, "--checkpoint", str(out), "--public-key", str(public_file(tmp_path, pem)))
    assert line == ("Audit chain FAILED at entry 16: the log ends at entry 14 but the checkpoint names entry 16: "
                    "entries after 14 were cut off. 14 entries before it verified.")


def test_seq_hash_still_works_and_a_file_needs_a_public_key(history: Cli, tmp_path: Path) -> None:
    head = history("audit", "checkpoint").stdout.strip()
    assert "matches checkpoint" in history("audit", "verify", "--checkpoint", head).stdout
    pem, _ = keygen(history)
    out = signed(history, tmp_path)
    assert history("audit", "verify", "--checkpoint", str(out), expect=2).stderr == (
        f"Error: --checkpoint {out} is a file, so it is a signed checkpoint: give the public key it must be signed "
        f"with: --public-key FILE (or give SEQ:HASH, e.g. 42:3f1c...)\n")
    assert history("audit", "verify", "--checkpoint", head, "--public-key", "k.pub", expect=2).stderr == (
        "Error: --public-key goes with a signed checkpoint file: --checkpoint FILE --public-key FILE\n")
    assert history("audit", "verify", "--checkpoint", "42:abc", "--public-key", "k.pub", expect=2).stderr == (
        "Error: --checkpoint 42:abc: no such file (for a checkpoint, give SEQ:HASH or a signed checkpoint file)\n")


@pytest.mark.parametrize("content, what", [
    (b"", "checkpoint"), (b"42:" + b"0" * 64, "checkpoint"), (b"\xff\xfe\x00garbage", "checkpoint"),
    (b"x" * 70000, "too large"), (b"", "key"), (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "key"),
    (base64.b64encode(b"1" * 31), "key"), (b"=cmd|' /C calc'!A0", "key"),
])
def test_files_that_are_not_checkpoints_or_keys_are_one_line(history: Cli, tmp_path: Path, content: bytes,
                                                              what: str) -> None:
    pem, _ = keygen(history)
    good_cp, good_key = signed(history, tmp_path), public_file(tmp_path, pem)
    bad = tmp_path / "bad"
    bad.write_bytes(content)
    cp, key = (bad, good_key) if what in ("checkpoint", "too large") else (good_cp, bad)
    before = rows(history.db)
    result = history("audit", "verify", "--checkpoint", str(cp), "--public-key", str(key), expect=2)
    assert len(result.stderr.splitlines()) == 1 and result.exception is None or isinstance(result.exception,
                                                                                         SystemExit)
    if what == "checkpoint":
        assert result.stderr.startswith(f"Error: {bad} is not a signed checkpoint")
    elif what == "too large":
        assert result.stderr == f"Error: --checkpoint {bad} is too large to be a checkpoint or a key (over 64 KB)\n"
    else:
        assert result.stderr.startswith(f"Error: {bad} is not an Ed25519 public key")
    assert rows(history.db) == before


def test_out_may_not_go_into_the_keys_folder_and_is_checked_before_signing(ready: Cli, home: Path) -> None:
    keygen(ready)
    before = rows(ready.db)
    result = ready("audit", "checkpoint", "--sign", "--out", str(home / "keys" / "cp.txt"), expect=2)
    assert result.stderr.startswith(f"Error: --out {home / 'keys' / 'cp.txt'} is in {home / 'keys'}")
    assert rows(ready.db) == before
    assert ready("audit", "checkpoint", "--out", "x.txt", expect=2).stderr == (
        "Error: --out goes with --sign: cycle audit checkpoint --sign --out FILE\n")


def test_sign_prints_the_document_without_out_and_json_gives_it(ready: Cli, tmp_path: Path) -> None:
    pem, fp = keygen(ready)
    text = ready("audit", "checkpoint", "--sign").stdout
    assert text.startswith("cycle signed checkpoint\nseq: 4\n") and f"key: {fp}\n" in text
    data = ready.json("audit", "checkpoint", "--sign")
    assert data["seq"] == 5 and data["key"] == fp and data["entry"] == 6
    assert data["document"].startswith("cycle signed checkpoint\nseq: 5\n")
    ready("audit", "verify")  # the checkpoint entries are part of a log that verifies


# --- the reports print the latest ----------------------------------------------------------------------

def test_the_reports_print_the_latest_signed_checkpoint(history: Cli, tmp_path: Path) -> None:
    none_yet = "Latest signed checkpoint: no signed checkpoint yet (make one with `cycle audit checkpoint --sign`)."
    assert none_yet in history("report", "gate-audit").stdout
    assert none_yet in history("report", "quarterly", "--quarter", "2026-Q3").stdout
    assert history.json("report", "gate-audit")["chain"]["signed_checkpoint"] is None
    _, fp = keygen(history)
    signed(history, tmp_path, "first.txt")
    second = signed(history, tmp_path, "second.txt").read_text().splitlines()
    seq, digest, at = (line.split(": ", 1)[1] for line in second[1:4])
    line = f"Latest signed checkpoint: entry {seq}, hash {digest}, signed {at} with key {fp} (kept in entry 18)."
    assert seq == "17"
    assert line in history("report", "gate-audit").stdout
    assert line in history("report", "quarterly", "--quarter", "2026-Q3").stdout
    html = history("report", "quarterly", "--quarter", "2026-Q3", "--format", "html").stdout
    assert (f"Latest signed checkpoint: entry {seq}, hash <code>{digest}</code>, signed {at} with key <code>{fp}</code>"
            f" (kept in entry 18).") in html
    assert "Latest signed checkpoint: entry 17" in history("report", "gate-audit", "--format", "html").stdout
    assert history.json("report", "quarterly", "--quarter", "2026-Q3")["chain"]["signed_checkpoint"] == {
        "seq": 17, "hash": digest, "at": at, "key": fp, "entry": 18}


def test_a_hand_edited_checkpoint_entry_is_shown_unreadable_not_crashed_on(history: Cli, tmp_path: Path,
                                                                          db: Database) -> None:
    keygen(history)
    signed(history, tmp_path)
    db.drop_audit_triggers()
    db.execute("UPDATE audit_entry SET payload = '{\"seq\": \"=1+1\"}' WHERE action = 'audit.checkpoint'")
    result = history("report", "gate-audit", expect=1)  # the chain fails, and the report says so
    assert "Audit chain FAILED at entry 17" in result.stdout
    assert "Latest signed checkpoint: entry 17 cannot be read (no 'hash' field)." in result.stdout


def test_the_private_key_given_as_the_public_key_is_refused_in_one_line(history: Cli, tmp_path: Path,
                                                                        home: Path) -> None:
    keygen(history)
    out = signed(history, tmp_path)
    private = home / "keys" / "checkpoint-signing.key"
    result = history("audit", "verify", "--checkpoint", str(out), "--public-key", str(private), expect=2)
    assert result.stderr.startswith(f"Error: {private} is not an Ed25519 public key")
    assert "PRIVATE" not in result.stderr + result.stdout  # the key itself is never echoed


def test_a_folder_given_as_a_checkpoint_or_key_is_one_line(history: Cli, tmp_path: Path) -> None:
    pem, _ = keygen(history)
    out = signed(history, tmp_path)
    result = history("audit", "verify", "--checkpoint", str(tmp_path), "--public-key", str(public_file(tmp_path, pem)),
                     expect=2)
    assert result.stderr.startswith(f"Error: cannot read --checkpoint {tmp_path}: ")
    result = history("audit", "verify", "--checkpoint", str(out), "--public-key", str(tmp_path), expect=2)
    assert result.stderr.startswith(f"Error: cannot read --public-key {tmp_path}: ")


def test_chain_only_and_json_with_a_signed_checkpoint(history: Cli, tmp_path: Path) -> None:
    pem, fp = keygen(history)
    out = signed(history, tmp_path)
    key = public_file(tmp_path, pem)
    assert "Records" not in history("audit", "verify", "--chain-only", "--checkpoint", str(out), "--public-key",
                                    str(key)).stdout
    out.write_text(out.read_text().replace("seq: 16", "seq: 15"))
    bad = history("audit", "verify", "--json", "--checkpoint", str(out), "--public-key", str(key), expect=1)
    data = json.loads(bad.stdout)
    assert data["ok"] is False and "signature does not verify" in data["problem"]


def test_a_keys_folder_or_key_that_is_a_symlink_is_refused(ready: Cli, home: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    home.mkdir(exist_ok=True)
    (home / "keys").symlink_to(elsewhere)
    result = ready("audit", "keygen", expect=2)
    assert result.stderr == (f"Error: {home / 'keys'} is not a folder: move it away, then run: cycle audit keygen\n")
    assert os.listdir(elsewhere) == []
