"""The provider's side of the standards table (issue 17 part 4; seed 001 section 7, "Providers will:"): a contract's
provider contact, the return-due and return-late reminders they get, and overdue actions that remind their owner and
then the project's governance lead. Reminders go through the real CLI, a real SMTP server (tests/smtpd.py) and the
Maildir, on days two years ahead (tests/reminder_setup.py)."""

from __future__ import annotations

import json

import pytest

from .conftest import Cli, Database

JS = ("jsmith", "j.smith@trustx.example")


def _contact(run: Cli, name: str = JS[0], email: str = JS[1]) -> None:
    run("people", "add", name, "--email", email, "--role", "provider")


@pytest.fixture
def camhs(run: Cli) -> Cli:
    """camhs (owner alice) with one contract, C-1, and a provider contact-to-be, jsmith."""
    run("init")
    run("people", "add", "alice", "--email", "alice@council.example")
    run("project", "new", "camhs", "--title", "CAMHS", "--owner", "alice")
    run("contract", "set", "camhs", "--provider", "Trust X", "--ref", "C-1", "--start", "2025-04-01", "--end",
        "2028-03-31", "--notice", "6 months")
    _contact(run)
    return run


# --- 1. a contract's provider contact ------------------------------------------------------------------------------

def test_a_contract_names_its_provider_contact_shown_everywhere_and_audited(camhs: Cli, db: Database) -> None:
    out = camhs("contract", "set", "camhs", "--provider-contact", "jsmith").stdout
    assert "\n  provider contact jsmith\n" in out
    assert camhs.json("contract", "show", "camhs")["provider_contact"] == "jsmith"
    assert "\n    provider contact jsmith\n" in camhs("project", "show", "camhs").stdout
    shown = camhs.json("project", "show", "camhs")
    assert shown["contract"]["provider_contact"] == shown["contracts"][0]["provider_contact"] == "jsmith"
    assert camhs.json("contracts", "list")[0]["provider_contact"] == "jsmith"
    header, row = camhs("contracts", "list", "--csv").stdout.splitlines()[:2]
    assert header.endswith(",provider_contact") and row.endswith(",jsmith")
    entry = db.audit()[-1]
    assert entry["action"] == "contract.set"
    assert json.loads(entry["payload"])["changes"] == {"provider_contact": [None, "jsmith"]}
    # any spelling of the login names the person as the people list has them
    camhs("contract", "set", "camhs", "--provider-contact", "")
    assert camhs.json("contract", "show", "camhs")["provider_contact"] is None
    assert json.loads(db.audit()[-1]["payload"])["changes"] == {"provider_contact": ["jsmith", None]}
    assert "provider contact" not in camhs("contract", "show", "camhs").stdout
    camhs("contract", "set", "camhs", "--provider-contact", "JSmith")
    assert camhs.json("contract", "show", "camhs")["provider_contact"] == "jsmith"
    assert camhs("audit", "verify").exit_code == 0


def test_contract_add_takes_a_provider_contact(camhs: Cli) -> None:
    camhs("contract", "add", "camhs", "--ref", "C-2", "--provider", "Trust Y", "--provider-contact", "jsmith")
    found = {c["ref"]: c["provider_contact"] for c in camhs.json("contract", "show", "camhs")}
    assert found == {"C-1": None, "C-2": "jsmith"}


@pytest.mark.parametrize(("who", "error"), [
    ("nobody", "Error: --provider-contact nobody is not in the people list; add them first with: cycle people add "
               "nobody --email ADDRESS --role provider"),
    ("alice", "Error: --provider-contact alice does not hold the provider role (roles: none); grant it with: "
              "cycle people add alice --role provider"),
    ("Bob Smith!", None),
    ("x" * 101, "Error: --provider-contact is 101 characters long; it may have at most 100"),
    ("j\x1bsmith", None),
])
def test_a_provider_contact_who_cannot_be_one_is_refused_and_nothing_written(camhs: Cli, db: Database, who: str,
                                                                            error: str | None) -> None:
    before = db.dump()
    for command in (("contract", "set", "camhs"), ("contract", "add", "camhs", "--ref", "C-2")):
        err = camhs(*command, "--provider-contact", who, expect=2).stderr
        if error is not None:
            assert err == error + "\n"
        else:
            assert err.startswith("Error: --provider-contact") and len(err.splitlines()) == 1
        assert db.dump() == before


def test_a_provider_contact_without_an_email_is_refused(camhs: Cli, db: Database) -> None:
    db.tamper("UPDATE person SET email = '' WHERE name = 'jsmith'")
    before = db.dump()
    err = camhs("contract", "set", "camhs", "--provider-contact", "jsmith", expect=2).stderr
    assert err == ("Error: --provider-contact jsmith has no email address for the reminders; give one with: "
                   "cycle people add jsmith --email ADDRESS\n")
    assert db.dump() == before


def test_a_provider_role_does_not_set_up_governance_nor_make_a_cycle_user(camhs: Cli) -> None:
    """Only a provider holds a role: a project's owner may still be changed by anyone (governance is not set up)."""
    camhs("project", "set", "camhs", "--governance-lead", "alice")


def test_a_hand_edited_provider_contact_is_caught_by_audit_verify(camhs: Cli, db: Database) -> None:
    camhs("contract", "set", "camhs", "--provider-contact", "jsmith")
    db.tamper("UPDATE contract SET provider_contact = 'alice'")
    assert "contract #1 differs from its audit entry" in camhs("audit", "verify", expect=1).stderr
