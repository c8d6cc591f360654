"""Tampering with the audit log is caught by `cycle audit verify`, naming the first bad entry.

The history is built through the real CLI; the tampering is done with plain SQL on the database
(the `db` fixture), as someone with write access to the file, or the owner's rights on the server,
would do it (but not to a checkpoint kept elsewhere).
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cycle.audit.chain import GENESIS, canonical_json, entry_hash
from cycle.calendar.clock import utc_now

from .conftest import CAMHS, Cli, Database, go

CHECKED = {"project": 3, "evidence": 3, "decision": 3, "waiver": 0, "programme": 0, "gate_request": 0, "milestone": 0,
           "contract": 0, "contract_funder": 0, "procurement": 0, "procurement_step": 0, "link": 0, "person": 0,
           "person_role": 0, "deputy": 0, "review_meeting": 0, "outbox": 0, "delivery_attempt": 0,
           "workflow_version": 2, "kpi": 0, "kpi_target": 0, "kpi_value": 0,
           "action": 0, "kpi_assessment": 0}
COLUMNS = ("seq", "at", "actor", "project", "action", "from_stage", "to_stage", "payload", "prev_hash", "hash")


def rows(db: Database) -> list[tuple]:
    return db.rows(f"SELECT {', '.join(COLUMNS)} FROM audit_entry ORDER BY seq")


def build_history(run: Cli) -> None:
    """Three projects; evidence, decisions, a refused and two successful advances, a set, a stop."""
    run("init")
    run(*CAMHS)
    run("project", "new", "school-nursing", "--title", "School nursing", "--lead-commissioner", "LA",
        "--model", "joint", "--accountable-body", "Health and Wellbeing Board", "--owner", "bob")
    run("project", "new", "respite", "--title", "Short breaks", "--accountable-body", "Children's Trust Board")
    run("project", "advance", "camhs", expect=3)
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA 2026 children chapter")
    run("evidence", "add", "school-nursing", "needs-assessment", "--ref", "JSNA 2026 school health")
    go(run, "camhs", "analyse-plan")
    run("project", "advance", "camhs")
    run("evidence", "add", "camhs", "eia", "--ref", "EIA v1", user="bob")
    run("project", "set", "school-nursing", "--owner", "carol")
    run("decision", "record", "school-nursing", "--gate", "analyse-plan", "--outcome", "go",
        "--body", "Health and Wellbeing Board", "--ref", "HWB 2026-11-02 item 3")
    run("project", "advance", "school-nursing")
    run("decision", "record", "respite", "--gate", "analyse-plan", "--outcome", "stop",
        "--body", "Children's Trust Board", "--ref", "CTB 2026-11-09 item 7")


@pytest.fixture
def history(run: Cli, db: Database) -> Cli:
    build_history(run)
    assert len(rows(db)) == 16  # db.init, the two built-in workflows' workflow.install, then 13
    assert run("audit", "verify").stdout.startswith("Audit chain verified: 16 entries, head 16:")
    return run


def failed(run: Cli, *args: str) -> str:
    """Run `cycle audit verify ARGS`, require exit 1 and a single line on stderr; return that line."""
    result = run("audit", "verify", *args, expect=1)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def checkpoint(run: Cli) -> str:
    return run("audit", "checkpoint").stdout.strip()


# --- the database itself refuses changes -------------------------------------------------------

@pytest.mark.parametrize("statement, refused", [
    ("UPDATE audit_entry SET payload = '{}' WHERE seq = 7", "audit_entry is append-only: UPDATE refused"),
    ("UPDATE audit_entry SET actor = 'mallory'", "audit_entry is append-only: UPDATE refused"),
    ("DELETE FROM audit_entry WHERE seq = 16", "audit_entry is append-only: DELETE refused"),
    ("DELETE FROM audit_entry", "audit_entry is append-only: DELETE refused"),
])
def test_triggers_refuse_update_and_delete(history: Cli, db: Database, statement: str, refused: str) -> None:
    before = rows(db)
    assert db.refused(statement) == refused
    assert rows(db) == before
    assert history("audit", "verify").stdout.startswith("Audit chain verified: 16 entries")


# --- with the triggers dropped by hand, verify catches each kind of tampering ---------------------

def test_edited_payload_is_named(history: Cli, db: Database) -> None:
    db.drop_audit_triggers()
    payload = json.loads(rows(db)[8][COLUMNS.index("payload")])
    assert payload["ref"] == "JSNA 2026 school health"
    payload["ref"] = "JSNA 2025 school health"
    db.execute("UPDATE audit_entry SET payload = :p WHERE seq = 9", params={"p": json.dumps(payload, sort_keys=True)})
    assert failed(history) == ("Audit chain FAILED at entry 9: its hash does not match its contents "
                               "(the entry was edited). 8 entries before it verified.")


@pytest.mark.parametrize("column, value", [("actor", "mallory"), ("to_stage", "do"), ("at", "2020-01-01T00:00:00Z")])
def test_edited_field_is_named(history: Cli, db: Database, column: str, value: str) -> None:
    db.drop_audit_triggers()
    db.execute(f"UPDATE audit_entry SET {column} = :v WHERE seq = 11", params={"v": value})
    assert failed(history).startswith("Audit chain FAILED at entry 11: its hash does not match its contents")


def test_deleted_middle_entry_is_named(history: Cli, db: Database) -> None:
    db.drop_audit_triggers()
    db.execute("DELETE FROM audit_entry WHERE seq = 7")
    assert failed(history) == ("Audit chain FAILED at entry 7: entry 7 is missing (found 8 next). "
                               "6 entries before it verified.")


def test_deleted_middle_entry_with_renumbered_seqs_is_named(history: Cli, db: Database) -> None:
    db.drop_audit_triggers()
    db.execute("DELETE FROM audit_entry WHERE seq = 7",
               *(f"UPDATE audit_entry SET seq = seq - 1 WHERE seq = {seq}" for seq in range(8, 17)))
    assert failed(history).startswith("Audit chain FAILED at entry 7: its previous-hash does not match")


def test_deleted_first_entry_is_named(history: Cli, db: Database) -> None:
    db.drop_audit_triggers()
    db.execute("DELETE FROM audit_entry WHERE seq = 1")
    assert failed(history) == ("Audit chain FAILED at entry 1: entry 1 is missing (found 2 next). "
                               "0 entries before it verified.")


def test_swapped_contents_are_caught(history: Cli, db: Database) -> None:
    db.drop_audit_triggers()
    original = {r[0]: r for r in rows(db)}
    fields = COLUMNS[1:]
    assignments = ", ".join(f"{f} = :{f}" for f in fields)
    # prev_hash is UNIQUE: park entry 10 out of the way, then swap everything but seq.
    db.execute("UPDATE audit_entry SET prev_hash = 'parked' WHERE seq = 10")
    for seq, other in ((9, 10), (10, 9)):
        db.execute(f"UPDATE audit_entry SET {assignments} WHERE seq = {seq}",
                   params=dict(zip(fields, original[other][1:], strict=True)))
    assert [r[1:] for r in rows(db)][8:10] == [original[10][1:], original[9][1:]]
    assert failed(history) == ("Audit chain FAILED at entry 9: its previous-hash does not match the entry "
                               "before it (an entry was removed, reordered or rewritten). "
                               "8 entries before it verified.")


def test_a_second_entry_after_the_same_predecessor_is_caught(history: Cli, db: Database) -> None:
    """A fork: an entry added after the head that claims the head's own predecessor, hashed correctly.
    The database takes it (only `seq` is unique); verify names it."""
    head = dict(zip(COLUMNS, rows(db)[-1], strict=True))
    fork = {**head, "seq": head["seq"] + 1, "actor": "alice", "payload": '{"forked":true}'}
    fork["hash"] = entry_hash(fork["prev_hash"], fork["seq"], fork["at"], "alice", fork["project"], fork["action"],
                              fork["from_stage"], fork["to_stage"], fork["payload"])
    db.execute(f"INSERT INTO audit_entry ({', '.join(COLUMNS)}) VALUES ({', '.join(':' + c for c in COLUMNS)})",
               params=fork, user="alice")
    assert [r[COLUMNS.index("prev_hash")] for r in rows(db)][-2:] == [head["prev_hash"]] * 2
    assert failed(history, "--chain-only") == (
        "Audit chain FAILED at entry 17: its previous-hash does not match the entry before it (an entry was "
        "removed, reordered or rewritten). 16 entries before it verified.")


def test_renumbered_seqs_are_caught(history: Cli, db: Database) -> None:
    db.drop_audit_triggers()
    db.execute("UPDATE audit_entry SET seq = 100 WHERE seq = 12", "UPDATE audit_entry SET seq = 12 WHERE seq = 13",
               "UPDATE audit_entry SET seq = 13 WHERE seq = 100")
    assert failed(history).startswith("Audit chain FAILED at entry 12: its previous-hash does not match")


def test_cut_off_tail_passes_alone_but_not_against_a_checkpoint(history: Cli, db: Database) -> None:
    kept = checkpoint(history)
    assert kept == f"16:{rows(db)[-1][-1]}"
    assert history("audit", "verify", "--checkpoint", kept).stdout.splitlines()[0] == (
        f"Audit chain verified: 16 entries, head {kept}, matches checkpoint {kept}.")
    db.drop_audit_triggers()
    db.execute("DELETE FROM audit_entry WHERE seq > 13")
    assert history("audit", "verify", "--chain-only").stdout.startswith("Audit chain verified: 13 entries, head 13:")
    # The chain alone cannot see the cut; the records the cut entries wrote can (see test_records.py).
    assert "Records FAILED" in history("audit", "verify", expect=1).stderr
    assert failed(history, "--checkpoint", kept) == (
        "Audit chain FAILED at entry 16: the log ends at entry 13 but the checkpoint names entry 16: "
        "entries after 13 were cut off. 13 entries before it verified.")


def test_checkpoint_of_an_earlier_head_still_verifies_a_longer_chain(history: Cli, db: Database) -> None:
    kept = checkpoint(history)
    history("evidence", "add", "camhs", "consultation", "--ref", "Consultation report")
    result = history("audit", "verify", "--checkpoint", kept)
    assert result.stdout.startswith("Audit chain verified: 17 entries, head 17:")
    assert result.stdout.splitlines()[0].endswith(f"matches checkpoint {kept}.")


def rewrite_from(db: Database, start: int, edit: dict[str, str]) -> None:
    """Change entry `start` and re-hash it and every entry after it, as a careful forger would."""
    all_rows = rows(db)
    prev = GENESIS if start == 1 else all_rows[start - 2][-1]
    for row in all_rows[start - 1:]:
        entry = dict(zip(COLUMNS, row, strict=True))
        if entry["seq"] == start:
            entry.update(edit)
        entry["prev_hash"] = prev
        entry["hash"] = entry_hash(prev, entry["seq"], entry["at"], entry["actor"], entry["project"],
                                   entry["action"], entry["from_stage"], entry["to_stage"], entry["payload"])
        db.execute("UPDATE audit_entry SET actor = :actor, payload = :payload, prev_hash = :prev_hash, hash = :hash "
                   "WHERE seq = :seq", params=entry)
        prev = entry["hash"]


def test_consistent_rewrite_passes_alone_but_not_against_a_checkpoint(history: Cli, db: Database) -> None:
    kept = checkpoint(history)
    db.drop_audit_triggers()
    rewrite_from(db, 8, {"actor": "mallory"})
    assert rows(db)[7][COLUMNS.index("actor")] == "mallory"
    assert history("audit", "verify", "--chain-only").stdout.startswith("Audit chain verified: 16 entries, head 16:")
    # The evidence row entry 8 wrote still names its real recorder, so the records check sees the rewrite.
    assert "recorded_by is 'alice' but entry 8 recorded 'mallory'" in history("audit", "verify", expect=1).stderr
    assert failed(history, "--checkpoint", kept) == (
        "Audit chain FAILED at entry 16: it differs from the checkpoint kept outside the database "
        "(the chain was rewritten), so entries 1 to 16 cannot be trusted: they are consistent with each other "
        "but do not lead to the kept head. To find where it was rewritten, check against an earlier checkpoint: "
        "cycle audit verify --checkpoint SEQ:HASH")


def test_a_rewrite_before_the_checkpoint_leaves_nothing_up_to_it_verified(history: Cli, db: Database) -> None:
    """Rewritten from entry 8 and re-hashed on: nothing up to the checkpoint is vouched for, in text or JSON."""
    kept = checkpoint(history)
    history("evidence", "add", "camhs", "consultation", "--ref", "Consultation report")
    db.drop_audit_triggers()
    rewrite_from(db, 8, {"actor": "mallory"})
    line = failed(history, "--checkpoint", kept)
    assert "entries 1 to 16 cannot be trusted" in line and "verified" not in line
    result = history("audit", "verify", "--json", "--checkpoint", kept, expect=1)
    bad = json.loads(result.stdout)
    assert bad["ok"] is False and bad["bad_seq"] == 16
    assert bad["untrusted"] == {"from": 1, "to": 16}
    assert bad["entries"] == 0 and bad["head"] == {"seq": 0, "hash": GENESIS}
    assert "entries 1 to 16 cannot be trusted" in bad["problem"]


def test_rewrite_before_a_checkpoint_is_caught_at_the_checkpoint(history: Cli, db: Database) -> None:
    kept = checkpoint(history)
    history("evidence", "add", "camhs", "consultation", "--ref", "Consultation report")
    db.drop_audit_triggers()
    rewrite_from(db, 1, {"payload": '{"forged":true}'})  # db.init: no record depends on it
    assert history("audit", "verify").stdout.startswith("Audit chain verified: 17 entries")
    assert failed(history, "--checkpoint", kept).startswith(
        "Audit chain FAILED at entry 16: it differs from the checkpoint kept outside the database")


def test_checkpoint_of_the_empty_log(history: Cli, db: Database) -> None:
    """Before the first entry the head is 0:<64 zeros>; every chain extends that, and no other hash is entry 0's."""
    empty = f"0:{GENESIS}"
    result = history("audit", "verify", "--checkpoint", empty)
    assert result.stdout.startswith("Audit chain verified: 16 entries, head 16:")
    assert failed(history, "--checkpoint", "0:" + "1" * 64) == (
        "Audit chain FAILED at entry 0: it differs from the checkpoint kept outside the database "
        "(the chain was rewritten). 0 entries before it verified.")
    db.drop_audit_triggers()
    db.execute("DELETE FROM audit_entry")
    assert checkpoint(history) == empty
    assert history("audit", "verify", "--chain-only", "--checkpoint", empty).stdout.startswith(
        "Audit chain verified: 0 entries")


# --- the command's input and output --------------------------------------------------------------

@pytest.mark.parametrize("bad", ["nonsense", "14", "14:", ":" + "a" * 64, "x:" + "a" * 64, "14:" + "a" * 63,
                                 "14:" + "A" * 64, "14:" + "g" * 64, "-1:" + "a" * 64])
def test_malformed_checkpoint_is_bad_input(history: Cli, bad: str) -> None:
    result = history("audit", "verify", "--checkpoint", bad, expect=2)
    assert result.stdout == ""
    assert result.stderr == (f"Error: checkpoint {bad!r} is not SEQ:HASH (e.g. 42:3f1c...; "
                             f"print one with: cycle audit checkpoint)\n")


def test_json_output_when_good_and_when_bad(history: Cli, db: Database) -> None:
    head = rows(db)[-1][-1]
    good = json.loads(history("audit", "verify", "--json").stdout)
    assert good == {"ok": True, "chain_ok": True, "entries": 16, "head": {"seq": 16, "hash": head},
                    "bad_seq": None, "problem": None, "checkpoint": None, "untrusted": None,
                    "records": {"ok": True, "checked": CHECKED, "gate_entries": 6, "gates_rechecked": 2,
                                    "discrepancies": []}}

    db.drop_audit_triggers()
    db.execute("UPDATE audit_entry SET project = 'other' WHERE seq = 5")
    result = history("audit", "verify", "--json", "--checkpoint", f"16:{head}", expect=1)
    bad = json.loads(result.stdout)
    assert bad["ok"] is False and bad["bad_seq"] == 5 and bad["entries"] == 4
    assert bad["head"] == {"seq": 4, "hash": rows(db)[3][-1]}
    assert bad["problem"] == "its hash does not match its contents (the entry was edited)"
    assert bad["checkpoint"] == f"16:{head}"
    assert bad["untrusted"] is None  # an edited entry: the 4 before it verified


def test_limit_shows_the_newest_entries_oldest_first(history: Cli, db: Database) -> None:
    seqs = [r[0] for r in rows(db)]
    assert [e["seq"] for e in history.json("audit", "log", "--limit", "3")] == seqs[-3:]
    camhs = [e["seq"] for e in history.json("audit", "log", "camhs")]
    assert [e["seq"] for e in history.json("audit", "log", "camhs", "--limit", "2")] == camhs[-2:]
    assert len(history.json("audit", "log", "--limit", "1000")) == len(seqs)
    result = history("audit", "log", "--limit", "0", expect=2)
    assert result.stdout == "" and "--limit" in result.stderr and result.stderr.count("\n") == 1


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(payload=_JSON)
def test_canonical_json_is_sorted_compact_ascii_whatever_the_text(payload: object) -> None:
    """Payloads are stored (and hashed) as written with ensure_ascii=True, whichever way audit writes them."""
    text = canonical_json(payload)
    assert text == json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert all(" " <= ch <= "~" for ch in text)


@pytest.mark.parametrize("payload", [
    {1: "a key that is not text"}, {"big": 2 ** 70}, {"lone surrogate": "\ud800"}, {"astral": "\U0001f600 \x7f"},
], ids=["int key", "past 64 bits", "lone surrogate", "astral and DEL"])
def test_canonical_json_of_what_orjson_does_not_write_is_still_jsons(payload: object) -> None:
    assert canonical_json(payload) == json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def test_non_ascii_text_is_kept_and_verifies(run: Cli, db: Database) -> None:
    """A reference in Welsh, with an en dash, reads back as typed; the chain still verifies. (A DEL is refused as
    input, cycle.inputs.text; the payload's JSON of one is checked above.)"""
    run("init")
    run(*CAMHS)
    ref = "Asesiad o anghenion – Gwasanaethau Plant \u0175"
    assert run("evidence", "add", "camhs", "needs-assessment", "--ref", ref + "\x7f", expect=2).stderr == (
        "Error: --ref must be a single line of text (no control characters: tab, newline, escape ...)\n")
    run("evidence", "add", "camhs", "needs-assessment", "--ref", ref)
    payload = db.rows("SELECT payload FROM audit_entry WHERE action = 'evidence.add'")[0][0]
    assert payload.isascii() and "\\u2013" in payload and "\\u0175" in payload
    assert json.loads(payload)["ref"] == ref
    run("audit", "verify")


# --- an entry whose payload cannot be read is shown, not crashed on ---------------------------------

def append_raw(db: Database, action: str, payload: str, project: str | None = "camhs") -> int:
    """Add a well-chained entry with whatever payload text, as someone writing the table by hand would."""
    seq, prev = db.rows("SELECT seq, hash FROM audit_entry ORDER BY seq DESC LIMIT 1")[0]
    entry = {"seq": seq + 1, "at": utc_now(), "actor": "alice", "project": project, "action": action,
             "from_stage": None, "to_stage": None, "payload": payload, "prev_hash": prev}
    entry["hash"] = entry_hash(prev, entry["seq"], entry["at"], "alice", project, action, None, None, payload)
    db.execute(f"INSERT INTO audit_entry ({', '.join(COLUMNS)}) VALUES ({', '.join(':' + c for c in COLUMNS)})",
               params=entry, user="alice")
    return seq + 1


MALFORMED = {
    "fields missing": ("decision.record", "{}", "no 'gate' field"),
    "not JSON": ("decision.record", "{gate: analyse-plan",
                 "not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
    "a list": ("advance", '["analyse-plan"]', "a JSON list, not an object"),
    "a string": ("evidence.add", '"needs-assessment"', "a JSON string, not an object"),
    "a field of the wrong type": ("project.set", '{"changes": ["owner"]}',
                                  "a field has the wrong type ('list' object has no attribute 'items')"),
    "empty": ("waiver.add", "", "not valid JSON (Expecting value: line 1 column 1 (char 0))"),
}


@pytest.mark.parametrize("action, payload, why", list(MALFORMED.values()), ids=list(MALFORMED))
def test_an_unreadable_payload_is_shown_in_the_log(history: Cli, db: Database, action: str, payload: str,
                                                   why: str) -> None:
    seq = append_raw(db, action, payload)
    text = history("audit", "log", "camhs").stdout.splitlines()
    assert text[-1].endswith(f" alice        camhs          {action}  (payload unreadable: {why})")
    assert text[-1].lstrip().startswith(f"{seq}  ")
    entries = history.json("audit", "log")
    as_stored = json.loads(payload) if payload.startswith("{") and payload.endswith("}") else payload
    assert entries[-1]["payload"] == as_stored and entries[-1]["payload_error"] == why  # an object stays one
    assert all(e["payload_error"] is None for e in entries[:-1])
    assert isinstance(entries[0]["payload"], dict)
    history("audit", "verify")  # the entry is well chained: only its payload is odd


def test_every_entry_kind_written_has_a_summary(history: Cli) -> None:
    history("people", "add", "chair", "--email", "chair@council.gov.uk", "--role", "approver", "--body",
            "Children's Trust Board")
    history("people", "add", "chair", "--email", "chair@ctb.nhs.uk")
    lines = history("audit", "log").stdout.splitlines()
    assert lines[0].endswith("  db.init  database created at schema revision " + _head_revision())
    assert re.search(r"  workflow\.install  commissioning version 1 from built-in \(SHA-256 [0-9a-f]{12}\.\.\.\)$",
                     lines[1]), lines[1]
    assert lines[3].endswith("project.create - -> analyse  commissioning version 1: CAMHS Tiers 2 and 3")
    assert lines[-2].endswith("person.add  chair: granted approver for Children's Trust Board, "
                              "email chair@council.gov.uk")
    assert lines[-1].endswith("person.add  chair: email chair@council.gov.uk -> chair@ctb.nhs.uk")
    assert not [line for line in lines if line.endswith("  ")]  # no entry with an empty detail column


def _head_revision() -> str:
    from cycle.db import schema

    return str(schema.head())


_SHAPES = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
    _JSON.map(json.dumps),
    st.fixed_dictionaries({}, optional={k: _JSON for k in (
        "gate", "outcome", "body", "ref", "decision_id", "decided_on", "authority", "criteria", "unmet", "why",
        "criterion", "reason", "was", "changes", "name", "email", "role", "cycle", "note")}).map(json.dumps),
)
_ACTIONS = st.sampled_from(["decision.record", "advance", "advance.refused", "decision.refused", "waiver.add",
                            "gate.request", "project.set", "evidence.add", "person.add", "db.upgrade",
                            "milestone.add", "outbox.sent"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(action=_ACTIONS, payload=_SHAPES)
def test_any_payload_shape_leaves_the_log_and_reports_readable(history: Cli, db: Database, action: str,
                                                               payload: str) -> None:
    """Whatever a payload holds, `audit log` and both reports run; an entry they cannot read is named."""
    from cycle.calendar.clock import london_today
    from cycle.calendar.quarters import quarter_of

    seq = append_raw(db, action, payload)
    line = history("audit", "log", "--limit", "1").stdout
    entry = history.json("audit", "log", "--limit", "1")[0]
    assert entry["seq"] == seq
    assert ("(payload unreadable: " in line) == (entry["payload_error"] is not None)
    try:
        is_object = isinstance(json.loads(payload), dict)
    except ValueError:
        is_object = False
    if not is_object:
        assert entry["payload"] == payload and entry["payload_error"]
    # A payload naming a row that is not there fails the records check: the reports then exit 1 as verify does.
    verified = history("audit", "verify", expect=None).exit_code
    gates = history.json("report", "gate-audit", "camhs", expect=verified)
    unreadable = {u["seq"] for u in gates["projects"][0]["unreadable"]}
    quarter = str(quarter_of(london_today()))
    board = history.json("report", "quarterly", "--quarter", quarter, expect=verified)
    if not is_object:
        assert seq in unreadable and seq in {u["seq"] for u in board["unreadable"]}
    for fmt in ("md", "html"):
        history("report", "gate-audit", "camhs", "--format", fmt, expect=verified)
        history("report", "quarterly", "--quarter", quarter, "--format", fmt, expect=verified)


def test_a_decision_whose_outcome_is_not_text_is_named_by_the_quarterly_report(history: Cli, db: Database) -> None:
    """Found by the payload-shape test on PostgreSQL: a list for an outcome crashed the board's counts."""
    from cycle.calendar.clock import london_today
    from cycle.calendar.quarters import quarter_of

    seq = append_raw(db, "decision.record", json.dumps({"gate": "analyse-plan", "outcome": ["go"], "body": "B",
                                                        "ref": "r", "decision_id": [1]}))
    verified = history("audit", "verify", expect=None).exit_code
    board = history.json("report", "quarterly", "--quarter", str(quarter_of(london_today())), expect=verified)
    assert seq in {u["seq"] for u in board["unreadable"]}
