"""Several contracts per project (issue 16 part 1): each named by its reference within the project, each followed on
its own (notice deadlines, reminders, `contracts due` and `list`, the gate into a final stage, `date` criteria), and a
database made when a project held one contract migrated with nothing lost and nothing sent twice."""

from __future__ import annotations

import json
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from cycle.calendar import clock
from cycle.contracts import TRANSPARENCY
from cycle.db import rows, schema
from cycle.db.store import open_store
from cycle.workflow import gates
from cycle.workflow.definition import parse_text

from .conftest import Cli, Database, go
from .reminder_setup import Y, live_project, maildir_messages, on_day, remind_run

C1_DEADLINE = f"{Y + 3}-03-31"  # live_project's C-1: ends 30 September Y+3, six months' notice
C2 = ["--provider", "Trust Y", "--start", f"{Y}-10-01", "--end", f"{Y + 3}-07-31", "--notice", "3 months",
      "--run-on", "6 months"]
C2_DEADLINE = f"{Y + 3}-04-30"  # three months before 31 July Y+3


def two_contracts(run: Cli) -> None:
    """camhs at `do` with C-1 (Trust X) and C-2 (Trust Y), whose notice deadlines differ by a month."""
    live_project(run)
    out = run("contract", "add", "camhs", "--ref", "C-2", *C2).stdout
    assert out.startswith("Contract of camhs: Trust Y (C-2)\n")


def notice_mails(home: Path) -> int:
    return sum(str(message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"]).startswith("Notice deadline")
               for p in maildir_messages(home))


def notices(run: Cli, day: str) -> list[tuple[str, str, str]]:
    plan = run.json("remind", "--dry-run", "--as-of", day)
    return [(r["kind"], r["period"], r["recipient"]) for r in plan["reminders"]
            if r["kind"].startswith("notice") and r["status"] == "new"]  # (not those queued or sent already)


def test_a_second_contract_is_added_shown_and_listed(run: Cli) -> None:
    two_contracts(run)
    entry = run.json("audit", "log", "camhs")[-1]
    assert (entry["action"], entry["payload"]["contract_ref"], entry["payload"]["changes"]["provider"]) == (
        "contract.add", "C-2", [None, "Trust Y"])
    assert "contract C-2 of camhs added" in run("audit", "log", "camhs").stdout
    # show: both without --ref (a list in JSON), one with it
    shown = run.json("contract", "show", "camhs")
    assert [(c["ref"], c["provider"], c["notice_deadline"]) for c in shown] == [
        ("C-1", "Trust X", C1_DEADLINE), ("C-2", "Trust Y", C2_DEADLINE)]
    assert run.json("contract", "show", "camhs", "--ref", "C-2")["provider"] == "Trust Y"
    text = run("contract", "show", "camhs").stdout
    assert "Contract of camhs: Trust X (C-1)" in text and "Contract of camhs: Trust Y (C-2)" in text
    # project show lists every contract (the first also as `contract`, as before)
    project = run.json("project", "show", "camhs")
    assert [c["ref"] for c in project["contracts"]] == ["C-1", "C-2"] and project["contract"]["ref"] == "C-1"
    assert run("project", "show", "camhs").stdout.count("  contract  ") == 2
    # contracts list: a row per contract, with the project's key and the reference
    listed = run.json("contracts", "list", "--as-of", f"{Y + 1}-01-01")
    assert [(c["project"], c["ref"], c["provider"]) for c in listed] == [
        ("camhs", "C-1", "Trust X"), ("camhs", "C-2", "Trust Y")]
    csv = run("contracts", "list", "--csv", "--as-of", f"{Y + 1}-01-01").stdout.splitlines()
    assert csv[0].startswith("\ufeffproject,ref,provider,") and [line.split(",")[:2] for line in csv[1:]] == [
        ["camhs", "C-1"], ["camhs", "C-2"]]
    # contracts due: both, each on its own deadline
    due = run.json("contracts", "due", "--within", "365d", "--as-of", f"{Y + 2}-06-01")
    assert [(d["project"], d["ref"], d["what"], d["date"]) for d in due] == [
        ("camhs", "C-1", "notice deadline", C1_DEADLINE), ("camhs", "C-2", "notice deadline", C2_DEADLINE)]


def test_without_ref_a_command_on_one_of_several_contracts_is_refused_with_nothing_written(run: Cli,
                                                                                          db: Database) -> None:
    two_contracts(run)
    before = db.dump()
    which = "camhs has 2 contracts (C-1, C-2): say which with"
    for args, option in [(("contract", "set", "camhs", "--end", f"{Y + 4}-03-31"), "--ref"),
                         (("contract", "notice", "camhs", "--served-on", str(clock.london_today()), "--ref", "NL-1"),
                          "--contract"),
                         (("contract", "set", "camhs", "--ref", "C-3", "--notice", "1 month"), None),
                         (("contract", "show", "camhs", "--ref", "C-9"), None),
                         (("contract", "add", "camhs", "--ref", "C-1", "--provider", "Trust Z"), None),
                         (("contract", "set", "camhs", "--contract", "C-2", "--ref", "C-1"), None)]:
        refused = run(*args, expect=2)
        if option is not None:
            assert refused.stderr == f"Error: {which} {option}\n"
    assert run("contract", "set", "camhs", "--ref", "C-3", "--notice", "1 month", expect=2).stderr == (
        "Error: camhs has no contract 'C-3' (its contracts: C-1, C-2); add one with: cycle contract add camhs "
        "--ref C-3 --provider NAME\n")
    assert run("contract", "add", "camhs", "--ref", "C-1", "--provider", "Trust Z", expect=2).stderr == (
        "Error: camhs already has a contract C-1; change it with: cycle contract set camhs --ref C-1 ...\n")
    assert run("contract", "set", "camhs", "--contract", "C-2", "--ref", "C-1", expect=2).stderr == (
        "Error: camhs already has a contract C-1: a reference names one contract of a project\n")
    assert db.dump() == before
    # with --ref (or --contract) each is changed on its own, and a rename keeps it
    run("contract", "set", "camhs", "--ref", "C-2", "--value", "900k")
    run("contract", "set", "camhs", "--contract", "C-2", "--ref", "C-2B")
    assert [(c["ref"], c["value_total"]) for c in run.json("contract", "show", "camhs")] == [
        ("C-1", None), ("C-2B", "900000.00")]
    assert run("audit", "verify").stdout.startswith("Audit chain verified")


def test_a_contract_with_no_reference_stays_addressable_while_it_is_the_only_one(ready: Cli) -> None:
    run = ready
    run("contract", "set", "camhs", "--provider", "Trust X", "--start", "2025-04-01", "--end", "2028-03-31",
        "--notice", "6 months")
    run("contract", "set", "camhs", "--value", "1m")  # no --ref needed
    assert run.json("contract", "show", "camhs")["value_total"] == "1000000.00"
    refused = run("contract", "add", "camhs", "--ref", "LOT2", "--provider", "Trust Y", expect=2)
    assert refused.stderr == ("Error: camhs's contract with Trust X has no reference, and once it has a second "
                              "contract each is named by its own; give it one first with: cycle contract set camhs "
                              "--ref REF\n")
    run("contract", "set", "camhs", "--ref", "LOT1")
    run("contract", "add", "camhs", "--ref", "LOT2", "--provider", "Trust Y")
    assert [c["ref"] for c in run.json("contract", "show", "camhs")] == ["LOT1", "LOT2"]


def test_each_contract_gets_its_own_notice_reminder_exactly_once(run: Cli, home: Path, db: Database) -> None:
    two_contracts(run)
    day = f"{Y + 3}-01-31"  # 59 or 60 days before C-1's deadline (the 60-day rung), 89 or 90 before C-2's
    expected = [("notice", f"{C1_DEADLINE}/60d", "alice"), ("notice", f"{C1_DEADLINE}/60d", "sam"),
                ("notice", f"{C2_DEADLINE}/90d/c2", "alice"), ("notice", f"{C2_DEADLINE}/90d/c2", "sam")]
    assert notices(run, day) == expected
    remind_run(run, day)
    remind_run(run, day)  # a second run on the day sends nothing again
    sent = db.rows("SELECT kind, period, recipient, status FROM outbox WHERE kind = 'notice' ORDER BY id")
    assert sorted(sent) == sorted((*e, "sent") for e in expected)
    subjects = []
    for path in maildir_messages(home):
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        if str(msg["Subject"]).startswith("Notice deadline"):
            text = msg.get_body(("plain",)).get_content()
            subjects.append((str(msg["To"]), "Contract reference: C-2" in text,
                             "Provider:           Trust Y" in text, f"notice, {C2_DEADLINE}/90d/c2)" in text))
    both = "alice <alice@council.example>, sam <sam@council.example>"  # one message to the owner and the SRO
    assert sorted(subjects) == [(both, False, False, False), (both, True, True, True)]
    # C-1's notice served: its reminders stop, C-2's go on up its ladder
    with on_day(day):
        run("contract", "notice", "camhs", "--contract", "C-1", "--served-on", day, "--ref", "NL-1")
    later = f"{Y + 3}-04-01"
    assert notices(run, later) == [("notice", f"{C2_DEADLINE}/30d/c2", "alice"),
                                   ("notice", f"{C2_DEADLINE}/30d/c2", "sam")]


def test_the_gate_to_closed_is_refused_while_any_contract_is_live(run: Cli) -> None:
    live_project(run, start="2025-04-01")
    run("contract", "add", "camhs", "--ref", "C-2", "--provider", "Trust Y", "--start", "2025-04-01",
        "--end", f"{Y + 3}-07-31", "--notice", "3 months", "--run-on", "6 months")
    run("evidence", "add", "camhs", "contract-award", "--ref", "award letter")
    go(run, "camhs", "do-review")
    run("project", "advance", "camhs")
    run("evidence", "add", "camhs", "outcomes-evaluation", "--ref", "evaluation")
    go(run, "camhs", "review-closed")
    today = str(clock.london_today())
    run("contract", "notice", "camhs", "--contract", "C-1", "--served-on", today, "--ref", "NL-1")
    refused = run("project", "advance", "camhs", "--to", "closed", expect=3)
    assert "  - contract-notice: The contract C-2 with Trust Y is live and notice has not been served" in refused.stderr
    assert "cycle contract notice camhs --contract C-2 --served-on YYYY-MM-DD --ref <REF>" in refused.stderr
    assert run.json("project", "show", "camhs")["stage"] == "review"
    run("contract", "notice", "camhs", "--contract", "C-2", "--served-on", today, "--ref", "NL-2")
    run("project", "advance", "camhs", "--to", "closed")
    assert run.json("project", "show", "camhs")["stage"] == "closed"
    assert run("audit", "verify").stdout.startswith("Audit chain verified")


DATE_GATE = """
name = "two-lots"
title = "Two lots"
initial = "do"

[[stage]]
id = "do"
title = "Do"

[[stage]]
id = "closed"
title = "Closed"
final = true

[[gate]]
id = "do-closed"
from = "do"
to = "closed"
title = "Notice served"
body = "Board"

  [[gate.criterion]]
  id = "notice-served"
  kind = "date"
  date = "notice_served_on"
  by = "notice_deadline"
  {contract}
  title = "Notice served on time"
"""


@pytest.mark.parametrize(("line", "error"), [
    ('contract = 5', "contract must be a contract's reference in quotes"),
    ('contract = ""', "contract must be a contract's reference in quotes"),
    ('contract = " C-2"', "contract must be a contract's reference in quotes"),
])
def test_a_date_criterion_naming_a_contract_is_validated(ready: Cli, tmp_path: Path, line: str, error: str) -> None:
    path = tmp_path / "two-lots.toml"
    path.write_text(DATE_GATE.replace("{contract}", line), encoding="utf-8")
    refused = ready("workflow", "check", str(path), expect=2)
    assert error in refused.stderr and "notice-served" in refused.stderr
    path.write_text(DATE_GATE.replace("{contract}", 'contract = "C-2"').replace('kind = "date"', 'kind = "evidence"'),
                    encoding="utf-8")
    assert 'contract = "REF" is for a date criterion only' in ready("workflow", "check", str(path), expect=2).stderr
    path.write_text(DATE_GATE.replace("{contract}", 'contract = "C-2"'), encoding="utf-8")
    assert ready("workflow", "check", str(path)).stdout.startswith("OK: ")


def test_a_date_criterion_names_one_contract_or_means_every_live_one(run: Cli) -> None:
    two_contracts(run)
    named = parse_text(DATE_GATE.replace("{contract}", 'contract = "C-2"'), "test", "two-lots.toml", None)
    every = parse_text(DATE_GATE.replace("{contract}", ""), "test", "two-lots.toml", None)
    store = open_store()
    try:
        def met(wf: object, day: str) -> tuple[bool, str]:
            with store.reading() as sql:
                project = rows.project(sql, "camhs")
                gate = wf.gates[0]  # type: ignore[attr-defined]
                (result,) = [c for c in gates.evaluate(wf, gate, project, [], [],  # type: ignore[arg-type]
                                                       gates.facts(sql, project, date.fromisoformat(day))).criteria
                             if c.id == "notice-served"]
                return result.met, result.reason
        day = f"{Y + 3}-01-31"
        left = {d: (date.fromisoformat(d) - date.fromisoformat(day)).days for d in (C1_DEADLINE, C2_DEADLINE)}
        one, two = (f"Notice served: not yet; the deadline is {d} (in {n} days)" for d, n in left.items())
        assert met(named, day) == (False, two)
        assert met(every, day) == (False, f"C-1: {one}; C-2: {two}")
        with on_day(day):
            run("contract", "notice", "camhs", "--contract", "C-2", "--served-on", day, "--ref", "NL-2")
        assert met(named, day)[0] is True
        assert met(every, day) == (False, f"C-1: {one}")
        other = parse_text(DATE_GATE.replace("{contract}", 'contract = "C-9"'), "test", "two-lots.toml", None)
        assert met(other, day) == (False, "No contract C-9 recorded for this project")
    finally:
        store.dispose()


def test_a_contract_added_or_changed_by_hand_is_named_by_audit_verify(run: Cli, db: Database) -> None:
    two_contracts(run)
    db.tamper("INSERT INTO contract (project_id, provider, ref, if_no_notice, updated_at) "
              "SELECT id, 'Forged Ltd', 'C-3', 'ends', 'now' FROM project WHERE key = 'camhs'")
    forged = db.rows("SELECT id FROM contract WHERE ref = 'C-3'")[0][0]
    result = run("audit", "verify", expect=1)
    assert f"contract #{forged} has no audit entry: it was written outside cycle" in result.stdout + result.stderr
    db.tamper(f"DELETE FROM contract WHERE id = {forged}")
    assert run("audit", "verify").stdout.startswith("Audit chain verified")
    db.tamper("UPDATE contract SET \"end\" = '2099-03-31' WHERE ref = 'C-2'")
    result = run("audit", "verify", expect=1)
    assert "contract #2" in result.stdout + result.stderr


def test_a_one_contract_database_migrates_with_its_contracts_reminders_and_chain_intact(run: Cli, home: Path,
                                                                                     db: Database) -> None:
    """Made at revision 0016 (a database of the head, taken back: revision 0017 changes no rows, only the
    indexes), with a notice reminder sent; upgraded, nothing is lost and nothing sent again."""
    live_project(run)
    day = f"{Y + 3}-01-31"
    remind_run(run, day)
    sent = db.rows("SELECT kind, period, recipient, status FROM outbox WHERE kind = 'notice' ORDER BY id")
    assert sent == [("notice", f"{C1_DEADLINE}/60d", "alice", "sent"), ("notice", f"{C1_DEADLINE}/60d", "sam", "sent")]
    assert notice_mails(home) == 1  # one message, to the owner and the SRO
    # back to revision 0016: one contract per project
    db.execute("DROP TABLE procurement_step", "DROP TABLE procurement",  # revision 0022's, empty here
               "DROP TABLE contract_funder", "DROP INDEX uq_contract_ref", "DROP INDEX ix_contract_project_id",
               "CREATE UNIQUE INDEX ix_contract_project_id ON contract (project_id)",
               # and revision 0018's columns (OCDS), which its upgrade adds back empty
               "DROP INDEX ix_contract_ocid", "ALTER TABLE contract DROP COLUMN ocid",
               "ALTER TABLE contract DROP COLUMN ocds_id", "ALTER TABLE contract DROP COLUMN buyer",
               *(f"ALTER TABLE contract DROP COLUMN {c}" for c in TRANSPARENCY),  # and revision 0019's
               # and what revision 0020 (contract performance) added, empty here
               "DROP TABLE action", "DROP TABLE kpi_value", "DROP TABLE kpi_target", "DROP TABLE kpi",
               "ALTER TABLE review_meeting DROP COLUMN attendees", "ALTER TABLE review_meeting DROP COLUMN snapshot",
               "ALTER TABLE contract DROP COLUMN provider_contact",  # and revision 0024's
               # and revision 0023's (the Procurement Act's regime, exemption and assessments), empty here
               "DROP TABLE kpi_assessment", "ALTER TABLE contract DROP COLUMN regime",
               "ALTER TABLE contract DROP COLUMN kpis_exempt",
               "DROP TABLE deputy",  # and revision 0025's: nobody stands in (with revision 0026's triggers)
               # and revision 0026's reading of a day (PostgreSQL)
               *(["DROP FUNCTION cycle_day(text)"] if db.dialect == "postgresql" else []),
               "UPDATE alembic_version SET version_num = '0016'")
    contracts_before = [{**c, "ocid": None, "ocds_id": None, "buyer": None}
                        for c in db.dicts("SELECT * FROM contract ORDER BY id")]
    assert run.json("db", "status")["current"] == "0016"
    if db.dialect == "sqlite":
        assert "UNIQUE constraint failed" in db.refused(
            "INSERT INTO contract (project_id, if_no_notice, updated_at) VALUES (1, 'ends', 'now')")
    out = run("init").stdout
    assert out.startswith(f"Upgraded cycle database at {open_store().describe()} from schema revision 0016 to "
                          f"{schema.head()}.")
    assert db.dicts("SELECT * FROM contract ORDER BY id") == [
        {**r, **dict.fromkeys(TRANSPARENCY), "regime": None, "kpis_exempt": None, "provider_contact": None}
        for r in contracts_before]
    assert run("audit", "verify").stdout.startswith("Audit chain verified")
    # the reminder sent before is not sent again, on that day or the next
    remind_run(run, day)
    with_next = f"{Y + 3}-02-01"
    remind_run(run, with_next)
    assert db.rows("SELECT kind, period, recipient, status FROM outbox WHERE kind = 'notice' ORDER BY id") == sent
    assert notice_mails(home) == 1
    # and now the project may hold a second contract, which gets its own reminder
    run("contract", "add", "camhs", "--ref", "C-2", *C2)
    assert notices(run, with_next) == [("notice", f"{C2_DEADLINE}/90d/c2", "alice"),
                                       ("notice", f"{C2_DEADLINE}/90d/c2", "sam")]
    assert json.loads(db.dicts("SELECT payload FROM audit_entry ORDER BY seq DESC")[0]["payload"])["contract_ref"] \
        == "C-2"
    assert run("audit", "verify").stdout.startswith("Audit chain verified")


# --- a careless or hostile user ------------------------------------------------------------------------------------

def test_odd_references_are_refused_normalised_or_neutralised(run: Cli, db: Database) -> None:
    two_contracts(run)
    before = db.dump()
    assert run("contract", "notice", "camhs", "--contract", "", "--served-on", "2026-01-01", "--ref", "NL",
               expect=2).stderr == "Error: --contract must not be empty\n"
    assert run("contract", "add", "camhs", "--ref", " ", "--provider", "Trust Z", expect=2).stderr.startswith(
        "Error: --ref must not be empty")
    assert "may have at most" in run("contract", "add", "camhs", "--ref", "X" * 5000, expect=2).stderr
    assert "already has a contract C-2" in run("contract", "add", "camhs", "--ref", " C-2 ", expect=2).stderr
    assert db.dump() == before
    # a reference given with spaces round it names the contract all the same
    assert run.json("contract", "show", "camhs", "--ref", " C-2 ")["ref"] == "C-2"
    # a reference that a spreadsheet would run as a formula is neutralised in the CSV
    run("contract", "add", "camhs", "--ref", '=HYPERLINK("http://x.example","C-3")', "--provider", "@Trust Z")
    csv = run("contracts", "list", "--csv", "--status", "all").stdout.splitlines()
    assert csv[3].startswith('camhs,"\'=HYPERLINK(""http://x.example"",""C-3"")",\'@Trust Z,')


def test_the_database_itself_refuses_a_second_contract_of_the_same_reference(run: Cli, db: Database) -> None:
    two_contracts(run)
    with pytest.raises(Exception) as refused:  # noqa: B017 - the database's own error, whichever it is
        db.tamper("INSERT INTO contract (project_id, provider, ref, if_no_notice, updated_at) "
                  "SELECT id, 'Forged Ltd', 'C-2', 'ends', 'now' FROM project WHERE key = 'camhs'")
    assert "UNIQUE constraint failed: contract.project_id, contract.ref" in str(refused.value) or \
        'unique constraint "uq_contract_ref"' in str(refused.value)
    assert run("audit", "verify").stdout.startswith("Audit chain verified")


def test_a_decommissioning_project_follows_every_live_contract_of_the_service(ready: Cli) -> None:
    from .test_decommissioning import TODAY, D, _criterion, _to_do

    run = ready
    _to_do(run)  # camhs holds C-1 (Trust X, six months' notice); camhs-decommissioning is at `do`
    end = TODAY.replace(year=TODAY.year + 2)
    run("contract", "add", "camhs", "--ref", "C-2", "--provider", "Trust Y", "--start", "2020-04-01",
        "--end", end.isoformat(), "--notice", "3 months")
    shown = run.json("contract", "show", D)
    assert [(c["project"], c["ref"]) for c in shown] == [("camhs", "C-1"), ("camhs", "C-2")]
    assert run("contract", "notice", D, "--served-on", TODAY.isoformat(), "--ref", "NL-1", expect=2).stderr == (
        f"Error: {D} works with the contracts of camhs, which has 2 contracts (C-1, C-2): say which with --contract\n")
    run("contract", "notice", D, "--contract", "C-1", "--served-on", TODAY.isoformat(), "--ref", "NL-1")
    notice = _criterion(run, D, "notice-served")
    assert notice["met"] is False and notice["reason"].startswith("C-2: Notice served: not yet; the deadline is ")
    assert notice["hint"] == f"cycle contract notice {D} --contract C-2 --served-on YYYY-MM-DD --ref <REF>"
    run("contract", "notice", D, "--contract", "C-2", "--served-on", TODAY.isoformat(), "--ref", "NL-2")
    notice = _criterion(run, D, "notice-served")
    assert notice["met"] is True and notice["reason"].startswith("C-1: Notice served on ")


def test_the_quarterly_report_names_each_contracts_deadline(run: Cli) -> None:
    two_contracts(run)
    report = run.json("report", "quarterly", "--quarter", f"{Y + 2}-Q3", "--json")
    assert [(d["project"], d["ref"], d["provider"], d["deadline"]) for d in report["deadlines"]] == [
        ("camhs", "C-1", "Trust X", C1_DEADLINE), ("camhs", "C-2", "Trust Y", C2_DEADLINE)]
    markdown = run("report", "quarterly", "--quarter", f"{Y + 2}-Q3", "--format", "md").stdout
    assert f"- {C2_DEADLINE} CAMHS Tiers 2 and 3 (camhs), Trust Y (C-2): Serve notice by {C2_DEADLINE}" in markdown


def test_the_importers_upsert_by_project_and_reference(run: Cli, db: Database) -> None:
    """engine.set_contract(mode="upsert"): the contract of that reference changed, else added; the same terms again
    write nothing (not even the project's version)."""
    from cycle import contracts
    from cycle.projects import engine

    two_contracts(run)
    store = open_store()
    try:
        terms = {"ref": "C-3", "provider": "Trust Z", "start": f"{Y}-04-01", "end": f"{Y + 2}-03-31",
                 "notice": "3 months"}
        added = engine.set_contract(store, "camhs", terms, actor="alice", mode="upsert")
        assert (added.contract.ref, added.several) == ("C-3", True)
        entries, version = len(db.audit()), run.json("project", "show", "camhs")["version"]
        engine.set_contract(store, "camhs", dict(terms), actor="alice", mode="upsert")  # a re-import
        assert (len(db.audit()), run.json("project", "show", "camhs")["version"]) == (entries, version)
        engine.set_contract(store, "camhs", {**terms, "end": f"{Y + 2}-06-30"}, actor="alice", mode="upsert")
        entry = db.audit()[-1]
        assert (entry["action"], json.loads(entry["payload"])["changes"]) == (
            "contract.set", {"end": [f"{Y + 2}-03-31", f"{Y + 2}-06-30"]})
        assert [c.ref for c in contracts.of_project(store, "camhs")] == ["C-1", "C-2", "C-3"]
    finally:
        store.dispose()
    assert run("audit", "verify").stdout.startswith("Audit chain verified")
