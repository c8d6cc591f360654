"""The workflows a database runs on: installed versions, read back from the database and parsed once per store.

Each installed version of a workflow is a row of workflow_version holding its exact TOML text, and
the database refuses to change or delete one (cycle.workflow.install puts them there). A project runs on one
version of its workflow (project.workflow_version), and every gate check, advance, decision, report
and reminder reads that version from here: a file in $CYCLE_HOME/workflows is never read for a
project, only installed (`cycle workflow install`) or checked (`cycle workflow check`).

Reads are plain SQL (cycle.db.sql.Sql), so the read-only commands stay free of the ORM. Because a version
never changes, its parsed Workflow is kept on the Store: after the first use in a process, finding a
project's workflow costs no query at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cycle.db.sql import Sql, sql_of
from cycle.db.store import Store
from cycle.errors import BadInput, DatabaseFailed, WorkflowInvalid
from cycle.shell import quote

from .definition import Workflow, builtin_files, parse, parse_text, read_source, sha256_of, team_files

if TYPE_CHECKING:
    from cycle.db.rows import ProjectRow
    from cycle.db.sql import Tx

BUILTIN = "built-in"  # the origin of a version installed from the workflows package
_ROW = "id, name, version, sha256, source, origin"


def get(store: Store, db: Tx, name: str, version: int | None = None) -> Workflow:
    """Version `version` of the installed workflow `name` (None: its newest); BadInput naming the choices."""
    cache = store.parsed_workflows
    if version is not None:
        hit = cache.get((name, version))
        if hit is not None:
            return hit  # type: ignore[no-any-return]
    sql = sql_of(db)
    if version is None:
        newest = sql.one("SELECT MAX(version) AS version FROM workflow_version WHERE name = :name", name=name)
        version = newest.version if newest is not None else None
        if version is not None and (name, version) in cache:
            return cache[(name, version)]  # type: ignore[no-any-return]
    row = None if version is None else sql.one(
        f"SELECT {_ROW} FROM workflow_version WHERE name = :name AND version = :version", name=name, version=version)
    if row is None:
        raise _not_installed(sql, name, version)
    wf = cache[(name, row.version)] = parse_row(row)
    return wf


def load(store: Store, name: str, version: int | None = None) -> Workflow:
    """`get` in a read transaction of its own (`cycle.load_workflow`)."""
    with store.reading() as sql:
        return get(store, sql, name, version)


def parse_row(row: Any) -> Workflow:
    """An installed version's Workflow, once its text is checked against the SHA-256 it was installed with."""
    where = f"workflow {row.name} version {row.version}"
    if sha256_of(row.source) != row.sha256:
        raise DatabaseFailed(f"{where} in the database no longer has the SHA-256 it was installed with: its row was "
                             f"altered outside cycle; see: cycle audit verify")
    try:
        return parse_text(row.source, where, f"{row.name}.toml", None, version=row.version, digest=row.sha256)
    except WorkflowInvalid as exc:  # checked when installed; a later cycle may check more
        raise BadInput(f"{exc}. It was valid when installed; install a corrected version with: "
                       f"cycle workflow install FILE") from None


def pinned(store: Store, db: Tx, project: ProjectRow) -> Workflow:
    """The installed version of its workflow the project runs on, which must have the project's stage."""
    if project.workflow_version is None:
        raise BadInput(f"{project.key} runs on workflow {project.workflow}, but on no installed version of it (when "
                       f"this database was upgraded, none matched its log; see: cycle workflow list). A governance "
                       f"lead pins one with: cycle project set {quote(project.key)} --workflow-version N")
    wf = get(store, db, project.workflow, project.workflow_version)
    if not wf.has_stage(project.stage):
        raise BadInput(f"{project.key} is at stage {project.stage!r}, which {wf.name} version {wf.version}, the "
                       f"version it runs on, does not have; a governance lead moves it to a version that does: "
                       f"cycle project set {quote(project.key)} --workflow-version N")
    return wf


def names(sql: Sql) -> set[str]:
    return {r.name for r in sql.rows("SELECT DISTINCT name FROM workflow_version")}


def _not_installed(sql: Sql, name: str, version: int | None) -> BadInput:
    have: dict[str, list[int]] = {}
    for r in sql.rows("SELECT name, version FROM workflow_version ORDER BY name, version"):
        have.setdefault(r.name, []).append(r.version)
    if name in have:
        return BadInput(f"workflow {name} has no version {version}; its versions are: "
                        f"{', '.join(map(str, have[name]))} (see: cycle workflow list)")
    team = team_files().get(name)
    hint = f"; to install the team's file: cycle workflow install {quote(str(team))}" if team is not None else ""
    return BadInput(f"No workflow named {name!r} is installed. Installed: {', '.join(sorted(have)) or 'none'}"
                    f"{hint} (see: cycle workflow list)")


# --- what `workflow list` shows ------------------------------------------------------------------

@dataclass(frozen=True)
class Version:
    """One installed version of a workflow."""

    name: str
    version: int
    sha256: str
    origin: str
    installed_by: str
    installed_at: str
    projects: int  # how many projects run on it

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "sha256": self.sha256, "origin": self.origin,
                "installed_by": self.installed_by, "installed_at": self.installed_at, "projects": self.projects}


@dataclass
class Installed:
    """An installed workflow: its versions, oldest first, and the newest one's title."""

    name: str
    title: str
    versions: list[Version] = field(default_factory=list)

    @property
    def newest(self) -> int:
        return self.versions[-1].version

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "newest": self.newest,
                "versions": [v.as_dict() for v in self.versions]}


@dataclass(frozen=True)
class File:
    """A workflow file, built-in or the team's, and how it stands against what is installed.

    state: "installed" (the newest version of its name), "older" (an older version), "not installed"
    (no version of its name), "differs" (from the newest version), or "broken" (it cannot be installed).
    """

    path: str
    name: str
    builtin: bool
    state: str
    sha256: str | None = None
    version: int | None = None  # the version it is, when installed
    newest: int | None = None  # the newest version of its name, when there is one
    error: str | None = None

    @property
    def install(self) -> str | None:
        """The command that installs it, when it is not installed."""
        if self.state not in ("not installed", "differs"):
            return None
        return "cycle init" if self.builtin else f"cycle workflow install {quote(self.path)}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.path, "name": self.name, "builtin": self.builtin, "state": self.state,
                "sha256": self.sha256, "version": self.version, "error": self.error, "install": self.install}


def listing(store: Store) -> tuple[list[Installed], list[File]]:
    """The installed workflows, and every workflow file with how it stands against them."""
    with store.reading() as sql:
        rows = sql.rows("SELECT v.name, v.version, v.sha256, v.origin, v.installed_by, v.installed_at, "
                        "(SELECT COUNT(*) FROM project p WHERE p.workflow = v.name AND p.workflow_version = v.version)"
                        " AS projects FROM workflow_version v ORDER BY v.name, v.version")
        installed: dict[str, Installed] = {}
        for r in rows:
            entry = installed.setdefault(r.name, Installed(r.name, r.name))
            entry.versions.append(Version(r.name, r.version, r.sha256, r.origin, r.installed_by, r.installed_at,
                                          int(r.projects)))
        for entry in installed.values():
            try:
                entry.title = get(store, sql, entry.name, entry.newest).title
            except BadInput:  # listed all the same; using it says why it cannot be
                pass
    by_sha = {(v.name, v.sha256): v.version for w in installed.values() for v in w.versions}
    files = [_file(path, builtin, installed, by_sha)
             for builtin, found in ((True, builtin_files()), (False, team_files())) for path in found.values()]
    return list(installed.values()), files


def _file(path: Any, builtin: bool, installed: dict[str, Installed], by_sha: dict[tuple[str, str], int]) -> File:
    name = path.stem
    newest = installed[name].newest if name in installed else None
    try:
        digest = sha256_of(read_source(path))
        version = by_sha.get((name, digest))
        if version is not None:
            state = "installed" if version == newest else "older"
            return File(str(path), name, builtin, state, digest, version, newest)
        parse(path, set(installed))  # what installing it would check first
    except WorkflowInvalid as exc:
        return File(str(path), name, builtin, "broken", error=str(exc))
    return File(str(path), name, builtin, "not installed" if newest is None else "differs", digest, None, newest)
