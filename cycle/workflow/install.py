"""Installing workflows into a database: each version a row nobody may change, and an audit entry holding its text.

`cycle workflow install FILE` adds a team's workflow, or a new version of one: a governance lead or
an admin may (anyone, while nobody holds either role). `cycle init` installs the built-in workflows: on
a new database, and afterwards each built-in file of this cycle whose text is not installed yet becomes
the newest version of its name (once roles exist, when a governance lead or admin runs it). Either way,
projects stay on the version they run on until a governance lead moves them (`cycle project set KEY
--workflow-version N`); a new project takes the newest.

A database made before workflows lived in it (schema revision 0009 and earlier) ran on files, and its
log records with each project's creation and each gate the SHA-256 of the file used. When `cycle init`
upgrades it, it installs each built-in or team file (from the $CYCLE_HOME of whoever runs it) whose
SHA-256 the log shows, in the order the log first shows them, then the built-in files not yet installed;
and it pins each project to the version its log last used, else to the newest version of its workflow,
naming in the upgrade's audit entry and on stdout each project it could not match. The newest version of
each name is the file new projects ran on before: the team's file when the log shows it, else the built-in.

Each `workflow.install` entry holds the name, version, SHA-256, origin and the whole text: the log alone
can rebuild the table, and `cycle audit verify` compares them (cycle.audit.records).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlmodel import Session

from cycle import config
from cycle.audit import chain, images
from cycle.calendar import clock
from cycle.db import schema
from cycle.db.models import WorkflowVersion
from cycle.db.schema import Upgrade
from cycle.db.sql import Sql, sql_of
from cycle.db.store import Store
from cycle.errors import BadInput, NotPermitted, WorkflowInvalid
from cycle.governance import authority
from cycle.shell import quote

from . import registry
from .definition import (
    builtin_dir,
    builtin_files,
    file_names,
    files_in,
    parse_text,
    read_source,
    sha256_of,
    team_dir,
    team_files,
)
from .gates import RULES

ANYONE = ("Nobody holds the governance-lead or admin role yet, so anyone may install workflows; make someone "
          "admin: cycle people add NAME --role admin")


def add(s: Session, name: str, text: str, origin: str, actor: str) -> WorkflowVersion:
    """Install `text` as the next version of `name`, with its audit entry, in the caller's write transaction."""
    sql = sql_of(s)
    newest = sql.one("SELECT MAX(version) AS version FROM workflow_version WHERE name = :name", name=name)
    row = WorkflowVersion(name=name, version=(newest.version or 0) + 1 if newest else 1, sha256=sha256_of(text),
                          source=text, origin=origin, installed_by=sql.actor(actor), installed_at=clock.utc_now())
    s.add(row)
    s.flush()
    chain.append(s, actor=actor, action="workflow.install", payload={
        "workflow_version_id": row.id, "name": name, "version": row.version, "sha256": row.sha256,
        "origin": origin, "source": text})
    return row


@dataclass(frozen=True)
class Done:
    """What `workflow install` did."""

    name: str
    version: int
    sha256: str
    origin: str
    older: int  # projects on earlier versions of the workflow, which stay there
    note: str | None = None


def install_file(store: Store, path: str | Path, *, actor: str) -> Done:
    """Install a workflow file as the next version of its name; it is checked as `workflow check` does.

    A text already installed under its name is BadInput (nothing written). Installing is for a governance
    lead or an admin; a refusal is one `workflow.refused` audit entry and changes nothing else.
    """
    path = Path(path)
    text = read_source(path)
    origin = os.path.abspath(path)
    actor = store.actor(actor)
    refusal = None
    with store.write() as s:
        sql = sql_of(s)
        wf = parse_text(text, str(path), path.name, file_names(path.parent) | registry.names(sql))
        same = sql.one("SELECT version FROM workflow_version WHERE name = :name AND sha256 = :sha",
                       name=wf.name, sha=wf.sha256)
        if same is not None:
            raise BadInput(f"{path} is already installed as {wf.name} version {same.version}, so nothing changed; "
                           f"see: cycle workflow list")
        refusal, unguarded = authority.lead_refusal(s, actor, "install a workflow",
                                                    f"cycle workflow install {quote(origin)}", admins_too=True)
        if refusal:  # committed on its own: a refused attempt is part of the record
            chain.append(s, actor=actor, action="workflow.refused", payload={
                "name": wf.name, "sha256": wf.sha256, "origin": origin, "why": refusal})
        else:
            row = add(s, wf.name, text, origin, actor)
            older = sql.one("SELECT COUNT(*) AS n FROM project WHERE workflow = :name AND workflow_version < :version",
                            name=wf.name, version=row.version).n
    if refusal:
        raise NotPermitted(f"{refusal}. The refused attempt is recorded in the audit log.")
    return Done(wf.name, row.version, row.sha256, origin, int(older), ANYONE if unguarded else None)


# --- cycle init ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Candidate:
    name: str
    text: str
    sha256: str
    origin: str
    path: Path


def _candidates(folders: list[tuple[str | None, dict[str, Path]]]) -> dict[tuple[str, str], _Candidate]:
    """(name, SHA-256) -> a file's text, for every readable workflow file (origin None: the file's path)."""
    found: dict[tuple[str, str], _Candidate] = {}
    for origin, files in folders:
        for name, path in files.items():
            try:
                text = read_source(path)
            except WorkflowInvalid:
                continue  # a file that cannot be read is no candidate; `workflow list` names it
            digest = sha256_of(text)
            found.setdefault((name, digest), _Candidate(name, text, digest, origin or os.path.abspath(path), path))
    return found


def earlier_builtin_files() -> list[dict[str, Path]]:
    """The built-in workflows as earlier releases of cycle shipped them (workflows/earlier-builtins/N), oldest
    first: a database from before workflows lived in it names the file each project ran on only by its SHA-256."""
    try:
        found = [p for p in (builtin_dir() / "earlier-builtins").iterdir() if p.is_dir() and p.name.isdigit()]
    except OSError:
        return []
    return [files_in(p) for p in sorted(found, key=lambda p: int(p.name))]


def init(store: Store, actor: str) -> Upgrade:
    """`cycle init`: create the database or upgrade its schema, and install the built-in workflows (for a database
    from before workflows lived in it, those its log shows too, pinning each project); all of it is audited in
    the same transaction."""
    actor = store.actor(actor)

    def after(conn: Any, result: Upgrade, tables: dict[str, set[str]]) -> None:
        _after_upgrade(conn, result, tables, actor)

    return schema.upgrade(store, actor=actor, after=after)


def _after_upgrade(conn: Any, result: Upgrade, tables: dict[str, set[str]], actor: str) -> None:
    """The upgrade's audit entries, and once the schema has the workflow_version table, the workflows: what is
    not installed is installed and, when the table is new, the projects are pinned (the upgrade's entry, after
    it, records what that did)."""
    with Session(bind=conn) as s:
        if result.created:
            _upgrade_entry(s, result, actor, {})
        extra: dict[str, Any] = {}
        if inspect(conn).has_table("workflow_version"):
            extra, result.notes = _after_schema(s, Sql.on(conn), actor, "workflow_version" not in tables)
        if result.changed and not result.created:
            _upgrade_entry(s, result, actor, extra)
        s.flush()


def _upgrade_entry(s: Session, result: Upgrade, actor: str, extra: dict[str, Any]) -> None:
    if result.created:
        chain.append(s, actor=actor, action="db.init", payload={"database": result.database, "schema": result.after,
                                                                 "rules": list(RULES)})
    else:
        chain.append(s, actor=actor, action="db.upgrade", payload={
            "database": result.database, "from": result.before, "to": result.after,
            "adopted_at": result.adopted, "rules": list(RULES), **extra})


def _after_schema(s: Session, sql: Sql, actor: str | None, first: bool) -> tuple[dict[str, Any], list[str]]:
    actor = sql.actor(actor or config.actor())
    installed = {(r.name, r.sha256): r.version for r in sql.rows("SELECT name, sha256, version FROM workflow_version")}
    builtins = _candidates([(registry.BUILTIN, builtin_files())])
    wanted: list[_Candidate] = []
    notes: list[str] = []
    logged: dict[str, tuple[str, str]] = {}  # project -> (workflow, SHA-256) of its log's last entry naming one
    if first:
        shown = _logged_workflows(sql, logged)
        team = _candidates([(None, team_files())])
        earlier = _candidates([(registry.BUILTIN, files) for files in earlier_builtin_files()])
        known = {**team, **earlier, **builtins}  # the built-in text wins over a copy of it
        wanted = [known[k] for k in shown if k in known and k not in installed]
    wanted += [c for k, c in builtins.items() if k not in installed and c not in wanted]
    if first:
        # Before, a team file replaced the built-in file of its name for new projects: that one (when the log
        # shows it), else the built-in, becomes the newest version of its name, so new projects go on as before.
        current = {c.name: c for c in builtins.values()}
        current.update({c.name: known[k] for k, c in team.items() if k in shown})
        wanted.sort(key=lambda c: current.get(c.name) == c)  # stable: otherwise in the order the log shows them
    if wanted and not first and any(c.origin == registry.BUILTIN for c in wanted):
        refusal, _ = authority.lead_refusal(s, actor, "install this cycle's built-in workflows", "cycle init",
                                            admins_too=True)
        if refusal:
            for c in [c for c in wanted if c.origin == registry.BUILTIN]:
                notes.append(f"This cycle's built-in workflow {c.name} is not installed: {refusal}.")
            wanted = [c for c in wanted if c.origin != registry.BUILTIN]
    names = {n for n, _ in installed} | {c.name for c in wanted}
    done = []
    for c in wanted:
        try:
            parse_text(c.text, str(c.path), f"{c.name}.toml", names | file_names())
        except WorkflowInvalid as exc:
            notes.append(f"Not installed (its log shows it in use, but it no longer passes the checks): {exc}")
            continue
        row = add(s, c.name, c.text, c.origin, actor)
        installed[(c.name, c.sha256)] = row.version
        done.append(f"{c.name} version {row.version} ({c.origin})")
    if done:
        notes.insert(0, f"Installed workflow{'s' if len(done) > 1 else ''} " + ", ".join(done) + ".")
    payload: dict[str, Any] = {}
    if first:
        payload, lines = _pin(s, installed, logged)
        notes += lines
    elif done:
        notes.append("Projects stay on the version they run on; a governance lead moves one with: "
                     "cycle project set KEY --workflow-version N")
    s.flush()
    return payload, notes


def _logged_workflows(sql: Sql, latest: dict[str, tuple[str, str]]) -> list[tuple[str, str]]:
    """(workflow, SHA-256) pairs the log shows, in the order it first shows them; fills `latest` with each
    project's last."""
    seen: dict[tuple[str, str], None] = {}
    for e in sql.rows("SELECT project, payload FROM audit_entry WHERE action IN "
                      "('project.create', 'advance', 'advance.refused', 'decision.record') ORDER BY seq"):
        try:
            p = chain.read_payload(e.payload)
        except chain.PAYLOAD_ERRORS:  # `audit verify` names it; it shows no workflow
            continue
        name, digest = p.get("workflow"), p.get("workflow_sha256")
        if isinstance(name, str) and isinstance(digest, str):
            seen.setdefault((name, digest), None)
            if e.project is not None:
                latest[e.project] = (name, digest)
    return list(seen)


def _pin(s: Session, installed: dict[tuple[str, str], int],
         logged: dict[str, tuple[str, str]]) -> tuple[dict[str, Any], list[str]]:
    """Pin every project on no version yet: to the version its log last used, else to its workflow's newest."""
    newest: dict[str, int] = {}
    for (name, _), number in installed.items():
        newest[name] = max(number, newest.get(name, 0))
    pinned: dict[str, list[Any]] = {}
    unmatched: dict[str, str] = {}
    lines: list[str] = []
    sql = sql_of(s)
    # Plain SQL, not the ORM: pinning is no change a person made, so the project's version stays as it was
    # (an --expect-version read before the upgrade still holds); the upgrade's entry records every pin.
    for project in sql.rows("SELECT id, key, workflow FROM project WHERE workflow_version IS NULL ORDER BY key"):
        last = logged.get(project.key)
        version = installed.get((project.workflow, last[1])) if last and last[0] == project.workflow else None
        if version is None:
            fallback = newest.get(project.workflow)
            used = (f"the workflow file its log last used (SHA-256 {last[1][:12]}) is neither built in nor in "
                    f"{team_dir()}" if last else "its log names no workflow file")
            unmatched[project.key] = used
            now = (f"now on {project.workflow} version {fallback}, the newest" if fallback else
                   f"on no version, since none of {project.workflow} is installed (install one with: "
                   f"cycle workflow install FILE)")
            lines.append(f"  {project.key}: {used}; {now}")
            version = fallback
        if version is not None:
            found = sql.one("SELECT * FROM project WHERE id = :id", id=project.id)._asdict()
            sql.run("UPDATE project SET workflow_version = :version WHERE id = :id", version=version, id=project.id)
            # on the record: the upgrade's entry, appended next, holds the pinned row (cycle.audit.images)
            images.note(sql.info, "project", project.id, {**found, "workflow_version": version}, found)
            pinned[project.key] = [project.workflow, version]
    if pinned or unmatched:
        n = len([k for k in pinned if k not in unmatched])
        head = f"Pinned {n} project{'s' if n != 1 else ''} to the version of its workflow its log last used"
        if unmatched:
            head += (f"; {len(unmatched)} could not be matched (a governance lead moves one with: "
                     f"cycle project set KEY --workflow-version N):")
        lines.insert(0, head + ("" if unmatched else "."))
    return {"workflows": {"pinned": pinned, "unmatched": unmatched}}, lines
