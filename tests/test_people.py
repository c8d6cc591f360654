"""People and roles: the directory reminders and decisions rely on."""

from __future__ import annotations

from .conftest import Cli


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
        (["bob", "--email", "not-an-address"], "Error: --email 'not-an-address' is not an email address "
                                                "(e.g. alice@council.gov.uk)"),
        (["bob"], "Error: bob is new: give an email, e.g.: cycle people add bob --email bob@council.gov.uk"),
        (["bob", "--email", "bob@x.gov.uk", "--role", "approver"],
         "Error: --body goes with --role approver, and an approver needs it (the body they decide for)"),
        (["bob smith", "--email", "bob@x.gov.uk"],
         "Error: name 'bob smith' must be the person's user name as CYCLE_USER says it (letters, digits, . _ @ -)"),
        (["bob", "--email", "bob@x.gov.uk\nBcc: evil@x.com"], None),
    ]
    for args, error in cases:
        err = run("people", "add", *args, expect=2).stderr
        if error:
            assert err == error + "\n"
        assert err.count("\n") == 1
    assert run.json("people", "list") == []
    assert run.json("audit", "log") == before
