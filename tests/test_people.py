"""People and roles: the directory reminders and decisions rely on."""

from __future__ import annotations

import unicodedata

import pytest

from .conftest import BODY, Cli


def test_add_people_and_roles(run: Cli) -> None:
    run("init")
    run("people", "add", "alice", "--email", "alice@council.gov.uk", "--role", "manager")
    run("people", "add", "chair", "--email", "chair@council.gov.uk", "--role", "approver",
        "--body", "Children's Trust Board")
    run("people", "add", "chair", "--role", "governance-lead")
    assert run.json("people", "list") == [
        {"name": "alice", "email": "alice@council.gov.uk", "roles": [{"role": "manager", "body": None}]},
        {"name": "chair", "email": "chair@council.gov.uk",
         "roles": [{"role": "approver", "body": "Children's Trust Board"}, {"role": "governance-lead", "body": None}]},
    ]
    assert [e["action"] for e in run.json("audit", "log")][-3:] == ["person.add"] * 3


def test_bad_people_input_is_refused_and_nothing_written(run: Cli) -> None:
    run("init")
    before = run.json("audit", "log")
    cases = [
        (["bob", "--email", "not-an-address"], "Error: --email 'not-an-address' is not an email address: An email "
                                                "address must have an @-sign. (e.g. alice@council.gov.uk)"),
        (["bob", "--email", "Bob <bob@x.gov.uk>"], "Error: --email 'Bob <bob@x.gov.uk>' is not an email address: A "
                                                    "display name and angle brackets around the email address are not "
                                                    "permitted here. (e.g. alice@council.gov.uk)"),
        (["bob"], "Error: bob is new: give an email, e.g.: cycle people add bob --email bob@council.gov.uk"),
        (["bob", "--email", "bob@x.gov.uk", "--role", "approver"],
         "Error: --body goes with --role approver, and an approver needs it (the body they decide for)"),
        (["bob smith", "--email", "bob@x.gov.uk"],
         "Error: name 'bob smith' must be the person's user name as CYCLE_USER says it "
         "(letters of one alphabet, digits, . _ @ -)"),
        (["bob", "--email", "bob@x.gov.uk\nBcc: evil@x.com"], None),
    ]
    for args, error in cases:
        err = run("people", "add", *args, expect=2).stderr
        if error:
            assert err == error + "\n"
        assert err.count("\n") == 1
    assert run.json("people", "list") == []
    assert run.json("audit", "log") == before


def _actions(run: Cli) -> list[str]:
    return [e["action"] for e in run.json("audit", "log")]


def test_once_there_is_an_admin_only_an_admin_may_grant_a_role(run: Cli) -> None:
    """The testers' route round the gates: an owner making herself governance lead, or bob his own approver."""
    run("init")
    run("people", "add", "root", "--email", "root@council.gov.uk", "--role", "admin", user="root")
    run("people", "add", "alice", "--email", "alice@council.gov.uk", user="alice")  # no role: open to anyone
    people = run.json("people", "list")
    for user, args in (("alice", ["alice", "--role", "governance-lead"]),
                       ("bob", ["bob", "--email", "bob@council.gov.uk", "--role", "approver", "--body", BODY]),
                       ("alice", ["alice", "--role", "admin"])):
        before = run.json("audit", "log")
        err = run("people", "add", *args, user=user, expect=6).stderr
        command = "cycle people add " + " ".join(a if " " not in a and "'" not in a else f'"{a}"' for a in args)
        assert err == (f"Error: only an admin may grant a role (admins: root), and {user} is not one; ask one of "
                       f"them to run: {command}. The refused attempt is recorded in the audit log.\n")
        after = run.json("audit", "log")
        assert after[:-1] == before
        assert (after[-1]["action"], after[-1]["actor"], after[-1]["payload"]["name"]) == (
            "person.refused", user, args[0])
        assert run.json("people", "list") == people
    assert "REFUSED bob: only an admin may grant a role" in run("audit", "log").stdout
    out = run("people", "add", "alice", "--role", "governance-lead", user="root").stdout
    assert out == "alice <alice@council.gov.uk>: governance-lead\n"
    assert "alice: granted governance-lead" in run("audit", "log").stdout


def test_a_governance_lead_may_not_grant_roles(run: Cli) -> None:
    run("init")
    run("people", "add", "root", "--email", "root@council.gov.uk", "--role", "admin", user="root")
    run("people", "add", "gill", "--email", "gill@council.gov.uk", "--role", "governance-lead", user="root")
    err = run("people", "add", "gill", "--role", "approver", "--body", BODY, user="gill", expect=6).stderr
    assert err.startswith("Error: only an admin may grant a role (admins: root), and gill is not one;")
    err = run("people", "add", "ann", "--email", "ann@council.gov.uk", "--role", "manager", user="gill",
              expect=6).stderr
    assert "ask one of them to run: cycle people add ann --email ann@council.gov.uk --role manager." in err
    assert _actions(run)[-2:] == ["person.refused", "person.refused"]
    assert [p["name"] for p in run.json("people", "list")] == ["gill", "root"]


def test_while_nobody_is_admin_anyone_may_grant_and_is_told_to_make_an_admin(run: Cli) -> None:
    run("init")
    assert run("people", "list").stdout == ("Nobody yet. Start with an admin, who grants the other roles: "
                                            "cycle people add NAME --email ADDRESS --role admin\n")
    out = run("people", "add", "alice", "--email", "alice@council.gov.uk", "--role", "manager").stdout
    assert out == ("alice <alice@council.gov.uk>: manager\n"
                   "Nobody holds the admin role yet, so anyone may grant roles; make someone admin: "
                   "cycle people add NAME --role admin\n")
    out = run("people", "add", "alice", "--role", "admin").stdout
    assert out == "alice <alice@council.gov.uk>: manager, admin\n"


def test_only_the_person_or_an_admin_may_change_their_email(run: Cli) -> None:
    """The email decides where someone's reminders go, so nobody else may redirect them."""
    run("init")
    run("people", "add", "root", "--email", "root@council.gov.uk", "--role", "admin", user="root")
    run("people", "add", "chair", "--email", "chair@council.gov.uk", "--role", "approver", "--body", BODY,
        user="root")
    before = run.json("people", "list")
    err = run("people", "add", "chair", "--email", "chair@evil.example.com", user="bob", expect=6).stderr
    assert err == ("Error: only chair or an admin (root) may change chair's email, which decides where their "
                   "reminders go; ask one of them to run: cycle people add chair --email <ADDRESS>. The refused "
                   "attempt is recorded in the audit log.\n")
    assert run.json("people", "list") == before
    assert run.json("audit", "log")[-1]["payload"]["email"] == "chair@evil.example.com"
    run("people", "add", "chair", "--email", "chair@ctb.council.gov.uk", user="chair")
    run("people", "add", "chair", "--email", "chair2@ctb.council.gov.uk", user="root")
    assert run.json("people", "list")[0]["email"] == "chair2@ctb.council.gov.uk"
    assert _actions(run)[-3:] == ["person.refused", "person.add", "person.add"]


def test_an_admin_may_remove_a_role_and_nobody_else(ready: Cli) -> None:
    run = ready
    run("people", "add", "root", "--email", "root@council.gov.uk", "--role", "admin", user="root")
    run("people", "add", "chair", "--email", "chair@council.gov.uk", "--role", "approver", "--body", BODY,
        user="root")
    run("people", "add", "vice", "--email", "vice@council.gov.uk", "--role", "approver", "--body", BODY,
        user="root")
    people = run.json("people", "list")
    err = run("people", "remove-role", "chair", "--role", "approver", "--body", BODY, user="chair", expect=6).stderr
    assert err == ("Error: only an admin may remove a role (admins: root), and chair is not one; ask one of them "
                   "to run: cycle people remove-role chair --role approver --body \"Children's Trust Board\". "
                   "The refused attempt is recorded in the audit log.\n")
    assert run.json("people", "list") == people and _actions(run)[-1] == "person.refused"
    out = run("people", "remove-role", "chair", "--role", "approver", "--body", BODY, user="root").stdout
    assert out == "chair <chair@council.gov.uk>: no roles\n"
    entry = run.json("audit", "log")[-1]
    assert (entry["action"], entry["actor"], entry["payload"]["role"]) == (
        "person.remove-role", "root", {"role": "approver", "body": BODY})
    # the body's decisions are now vice's alone
    err = run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY,
              "--ref", "m", user="chair", expect=6).stderr
    assert err.startswith("Error: chair is not an approver for Children's Trust Board (approvers: vice)")

    before = run.json("audit", "log")
    for args, error in (
        (["chair", "--role", "approver", "--body", BODY],
         "Error: chair does not hold approver for Children's Trust Board (roles: none); see: cycle people list"),
        (["root", "--role", "admin"],
         "Error: root is the only admin, and without one anyone may grant roles; make someone else admin first: "
         "cycle people add NAME --role admin"),
    ):
        assert run("people", "remove-role", *args, user="root", expect=2).stderr == error + "\n"
    assert run.json("audit", "log") == before


def test_a_name_in_any_alphabet_is_a_name(run: Cli) -> None:
    """A Welsh council's siân can be added, granted a role, and act, as CYCLE_USER says it."""
    run("init")
    run("people", "add", "siân", "--email", "sian@council.gov.uk", "--role", "admin", user="siân")
    run("people", "add", "dafydd", "--email", "dafydd@council.gov.uk", "--role", "manager", user="siân")
    assert [p["name"] for p in run.json("people", "list")] == ["dafydd", "siân"]
    err = run("people", "add", "_x", "--email", "x@council.gov.uk", expect=2).stderr
    assert err == ("Error: name '_x' must be the person's user name as CYCLE_USER says it "
                   "(letters of one alphabet, digits, . _ @ -)\n")


@pytest.mark.sqlite_only  # on PostgreSQL the login, not CYCLE_USER, names the actor
def test_a_name_typed_in_either_unicode_form_is_the_same_person(run: Cli) -> None:
    decomposed = unicodedata.normalize("NFD", "siân")
    assert decomposed != "siân"
    run("init")
    run("people", "add", "siân", "--email", "sian@council.gov.uk", "--role", "admin", user="siân")
    run("people", "add", "gill", "--email", "gill@council.gov.uk", "--role", "manager", user=decomposed)
    assert run.json("audit", "log")[-1]["actor"] == "siân"


def test_roles_sql_takes_the_same_names_within_postgresqls_63_bytes(run: Cli) -> None:
    out = run("db", "roles-sql", "--person", "siân").stdout
    assert 'CREATE ROLE "siân" LOGIN IN ROLE cycle_app;' in out
    err = run("db", "roles-sql", "--person", "ŵ" * 32, expect=2).stderr
    assert err == (f"Error: login {'ŵ' * 32!r} is longer than PostgreSQL's 63 bytes for a role name; "
                   f"choose a shorter one\n")
