"""Ratification by more than one body (issue 20 part 6; seed 004, Barnet: the council's and the CCG's governance
both ratify). A decision criterion may name several bodies; each records its own go, separation of duties holds
for each, the gate check says who has decided and who is awaited, `gate request` asks each body's approvers, and
`audit verify` names an advance that went through on one body's go."""

from __future__ import annotations

from pathlib import Path

import pytest

from cycle.db.store import Store

from .conftest import BODY, Cli, Database
from .smtpd import SmtpServer, smtp_fixture  # noqa: F401 - the `smtp` fixture
from .test_records import named
from .test_reminders import store  # noqa: F401 - the `store` fixture

CCG = "Barnet CCG Governing Body"

RATIFY = f"""name = "ratify"
title = "Two-body ratification"
initial = "analyse"

[[stage]]
id = "analyse"

[[stage]]
id = "plan"

[[stage]]
id = "closed"
final = true

[[gate]]
id = "analyse-plan"
from = "analyse"
to = "plan"

  [[gate.criterion]]
  id = "ratified"
  kind = "decision"
  title = "Ratified by the council and by the CCG"
  body = ["accountable", "{CCG}"]

[[gate]]
id = "plan-closed"
from = "plan"
to = "closed"
"""


def _dump(db: Database) -> dict[str, list[tuple[object, ...]]]:
    return db.dump()


def install(run: Cli, home: Path, text: str = RATIFY, name: str = "ratify") -> Path:
    (home / "workflows").mkdir(parents=True, exist_ok=True)
    path = home / "workflows" / f"{name}.toml"
    path.write_text(text)
    run("workflow", "install", str(path))
    return path


@pytest.fixture
def barnet(run: Cli, home: Path) -> Cli:
    """The ratify workflow installed, its people, and project `barnet` at analyse owned by alice."""
    run("init")
    install(run, home)
    run("people", "add", "alice", "--email", "alice@barnet.example")
    run("people", "add", "chair", "--email", "chair@barnet.example", "--role", "approver", "--body", BODY)
    run("people", "add", "vice", "--email", "vice@barnet.example", "--role", "approver", "--body", BODY)
    run("people", "add", "ccgchair", "--email", "ccgchair@ccg.example", "--role", "approver", "--body", CCG)
    run("project", "new", "barnet", "--title", "Barnet CAMHS", "--workflow", "ratify", "--accountable-body", BODY,
        "--owner", "alice")
    return run


def decide(run: Cli, body: str, user: str, expect: int = 0, outcome: str = "go") -> str:
    result = run("decision", "record", "barnet", "--gate", "analyse-plan", "--outcome", outcome, "--body", body,
                 "--ref", f"minutes of {body}", user=user, expect=expect)
    return str(result.stderr)


def test_a_gate_two_bodies_ratify_opens_only_after_both_have_said_go(barnet: Cli) -> None:
    run = barnet
    check = run.json("gate", "check", "barnet")
    (c,) = check["criteria"]
    assert not check["open"] and c["bodies"] == [BODY, CCG] and c["awaited"] == [BODY, CCG]
    text = run("gate", "check", "barnet").stdout
    assert f"Awaiting all 2 bodies: {BODY}, {CCG} (each must record its own go)." in text
    assert f"bodies decided: none yet; awaited: {BODY}, {CCG}" in text
    assert (f"  next: analyse-plan -> plan: waiting on: ratified (awaiting {BODY}, {CCG})"
            in run("project", "show", "barnet").stdout)

    decide(run, BODY, "chair")
    check = run.json("gate", "check", "barnet")
    assert not check["open"] and check["criteria"][0]["awaited"] == [CCG]
    text = run("gate", "check", "barnet").stdout
    assert f"Decided by {BODY}; awaiting {CCG} (each must record its own go)." in text
    assert f"bodies decided: {BODY}; awaited: {CCG}" in text
    assert (f'record it with: cycle decision record barnet --gate analyse-plan --outcome go --body "{CCG}" '
            f"--ref <REF>") in text
    shown = run("project", "show", "barnet").stdout
    assert f"  next: analyse-plan -> plan: waiting on: ratified (decided by {BODY}; awaiting {CCG})" in shown
    nxt = run.json("project", "show", "barnet")["next"][0]
    assert nxt["bodies_decided"] == [BODY] and nxt["bodies_awaited"] == [CCG]

    refused = run("project", "advance", "barnet", expect=3)
    assert "  - ratified: Decided by Children's Trust Board; awaiting Barnet CCG Governing Body" in refused.stderr

    # a hold by the CCG is not its go
    decide(run, CCG, "ccgchair", outcome="hold")
    assert run.json("gate", "check", "barnet")["criteria"][0]["awaited"] == [CCG]
    run("project", "advance", "barnet", expect=3)

    decide(run, CCG, "ccgchair")
    check = run.json("gate", "check", "barnet")
    assert check["open"] and check["criteria"][0]["awaited"] == []
    assert check["criteria"][0]["reason"].startswith(f"Decided by all 2 bodies: Decided: go by {BODY} (minutes of ")
    assert "moved analyse -> plan" in run("project", "advance", "barnet").stdout
    assert run("audit", "verify").stdout.startswith("Audit chain verified: ")


def test_a_decision_by_a_body_the_gate_does_not_name_is_refused(barnet: Cli, db: Database) -> None:
    before = _dump(db)
    err = decide(barnet, "Another Board", "chair", expect=2)
    assert err == (f"Error: gate analyse-plan is decided by each of {BODY}, {CCG} (each records its own decision), "
                   f"not Another Board\n")
    assert _dump(db) == before


def test_separation_of_duties_holds_for_each_body(barnet: Cli) -> None:
    run = barnet
    # alice owns the project: approver for the CCG too, she still may not decide for it
    run("people", "add", "alice", "--role", "approver", "--body", CCG)
    err = decide(run, CCG, "alice", expect=6)
    assert err.startswith("Error: separation of duties: alice owns barnet and may not decide its gates; another "
                          f"approver for {CCG} must record it.")
    # vice asks for the gate: vice may then not decide it for the council
    run("gate", "request", "barnet", user="vice")
    err = decide(run, BODY, "vice", expect=6)
    assert err.startswith("Error: separation of duties: vice asked for gate analyse-plan and may not decide it; "
                          f"another approver for {BODY} must record it.")
    # nor may the council's chair decide for the CCG
    err = decide(run, CCG, "chair", expect=6)
    assert err.startswith(f"Error: chair is not an approver for {CCG} (approvers: alice, ccgchair)")
    decide(run, BODY, "chair")
    decide(run, CCG, "ccgchair")
    run("project", "advance", "barnet")
    run("audit", "verify")


def test_a_request_asks_each_bodys_approvers_once(barnet: Cli, smtp: SmtpServer) -> None:
    run = barnet
    out = run("gate", "request", "barnet").stdout
    assert "chair <chair@barnet.example>" in out and "ccgchair <ccgchair@ccg.example>" in out
    rows = run.json("outbox", "list")
    assert sorted((r["period"], r["recipient"]) for r in rows) == [
        (f"analyse-plan/c1v1/{CCG}", "ccgchair"), (f"analyse-plan/c1v1/{BODY}", "chair"),
        (f"analyse-plan/c1v1/{BODY}", "vice")]
    assert run("outbox", "send").stdout.startswith("Outbox: sent 3.")
    by_rcpt = {tuple(sorted(m.rcpt_tos)): m.message for m in smtp.received}
    assert set(by_rcpt) == {("chair@barnet.example", "vice@barnet.example"), ("ccgchair@ccg.example",)}
    ccg_text = by_rcpt[("ccgchair@ccg.example",)].get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert f"  Decided by  {CCG}\n" in ccg_text
    assert f'cycle decision record barnet --gate analyse-plan --outcome go --body "{CCG}" --ref MINUTES' in ccg_text
    # asked again: nobody is emailed twice
    again = run("gate", "request", "barnet").stdout
    assert "Already emailed about this gate at this stage: " in again
    assert len(run.json("outbox", "list")) == 3
    run("audit", "verify")


def test_verify_names_an_advance_through_a_two_body_gate_with_one_go(barnet: Cli, db: Database) -> None:
    """The CCG's go, put in by hand for the advance and taken out again: the advance is named."""
    run = barnet
    decide(run, BODY, "chair")
    db.tamper("INSERT INTO decision (project_id, cycle, visit, gate, outcome, body, ref, recorded_by, recorded_at) "
              "SELECT id, cycle, visit, 'analyse-plan', 'go', :body, 'never held', 'ccgchair', "
              "'2026-11-22T10:00:00.000000Z' FROM project WHERE key = 'barnet'", params={"body": CCG})
    run("project", "advance", "barnet")
    db.tamper("DELETE FROM decision WHERE ref = 'never held'")
    seq = db.audit()[-1]["seq"]
    named(run, f"entry {seq} (advance of barnet, gate analyse-plan) passed the gate, but the record at that entry "
               f"does not meet it: ratified (Decided by {BODY}; awaiting {CCG} (each must record its own go). "
               f"Decided: go by {BODY} (minutes of {BODY}); No decision by {CCG} recorded for gate analyse-plan "
               f"since the project entered analyse)")


@pytest.mark.parametrize(("body", "problem"), [
    ("[]", "body must be a body in quotes, or a list of them each of which must decide (e.g. body = "
           '["accountable", "NHS North Central London ICB"]), not []'),
    ('["accountable", "Accountable"]', "body names 'Accountable' twice; each body in the list records its own "
                                       "decision once"),
    ('["A Board", 3]', "each body must be a name in quotes, without spaces around it, not 3"),
    ('["A Board", " B Board"]', 'each body must be a name in quotes, without spaces around it, not " B Board"'),
    ('""', 'body must be a body in quotes, or a list of them each of which must decide (e.g. body = '
           '["accountable", "NHS North Central London ICB"]), not ""'),
])
def test_workflow_check_refuses_a_malformed_list_of_bodies(run: Cli, home: Path, body: str, problem: str) -> None:
    (home / "workflows").mkdir(parents=True, exist_ok=True)
    path = home / "workflows" / "ratify.toml"
    path.write_text(RATIFY.replace(f'body = ["accountable", "{CCG}"]', f"body = {body}"))
    err = run("workflow", "check", str(path), expect=2).stderr
    assert err == f"Error: {path}: gate 'analyse-plan' criterion 'ratified': {problem}\n"


def test_workflow_show_names_each_body(barnet: Cli) -> None:
    out = barnet("workflow", "show", "ratify").stdout
    assert f"decision go by accountable and by {CCG}: Ratified by the council and by the CCG" in out
    gate = barnet.json("workflow", "show", "ratify")["gates"][0]
    assert gate["criteria"][0]["bodies"] == ["accountable", CCG] and gate["criteria"][0]["body"] is None


def test_the_waiting_reminder_goes_on_until_every_body_has_decided(barnet: Cli, store: Store) -> None:  # noqa: F811
    """The gate-waiting reminder stopped once any body had decided something in the visit, so a gate waiting on
    the second body went unremarked, and it named only the accountable body (found by fid-b)."""
    from datetime import date, timedelta

    from cycle.reminders import rules

    later = date.today() + timedelta(days=31)

    def waiting() -> list[tuple[str, str]]:
        return [(r.kind, r.context["body"]) for r in rules.preview(store, later).reminders]

    assert waiting() == [("gate-waiting", f"{BODY} and {CCG}")]
    decide(barnet, BODY, "chair")
    assert waiting() == [("gate-waiting", CCG)]  # the council has said go; the CCG has not decided yet
    (command,) = {r.context["command"] for r in rules.preview(store, later).reminders}
    assert f'--body "{CCG}"' in command
    decide(barnet, CCG, "ccgchair", outcome="hold")
    assert waiting() == []  # each body has decided something in this visit
