"""`cycle workflow`: install, list, show, draw and check workflows."""

from __future__ import annotations

import click

from ._common import CONTEXT, VERSION, actor, emit, json_option, json_write, out_option, ready_store, write_out


@click.group(context_settings=CONTEXT)
def workflow() -> None:
    """The workflows the database runs on: install, list, show, draw; and check a file (TOML)."""


version_choice = click.option("--version", "version", type=VERSION, metavar="N",
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
    from cycle.shell import quote
    from cycle.workflow import registry

    from .output import safe

    installed, files = registry.listing(ready_store())
    if as_json:
        emit({"workflows": [w.as_dict() for w in installed], "files": [f.as_dict() for f in files]})
    else:
        for w in installed:
            versions = "; ".join(f"version {v.version}{' (newest)' if v.version == w.newest else ''}: "
                                 f"{v.projects} project{'' if v.projects == 1 else 's'}"
                                 for v in reversed(w.versions))
            click.echo(safe(f"{w.name:<16} {w.title}  [{versions}]"))
        for f in files:
            if f.state == "broken":
                click.echo(safe(f"{f.path} CANNOT BE INSTALLED: {f.error}"))
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
@json_write
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

    done = install.install_file(ready_store(), file, actor=actor())
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
    from cycle.workflow import registry

    from . import output

    wf = registry.load(ready_store(), name, version)
    emit(output.workflow_dict(wf)) if as_json else click.echo(output.workflow(wf))


@workflow.command("diagram")
@click.argument("name")
@version_choice
@click.option("--format", "fmt", type=click.Choice(["svg", "dot", "mermaid"]), default="svg", show_default=True,
              help="SVG (needs Graphviz), Graphviz dot, or Mermaid text.")
@click.option("--counts", is_flag=True, help="Show how many projects stand at each stage (on that version, "
                                              "with --version).")
@out_option
def workflow_diagram(name: str, version: int | None, fmt: str, counts: bool, out: str | None, force: bool) -> None:
    """Draw an installed workflow: SVG (needs Graphviz), Graphviz dot, or Mermaid text.

    \b
    Example:
      cycle workflow diagram commissioning --format svg --counts --out cycle.svg
      cycle workflow diagram decommissioning --format mermaid
    """
    from cycle.errors import BadInput
    from cycle.workflow import graph, registry

    store = ready_store()
    wf = registry.load(store, name, version)
    tally: dict[str, int] | None = None
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
    write_out(text, out, f"{fmt} diagram", force)


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
        emit({"ok": True, "file": file, "name": wf.name, "stages": len(wf.stages), "gates": len(wf.gates),
               "criteria": n, "sha256": wf.sha256})
        return
    from .output import counted

    click.echo(f"OK: {file} defines workflow {wf.name}: {counted(len(wf.stages), 'stage')}, "
               f"{counted(len(wf.gates), 'gate')}, {counted(n, 'criterion', 'criteria')}.")
