"""Signed checkpoints: the chain's head (sequence, hash, time) signed with an Ed25519 key kept outside the database.

A checkpoint kept outside the database catches a log cut off or rewritten (cycle.audit.chain); signed, it also
says who vouched for it, and a copy sent out (the daily email) cannot be forged by whoever controls the database.

The key pair lives in $CYCLE_HOME/keys/ (folder 0700, private key 0600, created with those modes). The document
is plain text, one field a line, then a last line holding the Ed25519 signature of every byte before it:

    cycle signed checkpoint
    seq: 42
    hash: 3f1c...
    at: 2027-03-31T06:00:00Z
    key: ab12 cd34 ef56 7890
    signature: <base64>

The signature is checked over the bytes as they are, before any field is read, so one byte changed anywhere
fails it. The cryptography is the `cryptography` package's; this module only lays out and reads the text.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cycle import config
from cycle.calendar.clock import utc_now
from cycle.errors import BadInput, CycleError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    from cycle.db.sql import Sql
    from cycle.db.store import Store

PRIVATE = "checkpoint-signing.key"
PUBLIC = "checkpoint-signing.pub"
#: The head each signing signed, kept beside the key (outside the database): the next signing refuses a log that
#: no longer holds it, so a log rewritten and re-chained since never gets a genuine signature.
LAST = "last-signed"
HEADING = "cycle signed checkpoint"
ACTION = "audit.checkpoint"  # the audit entry that keeps each signed checkpoint (the reports print the latest)
NO_KEY = "no signing key: create one with: cycle audit keygen"


class NoSigningKey(BadInput):
    """No private key in the keys folder."""

    def __init__(self) -> None:
        super().__init__(NO_KEY)


def keys_dir() -> Path:
    return config.home() / "keys"


def fingerprint(public: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, the first 16 hex digits in groups of four: 'ab12 cd34 ef56 7890'."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    digest = hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]
    return " ".join(digest[i:i + 4] for i in range(0, 16, 4))


def _public_pem(public: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def _too_open(path: Path, mode: int, wanted: int) -> BadInput:
    kind = "folder" if wanted == 0o700 else "file"
    return BadInput(f"the keys {kind} {path} may be read by others (mode {mode:o}): make it private with: "
                    f"chmod {wanted:o} {path}")


def _check_private(path: Path, wanted: int) -> None:
    """Refuse a keys folder or private key file that anyone but its owner may read, write or enter, or that
    belongs to another user (who could put their own key there)."""
    st = path.lstat()
    mode = stat.S_IMODE(st.st_mode)
    kind = "folder" if wanted == 0o700 else "file"
    if path.is_symlink():
        raise BadInput(f"the keys {kind} {path} is a symbolic link: put the real {kind} there")
    if mode & 0o077:
        raise _too_open(path, mode, wanted)
    if st.st_uid != os.geteuid():
        raise BadInput(f"the keys {kind} {path} belongs to another user (uid {st.st_uid}), who could replace the "
                       f"key: make it yours with: chown {os.geteuid()} {path}")


class NotRegular(BadInput):
    """A pipe or a device where a small file was expected."""


class TooLarge(BadInput):
    """A file longer than the small file expected."""


def read_small(path: str | Path, what: str, limit: int = 64 * 1024,
               fix: str = "copy it to a file and give that") -> bytes:
    """The bytes of a small regular file. NotRegular (BadInput) for a FIFO or a device (reading one waits for a writer
    or never ends), TooLarge for a file over `limit`; OSError as the system gives it (no such file, a folder ...)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO with no writer opens at once
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(f"{what} {path} is not a regular file (a pipe or a device): {fix}")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise TooLarge(f"{what} {path} is too large to be a checkpoint or a key (over {limit // 1024} KB)")
    return b"".join(chunks)


def _folder() -> Path:
    """The keys folder, created 0700 when missing; BadInput when it is wider (or not a folder)."""
    folder = keys_dir()
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(folder, 0o700)
            os.chmod(folder, 0o700)  # whatever the umask left
        except FileExistsError:
            pass
        if not folder.is_dir() or folder.is_symlink():
            raise BadInput(f"{folder} is not a folder: move it away, then run: cycle audit keygen")
        _check_private(folder, 0o700)
    except OSError as exc:
        raise BadInput(f"cannot use the keys folder {folder}: {exc.strerror or exc}") from None
    return folder


@dataclass(frozen=True)
class KeyPair:
    private_path: Path
    public_path: Path
    public_pem: str
    fingerprint: str


def keygen(force: bool = False) -> KeyPair:
    """A new Ed25519 key pair in the keys folder: the private key written 0600 from the start (never readable by
    others, even for a moment), the public key beside it. BadInput when a key is there already, unless `force`."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    folder = _folder()
    private_path, public_path = folder / PRIVATE, folder / PUBLIC
    if (private_path.exists() or private_path.is_symlink()) and not force:
        raise BadInput(f"a signing key exists already ({private_path}); checkpoints signed with it verify only "
                       f"against its public key. To replace it anyway: cycle audit keygen --force")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    public_pem = _public_pem(key.public_key())
    try:
        _write_new(private_path, pem, 0o600)
        _write_new(public_path, public_pem.encode(), 0o644)
    except OSError as exc:
        raise BadInput(f"cannot write the key in {folder}: {exc.strerror or exc}") from None
    return KeyPair(private_path, public_path, public_pem, fingerprint(key.public_key()))


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write a new file with `mode` from the moment it exists (O_EXCL on a temporary name), then rename it over
    `path`: a reader sees the old file or the whole new one."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        os.fchmod(fd, mode)  # the umask may have taken bits away; never adds any
        os.write(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(temp, path)


def private_key() -> Ed25519PrivateKey:
    """The signing key; NoSigningKey when there is none, BadInput when its folder or file is readable by others or
    it is not an Ed25519 private key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    folder = keys_dir()
    path = folder / PRIVATE
    if not (path.exists() or path.is_symlink()):
        raise NoSigningKey()
    try:
        _check_private(folder, 0o700)
        _check_private(path, 0o600)
        data = read_small(path, "the signing key", fix="move it away and run: cycle audit keygen")
    except OSError as exc:
        raise BadInput(f"cannot read the signing key {path}: {exc.strerror or exc}") from None
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadInput(f"{path} is not an Ed25519 private key in PEM: move it away and run: cycle audit keygen")
    return key


def has_key() -> bool:
    path = keys_dir() / PRIVATE
    return path.exists() or path.is_symlink()


# --- the document -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Signed:
    """A signed checkpoint: what it says, and the document as written (text, signature line included)."""

    seq: int
    hash: str
    at: str
    key: str
    document: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "at": self.at, "key": self.key}


def sign(seq: int, digest: str, key: Ed25519PrivateKey, at: str | None = None) -> Signed:
    at = at or utc_now()
    fp = fingerprint(key.public_key())
    body = f"{HEADING}\nseq: {seq}\nhash: {digest}\nat: {at}\nkey: {fp}\n"
    signature = base64.b64encode(key.sign(body.encode("ascii"))).decode()
    return Signed(seq, digest, at, fp, f"{body}signature: {signature}\n")


def sign_head(store: Store, *, actor: str) -> tuple[Signed, int]:
    """Sign the chain's head and keep the signed checkpoint as an `audit.checkpoint` entry (appended after the head
    it signs, in one write transaction); the checkpoint and the entry's sequence number. NoSigningKey without a
    key (nothing written)."""
    key = private_key()
    actor = store.actor(actor)
    with store.writing() as sql:
        return sign_in(sql, key, actor=actor)


class LogRewritten(CycleError):
    """The log no longer holds the head the last signing signed: it was rewritten (or restored from an older copy)
    since. Nothing is signed."""

    exit_code = 1


def sign_in(db: Any, key: Ed25519PrivateKey, *, actor: str, why: dict[str, Any] | None = None) -> tuple[Signed, int]:
    """sign_head, in the caller's write transaction (`db`: its Sql or Session); `why` goes into the entry's
    payload too (the scheduler's daily checkpoint says which day). LogRewritten when the log no longer holds the
    head signed last (kept in the keys folder, which whoever controls the database cannot reach)."""
    from cycle.db.sql import sql_of

    from . import chain

    last = _last_signed()
    if last is not None:
        row = sql_of(db).one("SELECT hash FROM audit_entry WHERE seq = :seq", seq=last[0])
        if (row.hash if row else chain.GENESIS if last[0] == 0 else None) != last[1]:
            raise LogRewritten(
                f"nothing signed: the log's entry {last[0]} no longer has the hash the last signed checkpoint signed "
                f"({last[1][:12]}...): the log was rewritten or restored from an older copy since. Check it with: "
                f"cycle audit verify --checkpoint FILE --public-key FILE; if the database was restored on purpose, "
                f"move {keys_dir() / LAST} away and sign again")
    seq, digest = chain.head(db)
    signed = sign(seq, digest, key)
    _keep_last(seq, digest)  # a head the log holds now, whether or not this transaction commits
    entry = chain.append(db, actor=actor, action=ACTION,
                         payload={**signed.as_dict(), "document": signed.document, **(why or {})}, at=signed.at)
    return signed, entry.seq


def _last_signed() -> tuple[int, str] | None:
    """The head signed last (keys folder), or None before the first signing. BadInput when it is not what signing
    writes."""
    path = keys_dir() / LAST
    if not (path.exists() or path.is_symlink()):
        return None
    try:
        text = read_small(path, "the last signed head", limit=1024, fix="move it away and sign again")
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror or exc}; move it away and sign again") from None
    found = re.fullmatch(rb"(\d{1,18}) ([0-9a-f]{64})\n?", text)
    if found is None:
        raise BadInput(f"{path} is not the last signed head as cycle writes it (SEQ HASH): move it away and sign "
                       f"again")
    return int(found.group(1)), found.group(2).decode()


def _keep_last(seq: int, digest: str) -> None:
    try:
        _write_new(_folder() / LAST, f"{seq} {digest}\n".encode(), 0o600)
    except OSError as exc:
        raise BadInput(f"cannot write {keys_dir() / LAST}: {exc.strerror or exc}; nothing signed") from None


_FIELDS = re.compile(r"\Acycle signed checkpoint\nseq: (\d{1,18})\nhash: ([0-9a-f]{64})\nat: (\S{1,40})\n"
                     r"key: ([0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{4})\n\Z")


class BadSignature(Exception):
    """A signed checkpoint that does not verify against the public key given: the message says why."""


def read_document(data: bytes, name: str) -> tuple[bytes, bytes, str | None]:
    """(signed bytes, signature, the key the document names or None): BadInput when it is not a signed checkpoint
    at all. A copy that went through a mail client or an editor on Windows (CRLF, a BOM, a trailing blank line) is
    read as the LF text it was signed as, and so is one pasted with blank lines around it."""
    text = data.removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n").strip(b"\n \t") + b"\n"
    body, sep, last = text.rpartition(b"\nsignature: ")
    if not sep or not body.startswith(HEADING.encode() + b"\n"):
        raise BadInput(f"{name} is not a signed checkpoint (it should start {HEADING!r} and end with a "
                       f"'signature:' line); make one with: cycle audit checkpoint --sign --out FILE")
    try:
        signature = base64.b64decode(last.strip(), validate=True)
    except (binascii.Error, ValueError):
        signature = b""  # not base64 any more: it does not verify
    claimed = re.search(rb"\nkey: ([0-9a-f ]{19})\n", body + b"\n")
    return body + b"\n", signature, claimed.group(1).decode() if claimed else None


def load_public_key(data: bytes, name: str) -> Ed25519PublicKey:
    """A public key as `audit keygen` prints it: PEM, or the raw 32 bytes in base64; BadInput otherwise."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    text = data.removeprefix(b"\xef\xbb\xbf").strip()
    key: Any = None
    try:
        if text.startswith(b"-----BEGIN"):
            key = load_pem_public_key(text)
        else:
            raw = base64.b64decode(text, validate=True)
            key = Ed25519PublicKey.from_public_bytes(raw) if len(raw) == 32 else None
    except (ValueError, TypeError, binascii.Error):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise BadInput(f"{name} is not an Ed25519 public key (PEM, or 32 bytes in base64, as cycle audit keygen "
                       f"prints it)")
    return key


def check(document: bytes, document_name: str, public: bytes, public_name: str) -> Signed:
    """The signed checkpoint in `document`, once its signature verifies against the public key in `public`.
    BadInput when either is not what it should be; BadSignature naming the failure: another key, or a byte changed
    in the checkpoint or its signature."""
    from cryptography.exceptions import InvalidSignature

    key = load_public_key(public, public_name)
    body, signature, claimed = read_document(document, document_name)
    given = fingerprint(key)
    try:
        key.verify(signature, body)
    except InvalidSignature:
        if claimed is not None and claimed != given and not _verifies(key, body.replace(
                f"\nkey: {claimed}\n".encode(), f"\nkey: {given}\n".encode(), 1), signature):
            raise BadSignature(f"checkpoint {document_name} is signed by key {claimed}, not the key given "
                               f"{given} ({public_name})") from None
        raise BadSignature(f"checkpoint {document_name}: signature does not verify against key {given} "
                           f"({public_name}): the checkpoint or its signature was changed after it was "
                           f"signed") from None
    found = _FIELDS.match(body.decode("ascii", "replace"))
    if found is None:  # signed, so cycle wrote it: only a different version's layout gets here
        raise BadInput(f"{document_name} is signed but not laid out as this version of cycle writes a checkpoint")
    seq, digest, at, fp = found.groups()
    return Signed(int(seq), digest, at, fp, document.decode("ascii", "replace"))


def _verifies(key: Ed25519PublicKey, body: bytes, signature: bytes) -> bool:
    """The signature holds for `body`: the key line put back as the given key's, it tells a checkpoint whose key
    line was edited (signed by this key after all) from one another key signed."""
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(signature, body)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class Kept:
    """The newest `audit.checkpoint` entry (`entry`, its sequence number): the checkpoint its payload keeps (`fields`:
    seq, hash, at and key; `payload`: all of it, the signed document included), or why that cannot be read."""

    entry: int
    fields: dict[str, Any] | None
    payload: dict[str, Any]
    unreadable: str | None = None


def _newest(sql: Sql) -> Kept | None:
    """The newest signed checkpoint the log keeps, in the caller's transaction (a bundle's export reads it in its
    own); None when nothing has been signed yet. Its fields have the types signing writes, else `unreadable` says
    why."""
    from . import chain

    found = sql.rows_of_any_text("SELECT seq, payload FROM audit_entry WHERE action = :action ORDER BY seq DESC "
                                 "LIMIT 1", action=ACTION)
    if not found:
        return None
    entry, payload = found[0]
    p: dict[str, Any] = {}
    try:
        p = chain.read_payload(payload if isinstance(payload, str) else None)
        kept = {"seq": p["seq"], "hash": p["hash"], "at": p["at"], "key": p["key"]}
        if not (type(kept["seq"]) is int and all(isinstance(kept[k], str) for k in ("hash", "at", "key"))):
            raise chain.Unreadable("a field has the wrong type")
    except chain.PAYLOAD_ERRORS as exc:
        return Kept(entry, None, p, chain.why_unreadable(exc))
    return Kept(entry, kept, p)


def latest(store: Store) -> dict[str, Any] | None:
    """The newest signed checkpoint the log keeps (`audit.checkpoint`), as the reports print it: its seq, hash, at,
    key and the entry holding it; `unreadable` instead when that entry's payload is not what signing writes. None
    when nothing has been signed yet."""
    with store.reading() as sql:
        found = _newest(sql)
    if found is None:
        return None
    if found.fields is None:
        return {"entry": found.entry, "unreadable": found.unreadable}
    distrust = _distrust(store, found.payload.get("document"), found.fields)
    if distrust is not None:  # the reports say so rather than print it as signed
        return {"entry": found.entry, "unreadable": f"not trusted: {distrust}"}
    return {**found.fields, "entry": found.entry}


def _own_public_key() -> Ed25519PublicKey | None:
    """This installation's public key (keys folder), to check the kept checkpoints with; None when there is none."""
    try:
        return load_public_key(read_small(keys_dir() / PUBLIC, "the public key"), PUBLIC)
    except (OSError, BadInput):
        pass
    try:
        return private_key().public_key() if has_key() else None
    except BadInput:
        return None


def _distrust(store: Store, document: Any, kept: dict[str, Any]) -> str | None:
    """Why a kept checkpoint is not what this installation signed, or None: its document does not verify against
    the key in the keys folder, says something else than the entry's fields, or signs a hash the log no longer has
    at that entry (the log was rewritten and re-chained since). Someone who controls the database can write an
    `audit.checkpoint` entry, but not sign one. Not checked where there is no key (a copy of the database)."""
    public = _own_public_key()
    if public is None:
        return None
    if not isinstance(document, str):
        return "it holds no signed document"
    own = fingerprint(public)
    if kept["key"] != own:
        return f"signed with key {kept['key']}, not this installation's key {own}; check it with that key's public key"
    try:
        signed = check(document.encode("utf-8", "replace"), "the kept checkpoint",
                       _public_pem(public).encode(), PUBLIC)
    except (BadSignature, BadInput):
        return f"its signature does not verify against this installation's key {own}"
    if signed.as_dict() != {k: kept[k] for k in ("seq", "hash", "at", "key")}:
        return "its fields differ from the document it signed"
    from .chain import GENESIS

    with store.reading() as sql:
        at_seq = sql.rows_of_any_text("SELECT hash FROM audit_entry WHERE seq = :seq", seq=signed.seq)
    if (at_seq[0][0] if at_seq else GENESIS if signed.seq == 0 else None) != signed.hash:
        return (f"the log's entry {signed.seq} no longer has the hash it signed (the log was rewritten since): "
                f"check it with: cycle audit verify --checkpoint FILE --public-key FILE")
    return None
