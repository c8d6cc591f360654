"""Found by an adversarial review of issue 15 (adv15b): each test through the real CLI."""

from __future__ import annotations

import os
import subprocess

import pytest

from .conftest import BODY, Cli, cycle_exe, go
from .reminder_setup import Y, live_project
from .smtpd import SmtpServer, smtp_fixture  # noqa: F401 - the `smtp` fixture


def test_a_close_written_without_the_rules_field_after_a_refusal_named_the_rule_fails_verify(
        run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused advance whose entry names the engine's contract-notice rule puts the rule in force for the log: an
    advance entry written afterwards without `rules` (by hand, as a cycle from before the rule would write it) is
    re-checked all the same, and a close with the contract still live does not verify."""
    from cycle.workflow import gates

    live_project(run, start="2025-04-01")
    run("evidence", "add", "camhs", "contract-award", "--ref", "award letter")
    go(run, "camhs", "do-review")
    run("project", "advance", "camhs")
    run("evidence", "add", "camhs", "outcomes-evaluation", "--ref", "evaluation")
    go(run, "camhs", "review-closed")
    run("project", "advance", "camhs", "--to", "closed", expect=3)
    assert run.json("audit", "log", "camhs")[-1]["payload"]["rules"] == ["contract-notice"]
    with monkeypatch.context() as m:  # the entry a team member writes by hand: the move, without the field
        m.setattr(gates, "rules_for", lambda *args, **kwargs: [])
        run("project", "advance", "camhs", "--to", "closed")
    entry = run.json("audit", "log", "camhs")[-1]
    assert entry["action"] == "advance" and "rules" not in entry["payload"]
    found = run("audit", "verify", expect=1).stderr.splitlines()
    assert found[0] == ("Records FAILED: 1 does not match the audit log, which itself verified (checked every "
                        "column of 18 rows in 24 tables):")
    assert found[1].startswith(f"  entry {entry['seq']} (advance of camhs, gate review-closed) passed the gate, but "
                               f"the record at that entry does not meet it: contract-notice (The contract C-1 with "
                               f"Trust X is live and notice has not been served: Serve notice by {Y + 3}-03-31")


def test_json_on_a_write_prints_only_its_own_entries_not_another_process_s_under_the_same_name(
        run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """--json prints what the command wrote: not an entry another process appended meanwhile under the same name
    (a scheduler or a cron job running as the same user, a second terminal)."""
    from cycle.projects import engine

    run("init")
    run("people", "add", "alice", "--email", "alice@council.example", "--role", "admin")
    run("project", "new", "camhs", "--title", "CAMHS", "--owner", "alice")
    set_project = engine.set_project

    def meanwhile(*args: object, **kwargs: object) -> object:
        # another process, as the same user, writes while this command is under way
        other = subprocess.run([*cycle_exe(), "people", "add", "bob", "--email", "bob@council.example"],
                               capture_output=True, text=True, env=dict(os.environ), check=False)
        assert other.returncode == 0, other.stderr
        return set_project(*args, **kwargs)

    monkeypatch.setattr(engine, "set_project", meanwhile)
    made = run.json("project", "set", "camhs", "--owner", "bob")
    assert [(e["action"], e["project"]) for e in made["entries"]] == [("project.set", "camhs")]
    assert made["project"] == "camhs"
    # the other process's entry is in the log, just not in this command's output
    assert [e["action"] for e in run.json("audit", "log", "--limit", "2")] == ["person.add", "project.set"]


def test_a_second_gate_request_does_not_say_emailed_when_the_first_email_failed_or_has_not_gone(
        ready: Cli, smtp: SmtpServer) -> None:
    """Asked again, a gate request says what became of the first email: sent, still waiting to go, or refused by the
    server (with the command that sends it again), never "already emailed" for an email nobody received."""
    run = ready
    run("people", "add", "chair", "--email", "chair@council.example", "--role", "approver", "--body", BODY)
    run("people", "add", "vice", "--email", "vice@council.example", "--role", "approver", "--body", BODY)
    run("gate", "request", "camhs")
    again = run("gate", "request", "camhs")  # nothing sent yet
    assert again.stdout.splitlines()[1:] == [
        "Already queued about this gate at this stage, not sent yet: chair, vice (not queued again); it goes with "
        "the next: cycle outbox send"]
    smtp.handler.refuse = {"chair@council.example": "550 5.1.1 <chair@council.example>: Recipient address rejected"}
    run("outbox", "send", expect=1)
    (chair,) = [r["id"] for r in run.json("outbox", "list", "--status", "failed")]
    third = run("gate", "request", "camhs")
    assert third.stdout.splitlines()[1:] == ["Already emailed about this gate at this stage: vice (not emailed again)."]
    assert third.stderr == (f"The email to chair about this gate could not be delivered (550 5.1.1 "
                            f"<chair@council.example>: Recipient address rejected); send it again with: cycle outbox "
                            f"retry {chair} (if the address is wrong, first: cycle people add chair --email ADDRESS)\n")


def test_a_close_written_without_the_rules_field_before_any_advance_named_the_rule_fails_verify(
        run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database's own `db.init` entry names the engine's rules, so they are in force from the first entry: a
    close written by hand without `rules` in a database where no advance has named them yet (the first gate this
    project's team ever passes into a final stage) no longer verifies (left open by adv15b)."""
    from cycle.workflow import gates

    live_project(run, start="2025-04-01")
    assert run.json("audit", "log")[0]["payload"]["rules"] == ["contract-notice"]
    run("evidence", "add", "camhs", "contract-award", "--ref", "award letter")
    go(run, "camhs", "do-review")
    run("project", "advance", "camhs")
    assert all("rules" not in e["payload"] or e["action"] == "db.init" for e in run.json("audit", "log")[:-1])
    run("evidence", "add", "camhs", "outcomes-evaluation", "--ref", "evaluation")
    go(run, "camhs", "review-closed")
    with monkeypatch.context() as m:  # the entry a team member writes by hand: the move, without the field
        m.setattr(gates, "rules_for", lambda *args, **kwargs: [])
        run("project", "advance", "camhs", "--to", "closed")
    entry = run.json("audit", "log", "camhs")[-1]
    assert entry["action"] == "advance" and "rules" not in entry["payload"]
    found = run("audit", "verify", expect=1).stderr.splitlines()
    assert found[1].startswith(f"  entry {entry['seq']} (advance of camhs, gate review-closed) passed the gate, but "
                               f"the record at that entry does not meet it: contract-notice"), found
