"""Deputies (issue 19 part 1): someone who decides for a body in an approver's place, within a window of days."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cycle.calendar.clock import london_today

from .conftest import BODY, Cli, Database
from .smtpd import SmtpServer, smtp_fixture  # noqa: F401 - the `smtp` fixture

TODAY = london_today()


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


@pytest.fixture
def board(ready: Cli) -> Cli:
    """camhs (owned by alice) at analyse; chair approves for the board, root is admin, vice and other are known."""
    run = ready
    run("people", "add", "root", "--email", "root@council.gov.uk", "--role", "admin")
    run("people", "add", "alice", "--email", "alice@council.gov.uk", "--role", "manager", user="root")
    run("people", "add", "chair", "--email", "chair@council.gov.uk", "--role", "approver", "--body", BODY, user="root")
    run("people", "add", "vice", "--email", "vice@council.gov.uk", user="root")
    run("people", "add", "other", "--email", "other@council.gov.uk", user="root")
    return run


def deputy(run: Cli, first: int, last: int, who: str = "vice", user: str = "root", expect: int = 0,
           approver: str = "chair") -> str:
    r = run("people", "deputy", "add", approver, "--deputy", who, "--body", BODY, "--from", day(first), "--to",
            day(last), user=user, expect=expect)
    return r.stdout + r.stderr


def decide(run: Cli, user: str = "vice", expect: int = 0) -> str:
    r = run("decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "go", "--body", BODY, "--ref",
            "minutes 5", user=user, expect=expect)
    return r.stdout + r.stderr


@pytest.mark.parametrize(("first", "last"), [(0, 10), (-10, 0)], ids=["first day", "last day"])
def test_a_deputy_decides_within_the_window_acting_for_the_approver(board: Cli, first: int, last: int) -> None:
    run = board
    assert deputy(run, first, last) == (f"vice may decide for {BODY} in chair's place from {day(first)} to "
                                        f"{day(last)}.\n")
    out = decide(run)
    assert out.splitlines()[0] == (f"Recorded decision #1: go on analyse-plan by {BODY} (minutes 5), acting for "
                                   f"chair, deputy since {day(first)}.")
    entry = run.json("audit", "log", "camhs")[-1]
    assert (entry["action"], entry["actor"], entry["payload"]["authority"]) == (
        "decision.record", "vice", f"acting for chair, deputy since {day(first)}")
    assert run.json("project", "show", "camhs")["decisions"][0]["recorded_by"] == "vice"
    run("audit", "verify")


def test_outside_the_window_a_deputy_is_refused_with_the_window_named(board: Cli, db: Database) -> None:
    run = board
    deputy(run, -10, -1)
    deputy(run, 1, 10)
    before = db.dump(("decision",))
    err = decide(run, expect=6)
    assert err == (f"Error: vice may decide for {BODY} only as a deputy (from {day(-10)} to {day(-1)} for chair, "
                   f"from {day(1)} to {day(10)} for chair), and today is {TODAY}; an approver (chair) must record "
                   f"it. The refused attempt is recorded in the audit log.\n")
    assert db.dump(("decision",)) == before
    assert run.json("audit", "log", "camhs")[-1]["action"] == "decision.refused"


def test_separation_of_duties_applies_to_a_deputy(board: Cli) -> None:
    run = board
    deputy(run, 0, 5, who="alice")  # alice owns camhs
    assert decide(run, user="alice", expect=6) == (
        f"Error: separation of duties: alice owns camhs and may not decide its gates; another approver for {BODY} "
        f"must record it. The refused attempt is recorded in the audit log.\n")
    run("people", "deputy", "end", "chair", "--deputy", "alice", "--body", BODY, user="root")
    deputy(run, 0, 5, who="vice")
    run("gate", "request", "camhs", user="vice")
    assert decide(run, expect=6) == (
        f"Error: separation of duties: vice asked for gate analyse-plan and may not decide it; another approver for "
        f"{BODY} must record it. The refused attempt is recorded in the audit log.\n")
    decide(run, user="chair")  # the approver still may


def test_windows_of_one_approver_and_body_may_not_overlap(board: Cli, db: Database) -> None:
    run = board
    deputy(run, 0, 10)
    before = db.dump(("deputy", "audit_entry"))
    assert deputy(run, 10, 12, who="other", expect=2) == (
        f"Error: chair already has a deputy for {BODY} from {day(0)} to {day(10)} (vice); windows may not overlap: "
        f"end that one first with: cycle people deputy end chair --deputy vice --body \"{BODY}\"\n")
    assert db.dump(("deputy", "audit_entry")) == before
    deputy(run, 11, 12, who="other")  # the next day is free


def test_a_deputys_deputy_does_not_count(board: Cli) -> None:
    run = board
    deputy(run, 0, 10)
    assert deputy(run, 0, 10, who="other", user="vice", approver="vice", expect=2) == (
        f"Error: vice is not an approver for {BODY} (approvers: chair) (a deputy's deputy does not count); a deputy "
        f"stands in for one of them\n")


def test_ending_early_is_audited_and_effective(board: Cli) -> None:
    run = board
    deputy(run, -3, 10)
    out = run("people", "deputy", "end", "chair", "--deputy", "vice", "--body", BODY, user="chair").stdout
    assert out == f"vice decides for {BODY} in chair's place until {day(-1)} (was until {day(10)}).\n"
    entry = run.json("audit", "log")[-1]
    assert (entry["action"], entry["actor"], entry["payload"]["to"]) == ("deputy.end", "chair", [day(10), day(-1)])
    assert entry["payload"]["rows"][0]["row"]["ended_by"] == "chair"
    assert decide(run, expect=6).startswith(f"Error: vice may decide for {BODY} only as a deputy (from {day(-3)} to "
                                            f"{day(-1)} for chair), and today is {TODAY}")
    assert [(w["deputy"], w["to"], w["status"]) for w in run.json("people", "deputy", "list")] == [
        ("vice", day(-1), "ended")]
    # a window to come, ended before it starts, is cancelled; and the past is not undone
    deputy(run, 5, 6, who="other")
    assert run("people", "deputy", "end", "chair", "--deputy", "other", "--body", BODY, "--on", day(-1),
               user="root", expect=2).stderr == (
        f"Error: --on {day(-1)} is in the past; a window ends from today on (what the deputy decided stands), e.g. "
        f"--on {TODAY}\n")
    assert run("people", "deputy", "end", "chair", "--deputy", "other", "--body", BODY, user="root").stdout == (
        f"Cancelled other's window for {BODY} in chair's place (was {day(5)} to {day(6)}): they never decide in it.\n")
    assert run("people", "deputy", "list", "--body", BODY).stdout == (
        f"vice for chair ({BODY}): {day(-3)} to {day(-1)}, ended\nother for chair ({BODY}): {day(5)} to {day(4)}, "
        f"cancelled\n")
    run("audit", "verify")


def test_a_window_ended_on_its_first_day_after_the_deputy_decided_is_ended_not_cancelled(board: Cli) -> None:
    run = board
    run("project", "new", "respite", "--title", "Respite", "--accountable-body", BODY, "--owner", "alice")
    deputy(run, 0, 5)
    decide(run)
    run("decision", "record", "respite", "--gate", "analyse-plan", "--outcome", "hold", "--body", BODY, "--ref",
        "minutes 6", user="vice")
    out = run("people", "deputy", "end", "chair", "--deputy", "vice", "--body", BODY, "--on", day(0),
              user="chair").stdout
    assert out == (f"Ended vice's window for {BODY} in chair's place (was {day(0)} to {day(5)}): they no longer "
                   f"decide; the 2 decisions they recorded in it stand.\n")
    assert [w["status"] for w in run.json("people", "deputy", "list")] == ["ended"]
    assert decide(run, expect=6).startswith(f"Error: vice is not an approver for {BODY}")  # no longer
    assert [d["recorded_by"] for d in run.json("project", "show", "camhs")["decisions"]] == ["vice"]  # it stands
    # the same on its first day with nothing decided in it: cancelled
    deputy(run, 0, 3, who="other")
    assert run("people", "deputy", "end", "chair", "--deputy", "other", "--body", BODY, user="chair").stdout == (
        f"Cancelled other's window for {BODY} in chair's place (was {day(0)} to {day(3)}): they never decide in it.\n")
    assert run("people", "deputy", "list").stdout == (
        f"vice for chair ({BODY}): {day(0)} to {day(-1)}, ended\nother for chair ({BODY}): {day(0)} to {day(-1)}, "
        f"cancelled\n")
    run("audit", "verify")


def test_only_an_admin_or_the_approver_adds_or_ends_a_deputy(board: Cli, db: Database) -> None:
    run = board
    assert deputy(run, 0, 5, who="vice", user="vice", expect=6) == (
        f"Error: only chair or an admin (root) may add a deputy for chair, and vice is neither; ask one of them to "
        f"run: cycle people deputy add chair --deputy vice --body \"{BODY}\" --from {day(0)} --to {day(5)}. The "
        f"refused attempt is recorded in the audit log.\n")
    assert db.dump(("deputy",))["deputy"] == []
    assert run.json("audit", "log")[-1]["action"] == "deputy.refused"
    deputy(run, 0, 5, who="vice", user="chair")
    assert run("people", "deputy", "end", "chair", "--deputy", "vice", "--body", BODY, user="alice",
               expect=6).stderr.startswith("Error: only chair or an admin (root) may end a deputy for chair, and alice "
                                           "is neither")
    decide(run)


@pytest.mark.parametrize(("args", "said"), [
    (("chair", "--deputy", "ghost", "--body", BODY), "--deputy ghost is not a registered person (see: cycle people "
                                                      "list); register them first with: cycle people add ghost "
                                                      "--email ADDRESS"),
    (("chair", "--deputy", "Chair", "--body", BODY), "--deputy chair is the approver; a deputy is someone else"),
    (("chair", "--deputy", "vice", "--body", "No Such Board"), "nobody is an approver for 'No Such Board', so it "
                                                               "has nobody to stand in for (see: cycle people list)"),
    (("alice", "--deputy", "vice", "--body", BODY), f"alice is not an approver for {BODY} (approvers: chair); a "
                                                    f"deputy stands in for one of them"),
])
def test_a_deputy_is_a_known_person_for_an_approver_of_a_body(board: Cli, db: Database, args: tuple[str, ...],
                                                               said: str) -> None:
    before = db.dump(("deputy", "audit_entry"))
    err = board("people", "deputy", "add", *args, "--from", day(0), "--to", day(3), user="root", expect=2).stderr
    assert err == f"Error: {said}\n"
    assert db.dump(("deputy", "audit_entry")) == before


def test_odd_windows_are_refused(board: Cli) -> None:
    run = board
    assert deputy(run, 3, 2, expect=2) == f"Error: --to {day(2)} is before --from {day(3)}; a window runs from its " \
                                          f"first day to its last\n"
    assert deputy(run, 0, 400, expect=2).startswith("Error: a deputy's window is at most 366 days")
    err = run("people", "deputy", "add", "chair", "--deputy", "vice", "--body", BODY, "--from", "2027-02-30",
              "--to", "2027-03-01", user="root", expect=2).stderr
    assert "2027-02-30" in err and "Traceback" not in err
    assert run("people", "deputy", "list").stdout.startswith("No deputies.")


def test_a_hand_edited_window_is_caught_by_audit_verify(board: Cli, db: Database) -> None:
    run = board
    deputy(run, -10, -5)
    dropped = ("DROP TRIGGER deputy_only_ends_early",) if db.dialect == "sqlite" else ()  # as a text editor can
    db.tamper(*dropped, "UPDATE deputy SET ends_on = '2099-12-31', deputy = 'other'")  # stretched and handed on
    found = run.json("audit", "verify", expect=1)["records"]["discrepancies"]
    assert [d["table"] for d in found] == ["deputy"]


def test_the_database_file_refuses_to_delete_or_stretch_a_window(board: Cli, db: Database) -> None:
    if db.dialect != "sqlite":
        pytest.skip("on PostgreSQL the application role's refusals are in tests/test_prevention.py")
    deputy(board, 0, 5)
    assert db.refused("DELETE FROM deputy") == ("a deputy's window is never deleted; end "
                                                "it early with: cycle people deputy end")
    assert db.refused("UPDATE deputy SET ends_on = '2099-12-31'") == (
        "a deputy's window only ends early, with: cycle people deputy end")


@pytest.mark.sqlite_only
def test_the_database_file_refuses_a_window_past_the_longest_or_with_a_day_written_oddly(board: Cli,
                                                                                        db: Database) -> None:
    """Revision 0026: the file's own trigger holds the CLI's rule (on PostgreSQL: tests/test_prevention.py)."""
    from cycle.governance.deputies import LONGEST

    insert = ("INSERT INTO deputy (approver, deputy, body, starts_on, ends_on, added_by, added_at) VALUES "
              "('chair', 'vice', :body, :first, :last, 'chair', '2026-01-01T00:00:00.000000Z')")
    said = (f"a deputy's window runs from one day to another, each written YYYY-MM-DD, for 1 to {LONGEST} days; "
            f"add one with: cycle people deputy add")
    for first, last in [(day(0), day(LONGEST)), (day(0), f"{day(3)}T00:00"), (f" {day(0)}", day(3)),
                        ("2027-02-29", "2027-03-02"), (day(3), day(2))]:
        assert db.refused(insert, params={"body": BODY, "first": first, "last": last}) == said, (first, last)
    db.execute(insert, params={"body": BODY, "first": day(0), "last": day(LONGEST - 1)})  # the longest goes in
    assert db.refused("UPDATE deputy SET ends_on = :last", params={"last": f"{day(3)}T00:00"}) == (
        "a deputy's window only ends early, with: cycle people deputy end")
    db.execute("UPDATE deputy SET ends_on = :last", params={"last": day(3)})  # earlier, as a day: goes in


def test_the_gate_request_email_goes_to_a_deputy_in_their_window_once(board: Cli, smtp: SmtpServer) -> None:
    run = board
    run("people", "add", "chair2", "--email", "chair2@council.gov.uk", "--role", "approver", "--body", BODY,
        user="root")
    deputy(run, 0, 5)  # vice stands in for both chairs: emailed once
    deputy(run, -2, 5, approver="chair2")
    deputy(run, 1, 5, who="other", approver="chair2", expect=2)  # overlaps
    run("people", "deputy", "end", "chair2", "--deputy", "vice", "--body", BODY, "--on", day(1), user="root")
    deputy(run, 1, 5, who="other", approver="chair2")  # tomorrow on: not emailed today
    out = run("gate", "request", "camhs").stdout
    # the deputy is named as one, with whom they stand in for and to when (chair2's window began first)
    said = f"vice <vice@council.gov.uk> (deputy for chair2 to {day(0)} and for chair to {day(5)})"
    assert out.splitlines()[1].startswith("Emailing the approvers: chair <chair@council.gov.uk>, chair2 "
                                          f"<chair2@council.gov.uk>, {said}.")
    rows = run.json("outbox", "list")
    assert sorted(r["recipient"] for r in rows) == ["chair", "chair2", "vice"]
    run("outbox", "send")
    (mail,) = smtp.received
    assert sorted(mail.rcpt_tos) == ["chair2@council.gov.uk", "chair@council.gov.uk", "vice@council.gov.uk"]
    text = mail.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert (f"Sent by cycle to chair, chair2 (approver for {BODY}); vice (deputy for chair2 to {day(0)} and for "
            f"chair to {day(5)}) for camhs") in " ".join(text.split())
    assert "deputy for chair2" in mail.message.get_body(("html",)).get_content()



def test_a_deputy_lapses_when_the_approver_is_no_longer_one(board: Cli) -> None:
    run = board
    run("people", "add", "chair2", "--email", "chair2@council.gov.uk", "--role", "approver", "--body", BODY,
        user="root")
    deputy(run, 0, 5)
    run("people", "remove-role", "chair", "--role", "approver", "--body", BODY, user="root")
    assert decide(run, expect=6).startswith(f"Error: vice may decide for {BODY} only as a deputy (from {day(0)} to "
                                            f"{day(5)} for chair), and today is {TODAY}; an approver (chair2)")


@pytest.mark.sqlite_only
def test_a_window_written_into_the_file_by_hand_is_named_with_the_decision_it_let_through(board: Cli,
                                                                                          db: Database) -> None:
    run = board
    db.execute("INSERT INTO deputy (approver, deputy, body, starts_on, ends_on, added_by, added_at) VALUES "
               "('chair', 'vice', :body, :first, :last, 'chair', '2026-01-01T00:00:00.000000Z')",
               params={"body": BODY, "first": day(-1), "last": day(1)})
    decide(run)  # the file's own trigger cannot tell who wrote the window
    found = run.json("audit", "verify", expect=1)["records"]["discrepancies"]
    assert sorted({d["table"] for d in found}) == ["audit_entry", "deputy"]
    assert any("was recorded by vice, who is not an approver for" in d["problem"] for d in found)


def test_a_database_made_before_deputies_upgrades_and_takes_one(run: Cli, db: Database) -> None:
    """Revision 0025 on a database at 0024 with a decision on record: the table and its rules arrive, nothing
    else changes, and a deputy then decides."""
    from cycle.db import schema
    from cycle.db.store import open_store

    store = open_store()
    schema.upgrade(store, target="0024")
    store.dispose()
    assert "deputy" not in db.tables()
    run("init")
    assert "deputy" in db.tables() and run.json("db", "status")["current"] == schema.head()
    run("project", "new", "camhs", "--title", "CAMHS", "--accountable-body", BODY, "--owner", "alice")
    run("people", "add", "chair", "--email", "chair@council.gov.uk", "--role", "approver", "--body", BODY)
    run("people", "add", "vice", "--email", "vice@council.gov.uk")
    run("people", "deputy", "add", "chair", "--deputy", "vice", "--body", BODY, "--from", day(0), "--to", day(0),
        user="chair")
    assert "acting for chair" in decide(run)
    run("audit", "verify")
