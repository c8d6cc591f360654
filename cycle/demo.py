"""`cycle demo`: a scripted walk round the cycle on a throwaway database, printed as a person reads it.

The script is data: each step is a line of narration, a real CLI command, and the exit code it
should give. The CLI object is passed in, so this module needs no CLI library of its own.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cycle.shell import quote

from .errors import BadInput

CTB = "Children's Trust Board"
PHC = "Public Health Committee"
CCG = "CCG Governing Body"

# Services from seed 001 Appendix A with their lead commissioners, and the hub's commissioning model.
SERVICES = [
    ("school-nursing", "School Nursing and Healthy Schools (5-19)", "NCC - Public Health", "integrated", PHC),
    ("camhs", "CAMHS Tiers 2 and 3", "CCGs", "joint", CTB),
    ("camhs-tier4", "CAMHS Tier 4", "NHS England", "national", "NHS England Midlands and East"),
    ("looked-after", "Health Needs of Looked After Children", "CCGs", "co-ordinated", CCG),
]

Step = tuple[str, list[str], int, str]  # narration, argv, expected exit code, CYCLE_USER


def _script(home: Path) -> list[Step]:
    k = "camhs"
    team = str(home / "workflows" / "commissioning.toml")
    ev = ["evidence", "add", k]
    leave = _next_month()
    steps: list[Step] = [("Create the database.", ["init"], 0, "alice")]
    for key, title, lead, model, body in SERVICES:
        steps.append((f"Load {title} (lead commissioner {lead}, {model} model).",
                      ["project", "new", key, "--title", title, "--lead-commissioner", lead, "--model", model,
                       "--accountable-body", body, "--owner", "alice"], 0, "alice"))
    steps += [
        ("The people. First an admin, who then grants the roles: nobody else may, once there is an admin.",
         ["people", "add", "admin", "--email", "cycle.admin@council.gov.uk", "--role", "admin"], 0, "admin"),
        ("Alice manages CAMHS; the chair decides for the Children's Trust Board; Gill audits.",
         ["people", "add", "alice", "--email", "alice@council.gov.uk", "--role", "manager"], 0, "admin"),
        ("", ["people", "add", "chair", "--email", "ctb.chair@council.gov.uk", "--role", "approver", "--body", CTB],
         0, "admin"),
        ("", ["people", "add", "gill", "--email", "gill@council.gov.uk", "--role", "governance-lead"], 0, "admin"),
        ("The chair will be on leave next month: Vic, a known person, decides for the board in their place then.",
         ["people", "add", "vic", "--email", "vic@council.gov.uk"], 0, "admin"),
        ("", ["people", "deputy", "add", "chair", "--deputy", "vic", "--body", CTB, "--from", leave[0], "--to",
              leave[1]], 0, "chair"),
        ("", ["project", "set", k, "--governance-lead", "gill", "--sro", "alice"], 0, "alice"),
        ("Projects sit under programmes, the commissioning intentions (seed 002). CAMHS joins one, and its card "
         "says the hub's role: lead, associate or partnership (seed 001 Appendix A).",
         ["programme", "add", "emotional-health", "--title", "Emotional health and wellbeing"], 0, "alice"),
        ("", ["project", "set", k, "--programme", "emotional-health", "--hub-role", "associate"], 0, "alice"),
        ("", ["project", "list", "--programme", "emotional-health"], 0, "alice"),
        ("The portfolio: every project starts at analyse.", ["project", "list"], 0, "alice"),
        ("The workflows live in the database: `cycle init` installed the built-in ones, and each project runs on "
         "the version that was newest when it was created. The team's own copy in its home is not installed.",
         ["workflow", "list"], 0, "alice"),
        ("A file is only something to install, and installing is for a governance lead or an admin: Alice is "
         "refused (exit 6, audited) ...", ["workflow", "install", team], 6, "alice"),
        ("... Gill installs it as commissioning version 2. New projects take it; CAMHS stays on version 1 until "
         "Gill moves it (cycle project set camhs --workflow-version 2).", ["workflow", "install", team], 0, "gill"),
        ("What stands between CAMHS and planning?", ["gate", "check", k], 0, "alice"),
        ("Alice tries to advance anyway: refused, with the commands that would fix it (exit 3).",
         ["project", "advance", k], 3, "alice"),
        ("She records the needs assessment ...", [*ev, "needs-assessment", "--ref", "JSNA 2026 children chapter"],
         0, "alice"),
        ("... and the policy and market analysis.", [*ev, "policy-legal-duties", "--ref",
                                                    "Legal duties briefing, Sept 2026"], 0, "alice"),
        ("Evidence no criterion asks for is recorded too, as supporting evidence, with a warning (a typo shows).",
         [*ev, "provider-visit-notes", "--ref", "Site visit to Trust X, 2 Oct 2026"], 0, "alice"),
        ("Her risk register goes by its own name; --for counts it for the risk-assessment criterion.",
         [*ev, "risk-register", "--for", "risk-assessment", "--ref", "CAMHS risk register v3"], 0, "alice"),
        ("Alice asks the board for a decision: its approver, the chair, is emailed what the gate waits on. Alice is "
         "not its approver, so she cannot record it (exit 6, audited).",
         ["gate", "request", k], 0, "alice"),
        ("", ["decision", "record", k, "--gate", "analyse-plan", "--outcome", "go", "--body", CTB, "--ref",
              "minutes 2026-10-14 item 5"], 6, "alice"),
        ("The board's chair records its decision.",
         ["decision", "record", k, "--gate", "analyse-plan", "--outcome", "go", "--body", CTB, "--ref",
          "minutes 2026-10-14 item 5", "--date", "2026-10-14"], 0, "chair"),
        ("Now the gate opens.", ["project", "advance", k], 0, "alice"),
        ("Planning: specification, equality impact assessment, consultation, targets.",
         [*ev, "service-specification", "--ref", "CAMHS spec v3 with outcomes"], 0, "alice"),
        ("", [*ev, "eia", "--ref", "EIA 2026-11"], 0, "alice"),
        ("", [*ev, "consultation", "--ref", "Young people's panel and parent survey report"], 0, "alice"),
        ("The board holds the decision pending the consultation response.",
         ["decision", "record", k, "--gate", "plan-do", "--outcome", "hold", "--body", CTB, "--ref",
          "minutes 2026-11-11 item 3"], 0, "chair"),
        ("While held (and with targets missing) the gate stays shut.", ["project", "advance", k], 3, "alice"),
        ("", [*ev, "performance-targets", "--ref", "SMART indicator schedule v2"], 0, "alice"),
        ("", ["decision", "record", k, "--gate", "plan-do", "--outcome", "go", "--body", CTB, "--ref",
              "minutes 2026-12-09 item 4"], 0, "chair"),
        ("", ["project", "advance", k], 0, "alice"),
        ("Do: the contract is awarded, with six months' notice; without notice it runs on for a year.",
         [*ev, "contract-award", "--ref", "Contract CAMHS-2027-01, Trust X"], 0, "alice"),
        ("", ["contract", "set", k, "--provider", "Trust X", "--ref", "CAMHS-2027-01", "--start", "2024-10-01",
              "--end", "2027-09-30", "--value", "3.6m", "--annual-value", "1.2m", "--notice", "6 months",
              "--run-on", "12 months"], 0, "alice"),
        ("Who pays: the council and the ICB split it 60/40 within their section 75 pooled budget.",
         ["contract", "fund", k, "--ref", "CAMHS-2027-01", "--funder", "Nottinghamshire County Council", "--share",
          "60%", "--funder", "NHS Nottingham and Nottinghamshire ICB", "--share", "40%", "--pool",
          "Section 75 CYP pool"], 0, "alice"),
        ("A second contract on the same project (a lot with another provider), named by its reference.",
         ["contract", "add", k, "--ref", "CAMHS-LOT2", "--provider", "Trust Y", "--start", "2025-04-01", "--end",
          "2028-03-31", "--value", "900k", "--notice", "3 months", "--if-no-notice", "ends"], 0, "alice"),
        ("Its performance (section 8): a SMART indicator of the contract, the provider's quarterly return imported "
         "all or nothing, and the portfolio's indicators in a quarter, judged against the target then.",
         ["kpi", "add", k, "rtt-4wk", "--title", "Referral to treatment within 4 weeks", "--unit", "%", "--target",
          "92", "--better", "higher", "--tolerance", "5", "--over", "10", "--source", "provider quarterly return",
          "--contract", "CAMHS-2027-01"],
         0, "alice"),
        ("", ["kpi", "import", str(home / RETURN)], 0, "alice"),
        ("", ["performance", "--quarter", "2026-Q2", "--as-of", "2026-12-01"], 0, "alice"),
        ("What needs a decision soon, as seen on 1 December 2026?",
         ["contracts", "due", "--within", "365d", "--as-of", "2026-12-01"], 0, "alice"),
        ("The contract register: every live contract, its maximum end, value and notice deadline.",
         ["contracts", "list", "--as-of", "2026-12-01"], 0, "alice"),
        ("School nursing's contract, as the council published it in OCDS (Contracts Finder's format), comes in from "
         "the file: checked against the OCDS schema and matched on its ocid, so importing it again changes nothing.",
         ["import", "ocds", str(home / "school-nursing-ocds.json"), "--project", "school-nursing"], 0, "alice"),
        ("Reminders are computed from the database: on 1 December the notice deadline is 120 days away.",
         ["remind", "--dry-run", "--as-of", "2026-12-01"], 0, "alice"),
        ("With no SMTP server configured they go to a local mail folder (with the chair's email from the request).",
         ["remind", "run", "--as-of", "2026-12-01"], 0, "alice"),
        ("Run it again: nothing is sent twice.", ["remind", "run", "--as-of", "2026-12-01"], 0, "alice"),
        ("", ["decision", "record", k, "--gate", "do-review", "--outcome", "go", "--body", CTB, "--ref",
              "minutes 2027-03-10 item 2"], 0, "chair"),
        ("", ["project", "advance", k], 0, "alice"),
        ("Review: outcomes and value for money evaluated; the board recommissions.",
         [*ev, "outcomes-evaluation", "--ref", "CAMHS evaluation report 2029"], 0, "alice"),
        ("", ["decision", "record", k, "--gate", "review-analyse", "--outcome", "go", "--body", CTB, "--ref",
              "minutes 2029-06-12 item 7"], 0, "chair"),
        ("Review has three ways out (analyse, decommission, closed); she chooses to recommission.",
         ["project", "advance", k, "--to", "analyse"], 0, "alice"),
        ("Had the board decommissioned it, the reason would be one of section 7's, each asking for its own "
         "record: for outcomes not delivered, the performance record.",
         ["workflow", "show", "decommissioning"], 0, "alice"),
        ("Cycle 2 needs its own evidence: last cycle's needs assessment does not count.",
         ["gate", "check", k], 0, "alice"),
        ("A date recorded wrongly is corrected by the governance lead, with a reason: an entry of its own keeps the "
         "old date and the new, and nothing is edited in place.",
         ["decision", "correct", "1", "--date", "2026-10-15", "--reason", "the minutes are dated 15 October"], 0,
         "gill"),
        ("The project and its record.", ["project", "show", k], 0, "alice"),
        ("Every action, who did it and when.", ["audit", "log", k], 0, "alice"),
        ("An auditor's copy of the whole log, for a spreadsheet; the export is itself an audit entry, with the "
         "file's SHA-256.", ["export", "audit", "--format", "csv", "--out", str(home / "audit.csv")], 0, "gill"),
        ("The contracts as an OCDS release package for publication, validated against the schema before it is "
         "written (the council's OCID prefix makes an ocid for those recorded in cycle).",
         ["export", "ocds", "--ocid-prefix", "ocds-b5fd17", "--out", str(home / "releases.json")], 0, "alice"),
        ("The team's other contracts are in a spreadsheet: one step brings the register in, every row checked "
         "first, then all written at once; each new project's audit entry names the file, its SHA-256 and line.",
         ["import", "register", str(home / "register.csv"), "--map", "lgtc-2015"], 0, "alice"),
        ("The Transparency Code's contracts data for the quarter (contracts over £5,000), ready to publish.",
         ["export", "transparency", "--quarter", "2026-Q3", "--out", str(home / "contracts-2026-Q3.csv")], 0,
         "alice"),
        ("School nursing is to be recommissioned under the Procurement Act 2023 (a light-touch contract): its "
         "route goes on the record, and its clocks count working days as the Act defines them.",
         ["procurement", "start", "school-nursing", "--regime", "pa2023", "--procedure", "open", "--light-touch"], 0,
         "alice"),
        ("", ["procurement", "show", "school-nursing"], 0, "alice"),
        ("Keep the chain's head outside the database: a signing key kept outside it ...", ["audit", "keygen"], 0,
         "gill"),
        ("... signs the head, so a copy sent out can be checked against the published public key.",
         ["audit", "checkpoint", "--sign"], 0, "gill"),
        ("... and check that nothing in the record was altered.", ["audit", "verify"], 0, "alice"),
    ]
    return steps


RETURN = "returns.csv"


def _next_month() -> tuple[str, str]:
    """The first and last day of next month (London dates)."""
    from datetime import timedelta

    from cycle.calendar import clock

    first = (clock.london_today().replace(day=1) + timedelta(days=32)).replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return first.isoformat(), last.isoformat()


def _provider_return(home: Path) -> None:
    """A provider's quarterly return, as a spreadsheet saves it (`kpi import` in the script)."""
    from cycle.calendar import clock, quarters

    # The returns for 2026-Q1 and Q2, and for each of the last four complete quarters (the review-analyse gate asks
    # for those, as the day the demo runs on sees them), so the walk reaches its end on any day.
    values = {"2026-Q1": ("90.5", ""), "2026-Q2": ("86", "two staff vacancies")}
    last = quarters.quarter_of(clock.london_today()) - 1
    for q in (last - 3, last - 2, last - 1, last):
        values.setdefault(str(q), ("93", ""))
    lines = [f"camhs,rtt-4wk,{q},{v},{note}" for q, (v, note) in sorted(values.items())]
    (home / RETURN).write_text("\r\n".join(["project,kpi,quarter,value,note", *lines, ""]), encoding="utf-8")


def _team_workflow(home: Path) -> None:
    """The team's own version of the commissioning workflow: the built-in one asking for a board summary too."""
    from cycle.workflow.definition import builtin_dir

    source = (builtin_dir() / "commissioning.toml").read_text(encoding="utf-8")
    anchor = 'title = "Analysis complete: agree priorities and move to planning"\n'
    extra = ('\n  [[gate.criterion]]\n  id = "board-summary"\n  kind = "evidence"\n  level = "should"\n'
             '  title = "A one-page summary for the board"\n')
    (home / "workflows").mkdir(parents=True, exist_ok=True)
    (home / "workflows" / "commissioning.toml").write_text(source.replace(anchor, anchor + extra, 1), encoding="utf-8")


def _ocds_file(home: Path) -> None:
    """A contract as Contracts Finder publishes one: an OCDS 1.1 release package (cycle.interchange.ocds)."""
    import json

    ocid = "ocds-b5fd17-school-nursing-2025"
    buyer = {"id": "GB-LAS-NTT", "name": "Nottinghamshire County Council"}
    supplier = {"id": "GB-NHS-RHA", "name": "Nottinghamshire Healthcare NHS Foundation Trust"}
    release = {
        "ocid": ocid, "id": f"{ocid}-contract-1", "date": "2025-06-20T09:00:00Z", "tag": ["award", "contract"],
        "initiationType": "tender", "buyer": buyer,
        "parties": [{**buyer, "roles": ["buyer"]}, {**supplier, "roles": ["supplier"]}],
        "tender": {"id": "SN-2025", "title": "School Nursing and Healthy Schools (5-19)"},
        "awards": [{"id": "SN-2025-A1", "suppliers": [supplier]}],
        "contracts": [{"id": "SN-2025-C1", "awardID": "SN-2025-A1", "status": "active",
                       "period": {"startDate": "2025-07-01T00:00:00Z", "endDate": "2028-06-30T23:59:59Z",
                                  "maxExtentDate": "2029-06-30T23:59:59Z"},
                       "value": {"amount": 2400000, "currency": "GBP"}}]}
    package = {"uri": "https://www.contractsfinder.service.gov.uk/Published/OCDS/school-nursing.json", "version": "1.1",
               "publishedDate": "2025-06-20T09:00:00Z", "publisher": {"name": buyer["name"]}, "releases": [release]}
    (home / "school-nursing-ocds.json").write_text(json.dumps(package, indent=2) + "\n", encoding="utf-8")


def _register(home: Path) -> None:
    """The team's contract register, as a spreadsheet exports it in the Transparency Code's columns."""
    from cycle.interchange.transparency import COLUMNS

    rows = [
        ["SN-2023-04", "School nursing 0-19", "Public health", "Health visiting and school nursing",
         "Community Health Trust", "4,800,000", "960,000", "0", "01/04/2023", "31/03/2028", "01/04/2027", "tender",
         "no", "no", ""],
        ["ADV-118", "Independent advocacy", "Adult social care", "Care Act advocacy", "Speak Up Together",
         "£210,000", "£70,000", "", "01/07/2025", "30/06/2028", "", "quote", "yes", "yes", "1187654"],
    ]
    import csv

    with (home / "register.csv").open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\r\n").writerows([COLUMNS, *rows])


def _report_step(home: Path) -> Step:
    return ("Gill's gate-audit report for the board: every gate, its evidence, decision and authority.",
            ["report", "gate-audit", "camhs", "--format", "html", "--out", str(home / "gate-audit.html")], 0, "gill")


def _site_step(home: Path) -> Step:
    return ("... and the governance site: the whole record as plain HTML pages to browse without cycle.",
            ["site", "build", "--out", str(home / "site")], 0, "gill")


def _bundle_steps(home: Path) -> list[Step]:
    """The record for an auditor who has no database: a bundle, and its check with the published public key."""
    return [("For the internal auditor: the log, the records it covers and the signed checkpoint, in one folder ...",
             ["audit", "export", "--bundle", str(home / "bundle")], 0, "gill"),
            ("... which they check on their own machine, with no database, against the published public key.",
             ["audit", "verify", "--bundle", str(home / "bundle"), "--public-key",
              str(home / "keys" / "checkpoint-signing.pub")], 0, "alice")]


def _invoke(cli: Any, argv: list[str]) -> int:
    try:
        result = cli.main(args=argv, prog_name="cycle", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    except Exception as exc:  # click's usage errors carry their own exit code and message
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            return int(exc.exit_code)
        raise
    return int(result or 0)


def _own_home(home: str | None) -> Path:
    """The demo's home: a new temp folder, or `home` if it does not exist yet or is empty. Anything
    else may be someone's real data (a database, an append-only log), so it is refused untouched."""
    if home is None:
        return Path(tempfile.mkdtemp(prefix="cycle-demo-"))
    where = Path(home).expanduser().absolute()
    if where.exists() and (not where.is_dir() or any(where.iterdir())):
        raise BadInput(f"--home {where} is not empty; the demo writes its own database and mail there. "
                       f"Give a new or empty folder, or leave --home out for a temporary one")
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"cannot make --home {where}: {exc.strerror or exc}; choose another folder") from None
    return where


def run(cli: Any, home: str | None, echo: Callable[[str], None]) -> bool:
    """Run the script; True when every step gave the exit code it should.

    The demo touches nothing real: every CYCLE_* setting of the environment (a database URL, an SMTP
    server) is set aside while it runs, so it works on a SQLite file in its own home and mails to the
    Maildir there; a reminders.toml elsewhere is not read, because its home and config folder are its own."""
    where = _own_home(home)
    saved = {name: value for name, value in os.environ.items()
             if name.startswith("CYCLE_") or name == "XDG_CONFIG_HOME"}
    for name in saved:
        del os.environ[name]
    os.environ["CYCLE_HOME"] = str(where)
    os.environ["XDG_CONFIG_HOME"] = str(where / "config")  # not the person's own reminders.toml
    os.environ["CYCLE_DATABASE_URL"] = f"sqlite:///{where / 'cycle.db'}"
    echo(f"cycle demo: a commissioning project round the cycle, on a throwaway database in {where}\n")
    try:
        _team_workflow(where)
        _ocds_file(where)
        _register(where)
        _provider_return(where)
        for narration, argv, expected, user in [*_script(where), _report_step(where), _site_step(where),
                                                   *_bundle_steps(where)]:
            os.environ["CYCLE_USER"] = user
            if narration:
                echo(f"\n# {narration}")
            echo(f"$ CYCLE_USER={user} cycle " + " ".join(quote(a) for a in argv))
            code = _invoke(cli, argv)
            if code != expected:
                echo(f"\nDemo stopped: that command exited {code}, expected {expected}.")
                return False
    finally:
        for name in [name for name in os.environ if name.startswith("CYCLE_") or name == "XDG_CONFIG_HOME"]:
            del os.environ[name]
        os.environ.update(saved)
    echo(f"\nDone. The emails are in {where / 'mail' / 'new'}; the report is {where / 'gate-audit.html'}; the site is "
         f"{where / 'site' / 'index.html'}.")
    # Your own CYCLE_DATABASE_URL would win over the demo's home, so the hint sets it aside too.
    unset = " CYCLE_DATABASE_URL=" if "CYCLE_DATABASE_URL" in saved else ""
    echo(f"Explore the demo's data with: CYCLE_HOME={quote(str(where))}{unset} cycle project list")
    return True
