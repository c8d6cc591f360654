"""adv-w2: attempts on issue 20 (two-body ratification, supporting evidence, programmes, hub role), through the
real CLI. Each test failed on main before its fix, or is marked xfail(strict=True) with what is left open."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import BODY, Cli, Database
from .test_ratification import CCG, RATIFY, barnet, decide, install  # noqa: F401 - the `barnet` fixture


def test_a_programme_edited_to_one_not_on_record_is_named_on_the_card_not_shown_as_none(
        barnet: Cli, db: Database) -> None:  # noqa: F811
    """project show printed 'programme         None (ghost)' (a Python None) for a project whose programme
    column was edited by hand to a key no programme has; the card now says the key is not on record."""
    run = barnet
    run("programme", "add", "camhs", "--title", "Children's mental health")
    run("project", "set", "barnet", "--programme", "camhs")
    db.tamper("UPDATE project SET programme = 'ghost' WHERE key = 'barnet'")
    shown = run("project", "show", "barnet").stdout
    assert "None" not in shown
    assert "  programme         ghost (no programme with this key: see cycle programme list)\n" in shown
    run("audit", "verify", expect=1)



def test_a_go_written_by_hand_for_the_other_body_by_one_who_may_not_decide_for_it_does_not_verify(
        barnet: Cli, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """The council's chair has said go; the CCG has not. alice, who owns the project and is no approver of the
    CCG's, writes the CCG's go herself, as cycle would write it (row, image and entry), and advances. On
    PostgreSQL her login cannot: the database refuses the row (revision 0009's trigger). On SQLite whoever can
    write the file can drop that trigger for the insert and put it back; `audit verify` must then name the
    decision, or the two-body gate was opened on one body's go with a record that verifies."""
    from sqlalchemy import text

    from cycle.governance import authority

    run = barnet
    decide(run, BODY, "chair")
    with monkeypatch.context() as m:  # the entry alice writes by hand: no authority check
        m.setattr(authority, "decision_authority", lambda *args, **kwargs: (None, f"approver for {CCG}"))
        if db.dialect == "postgresql":
            err = decide(run, CCG, "alice", expect=6)
            assert err == (f"Error: the database refused this (separation of duties: alice is not an approver for "
                           f"{CCG}); nothing was written.\n")
            return
        with db.engine.begin() as conn:
            kept = [(r[0], r[1]) for r in conn.execute(text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'decision_separation%'"))]
            for name, _ in kept:
                conn.execute(text(f"DROP TRIGGER {name}"))
        decide(run, CCG, "alice")
        with db.engine.begin() as conn:
            for _, statement in kept:
                conn.execute(text(statement))
    run("project", "advance", "barnet")
    seq = next(e["seq"] for e in db.audit() if e["action"] == "decision.record" and e["actor"] == "alice")
    found = run("audit", "verify", expect=1).stderr.splitlines()
    assert found[1] == (f"  entry {seq} (decision 2 of barnet, gate analyse-plan, go by {CCG}) was recorded by alice, "
                        f"who is not an approver for {CCG} (approvers: ccgchair); only they can record its decisions")


def test_a_go_written_by_hand_claiming_an_approver_s_authority_for_a_body_with_none_does_not_verify(
        run: Cli, home: Path, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ICB has no approvers on record, so anyone may record its decision, and the decision is unverified: the
    reports flag it, from what its entry says of its authority. bob, who holds no role, writes the ICB's go by
    hand (the database lets his login: nobody approves for the ICB), its entry saying 'approver for' the ICB. The
    gate opens on a go the reports show as verified, unless `audit verify` names the entry's claim."""
    from cycle.governance import authority

    icb = "NHS Nowhere ICB"
    run("init")
    install(run, home, RATIFY.replace(CCG, icb))
    run("people", "add", "alice", "--email", "alice@barnet.example")
    run("people", "add", "chair", "--email", "chair@barnet.example", "--role", "approver", "--body", BODY)
    run("project", "new", "barnet", "--title", "Barnet CAMHS", "--workflow", "ratify", "--accountable-body", BODY,
        "--owner", "alice")
    decide(run, BODY, "chair")
    with monkeypatch.context() as m:  # the entry bob writes by hand
        m.setattr(authority, "decision_authority", lambda *args, **kwargs: (None, f"approver for {icb}"))
        decide(run, icb, "bob")
    run("project", "advance", "barnet")
    seq = next(e["seq"] for e in db.audit() if e["action"] == "decision.record" and e["actor"] == "bob")
    found = run("audit", "verify", expect=1).stderr.splitlines()
    assert found[1] == (f"  entry {seq} (decision 2 of barnet, gate analyse-plan, go by {icb}) says it was recorded "
                        f"as 'approver for {icb}', but {icb} had no approvers on record: the decision is unverified")
    run("report", "gate-audit", expect=1)
