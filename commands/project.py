"""`cycle project`: create, change, list, show and advance projects."""

from __future__ import annotations

import click

from ._common import (
    CONTEXT,
    DATE,
    VERSION,
    actor,
    as_of_date,
    as_of_option,
    csv_option,
    echo_each,
    emit,
    emit_csv,
    emit_each,
    expect_version_option,
    json_option,
    json_write,
    one_format,
    ready_store,
    to_option,
)


@click.group(context_settings=CONTEXT)
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
HUB_ROLE_HELP = ("The hub's role (seed 001 Appendix A): lead, associate or partnership; separate from the "
                 "commissioning model.")
PROGRAMME_HELP = "The programme it belongs to, by key (cycle programme list)."


@project.command("new")
@json_write
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
@click.option("--programme", metavar="KEY", help=PROGRAMME_HELP)
@click.option("--hub-role", help=HUB_ROLE_HELP)
def project_new(key: str, title: str, workflow: str, lead_commissioner: str | None, model: str | None,
                accountable_body: str | None, owner: str | None, attrs: tuple[str, ...], replaces: str | None,
                programme: str | None, hub_role: str | None) -> None:
    """Create a project at its workflow's first stage.

    \b
    Example:
      cycle project new camhs --title "CAMHS Tiers 2 and 3" --workflow commissioning \\
        --lead-commissioner CCGs --model integrated --hub-role lead \\
        --accountable-body "Children's Trust Board" --owner alice --programme emotional-health
    """
    from cycle.projects import engine

    p = engine.create_project(ready_store(), actor=actor(), key=key, title=title, workflow=workflow,
                              lead_commissioner=lead_commissioner, model=model, accountable_body=accountable_body,
                              owner=owner, attrs=_attrs(attrs), replaces=replaces, programme=programme,
                              hub_role=hub_role)
    click.echo(f"Created {p.key} ({p.title}) at {p.stage}, workflow {p.workflow} version {p.workflow_version}. "
               f"Next: cycle gate check {p.key}")
    if replaces:
        click.echo(f"Linked: {p.key} replaces {replaces}.")


@project.command("set")
@json_write
@click.argument("key")
@click.option("--title", help="The service's name, e.g. \"CAMHS Tiers 2 and 3\".")
@click.option("--lead-commissioner", help="Organisation holding the contract, e.g. CCGs.")
@click.option("--model", help=MODEL_HELP)
@click.option("--hub-role", help=HUB_ROLE_HELP)
@click.option("--programme", metavar="KEY", help=PROGRAMME_HELP)
@click.option("--accountable-body", help="Body that decides the gates (a governance lead's to change, once anyone "
                                         "holds a role).")
@click.option("--owner", help="Commissioning manager who owns the project (a person's login).")
@click.option("--sro", help="Senior responsible officer (a person's login).")
@click.option("--lead", help="Programme lead (a person's login).")
@click.option("--governance-lead", help="Governance lead who audits this project's gates (a person's login).")
@click.option("--start-date", type=DATE, help="Programme start, YYYY-MM-DD.")
@click.option("--end-date", type=DATE, help="Programme end, YYYY-MM-DD.")
@click.option("--aim", help="Programme card: what the programme is for, in a sentence.")
@click.option("--scope", help="Programme card: what is in and out of scope.")
@click.option("--benefits", help="Programme card: the benefits expected.")
@click.option("--metrics", help="Programme card: how the benefits will be measured.")
@click.option("--attr", "attrs", multiple=True, metavar="NAME=VALUE", help="A workflow-specific attribute.")
@click.option("--workflow-version", type=VERSION, metavar="N",
              help="Run on version N of its workflow (a governance lead only; see: cycle workflow list).")
@expect_version_option
def project_set(key: str, attrs: tuple[str, ...], workflow_version: int | None, expect_version: int | None,
                **changes: str | None) -> None:
    """Change a project's attributes, or the version of its workflow it runs on.

    A project runs on the version of its workflow that was newest when it was created. Moving it to
    another installed version is for a governance lead, and only to a version that has its stage.

    \b
    Example:
      cycle project set camhs --owner bob --sro "dr-jones" --attr procurement_route="open tender"
      cycle project set camhs --programme emotional-health --hub-role associate
      cycle project set camhs --workflow-version 2
    """
    from cycle.projects import engine

    given: dict[str, str | None] = {k: v for k, v in changes.items() if v is not None}
    notes: list[str] = []
    p = engine.set_project(ready_store(), key, actor=actor(), changes=given, attrs=_attrs(attrs),
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
    from cycle.projects import views

    from . import output

    view = views.show_project(ready_store(), key, as_of_date(as_of))
    emit(output.project_json(view.as_dict())) if as_json else click.echo(output.project(view))


@project.command("list")
@click.option("--stage", help="Only projects at this stage.")
@click.option("--workflow", help="Only projects on this workflow.")
@click.option("--programme", metavar="KEY", help="Only projects in this programme (cycle programme list).")
@json_option
@csv_option
def project_list(stage: str | None, workflow: str | None, programme: str | None, as_json: bool, as_csv: bool) -> None:
    """List projects.

    \b
    Example:
      cycle project list --stage review
      cycle project list --csv > projects.csv
      cycle project list --programme emotional-health
    """
    from cycle.projects import views

    from . import output

    one_format(as_json, as_csv)
    with views.project_listing(ready_store(), stage=stage, workflow=workflow, programme=programme) as listing:
        if as_json:
            emit_each(map(output.project_dict, listing.rows))
        elif as_csv:
            emit_csv(output.PROJECT_COLUMNS, map(output.project_record, listing.rows))
        elif not listing.width:
            click.echo(output.no_projects(stage, workflow, programme))
        else:
            echo_each(output.project_line(p, listing.width) for p in listing.rows)


@project.command("advance")
@json_write
@click.argument("key")
@to_option
@click.option("--new-key", help="Key for a project the gate opens (default KEY-decommissioning).")
@expect_version_option
def project_advance(key: str, to: str | None, new_key: str | None, expect_version: int | None) -> None:
    """Pass the gate out of the current stage; refused (exit 3) unless every must criterion is met.

    \b
    Example:
      cycle project advance camhs
      cycle project advance camhs --to analyse        # from review: recommission
      cycle project advance camhs --to decommission   # opens camhs-decommissioning
    """
    from cycle.projects import engine

    moved = engine.advance(ready_store(), key, actor=actor(), to=to, expect_version=expect_version, new_key=new_key)
    click.echo(f"{moved.project} moved {moved.source} -> {moved.dest} through gate {moved.gate} "
               f"(cycle {moved.cycle}, version {moved.version}, audit entry {moved.seq}).")
    if moved.opened:
        click.echo(f"Opened {moved.opened}, linked to {moved.project}. Next: cycle gate check {moved.opened}")
    for c in moved.check.warnings if moved.check else []:
        click.echo(f"  warning: should-criterion {c.id} not met: {c.reason}", err=True)
