"""The `cycle` command line: parse, call the library, print. Heavy modules load inside commands."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from cycle._version import __version__
from cycle.errors import CycleError, GateNotMet

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
as_of_option = click.option("--as-of", metavar="DATE", help="Treat DATE (YYYY-MM-DD) as today.")
to_option = click.option("--to", metavar="STAGE|GATE",
                         help="The stage to go to when there are several ways out, or a gate by id (an explicit "
                              "gate is taken only when named).")
version_option = click.option("--expect-version", type=int, metavar="N",
                              help="Refuse (exit 4) unless the project is still at version N (from project show).")


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _open() -> Any:
    """This command's store, opened once and closed when the command ends; the database may not exist yet."""
    ctx = click.get_current_context()
    store = ctx.meta.get("cycle.store")
    if store is None:
        from cycle.db.store import open_store

        store = ctx.meta["cycle.store"] = open_store()
        ctx.call_on_close(store.dispose)
    return store


def _store() -> Any:
    from cycle.db import schema

    return schema.require(_open())


def _as_of(value: str | None) -> Any:
    from cycle.calendar.dates import parse_date

    return parse_date(value, "--as-of") if value else None


def _actor() -> str:
    """$CYCLE_USER (or the login name); on PostgreSQL the database's login, whatever $CYCLE_USER says."""
    return str(_open().actor())


class CycleGroup(click.Group):
    """Turns the library's errors into one line on stderr and the documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":
                raise  # a bare group prints its help, as click does
            where = (exc.ctx or ctx).command_path
            message = exc.format_message().rstrip()
            end = "" if message.endswith((".", "?", "!")) else "."
            click.echo(f"Error: {message}{end} See: {where} --help", err=True)
            ctx.exit(exc.exit_code)
        except GateNotMet as exc:
            from cycle import text

            click.echo(text.refused(exc.check), err=True)
            ctx.exit(exc.exit_code)
        except CycleError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except Exception as exc:  # a database failure must not reach a person as a traceback
            if not type(exc).__module__.startswith("sqlalchemy"):
                raise
            from sqlalchemy.exc import DBAPIError

            from cycle.db.sql import database_error
            from cycle.errors import DatabaseFailed

            err = database_error(exc) if isinstance(exc, DBAPIError) else DatabaseFailed(str(exc).splitlines()[0])
            click.echo(f"Error: {err}", err=True)
            ctx.exit(err.exit_code)


@click.group(cls=CycleGroup, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="cycle")
def cli() -> None:
    """Commissioning projects through gated stages: analyse, plan, do, review.

    \b
    Start:   cycle init
    Try it:  cycle demo
    Then:    cycle project new camhs --title "CAMHS Tiers 2 and 3" --owner alice
             cycle gate check camhs

    Data lives in $CYCLE_HOME (default ~/.local/share/cycle), or the database named by
    $CYCLE_DATABASE_URL. The actor recorded in the audit log is $CYCLE_USER, else your login name.
    Exit codes: 0 done, 1 verification failed, 2 bad input, 3 gate not met, 4 changed by someone else,
    5 database error, 6 not permitted (the refusal is recorded).
    """


@cli.command()
def init() -> None:
    """Create the database, or upgrade its schema to this cycle's newest revision (safe to run again).

    It also installs this cycle's built-in workflows in the database when their text is not installed
    yet (a new version of one leaves projects on the version they run on).

    \b
    Example:
      cycle init
      cycle db status      # what init would do
    """
    from cycle.workflow import install

    store = _open()
    done = install.init(store, _actor())
    where = store.describe()
    if done.created:
        click.echo(f"Created cycle database at {where} (schema revision {done.after}).")
    elif done.adopted:
        click.echo(f"Upgraded cycle database at {where}: made before migrations, its tables matched revision "
                   f"{done.adopted}; now at {done.after}.")
    elif done.changed:
        click.echo(f"Upgraded cycle database at {where} from schema revision {done.before} to {done.after}.")
    else:
        click.echo(f"Already set up: cycle database at {where} (schema revision {done.after}, the newest).")
    for line in done.notes:
        click.echo(line)


@cli.command()
@click.option("--home", type=click.Path(file_okay=False), help="Keep the demo's data here (default: a temp folder).")
def demo(home: str | None) -> None:
    """Walk a project round the cycle on a throwaway database and verify the audit chain.

    \b
    Example:
      cycle demo
      cycle demo --home /tmp/cycle-demo
    """
    from cycle import demo as script

    ok = script.run(cli, home, click.echo)
    sys.exit(0 if ok else 1)


# --- projects -----------------------------------------------------------------------------------

@cli.group(context_settings=CONTEXT)
def project() -> None:
    """Create, change, list, show and advance commissioning projects."""


def _attrs(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE, e.g. --attr procurement_route=open",
                                     param_hint="--attr")
        out[name] = value
    return out


MODEL_HELP = "Commissioning model: integrated, co-ordinated, joint or national."


@project.command("new")
@click.argument("key")
@click.option("--title", required=True, help="The service, e.g. \"CAMHS Tiers 2 and 3\".")
@click.option("--workflow", default="commissioning", show_default=True, help="Workflow name (cycle workflow list).")
@click.option("--lead-commissioner", help="Organisation holding the contract, e.g. CCGs.")
@click.option("--model", help=MODEL_HELP)
@click.option("--accountable-body", help="Body that decides the gates, e.g. \"Children's Trust Board\".")
@click.option("--owner", help="Commissioning manager who owns the project (their login; a registered person's "
                               "once anyone is registered).")
@click.option("--attr", "attrs", multiple=True, metavar="NAME=VALUE", help="A workflow-specific attribute.")
@click.option("--replaces", metavar="KEY",
              help="The (decommissioned) project this one re-commissions; linked both ways.")
def project_new(key: str, title: str, workflow: str, lead_commissioner: str | None, model: str | None,
                accountable_body: str | None, owner: str | None, attrs: tuple[str, ...], replaces: str | None) -> None:
    """Create a project at its workflow's first stage.

    \b
    Example:
      cycle project new camhs --title "CAMHS Tiers 2 and 3" --workflow commissioning \\
        --lead-commissioner CCGs --model integrated \\
        --accountable-body "Children's Trust Board" --owner alice
    """
    from cycle.projects import engine

    p = engine.create_project(_store(), actor=_actor(), key=key, title=title, workflow=workflow,
                              lead_commissioner=lead_commissioner, model=model, accountable_body=accountable_body,
                              owner=owner, attrs=_attrs(attrs), replaces=replaces)
    click.echo(f"Created {p.key} ({p.title}) at {p.stage}, workflow {p.workflow} version {p.workflow_version}. "
               f"Next: cycle gate check {p.key}")
    if replaces:
        click.echo(f"Linked: {p.key} replaces {replaces}.")


@project.command("set")
@click.argument("key")
@click.option("--title")
@click.option("--lead-commissioner")
@click.option("--model", help=MODEL_HELP)
@click.option("--accountable-body", help="Body that decides the gates (a governance lead's to change, once anyone "
                                         "holds a role).")
@click.option("--owner", help="Commissioning manager who owns the project (a person's login).")
@click.option("--sro", help="Senior responsible officer (a person's login).")
@click.option("--lead", help="Programme lead (a person's login).")
@click.option("--governance-lead", help="Governance lead who audits this project's gates (a person's login).")
@click.option("--start-date", help="Programme start, YYYY-MM-DD.")
@click.option("--end-date", help="Programme end, YYYY-MM-DD.")
@click.option("--aim")
@click.option("--scope")
@click.option("--benefits")
@click.option("--metrics")
@click.option("--attr", "attrs", multiple=True, metavar="NAME=VALUE", help="A workflow-specific attribute.")
@click.option("--workflow-version", type=int, metavar="N",
              help="Run on version N of its workflow (a governance lead only; see: cycle workflow list).")
@version_option
def project_set(key: str, attrs: tuple[str, ...], workflow_version: int | None, expect_version: int | None,
                **changes: str | None) -> None:
    """Change a project's attributes, or the version of its workflow it runs on.

    A project runs on the version of its workflow that was newest when it was created. Moving it to
    another installed version is for a governance lead, and only to a version that has its stage.

    \b
    Example:
      cycle project set camhs --owner bob --sro "dr-jones" --attr procurement_route="open tender"
      cycle project set camhs --workflow-version 2
    """
    from cycle.projects import engine

    given = {k: v for k, v in changes.items() if v is not None}
    notes: list[str] = []
    p = engine.set_project(_store(), key, actor=_actor(), changes=given, attrs=_attrs(attrs),
                           expect_version=expect_version, workflow_version=workflow_version, notes=notes)
    click.echo(f"Updated {p.key} (version {p.version}).")
    for line in notes:
        click.echo(line)


@project.command("show")
@click.argument("key")
@as_of_option
@json_option
def project_show(key: str, as_of: str | None, as_json: bool) -> None:
    """Show a project: stage, attributes, evidence, decisions and what the next gate waits on.

    \b
    Example:
      cycle project show camhs --json
    """
    from cycle import text
    from cycle.projects import views

    view = views.show_project(_store(), key, _as_of(as_of))
    _emit(view.as_dict()) if as_json else click.echo(text.project(view))


@project.command("list")
@click.option("--stage", help="Only projects at this stage.")
@click.option("--workflow", help="Only projects on this workflow.")
@json_option
def project_list(stage: str | None, workflow: str | None, as_json: bool) -> None:
    """List projects.

    \b
    Example:
      cycle project list --stage review
    """
    from cycle import text
    from cycle.projects import views

    rows = views.list_projects(_store(), stage=stage, workflow=workflow)
    if as_json:
        _emit([{"key": p.key, "title": p.title, "workflow": p.workflow, "workflow_version": p.workflow_version,
                "stage": p.stage, "cycle": p.cycle,
                "version": p.version, "owner": p.owner} for p in rows])
    else:
        click.echo(text.projects(rows, stage, workflow))


@project.command("advance")
@click.argument("key")
@to_option
@click.option("--new-key", help="Key for a project the gate opens (default KEY-decommissioning).")
@version_option
def project_advance(key: str, to: str | None, new_key: str | None, expect_version: int | None) -> None:
    """Pass the gate out of the current stage; refused (exit 3) unless every must criterion is met.

    \b
    Example:
      cycle project advance camhs
      cycle project advance camhs --to analyse        # from review: recommission
      cycle project advance camhs --to decommission   # opens camhs-decommissioning
    """
    from cycle.projects import engine

    moved = engine.advance(_store(), key, actor=_actor(), to=to, expect_version=expect_version, new_key=new_key)
    click.echo(f"{moved.project} moved {moved.source} -> {moved.dest} through gate {moved.gate} "
               f"(cycle {moved.cycle}, version {moved.version}, audit entry {moved.seq}).")
    if moved.opened:
        click.echo(f"Opened {moved.opened}, linked to {moved.project}. Next: cycle gate check {moved.opened}")
    for c in moved.check.warnings if moved.check else []:
        click.echo(f"  warning: should-criterion {c.id} not met: {c.reason}", err=True)


# --- gates, evidence, decisions -----------------------------------------------------------------

@cli.group(context_settings=CONTEXT)
def gate() -> None:
    """Check the gate out of a project's current stage."""


@gate.command("check")
@click.argument("key")
@to_option
@as_of_option
@json_option
def gate_check(key: str, to: str | None, as_of: str | None, as_json: bool) -> None:
    """Every criterion of the next gate: met or not, why, and the command that records it.

    \b
    Example:
      cycle gate check camhs
      cycle gate check camhs --json
    """
    from cycle import text
    from cycle.projects import views

    check = views.check_gate(_store(), key, to, _as_of(as_of))
    _emit(check.as_dict()) if as_json else click.echo(text.gate_check(check))


@gate.command("request")
@click.argument("key")
@to_option
@click.option("--note", help="What the body is asked to decide.")
def gate_request(key: str, to: str | None, note: str | None) -> None:
    """Ask the gate's body for a decision (you may then not decide it yourself).

    \b
    Example:
      cycle gate request camhs --note "for the 14 October board"
    """
    from cycle.governance import requests

    r = requests.request_gate(_store(), key, actor=_actor(), to=to, note=note)
    click.echo(f"Requested a decision on gate {r.gate} for {key} (asked by {r.requested_by}).")


@gate.command("waive")
@click.argument("key")
@click.argument("criterion")
@click.option("--reason", required=True, help="Why the criterion is waived; shown in every report.")
@to_option
def gate_waive(key: str, criterion: str, reason: str, to: str | None) -> None:
    """Waive an unmet must criterion of the next gate (governance leads only; exit 6 otherwise).

    \b
    Example:
      cycle gate waive camhs consultation --reason "Statutory consultation covered by the 2026 JSNA engagement"
    """
    from cycle.governance import waivers

    w = waivers.waive(_store(), key, criterion, reason, actor=_actor(), to=to)
    click.echo(f"Waived {w.criterion} of gate {w.gate} for {key} (waiver #{w.id}, by {w.waived_by}).")


@cli.group(context_settings=CONTEXT)
def milestone() -> None:
    """Programme-card milestones with due dates."""


@milestone.command("add")
@click.argument("key")
@click.argument("title")
@click.option("--due", required=True, help="Due date, YYYY-MM-DD.")
def milestone_add(key: str, title: str, due: str) -> None:
    """Add a milestone to a project's programme card.

    \b
    Example:
      cycle milestone add camhs "Service specification agreed" --due 2027-01-31
    """
    from cycle.governance import milestones

    m = milestones.add_milestone(_store(), key, title, due, actor=_actor())
    click.echo(f"Added milestone #{m.id} to {key}: {m.title}, due {m.due}.")


@milestone.command("done")
@click.argument("key")
@click.argument("milestone_id", type=int)
@click.option("--on", help="The day it was done, YYYY-MM-DD (default today).")
def milestone_done(key: str, milestone_id: int, on: str | None) -> None:
    """Mark a milestone done.

    \b
    Example:
      cycle milestone done camhs 3 --on 2026-10-28
    """
    from cycle.governance import milestones

    m = milestones.complete_milestone(_store(), key, milestone_id, actor=_actor(), on=on)
    late = " (late)" if m.done_on and m.done_on > m.due else ""
    click.echo(f"Milestone #{m.id} of {key} done on {m.done_on}{late}.")


@milestone.command("list")
@click.argument("key")
@as_of_option
@json_option
def milestone_list(key: str, as_of: str | None, as_json: bool) -> None:
    """A project's milestones, with those that slipped marked.

    \b
    Example:
      cycle milestone list camhs
    """
    from cycle.calendar import quarters
    from cycle.governance import milestones

    on = _as_of(as_of) or quarters.london_today()
    rows = milestones.listing(_store(), key)
    if as_json:
        _emit([{**m.as_dict(), "slipped": m.slipped(on)} for m in rows])
    elif not rows:
        click.echo(f"No milestones. Add one with: cycle milestone add {key} TITLE --due YYYY-MM-DD")
    else:
        for m in rows:
            state = f"done {m.done_on}" if m.done_on else "open"
            click.echo(f"#{m.id:<4} due {m.due}  {state:<16} {'SLIPPED ' if m.slipped(on) else ''}{m.title}")


@cli.group(context_settings=CONTEXT)
def evidence() -> None:
    """Record evidence (a named artefact and its reference) for a project's current cycle."""


@evidence.command("add")
@click.argument("key")
@click.argument("name")
@click.option("--ref", required=True, help="Where the artefact is: document title, link or file reference.")
@click.option("--note", help="Optional note.")
@version_option
def evidence_add(key: str, name: str, ref: str, note: str | None, expect_version: int | None) -> None:
    """Record evidence NAME for project KEY in its current cycle.

    \b
    Example:
      cycle evidence add camhs needs-assessment --ref "JSNA 2026 children chapter"
    """
    from cycle.projects import engine

    item = engine.add_evidence(_store(), key, name, ref, actor=_actor(), note=note, expect_version=expect_version)
    click.echo(f"Recorded evidence #{item.id} {item.name} for {key}, cycle {item.cycle}: {item.ref}")


@cli.group(context_settings=CONTEXT)
def decision() -> None:
    """Record a governance body's decision on a gate."""


@decision.command("record")
@click.argument("key")
@click.option("--gate", "gate_id", required=True, help="The gate decided, e.g. analyse-plan.")
@click.option("--outcome", required=True, metavar="OUTCOME",
              help="go; hold (stay); recycle (back to --to STAGE); stop (close); or one the workflow names, "
                   "e.g. terminate-immediately.")
@click.option("--body", required=True, help="The deciding body, e.g. \"Children's Trust Board\".")
@click.option("--ref", required=True, help="Minutes reference, e.g. \"minutes 2026-10-14 item 5\".")
@click.option("--to", "recycle_to", help="With --outcome recycle: the earlier stage to go back to.")
@click.option("--date", "decided_on", help="Date of the meeting, YYYY-MM-DD.")
@click.option("--note", help="Optional note.")
@version_option
def decision_record(key: str, gate_id: str, outcome: str, body: str, ref: str, recycle_to: str | None,
                    decided_on: str | None, note: str | None, expect_version: int | None) -> None:
    """Record a decision; recycle and stop move the project at once, go lets it advance.

    \b
    Example:
      cycle decision record camhs --gate analyse-plan --outcome go \\
        --body "Children's Trust Board" --ref "minutes 2026-10-14 item 5"
    """
    from cycle.projects import engine

    d, moved = engine.record_decision(_store(), key, actor=_actor(), gate=gate_id, outcome=outcome, body=body,
                                      ref=ref, recycle_to=recycle_to, decided_on=decided_on, note=note,
                                      expect_version=expect_version)
    click.echo(f"Recorded decision #{d.id}: {d.outcome} on {d.gate} by {d.body} ({d.ref}).")
    if moved:
        click.echo(f"{moved.project} moved {moved.source} -> {moved.dest} (audit entry {moved.seq}).")
    elif d.outcome == "go":
        click.echo(f"Next: cycle project advance {key}")


# --- contracts ----------------------------------------------------------------------------------

@cli.group(context_settings=CONTEXT)
def contract() -> None:
    """A project's contract: terms, notice deadline, notice served."""


@contract.command("set")
@click.argument("key")
@click.option("--provider", help="The provider's name.")
@click.option("--ref", help="The contract's reference.")
@click.option("--start", help="Start date, YYYY-MM-DD.")
@click.option("--end", help="End date, YYYY-MM-DD.")
@click.option("--value", "value_total", help="Total value in pounds, e.g. 1250000, £1,250,000.50 or 1.25m.")
@click.option("--annual-value", "value_annual", help="Annual value in pounds.")
@click.option("--notice", help="Notice period: '6 months', '90 days' or '60 working days'.")
@click.option("--extension-to", help="Latest end date the extension options allow, YYYY-MM-DD.")
@click.option("--if-no-notice", type=click.Choice(["run-on", "ends"]),
              help="Without notice the contract runs on (for --run-on) or simply ends (this clears any run-on).")
@click.option("--run-on",
              help="How long it runs on without notice, once, e.g. '12 months' (implies --if-no-notice run-on).")
@version_option
def contract_set(key: str, expect_version: int | None, **terms: str | None) -> None:
    """Record or change a project's contract terms (only the options given change).

    \b
    Example:
      cycle contract set camhs --provider "Trust X" --ref CAMHS-2025-01 --start 2025-04-01 \\
        --end 2028-03-31 --value 3.6m --annual-value 1.2m --notice "6 months" --run-on "12 months"
    """
    from cycle import text
    from cycle.projects import engine

    st = engine.set_contract(_store(), key, terms, actor=_actor(), expect_version=expect_version)
    click.echo(text.contract_set(key, st))


@contract.command("show")
@click.argument("key")
@as_of_option
@json_option
def contract_show(key: str, as_of: str | None, as_json: bool) -> None:
    """The contract, its notice deadline and its status on a date.

    \b
    Example:
      cycle contract show camhs --as-of 2026-10-01
    """
    from cycle import text
    from cycle.projects import views

    st = views.show_contract(_store(), key, _as_of(as_of))
    _emit(st.as_dict()) if as_json else click.echo(text.contract(st))


@contract.command("notice")
@click.argument("key")
@click.option("--served-on", required=True, help="The day notice was served, YYYY-MM-DD.")
@click.option("--ref", required=True, help="The notice letter's reference.")
def contract_notice(key: str, served_on: str, ref: str) -> None:
    """Record that notice was served on the contract.

    \b
    Example:
      cycle contract notice camhs-decommissioning --served-on 2026-09-15 --ref "Notice letter NL-114"
    """
    from cycle import text
    from cycle.projects import engine

    st = engine.serve_notice(_store(), key, served_on, ref, actor=_actor())
    click.echo(text.contract(st))


@cli.group(context_settings=CONTEXT)
def contracts() -> None:
    """Across all contracts: what needs a decision soon."""


@contracts.command("due")
@click.option("--within", default="180d", show_default=True, help="Window: 180d, 6m, 26w, 60 working days.")
@as_of_option
@json_option
def contracts_due(within: str, as_of: str | None, as_json: bool) -> None:
    """Live contracts whose notice deadline, end date or run-on end falls in the window, soonest first.

    \b
    Example:
      cycle contracts due --within 180d --as-of 2026-10-01
    """
    from cycle import text
    from cycle.projects import views

    rows = views.contracts_due(_store(), _as_of(as_of), within)
    if as_json:
        _emit([{"date": when.isoformat(), "what": what, **st.as_dict()} for when, what, st in rows])
    else:
        click.echo(text.due(rows, within))


# --- reports ------------------------------------------------------------------------------------

@cli.group(context_settings=CONTEXT)
def report() -> None:
    """Reports for governance leads and boards: gate audit, quarterly portfolio."""


def _write(text: str, out: str | None, what: str) -> None:
    if out is None:
        click.echo(text, nl=False)
        return
    from pathlib import Path

    from cycle.errors import BadInput

    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot write --out {out}: {exc.strerror or exc}; choose another file") from None
    click.echo(f"Wrote the {what} to {out}")


def _out_folder(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse --out into a folder that does not exist before any work is done, so nothing is written."""
    if value is not None:
        from pathlib import Path

        folder = Path(value).parent
        if not folder.is_dir():
            raise click.BadParameter(f"the folder {folder} does not exist; create it first (mkdir -p {folder}) "
                                     f"or write elsewhere", ctx, param)
    return value


def _verification_failed(verified: dict[str, Any]) -> None:
    """After a report is written: exit 1 when its verification failed, as `audit verify` does."""
    if verified["ok"]:
        return
    if not verified["chain_ok"]:
        click.echo(f"Audit chain FAILED at entry {verified['bad_seq']}: {verified['problem']}. The report says so; "
                   f"see: cycle audit verify", err=True)
    else:
        n = len(verified["records"]["discrepancies"])
        click.echo(f"Records FAILED: {n} {'does' if n == 1 else 'do'} not match the audit log. The report says so; "
                   f"see: cycle audit verify", err=True)
    sys.exit(1)


format_option = click.option("--format", "fmt", type=click.Choice(["html", "md", "json"]), default="md",
                             show_default=True, help="Output format.")
out_option = click.option("--out", type=click.Path(dir_okay=False, writable=True), callback=_out_folder,
                          help="Write to FILE (its folder must exist).")
checkpoint_option = click.option("--checkpoint", metavar="SEQ:HASH",
                                 help="Check the chain against a head kept outside the database (from "
                                      "`cycle audit checkpoint`; an empty one is refused).")


@report.command("gate-audit")
@click.argument("key", required=False)
@format_option
@out_option
@checkpoint_option
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
def report_gate_audit(key: str | None, fmt: str, out: str | None, checkpoint: str | None, as_json: bool) -> None:
    """Every gate passed and every decision and request, with criteria, evidence, waivers and refusals; at the
    top, the check `cycle audit verify` runs (exit 1, after writing the report, when it fails).

    \b
    Example:
      cycle report gate-audit camhs --format html --out camhs-gates.html --checkpoint 42:3f1c...
    """
    from cycle import reporting as data
    from cycle.reports.render import render

    store = _store()
    report = data.gate_audit(store, key, checkpoint)
    drawn = data.workflows_in(store, report) if fmt == "html" and not as_json else None
    _write(render(report, "json" if as_json else fmt, drawn), out, "gate-audit report")
    _verification_failed(report["chain"])


@report.command("quarterly")
@click.option("--quarter", required=True, help="Financial quarter, e.g. 2026-Q3 (October-December 2026).")
@format_option
@out_option
@checkpoint_option
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
def report_quarterly(quarter: str, fmt: str, out: str | None, checkpoint: str | None, as_json: bool) -> None:
    """The portfolio in a quarter: stages, moves, decisions, waivers, reviews, deadlines, slipped milestones;
    at the top, the check `cycle audit verify` runs (exit 1, after writing the report, when it fails).

    \b
    Example:
      cycle report quarterly --quarter 2026-Q3 --format html --out board-2026-Q3.html
    """
    from cycle import reporting as data
    from cycle.reports.render import render

    store = _store()
    report = data.quarterly(store, quarter, checkpoint=checkpoint)
    drawn = data.workflows_in(store, report) if fmt == "html" and not as_json else None
    _write(render(report, "json" if as_json else fmt, drawn), out, "quarterly report")
    _verification_failed(report["chain"])


# --- people -------------------------------------------------------------------------------------

@cli.group(context_settings=CONTEXT)
def people() -> None:
    """The people cycle knows: emails for reminders, and roles (manager, governance lead, approver, admin)."""


@people.command("add")
@click.argument("name")
@click.option("--email", help="Email address (needed the first time).")
@click.option("--role", type=click.Choice(["manager", "governance-lead", "approver", "admin"]),
              help="A role to grant (an admin only, once anyone is admin).")
@click.option("--body", help="With --role approver: the body they decide for.")
def people_add(name: str, email: str | None, role: str | None, body: str | None) -> None:
    """Add a person (NAME is their CYCLE_USER or login name), or grant one a role.

    Only an admin may grant a role, once anyone holds the admin role; only the person or an admin
    may change a known person's email.

    \b
    Example:
      cycle people add alice --email alice@council.gov.uk --role manager
      cycle people add chair --email chair@council.gov.uk --role approver --body "Children's Trust Board"
    """
    from cycle.governance import people as directory

    person, note = directory.add(_store(), name, email, role, body, actor=_actor())
    click.echo(f"{person.name} <{person.email}>: {_roles(person)}")
    if note:
        click.echo(note)


@people.command("remove-role")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["manager", "governance-lead", "approver", "admin"]),
              help="The role to take away.")
@click.option("--body", help="With --role approver: the body they no longer decide for.")
def people_remove_role(name: str, role: str, body: str | None) -> None:
    """Take a role away from a person (an admin only); the audit log keeps what they did with it.

    \b
    Example:
      cycle people remove-role chair --role approver --body "Children's Trust Board"
    """
    from cycle.governance import people as directory

    person = directory.remove_role(_store(), name, role, body, actor=_actor())
    click.echo(f"{person.name} <{person.email}>: {_roles(person)}")


def _roles(person: Any) -> str:
    return ", ".join(f"{r} for {b}" if b else r for r, b in person.roles) or "no roles"


@people.command("list")
@json_option
def people_list(as_json: bool) -> None:
    """List people and their roles.

    \b
    Example:
      cycle people list --json
    """
    from cycle.governance import people as directory

    with _store().read() as s:
        everyone = directory.everyone(s)
    if as_json:
        _emit([p.as_dict() for p in everyone])
    elif not everyone:
        click.echo("Nobody yet. Start with an admin, who grants the other roles: "
                   "cycle people add NAME --email ADDRESS --role admin")
    else:
        for p in everyone:
            click.echo(f"{p.name:<16} {p.email:<32} {_roles(p)}")


# --- audit --------------------------------------------------------------------------------------

@cli.group(context_settings=CONTEXT)
def audit() -> None:
    """Read and verify the hash-chained audit log."""


@audit.command("log")
@click.argument("project_key", required=False)
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Only the newest N entries (oldest first).")
@json_option
def audit_log(project_key: str | None, limit: int | None, as_json: bool) -> None:
    """List audit entries, all or one project's, oldest first.

    \b
    Example:
      cycle audit log camhs
      cycle audit log --limit 20      # the 20 newest entries
    """
    from cycle import text
    from cycle.audit import chain as log
    from cycle.projects import views

    store = _store()
    with store.reading() as sql:
        if project_key:
            views.project(sql, project_key)
        rows = log.entries(sql, project_key, limit)
    _emit([text.entry_dict(e) for e in rows]) if as_json else click.echo(text.audit_entries(rows))


@audit.command("verify")
@click.option("--checkpoint", metavar="SEQ:HASH", help="A head printed earlier by `cycle audit checkpoint`.")
@click.option("--chain-only", is_flag=True,
              help="Walk the hash chain only; skip comparing the records gates read with it.")
@json_option
def audit_verify(checkpoint: str | None, chain_only: bool, as_json: bool) -> None:
    """Walk the hash chain, then compare the records gates read with it; exit 1 naming what is wrong.

    The records are every row of every table a gate, reminder or report reads (projects, evidence,
    decisions, waivers, contracts, people, the outbox ...): each must match, column by column, the
    latest image of it the log holds (docs/records.md).

    \b
    Example:
      cycle audit verify
      cycle audit verify --checkpoint 42:3f1c...
    """
    from cycle import text
    from cycle.audit.verify import verify_all

    result = verify_all(_store(), checkpoint, chain_only)
    chain, records = result.chain, result.records
    if as_json:
        _emit(result.as_dict())
    elif chain.ok:
        against = f", matches checkpoint {chain.checkpoint}" if chain.checkpoint else ""
        click.echo(f"Audit chain verified: {chain.entries} entries, head {chain.head_seq}:{chain.head_hash}"
                   f"{against}.")
        if records is not None:
            click.echo(text.records(records), err=not records.ok)
    elif chain.untrusted:
        click.echo(f"Audit chain FAILED at entry {chain.bad_seq}: {chain.problem}. To find where it was "
                   f"rewritten, check against an earlier checkpoint: cycle audit verify --checkpoint SEQ:HASH",
                   err=True)
    else:
        click.echo(f"Audit chain FAILED at entry {chain.bad_seq}: {chain.problem}. "
                   f"{chain.entries} entries before it verified.", err=True)
    sys.exit(0 if result.ok else 1)


@audit.command("checkpoint")
@json_option
def audit_checkpoint(as_json: bool) -> None:
    """Print the chain's head as SEQ:HASH, to keep outside the database.

    \b
    Example:
      cycle audit checkpoint >> ~/cycle-checkpoints.txt
    """
    from cycle.audit import chain as log

    with _store().read() as s:
        seq, digest = log.head(s)
    _emit({"seq": seq, "hash": digest}) if as_json else click.echo(f"{seq}:{digest}")


# --- the database itself ------------------------------------------------------------------------

@cli.group(context_settings=CONTEXT)
def db() -> None:
    """The database itself: its schema revision, and the roles a PostgreSQL server needs."""


@db.command("status")
@json_option
def db_status(as_json: bool) -> None:
    """Which schema revision the database is at, and whether `cycle init` has upgrades to apply.

    \b
    Example:
      cycle db status
    """
    from cycle.db import schema

    st = schema.status(_open())
    if as_json:
        _emit(st.as_dict())
        return
    what = dict(schema.revisions())
    if not st.initialised:
        click.echo(f"No cycle database at {st.database} yet. Create it with: cycle init")
    elif st.made_before_migrations:
        click.echo(f"The database at {st.database} was made before cycle had migrations. `cycle init` adopts it "
                   f"and upgrades it to revision {st.head}.")
    elif st.behind:
        click.echo(f"The database at {st.database} is at schema revision {st.current}; this cycle's newest is "
                   f"{st.head}, {len(st.pending)} behind. Upgrade with: cycle init (on PostgreSQL, as the owner)")
        for rev in st.pending:
            click.echo(f"  {rev}  {what.get(rev, '')}")
    else:
        click.echo(f"The database at {st.database} is at schema revision {st.current}, the newest: "
                   f"{what.get(st.current or '', '')}")


@db.command("roles-sql")
@click.option("--database", "database", default="cycle", show_default=True, help="The database to create.")
@click.option("--owner", default="cycle_owner", show_default=True, help="The role that owns the tables.")
@click.option("--app", default="cycle_app", show_default=True, help="The role people log in through.")
@click.option("--person", "people", multiple=True, metavar="LOGIN", help="A person's login to create (repeatable).")
def db_roles_sql(database: str, owner: str, app: str, people: tuple[str, ...]) -> None:
    """Print the SQL an administrator runs to set up PostgreSQL: an owner role, an application role, the database.

    \b
    Example:
      cycle db roles-sql --person alice --person bob > cycle-roles.sql
      psql -v ON_ERROR_STOP=1 -d postgres -f cycle-roles.sql
    """
    from cycle.db import postgres_roles

    click.echo(postgres_roles.setup_sql(database, owner, app, people), nl=False)


# --- workflows ----------------------------------------------------------------------------------

@cli.group(context_settings=CONTEXT)
def workflow() -> None:
    """The workflows the database runs on: install, list, show, draw; and check a file (TOML)."""


version_choice = click.option("--version", "version", type=click.IntRange(min=1), metavar="N",
                              help="This installed version (default: the newest).")


@workflow.command("list")
@json_option
def workflow_list(as_json: bool) -> None:
    """List the installed workflows, their versions and the projects on each; and any workflow file
    (built-in, or in $CYCLE_HOME/workflows) that is not what the database runs on.

    A file that fails validation is listed with its error, and the command exits 2 after listing.

    \b
    Example:
      cycle workflow list
    """
    from cycle.errors import BadInput
    from cycle.workflow import registry
    from cycle.workflow.gates import quote

    installed, files = registry.listing(_store())
    if as_json:
        _emit({"workflows": [w.as_dict() for w in installed], "files": [f.as_dict() for f in files]})
    else:
        for w in installed:
            versions = "; ".join(f"version {v.version}{' (newest)' if v.version == w.newest else ''}: "
                                 f"{v.projects} project{'' if v.projects == 1 else 's'}"
                                 for v in reversed(w.versions))
            click.echo(f"{w.name:<16} {w.title}  [{versions}]")
        for f in files:
            if f.state == "broken":
                click.echo(f"{f.path} CANNOT BE INSTALLED: {f.error}")
            elif f.state == "older":
                click.echo(f"{f.path} is {f.name} version {f.version}, not the newest ({f.newest})")
            elif f.state == "not installed":
                click.echo(f"{f.path} is not installed; install it with: {f.install}")
            elif f.state == "differs":
                click.echo(f"{f.path} differs from {f.name} version {f.newest}, the newest installed; "
                           f"install it with: {f.install}")
    broken = [f for f in files if f.state == "broken"]
    if broken:
        raise BadInput(f"{len(broken)} workflow file{'s' if len(broken) > 1 else ''} cannot be installed; "
                       f"fix {'each' if len(broken) > 1 else 'it'}, then check with: "
                       f"cycle workflow check {quote(broken[0].path)}")


@workflow.command("install")
@click.argument("file", type=click.Path(dir_okay=False))
def workflow_install(file: str) -> None:
    """Install a workflow file in the database, as a new workflow or the next version of one.

    The file is checked as `workflow check` does. New projects take the newest version; projects
    already running stay on theirs until a governance lead moves them (project set --workflow-version).
    Only a governance lead or an admin may install, once anyone holds either role.

    \b
    Example:
      cycle workflow install ~/.local/share/cycle/workflows/fast-track.toml
    """
    from cycle.workflow import install

    done = install.install_file(_store(), file, actor=_actor())
    click.echo(f"Installed {done.name} version {done.version} (SHA-256 {done.sha256}) from {done.origin}. "
               f"New {done.name} projects run on it.")
    if done.older:
        click.echo(f"{done.older} project{' stays' if done.older == 1 else 's stay'} on earlier versions; a "
                   f"governance lead moves one with: cycle project set KEY --workflow-version {done.version}")
    if done.note:
        click.echo(done.note)


@workflow.command("show")
@click.argument("name")
@version_choice
@json_option
def workflow_show(name: str, version: int | None, as_json: bool) -> None:
    """Show an installed workflow's stages, gates and criteria.

    \b
    Example:
      cycle workflow show commissioning
      cycle workflow show commissioning --version 1
    """
    from cycle import text
    from cycle.workflow import registry

    wf = registry.load(_store(), name, version)
    _emit(text.workflow_dict(wf)) if as_json else click.echo(text.workflow(wf))


@workflow.command("diagram")
@click.argument("name")
@version_choice
@click.option("--format", "fmt", type=click.Choice(["svg", "dot", "mermaid"]), default="svg", show_default=True)
@click.option("--counts", is_flag=True, help="Show how many projects stand at each stage (on that version, "
                                              "with --version).")
@out_option
def workflow_diagram(name: str, version: int | None, fmt: str, counts: bool, out: str | None) -> None:
    """Draw an installed workflow: SVG (needs Graphviz), Graphviz dot, or Mermaid text.

    \b
    Example:
      cycle workflow diagram commissioning --format svg --counts --out cycle.svg
      cycle workflow diagram decommissioning --format mermaid
    """
    from cycle.errors import BadInput
    from cycle.workflow import graph, registry

    store = _store()
    wf = registry.load(store, name, version)
    tally = None
    if counts:
        from cycle.projects import views

        tally = {}
        for p in views.list_projects(store, workflow=name):
            if version is None or p.workflow_version == version:
                tally[p.stage] = tally.get(p.stage, 0) + 1
    text = graph.mermaid(wf, tally) if fmt == "mermaid" else graph.dot(wf, tally)
    if fmt == "svg":
        from cycle.reports.svg import INSTALL, svg

        drawn = svg(text)
        if drawn is None:
            raise BadInput(INSTALL)
        text = drawn + "\n"
    _write(text, out, f"{fmt} diagram")


@workflow.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@json_option
def workflow_check(file: str, as_json: bool) -> None:
    """Validate a workflow file without installing it (exit 2 naming the bad entry).

    \b
    Example:
      cycle workflow check ~/.local/share/cycle/workflows/fast-track.toml
    """
    from pathlib import Path

    from cycle.workflow import definition as wfs

    wf = wfs.parse(Path(file))
    n = sum(len(g.criteria) for g in wf.gates)
    if as_json:
        _emit({"ok": True, "file": file, "name": wf.name, "stages": len(wf.stages), "gates": len(wf.gates),
               "criteria": n, "sha256": wf.sha256})
        return
    click.echo(f"OK: {file} defines workflow {wf.name}: {len(wf.stages)} stages, {len(wf.gates)} gates, "
               f"{n} criteria.")


from cycle.notifications.commands import register as _register_notifications  # noqa: E402

_register_notifications(cli)


def main() -> None:
    cli(prog_name="cycle")


if __name__ == "__main__":
    main()
