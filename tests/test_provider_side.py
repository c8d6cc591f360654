"""The provider's side of the standards table (issue 17 part 4; seed 001 section 7, "Providers will:"): a contract's
provider contact, the return-due and return-late reminders they get, and overdue actions that remind their owner and
then the project's governance lead. Reminders go through the real CLI, a real SMTP server (tests/smtpd.py) and the
Maildir, on days two years ahead (tests/reminder_setup.py)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from .conftest import Cli, Database
from .reminder_setup import Y, live_project, maildir_messages, on_day, remind_run
from .smtpd import SmtpServer, smtp_fixture  # noqa: F401 - the `smtp` fixture

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


# --- 2. return due, return late ------------------------------------------------------------------------------------
# live_project: camhs (owner alice, governance lead gina) at `do`, contract C-1 from 1 October Y. Its first quarter is
# Y-Q3 (October to December Y), whose return is due on 20 January Y+1.

Q = f"{Y}-Q3"
DUE = date(Y + 1, 1, 20)
PERIOD = f"{Q}/c1"


@pytest.fixture
def provided(run: Cli) -> Cli:
    """live_project with two indicators and jsmith (role provider) as C-1's provider contact."""
    live_project(run)
    _contact(run)
    run("contract", "set", "camhs", "--provider-contact", "jsmith")
    run("kpi", "add", "camhs", "rtt-4wk", "--title", "Referral to treatment within 4 weeks", "--unit", "%",
        "--target", "92", "--better", "higher")
    run("kpi", "add", "camhs", "wait", "--title", "Average wait in days", "--target", "30", "--better", "lower")
    return run


def _mail(smtp: SmtpServer, kind: str) -> list[EmailMessage]:
    return [r.message for r in smtp.received if r.message["X-Cycle-Reminder"].split()[1] == kind]


def _text(msg: EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]


def _rows(db: Database, kind: str) -> list[tuple[str, str, str]]:
    return db.rows("SELECT period, recipient, status FROM outbox WHERE kind = :k ORDER BY id", params={"k": kind})


def test_return_due_reaches_the_provider_contact_once_across_runs(provided: Cli, db: Database,
                                                                  smtp: SmtpServer) -> None:
    for day in (DUE - timedelta(days=15), DUE - timedelta(days=15), DUE - timedelta(days=14), DUE):
        remind_run(provided, day)
    assert _rows(db, "return-due") == [(PERIOD, "jsmith", "sent")]
    (msg,) = _mail(smtp, "return-due")
    assert msg["To"] == "jsmith <j.smith@trustx.example>"
    assert msg["Subject"] == f"{Q} return due by 20 January {Y + 1}: C-1 (camhs)"
    text = _text(msg)
    assert "Indicators awaited: 2 indicators: rtt-4wk and wait\n" in text
    assert "Send it to:         alice (alice@council.example)\n" in text
    assert (f"Please send the {Q} values of the 2 indicators below to alice (alice@council.example) by "
            f"{DUE.strftime('%A')} 20 January {Y + 1}.") in " ".join(text.split())
    assert "- rtt-4wk: Referral to treatment within 4 weeks (%)\n" in text
    assert "- wait: Average wait in days\n" in text
    # a provider does not use cycle: no command, only the person to send it to
    assert "cycle kpi" not in text and "With cycle" not in text
    assert _rows(db, "return-late") == []


def test_return_late_names_the_missing_indicator_once_across_runs(provided: Cli, db: Database,
                                                                 smtp: SmtpServer) -> None:
    remind_run(provided, DUE - timedelta(days=10))
    with on_day(DUE - timedelta(days=10)):
        provided("kpi", "record", "camhs", "rtt-4wk", "--quarter", Q, "--value", "90")
    for day in (DUE + timedelta(days=1), DUE + timedelta(days=1), DUE + timedelta(days=5)):
        remind_run(provided, day)
    assert _rows(db, "return-due") == [(PERIOD, "jsmith", "sent")]
    assert _rows(db, "return-late") == [(PERIOD, "jsmith", "sent")]
    (msg,) = _mail(smtp, "return-late")
    assert msg["Subject"] == f"{Q} return late, 1 missing: C-1 (camhs)"
    text = " ".join(_text(msg).split())
    assert "Indicators missing: 1 indicator: wait" in text
    assert (f"The {Q} return was due by {DUE.strftime('%A')} 20 January {Y + 1} and 1 indicator still has no value: "
            f"please send it to alice (alice@council.example) now.") in text
    assert "rtt-4wk" not in text


def test_after_a_missed_day_each_reminder_still_goes_once(provided: Cli, db: Database, smtp: SmtpServer) -> None:
    """Nothing ran from the quarter's end until the 10th: the 10th's run asks for the return; nothing ran over the due
    date either: the first run after it says it is late."""
    remind_run(provided, DUE - timedelta(days=10))
    remind_run(provided, DUE + timedelta(days=9))
    remind_run(provided, DUE + timedelta(days=10))
    assert _rows(db, "return-due") == [(PERIOD, "jsmith", "sent")]
    assert _rows(db, "return-late") == [(PERIOD, "jsmith", "sent")]
    assert len(_mail(smtp, "return-due")) == len(_mail(smtp, "return-late")) == 1


def test_no_reminder_once_every_value_is_in(provided: Cli, db: Database, smtp: SmtpServer) -> None:
    for kpi, value in (("rtt-4wk", "93"), ("wait", "28")):
        with on_day(DUE - timedelta(days=10)):
            provided("kpi", "record", "camhs", kpi, "--quarter", Q, "--value", value)
    remind_run(provided, DUE - timedelta(days=5))
    remind_run(provided, DUE + timedelta(days=5))
    assert _rows(db, "return-due") == _rows(db, "return-late") == []


def test_without_a_provider_contact_the_owner_gets_return_late(provided: Cli, db: Database, home: Path) -> None:
    """Nobody at the provider to ask: no return-due; once the return is late, the project's owner is told."""
    provided("contract", "set", "camhs", "--provider-contact", "")
    remind_run(provided, DUE - timedelta(days=5))
    remind_run(provided, DUE + timedelta(days=1))
    remind_run(provided, DUE + timedelta(days=2))
    assert _rows(db, "return-due") == []
    assert _rows(db, "return-late") == [(PERIOD, "alice", "sent")]
    (msg,) = [m for m in (message_from_bytes(p.read_bytes(), policy=policy.default) for p in maildir_messages(home))
              if "return-late" in str(m["X-Cycle-Reminder"])]
    body = " ".join(_text(msg).split())  # type: ignore[arg-type]
    assert "Provider contact: none recorded" in body
    assert "No provider contact is recorded for this contract, so this reminder comes to you." in body
    assert "ask Trust X for them, then record them" in body


def test_dry_run_lists_the_return_reminders_and_a_sending_run_in_the_future_is_refused(provided: Cli) -> None:
    day = (DUE - timedelta(days=3)).isoformat()
    with on_day(date.today()):
        plan = provided.json("remind", "--dry-run", "--as-of", day)
        (due,) = [r for r in plan["reminders"] if r["kind"] == "return-due"]
        assert (due["recipient"], due["email"], due["period"], due["status"]) == (
            "jsmith", "j.smith@trustx.example", PERIOD, "new")
        assert due["subject"] == f"Return for {Q} due by {DUE}: C-1 (camhs)"
        refused = provided("remind", "run", "--as-of", day, expect=2)
        assert refused.stderr.startswith(f"Error: --as-of {day} is after today (")
        assert provided.json("outbox", "list") == []


# --- 3. overdue actions --------------------------------------------------------------------------------------------

ACTION_DUE = date(Y + 1, 1, 31)


def test_an_overdue_action_reminds_its_owner_once_then_the_governance_lead_once(provided: Cli, db: Database,
                                                                               smtp: SmtpServer) -> None:
    provided("action", "add", "camhs", "Recovery plan for RTT", "--owner", "jsmith", "--due", ACTION_DUE.isoformat(),
             "--kpi", "rtt-4wk")
    remind_run(provided, ACTION_DUE)  # due today: not overdue yet
    assert _rows(db, "action-overdue") == []
    for day in (1, 1, 2, 14):  # overdue from the day after; 14 days after it is due, not yet the lead's
        remind_run(provided, ACTION_DUE + timedelta(days=day))
    assert _rows(db, "action-overdue") == [("#1", "jsmith", "sent")]
    assert _rows(db, "action-escalated") == []
    for day in (15, 15, 30):
        remind_run(provided, ACTION_DUE + timedelta(days=day))
    assert _rows(db, "action-overdue") == [("#1", "jsmith", "sent")]
    assert _rows(db, "action-escalated") == [("#1", "gina", "sent")]
    (owner,) = _mail(smtp, "action-overdue")
    assert owner["To"] == "jsmith <j.smith@trustx.example>"
    assert owner["Subject"] == f"Action #1 overdue since 31 January {Y + 1}: CAMHS Tiers 2 and 3 (camhs)"
    text = " ".join(_text(owner).split())
    assert "Action: #1 Recovery plan for RTT" in text and "Indicator: rtt-4wk" in text
    assert "if it is done, tell alice (alice@council.example) so that it is recorded" in text
    (lead,) = _mail(smtp, "action-escalated")
    assert lead["To"] == "gina <gina@council.example>"
    assert lead["Subject"] == "Action #1 open 15 days past due: CAMHS Tiers 2 and 3 (camhs)"
    assert "owned by jsmith, is still open 15 days after its due date" in " ".join(_text(lead).split())
    # done: nothing more, ever
    with on_day(ACTION_DUE + timedelta(days=31)):
        provided("action", "done", "camhs", "1", "--note", "plan agreed")
    remind_run(provided, ACTION_DUE + timedelta(days=32))
    assert len(_mail(smtp, "action-overdue")) == len(_mail(smtp, "action-escalated")) == 1


def test_escalation_days_are_a_setting_and_a_missed_fortnight_sends_both_once(provided: Cli, db: Database,
                                                                              home: Path) -> None:
    config = home.parent / "xdg-config" / "cycle"
    config.mkdir(parents=True, exist_ok=True)
    (config / "reminders.toml").write_text("[reminders]\naction_escalate_days = 3\n")
    provided("action", "add", "camhs", "Send the data", "--owner", "alice", "--due", ACTION_DUE.isoformat())
    remind_run(provided, ACTION_DUE + timedelta(days=3))
    assert _rows(db, "action-escalated") == []
    remind_run(provided, ACTION_DUE + timedelta(days=20))  # nothing ran for a fortnight
    remind_run(provided, ACTION_DUE + timedelta(days=21))
    assert _rows(db, "action-overdue") == [("#1", "alice", "sent")]
    assert _rows(db, "action-escalated") == [("#1", "gina", "sent")]
    (config / "reminders.toml").write_text("[reminders]\naction_escalate_days = -1\n")
    err = provided("remind", "--dry-run", expect=2).stderr
    assert err == (f"Error: {config / 'reminders.toml'}: [reminders] action_escalate_days must be a whole number of "
                   f"days, from 0 to 3660\n")


def test_an_action_owner_not_in_the_people_list_and_a_project_without_a_governance_lead_are_problems(
        provided: Cli) -> None:
    provided("project", "new", "dental", "--title", "Dental", "--owner", "alice")
    provided("action", "add", "dental", "Call the trust", "--owner", "nobody", "--due", ACTION_DUE.isoformat())
    with on_day(date.today()):
        plan = provided.json("remind", "--dry-run", "--as-of", (ACTION_DUE + timedelta(days=20)).isoformat())
    problems = {(p["project"], p["kind"], p["problem"], p["fix"]) for p in plan["problems"]}
    assert problems >= {
        ("dental", "action-overdue", "nobody (action owner of dental) is not in the people list, so has no email",
         "cycle people add nobody --email ADDRESS"),
        ("dental", "action-escalated", "dental has no governance lead to send it to",
         "cycle project set dental --governance-lead NAME")}


# --- 4. emails a provider or a board member can act on --------------------------------------------------------------

def test_each_new_email_follows_the_email_quality_rules(provided: Cli, smtp: SmtpServer) -> None:
    from .test_email_quality import _sentences

    provided("action", "add", "camhs", "Recovery plan for RTT", "--owner", "jsmith", "--due", ACTION_DUE.isoformat())
    remind_run(provided, DUE - timedelta(days=3))
    remind_run(provided, DUE + timedelta(days=30))
    sent = {m["X-Cycle-Reminder"].split()[1]: m for m in (r.message for r in smtp.received)}
    assert {"return-due", "return-late", "action-overdue", "action-escalated"} <= set(sent)
    for kind in ("return-due", "return-late", "action-overdue", "action-escalated"):
        msg = sent[kind]
        subject, text = str(msg["Subject"]), _text(msg)
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert len("Subject: " + subject) <= 78 and subject == subject.strip(), (kind, subject)
        assert '<html lang="en-GB">' in html and "((" not in text + html and "))" not in text + html, kind
        sentences = _sentences(text)
        assert len(sentences) == len(set(sentences)), (kind, sentences)
        assert text.startswith(("Quarterly return", "Action")) and "\nService:  " in text, kind
    # the return is due on a Saturday: say so, and the working day before; the calendar entry marks it
    due = _text(sent["return-due"])
    assert (f"Saturday 20 January {Y + 1} is a weekend day: send the return by Friday 19 January {Y + 1}, the working "
            f"day before.") in due
    assert [p.get_content_type() for p in sent["return-due"].walk()].count("text/calendar") == 1
    # gina, the governance lead, holds no role here: no command; a manager sees it
    assert "With cycle" not in _text(sent["action-escalated"])


def test_the_owner_who_uses_cycle_sees_the_command_to_record_the_return(provided: Cli, smtp: SmtpServer) -> None:
    provided("people", "add", "alice", "--role", "manager")
    provided("contract", "set", "camhs", "--provider-contact", "")
    with on_day(DUE - timedelta(days=10)):
        provided("kpi", "record", "camhs", "rtt-4wk", "--quarter", Q, "--value", "90")
    remind_run(provided, DUE + timedelta(days=2))
    (late,) = _mail(smtp, "return-late")
    assert late["To"] == "alice <alice@council.example>"
    assert f"\nWith cycle: cycle kpi record camhs wait --quarter {Q} --value VALUE\n" in _text(late)


# --- as a careless operator or a text editor would have it ---------------------------------------------------------

def test_a_run_dated_back_but_sent_after_the_due_date_says_late_not_due(provided: Cli, db: Database,
                                                                       smtp: SmtpServer) -> None:
    with on_day(DUE + timedelta(days=3)):
        provided("remind", "run", "--as-of", (DUE - timedelta(days=2)).isoformat())
    assert _rows(db, "return-due") == []
    assert _rows(db, "return-late") == [(PERIOD, "jsmith", "sent")]
    assert "Days late:          3 days\n" in _text(_mail(smtp, "return-late")[0])


def test_indicators_added_to_a_running_contract_chase_no_backlog(run: Cli, db: Database) -> None:
    live_project(run)
    _contact(run)
    run("contract", "set", "camhs", "--provider-contact", "jsmith")
    with on_day(date(Y + 2, 2, 1)):  # the contract has run since October Y
        run("kpi", "add", "camhs", "rtt-4wk", "--title", "RTT", "--target", "92", "--better", "higher")
    remind_run(run, date(Y + 2, 2, 5))
    assert _rows(db, "return-due") == _rows(db, "return-late") == []
    remind_run(run, date(Y + 2, 4, 1))  # Y+1-Q4 (January to March Y+2) ended: its return is the first asked for
    assert _rows(db, "return-due") == [(f"{Y + 1}-Q4/c1", "jsmith", "sent")]


@pytest.mark.parametrize("value", ["true", "1.5", '"14"', "-1", "3661"])
def test_action_escalate_days_edited_wrong_is_one_line(provided: Cli, home: Path, value: str) -> None:
    config = home.parent / "xdg-config" / "cycle"
    config.mkdir(parents=True, exist_ok=True)
    (config / "reminders.toml").write_text(f"[reminders]\naction_escalate_days = {value}\n")
    err = provided("remind", "--dry-run", expect=2).stderr
    assert err == (f"Error: {config / 'reminders.toml'}: [reminders] action_escalate_days must be a whole number of "
                   f"days, from 0 to 3660\n")


def test_an_action_or_indicator_edited_by_hand_gives_no_traceback_and_is_named(provided: Cli, db: Database) -> None:
    provided("action", "add", "camhs", "A" * 200, "--owner", "jsmith", "--due", ACTION_DUE.isoformat())
    provided("action", "add", "camhs", "Edited", "--owner", "jsmith", "--due", ACTION_DUE.isoformat())
    db.tamper("UPDATE action SET due = 'soon' WHERE id = 2", "UPDATE kpi SET created_at = 'yesterday' WHERE id = 1")
    with on_day(date.today()):
        plan = provided.json("remind", "--dry-run", "--as-of", (ACTION_DUE + timedelta(days=1)).isoformat())
    actions = [(r["kind"], r["period"], r["subject"]) for r in plan["reminders"] if r["kind"].startswith("action")]
    assert actions == [("action-overdue", "#1", f"Action #1 overdue since {ACTION_DUE}: {'A' * 77}...")]
    assert provided("audit", "verify", expect=1).exit_code == 1


def test_a_provider_contact_keeps_the_role_until_the_contract_names_none_then_it_can_be_taken_away(
        provided: Cli) -> None:
    err = provided("people", "remove-role", "jsmith", "--role", "provider", expect=2).stderr
    assert err.startswith("Error: jsmith is the provider contact of camhs's contract C-1 ")
    assert provided.json("contract", "show", "camhs")["provider_contact"] == "jsmith"
    provided("contract", "set", "camhs", "--provider-contact", "")
    assert provided.json("contract", "show", "camhs")["provider_contact"] is None
    provided("people", "remove-role", "jsmith", "--role", "provider")
    err = provided("contract", "set", "camhs", "--provider-contact", "jsmith", expect=2).stderr
    assert err.startswith("Error: --provider-contact jsmith does not hold the provider role (roles: none)")


def test_the_provider_role_of_the_contact_of_several_contracts_is_kept_and_the_refusal_counts_them(
        provided: Cli, db: Database) -> None:
    provided("contract", "add", "camhs", "--provider", "Trust X", "--ref", "C-2", "--start", f"{Y + 1}-04-01",
             "--end", f"{Y + 3}-03-31", "--notice", "6 months")
    provided("contract", "set", "camhs", "--contract", "C-2", "--provider-contact", "jsmith")
    before = db.dump()
    assert provided("people", "remove-role", "jsmith", "--role", "provider", expect=2).stderr == (
        "Error: jsmith is the provider contact of camhs's contract C-1 (and 1 more contract) and gets their return "
        "reminders; name another (or none, with '') first: cycle contract set camhs --contract C-1 "
        "--provider-contact NAME\n")
    assert db.dump() == before
