"""`cycle gate request` tells the approvers of the gate's body, by email (a real SMTP server), once per gate and
visit, with what the gate waits on."""

from __future__ import annotations

from .conftest import BODY, Cli, go
from .smtpd import SmtpServer, smtp_fixture  # noqa: F401 - the `smtp` fixture


def _people(run: Cli) -> None:
    run("people", "add", "alice", "--email", "alice@council.example")
    run("people", "add", "chair", "--email", "chair@council.example", "--role", "approver", "--body", BODY)
    run("people", "add", "vice", "--email", "vice@council.example", "--role", "approver", "--body", BODY)
    run("people", "add", "pat", "--email", "pat@council.example", "--role", "approver", "--body", "Another Board")


def test_a_request_emails_the_bodys_approvers_once_with_what_the_gate_waits_on(ready: Cli, smtp: SmtpServer) -> None:
    run = ready
    _people(run)
    out = run("gate", "request", "camhs", "--note", "for the 14 October board").stdout
    assert out == ("Requested a decision on gate analyse-plan for camhs (asked by alice).\n"
                   "Emailing the approvers: chair <chair@council.example>, vice <vice@council.example>. It goes with "
                   "the next: cycle outbox send (or cycle remind run, or the scheduler)\n")
    rows = run.json("outbox", "list")
    assert [(r["kind"], r["period"], r["recipient"], r["status"]) for r in rows] == [
        ("gate-request", "analyse-plan/c1v1", "chair", "pending"), ("gate-request", "analyse-plan/c1v1", "vice",
                                                                    "pending")]
    assert [e["action"] for e in run.json("audit", "log", "camhs")[-3:]] == [
        "gate.request", "outbox.enqueue", "outbox.enqueue"]
    assert run("outbox", "send").stdout.startswith("Outbox: sent 2.")
    (mail,) = smtp.received  # one message to both approvers; not to pat (another body's), nor to alice
    assert sorted(mail.rcpt_tos) == ["chair@council.example", "vice@council.example"]
    msg = mail.message
    assert msg["Subject"] == "Decision requested: CAMHS Tiers 2 and 3 (camhs), Analyse to Plan"
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Decision requested: ")
    assert "  Decided by  Children's Trust Board\n" in text
    assert "  Asked by    alice, " in text and "  Note        for the 14 October board\n" in text
    assert ("Please put this gate to Children's Trust Board at its next meeting, and record its decision once it "
            "has decided.") in text
    assert "Besides the decision, the gate still waits on:\n  - " in text
    assert "No 'needs-assessment' evidence recorded in cycle 1" in text
    assert ("    cycle decision record camhs --gate analyse-plan --outcome go --body \"Children's Trust Board\" "
            "--ref MINUTES\n") in text
    html = msg.get_body(("html",)).get_content()
    assert '<html lang="en-GB">' in html and "Children&#39;s Trust Board" in html
    # asked again in the same visit: recorded, but nobody is emailed twice
    again = run("gate", "request", "camhs").stdout
    assert again.splitlines()[1] == "Already emailed about this gate at this stage: chair, vice (not emailed again)."
    assert len(run.json("outbox", "list")) == 2
    run("outbox", "send")
    assert len(smtp.received) == 1
    run("audit", "verify")


def test_the_asker_is_not_emailed_and_a_body_without_approvers_is_said(ready: Cli, smtp: SmtpServer) -> None:
    run = ready
    _people(run)
    # chair asks (and may then not decide): only vice is asked
    out = run("gate", "request", "camhs", user="chair").stdout
    assert "Emailing the approvers: vice <vice@council.example>." in out
    # a body nobody approves for: the request is recorded, and the command says nobody could be told
    run("project", "new", "other", "--title", "Other", "--owner", "alice", "--accountable-body",
        "Health and Wellbeing Board")
    result = run("gate", "request", "other")
    assert result.stdout == "Requested a decision on gate analyse-plan for other (asked by alice).\n"
    assert result.stderr == (
        "Nobody was emailed for Health and Wellbeing Board: no approver of it is in the people list (other than "
        "you); register one with: cycle people add NAME --email ADDRESS --role approver --body \"Health and "
        "Wellbeing Board\"\n")
    run("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA")
    go(run, "camhs", "analyse-plan", user="vice")
    run("project", "advance", "camhs")
    run("gate", "request", "camhs")  # plan-do, a new gate at a new stage: both approvers are told
    assert run("outbox", "send").stdout.startswith("Outbox: sent 3.")  # rows: vice's, then chair's and vice's
    texts = [m.message.get_body(("plain",)).get_content() for m in smtp.received]
    assert [sorted(m.rcpt_tos) for m in smtp.received] == [["vice@council.example"],
                                                           ["chair@council.example", "vice@council.example"]]
    assert "Besides the decision, the gate still waits on:" in texts[1]
    run("audit", "verify")


def test_nobody_barred_from_deciding_the_gate_is_asked_to(ready: Cli, smtp: SmtpServer) -> None:
    """The request email goes only to approvers who may decide the gate at this visit (authority.barred, the rule
    decision record applies): not whoever asked for it earlier, owns the project or waived one of its criteria."""
    run = ready
    _people(run)
    run("people", "add", "gill", "--email", "gill@council.example", "--role", "governance-lead")
    run("people", "add", "gill", "--role", "approver", "--body", BODY)
    run("gate", "waive", "camhs", "needs-assessment", "--reason", "covered by the 2026 JSNA", user="gill")
    run("project", "set", "camhs", "--owner", "vice", user="gill")
    out = run("gate", "request", "camhs", user="alice").stdout
    assert "Emailing the approvers: chair <chair@council.example>." in out  # not vice (owner), nor gill (waived)
    again = run("gate", "request", "camhs", user="chair")  # chair, now barred too; nobody left to ask
    assert "Emailing" not in again.stdout
    assert again.stderr == (
        "Nobody was emailed for Children's Trust Board: chair, gill, vice may not decide this gate (separation of "
        "duties: they asked for it, own or owned camhs at this stage, or waived one of its criteria); register "
        "another approver with: cycle people add NAME --email ADDRESS --role approver --body \"Children's Trust "
        "Board\"\n")
    for who in ("chair", "vice", "gill"):  # each is refused by decision record too: one rule
        assert "separation of duties" in run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome",
                                             "go", "--body", BODY, "--ref", "minutes 1", user=who, expect=6).stderr
    run("outbox", "send")
    assert [m.rcpt_tos for m in smtp.received] == [["chair@council.example"]]
