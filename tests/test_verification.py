"""`audit verify` and both reports run one check, and no value in the audit table crashes it.

The history is built through the real CLI; the tampering is plain SQL on the database (the `db`
fixture), as the database's owner, or anyone holding the SQLite file, could do it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from sqlalchemy.exc import DBAPIError

from cycle.calendar.clock import london_today
from cycle.calendar.quarters import quarter_of

from .conftest import BODY, Cli, Database
from .test_audit import COLUMNS, build_history, rows

QUARTER = str(quarter_of(london_today()))
REPORTS = (("report", "gate-audit"), ("report", "quarterly", "--quarter", QUARTER))


@pytest.fixture
def history(run: Cli) -> Cli:
    build_history(run)
    return run


def loosen(db: Database) -> None:
    """What the owner can do first: take away the append-only triggers, and the NOT NULLs (and on
    SQLite the column types too), so that a column can hold whatever the database will store."""
    if db.dialect == "sqlite":
        columns = ", ".join(COLUMNS)
        db.execute(f"CREATE TABLE audit_loose ({columns})",
                   f"INSERT INTO audit_loose SELECT {columns} FROM audit_entry ORDER BY seq",
                   "DROP TABLE audit_entry", "ALTER TABLE audit_loose RENAME TO audit_entry")
    else:
        db.execute("ALTER TABLE audit_entry DISABLE TRIGGER USER",
                   *(f"ALTER TABLE audit_entry ALTER COLUMN {c} DROP NOT NULL" for c in COLUMNS if c != "seq"))


# --- a column of the wrong type is a bad entry, named, in verify, the log and both reports ------------

SQLITE, POSTGRES = pytest.mark.sqlite_only, pytest.mark.postgresql_only
TYPES = [
    pytest.param(False, ["UPDATE audit_entry SET actor = X'ff00' WHERE seq = 9"], 9,
                 "actor is not text (it holds binary data, 2 bytes)", id="binary actor", marks=SQLITE),
    pytest.param(False, ["UPDATE audit_entry SET actor = CAST(X'ff41' AS TEXT) WHERE seq = 9"], 9,
                 "actor is not UTF-8 text", id="actor not UTF-8", marks=SQLITE),
    pytest.param(True, ["UPDATE audit_entry SET payload = 42 WHERE seq = 9"], 9,
                 "payload is not text (it holds the number 42)", id="payload a number", marks=SQLITE),
    pytest.param(True, ["UPDATE audit_entry SET seq = 'sixteen' WHERE seq = 16"], 16,  # the last entry
                 "seq is not a whole number (it holds the text 'sixteen')", id="seq text", marks=SQLITE),
    pytest.param(True, ["UPDATE audit_entry SET actor = NULL WHERE seq = 9"], 9, "actor is empty (NULL)",
                 id="actor NULL"),
    pytest.param(True, ["ALTER TABLE audit_entry ALTER COLUMN actor TYPE bytea USING convert_to(actor, 'UTF8')"], 1,
                 "actor is not text (it holds binary data, 5 bytes)", id="actor bytea", marks=POSTGRES),
]


@pytest.mark.parametrize("loose, statements, seq, problem", TYPES)
def test_a_column_of_the_wrong_type_is_named_everywhere(history: Cli, db: Database, loose: bool,
                                                        statements: list[str], seq: int, problem: str) -> None:
    if loose:
        loosen(db)
    else:
        db.drop_audit_triggers()
    db.execute(*statements)
    verified = history("audit", "verify", expect=1)
    assert (verified.stdout, verified.stderr) == (
        "", f"Audit chain FAILED at entry {seq}: {problem}. {seq - 1} entries before it verified.\n")
    assert history.json("audit", "verify", expect=1)["problem"] == problem

    marked = [x for x in history("audit", "log").stdout.splitlines() if "(entry unreadable: " in x]
    assert marked[0].endswith(f"(entry unreadable: {problem})")
    entry = history.json("audit", "log")[seq - 1]
    assert entry["payload_error"] == problem and str(entry["seq"]) in (str(seq), "sixteen")

    for report in REPORTS:
        result = history(*report, "--format", "md", expect=1)
        assert f"**Audit chain FAILED at entry {seq}**: {problem}. Do not rely on this record" in result.stdout
        assert result.stderr == (f"Audit chain FAILED at entry {seq}: {problem}. The report says so; "
                                 f"see: cycle audit verify\n")
        data = history.json(*report, expect=1)
        assert (data["chain"]["ok"], data["chain"]["bad_seq"], data["chain"]["problem"]) == (False, seq, problem)
        history(*report, "--format", "html", expect=1)


# --- fuzz: whatever one column of one entry holds, verify names that entry and nothing crashes -------

class NotUtf8(bytes):
    """Bytes stored as TEXT (SQLite keeps them as given); Python's sqlite3 cannot read them as str."""


_NO_SURROGATES = st.characters(blacklist_categories=("Cs",))
_ODD_TEXT = st.one_of(
    st.text(_NO_SURROGATES, max_size=30),
    st.text(st.characters(max_codepoint=0x1F), min_size=1, max_size=4),  # control characters only
    st.builds(lambda n, ch: ch * n, st.integers(10_000, 300_000), st.sampled_from(["x", "\x1f", "\u202e", "é"])),
    st.sampled_from(["", " ", "0" * 64, "\x1e", "{}", "null"]),
)
_SQLITE_VALUES = st.one_of(
    _ODD_TEXT, st.none(), st.integers(-(2 ** 63), 2 ** 63 - 1), st.floats(), st.binary(max_size=40),
    st.builds(lambda a, b: NotUtf8(a + b"\xff" + b), st.binary(max_size=8), st.binary(max_size=8)),
)


def _pg_values(column: str) -> st.SearchStrategy[Any]:
    """What PostgreSQL stores in each column (once its NOT NULL is dropped): text but no NUL; seq an int4."""
    if column == "seq":
        return st.integers(17, 2 ** 31 - 1) | st.integers(-(2 ** 31), 0)
    return st.none() | _ODD_TEXT.map(lambda s: s.replace("\x00", ""))


def _snapshot(db: Database) -> list[Any]:
    """The table as stored, whatever it holds (SQLite: each value's type and bytes, which need no decoding)."""
    if db.dialect == "sqlite":
        cells = ", ".join(f"typeof({c}), hex({c})" for c in COLUMNS)
        return db.rows(f"SELECT {cells} FROM audit_entry ORDER BY rowid")
    return sorted(db.rows("SELECT * FROM audit_entry"), key=repr)


def _restore(db: Database, original: list[tuple[Any, ...]]) -> None:
    db.execute("DELETE FROM audit_entry")
    placeholders = ", ".join(f":{c}" for c in COLUMNS)
    for row in original:
        db.execute(f"INSERT INTO audit_entry ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                   params=dict(zip(COLUMNS, row, strict=True)))


OPTIONAL = ("project", "from_stage", "to_stage")


def _wrong_type(column: str, value: Any) -> bool:
    """Whether cycle never writes such a value in the column (verify must then name the column)."""
    if value is None:
        return column not in OPTIONAL
    return isinstance(value, bytes) or not isinstance(value, str)


@pytest.fixture
def loose(history: Cli, db: Database) -> list[tuple[Any, ...]]:
    """The history's audit table loosened (see loosen), and its rows as they were written."""
    loosen(db)
    return rows(db)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), seq=st.integers(1, 16), column=st.sampled_from(COLUMNS))
def test_any_value_in_any_column_is_named_never_crashed_on(history: Cli, db: Database, loose: list[tuple[Any, ...]],
                                                           data: st.DataObject, seq: int, column: str) -> None:
    _restore(db, loose)
    before = _snapshot(db)
    value = data.draw(_SQLITE_VALUES if db.dialect == "sqlite" else _pg_values(column), label="value")
    cast = "CAST(:v AS TEXT)" if isinstance(value, NotUtf8) else ":v"
    try:
        db.execute(f"UPDATE audit_entry SET {column} = {cast} WHERE seq = :seq",
                   params={"v": bytes(value) if isinstance(value, NotUtf8) else value, "seq": seq})
    except DBAPIError:  # what the database will not store (PostgreSQL: a project too long for its index)
        reject()
    if _snapshot(db) == before:  # the same value again (or one the database stored as it was)
        history("audit", "verify")
        return
    if column in OPTIONAL and value in ("", None) and loose[seq - 1][COLUMNS.index(column)] in ("", None):
        # NULL and empty text are the same to the hash (see cycle.audit): the chain holds, the records may not.
        assert history.json("audit", "verify", expect=None)["chain_ok"] is True
        return
    result = history("audit", "verify", "--json", expect=1)
    verdict = json.loads(result.stdout)
    assert not verdict["ok"] and verdict["problem"]
    if column == "seq":  # a moved entry shows where the sequence first breaks, at or before it
        assert 1 <= verdict["bad_seq"] <= seq
    else:
        assert verdict["bad_seq"] == seq
        if _wrong_type(column, value):
            assert verdict["problem"].startswith(f"{column} is "), verdict["problem"]
    history("audit", "verify", expect=1)
    log = history.json("audit", "log")
    assert len(log) == 16  # build_history's entries, with init's two workflow.install
    if column != "seq" and _wrong_type(column, value):
        assert log[seq - 1]["payload_error"] == verdict["problem"]
    history("audit", "log")
    for report in REPORTS:
        report_data = history.json(*report, expect=1)
        assert report_data["chain"]["ok"] is False and report_data["chain"]["bad_seq"] == verdict["bad_seq"]
    history("report", "gate-audit", "--format", "html", expect=1)


# --- both reports run the whole check: forged records fail them as they fail `audit verify` ---------

def _decision(db: Database, ref: str) -> int:
    return int(db.rows("SELECT id FROM decision WHERE ref = :r", {"r": ref})[0][0])


FORGERIES = {
    "a forged go": (["INSERT INTO decision (project_id, cycle, visit, gate, outcome, body, ref, recorded_by, "
                     "recorded_at) SELECT id, cycle, visit, 'plan-do', 'go', :body, 'never held', 'clerk', "
                     "'2026-11-22T10:00:00.000000Z' FROM project WHERE key = 'camhs'"], "never held"),
    "a hold changed to go": (["UPDATE decision SET outcome = 'go' WHERE ref = 'CTB hold'"], "CTB hold"),
    "a deleted decision": (["DELETE FROM decision WHERE ref = 'CTB hold'"], "CTB hold"),
    "a changed stage": (["UPDATE project SET stage = 'do' WHERE key = 'camhs'"], None),
}


@pytest.mark.parametrize("statements, ref", list(FORGERIES.values()), ids=list(FORGERIES))
def test_forged_records_fail_both_reports_as_they_fail_verify(history: Cli, db: Database, tmp_path: Path,
                                                              statements: list[str], ref: str | None) -> None:
    history("decision", "record", "camhs", "--gate", "plan-do", "--outcome", "hold", "--body", BODY,
            "--ref", "CTB hold", user="clerk")
    clean = history("report", "gate-audit", "camhs").stdout
    assert "**Records match the log** (rows compared: " in clean
    named = f"decision #{_decision(db, ref)}" if ref and ref != "never held" else "project camhs"
    db.tamper(*statements, params={"body": BODY} if ":body" in statements[0] else None)
    if ref == "never held":
        named = f"decision #{_decision(db, ref)}"

    verified = history.json("audit", "verify", expect=1)
    assert verified["chain_ok"] and not verified["ok"]
    problems = [d["problem"] for d in verified["records"]["discrepancies"]]
    assert problems and any(p.startswith(named) for p in problems), problems
    for report in REPORTS:
        data = history.json(*report, expect=1)
        assert data["chain"]["ok"] is False and data["chain"]["chain_ok"] is True
        assert [d["problem"] for d in data["chain"]["records"]["discrepancies"]] == problems
        out = tmp_path / f"{report[1]}.md"
        result = history(*report, "--out", str(out), expect=1)
        n = len(problems)
        assert result.stderr == (f"Records FAILED: {n} {'does' if n == 1 else 'do'} not match the audit log. "
                                 f"The report says so; see: cycle audit verify\n")
        text = out.read_text()
        top = text[:text.index("**Records FAILED**")]
        assert "**Audit chain verified**" in top and "\n## " not in top  # at the top, before any project
        assert all(f"- {p}\n" in text for p in problems)
        html = history(*report, "--format", "html", expect=1).stdout
        assert '<div class="banner bad"><strong>Records FAILED</strong>' in html
        assert all(f"<li>{p}</li>" in html.replace("&#39;", "'") for p in problems)


def test_a_clean_record_says_so_at_the_top_of_both_reports(history: Cli) -> None:
    verified = history.json("audit", "verify")
    for report in REPORTS:
        data = history.json(*report)
        assert data["chain"]["records"] == verified["records"] and data["chain"]["ok"] is True
        html = history(*report, "--format", "html").stdout
        assert '<div class="banner ok"><strong>Audit chain verified</strong>' in html
        assert "<strong>Records match the log</strong> (rows compared: " in html


# --- a checkpoint that is empty or malformed is bad input, everywhere -----------------------------

BAD_CHECKPOINTS = ["", "   ", "\u00b2:" + "a" * 64, "\u0661\u0664:" + "a" * 64]


@pytest.mark.parametrize("bad", BAD_CHECKPOINTS, ids=["empty", "blank", "superscript two", "arabic digits"])
@pytest.mark.parametrize("command", [("audit", "verify"), *REPORTS], ids=["verify", "gate-audit", "quarterly"])
def test_an_empty_or_malformed_checkpoint_is_bad_input(history: Cli, tmp_path: Path, command: tuple[str, ...],
                                                       bad: str) -> None:
    """A cron job's `--checkpoint "$(cat missing-file)"` must not pass with the tail cut off."""
    out = ["--out", str(tmp_path / "report.md")] if command[0] == "report" else []
    result = history(*command, *out, "--checkpoint", bad, expect=2)
    assert result.stdout == ""
    assert result.stderr == (f"Error: checkpoint {bad!r} is not SEQ:HASH (e.g. 42:3f1c...; "
                             f"print one with: cycle audit checkpoint)\n")
    assert not (tmp_path / "report.md").exists()
