"""The shape of the code: imports go one way, and nothing in cycle/ reaches up to the CLI or out to email.

Every import is read from the source (module level, inside functions, under TYPE_CHECKING; relative and
absolute) and made into a graph of the modules, under the names an installation gives them (pyproject.toml's
package-dir: cli.py is cycle.cli, notifications/ is cycle.notifications, ...). A cycle in that graph fails,
even one that only an import inside a function keeps from failing at import time.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Where each package of an installation comes from in the checkout.
PACKAGE_DIR: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
#: The packages above the library: the library (cycle/) imports none of them.
ABOVE = tuple(name for name in PACKAGE_DIR if name not in ("cycle", "cycle.workflows"))
#: Libraries the library does not import: the CLI's, the templates' and the scheduler's.
FORBIDDEN = ("click", "jinja2", "apscheduler")


def _module_name(path: Path) -> str:
    for package, folder in sorted(PACKAGE_DIR.items(), key=lambda item: -len(item[1])):
        where = ROOT / folder
        if path == where.with_suffix(".py"):
            return package
        if where.is_dir() and where in path.parents:
            parts = [*package.split("."), *path.relative_to(where).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join(parts)
    raise AssertionError(f"{path} is in no package")


@cache
def _sources() -> dict[str, Path]:
    """Every module of an installation, by name, and its file in the checkout."""
    found: dict[str, Path] = {}
    for folder in PACKAGE_DIR.values():
        where = ROOT / folder
        paths = sorted(where.rglob("*.py")) if where.is_dir() else [where.with_suffix(".py")]
        found.update({_module_name(p): p for p in paths})
    return found


def _library() -> list[str]:
    return sorted(name for name in _sources() if not name.startswith(ABOVE))


def _imports(name: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in the file, wherever it sits: `from a import b` gives a, and a.b too
    (b may be a module)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # beyond the top: Python refuses it (at run time, so inside a function only when it runs)
                assert node.level <= len(package), f"{path}:{node.lineno}: a relative import beyond the top level"
                base = package[:len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"
        elif (named := _dynamic_import(node)) is not None:
            yield node.lineno, named


def _dynamic_import(node: ast.AST) -> str | None:
    """The module a call of importlib.import_module or __import__ names: its text when it is a literal (so
    `import_module("click")` counts as an import), "" when it is worked out at run time (see
    test_a_module_imported_at_run_time_is_named_in_the_source)."""
    if not (isinstance(node, ast.Call) and node.args):
        return None
    func = node.func
    called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    if called not in ("import_module", "__import__"):
        return None
    first = node.args[0]
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""


def _graph() -> dict[str, dict[str, int]]:
    """module -> {module of cycle's it imports: the first line doing so}."""
    sources = _sources()
    graph: dict[str, dict[str, int]] = {name: {} for name in sources}
    for name, path in sources.items():
        for line, target in _imports(name, path):
            while target and target not in sources:
                target = target.rpartition(".")[0]
            if target and target != name:
                graph[name].setdefault(target, line)
    return graph


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each as a path round it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = []
            while True:
                w = stack.pop()
                members.append(w)
                if w == v:
                    break
            if len(members) > 1:
                found.append(_path_round(graph, sorted(members)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _path_round(graph: dict[str, dict[str, int]], members: list[str]) -> list[str]:
    """A path from the first member back to itself, within the component (breadth first)."""
    start, inside = members[0], set(members)
    came: dict[str, str] = {}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(came[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if w in inside and w not in came:
                came[w] = v
                queue.append(w)
    raise AssertionError(f"no path round {members}")


def test_the_import_walk_sees_imports_inside_functions_and_relative_ones() -> None:
    """The walk itself: a cycle made by an import inside a function, written relatively, is found."""
    graph = {"cycle.a": {"cycle.b": 1}, "cycle.b": {"cycle.c": 3}, "cycle.c": {"cycle.a": 7}, "cycle.d": {}}
    assert _cycles(graph) == [["cycle.a", "cycle.b", "cycle.c", "cycle.a"]]
    here = _graph()
    assert "cycle.errors" in here["cycle"]  # `from .errors import ...` in a package's __init__
    nested = [name for name, path in _sources().items() if any(
        isinstance(n, ast.FunctionDef) and any(isinstance(i, ast.ImportFrom) and i.level for i in ast.walk(n))
        for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))]
    assert nested, "no relative import inside a function to check the walk with"
    for name in nested:
        assert here[name], name


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles = _cycles(graph)
    described = ["  " + " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(c, c[1:], strict=False))
                 + f" -> {c[-1]}" for c in cycles]
    assert not cycles, "import cycles:\n" + "\n".join(described)


@pytest.mark.parametrize("name", _library())
def test_the_library_imports_no_cli_template_scheduler_or_package_above_it(name: str) -> None:
    path = _sources()[name]
    for line, module in _imports(name, path):
        assert module.split(".")[0] not in FORBIDDEN, f"{path.relative_to(ROOT)}:{line} imports {module}"
        assert not module.startswith(ABOVE), f"{path.relative_to(ROOT)}:{line} imports {module}"


@pytest.mark.parametrize("name", sorted(_sources()))
def test_every_module_is_imported_by_its_installed_name(name: str) -> None:
    """`import notifications` works in a checkout only; and a module loaded under two names is two modules."""
    path = _sources()[name]
    bare = {Path(folder).stem for package, folder in PACKAGE_DIR.items() if package != "cycle"}
    for line, module in _imports(name, path):
        assert module.split(".")[0] not in bare, f"{path.relative_to(ROOT)}:{line} imports {module}: say cycle.{module}"


@pytest.mark.parametrize("name", sorted(n for n in _sources() if n.startswith(ABOVE)))
def test_above_the_library_only_a_store_is_handled(name: str) -> None:
    """One handle: the CLI, notifications and reports pass a Store to the library and open no transaction,
    session or connection of their own (nor import the database libraries that would)."""
    path = _sources()[name]
    for line, module in _imports(name, path):
        assert module.split(".")[0] not in ("sqlalchemy", "sqlmodel", "psycopg", "sqlite3"), \
            f"{path.relative_to(ROOT)}:{line} imports {module}"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            opens = node.func.attr in ("reading", "writing", "pinned", "glance", "raw_connection", "write_connection",
                                       "connect", "_transaction", "_orm_writing", "begin", "execute", "exec",
                                       "scalars", "cursor") or (node.func.attr in ("read", "write") and not node.args)
            assert not opens, f"{path.relative_to(ROOT)}:{node.lineno} opens a transaction: .{node.func.attr}()"
        if isinstance(node, ast.Attribute):  # the Store's engine, a way round every rule above
            assert node.attr != "engine", f"{path.relative_to(ROOT)}:{node.lineno} reaches for the engine: .engine"


def test_the_plain_sql_readers_select_columns_the_models_have() -> None:
    """Each row type cycle.db.rows reads is a whole table's row, or names the table and column of each field;
    either way every field is a column of the models (SQLModel's metadata), so a renamed column fails here."""
    from sqlmodel import SQLModel

    import cycle.db.models  # noqa: F401 - the tables
    from cycle.db import rows

    tables = SQLModel.metadata.tables
    declared = {obj for obj in vars(rows).values() if isinstance(obj, type) and issubclass(obj, tuple)
                and hasattr(obj, "_fields") and obj.__module__ == rows.__name__}
    assert declared == set(rows.TABLES) | set(rows.JOINED) | {rows.HeldContract}
    for row, table in rows.TABLES.items():
        assert list(row._fields) == [c.name for c in tables[table].columns], row.__name__
    for row, sources in rows.JOINED.items():
        assert list(sources) == list(row._fields), row.__name__
        for field, where in sources.items():
            table, _, column = where.partition(".")
            assert column in tables[table].columns, f"{row.__name__}.{field}: {where}"
    assert rows.HeldContract._fields == ("holder", "contract")  # a Holder and a ContractRow, each checked above


def test_the_walk_sees_imports_by_name_at_run_time_and_under_conditions(tmp_path: Path) -> None:
    """importlib.import_module("click"), __import__("jinja2"), an import under TYPE_CHECKING or in an if/try are
    imports like any other; a relative import beyond the top level is refused."""
    source = tmp_path / "sneaky.py"
    source.write_text(
        "import importlib\nfrom importlib import import_module\nfrom typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from cycle.commands import output\n"
        "def f(flag):\n    importlib.import_module('click')\n    __import__('jinja2.ext')\n"
        "    if flag:\n        import apscheduler\n    try:\n        from ..reports import render\n"
        "    except ImportError:\n        pass\n    return import_module(flag)\n", encoding="utf-8")
    found = [module for _, module in _imports("cycle.db.sneaky", source)]
    for module in ("cycle.commands", "click", "jinja2.ext", "apscheduler", "cycle.reports", ""):
        assert module in found, module
    source.write_text("def f():\n    from ... import cli\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="beyond the top level"):
        list(_imports("cycle.db.sneaky", source))


def test_a_module_imported_at_run_time_is_named_in_the_source() -> None:
    """import_module(variable) hides what it imports from the walk: only cycle/__init__.py does it, for the lazy
    public API, whose table names library modules."""
    import cycle

    for name, path in _sources().items():
        for line, module in _imports(name, path):
            if module == "" and name != "cycle":
                raise AssertionError(f"{path.relative_to(ROOT)}:{line} imports a module named at run time")
    for module, _ in cycle._LAZY.values():
        assert module in _library(), module


def test_importing_the_whole_library_loads_no_cli_template_scheduler_or_package_above_it() -> None:
    """What the walk cannot see (a module the library imports that imports click itself, say), an interpreter
    does: import every library module (the migrations run under alembic only), then look at sys.modules."""
    modules = [name for name in _library() if not name.startswith("cycle.db.migrations.")]
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n    importlib.import_module(name)\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r} or m.startswith({ABOVE!r})))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")})
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "[]\n")


def test_a_row_field_may_be_none_exactly_when_its_column_may_be_null() -> None:
    """The typed rows tell mypy the truth: a field of a nullable column says `| None` (else a NULL reaches code
    that was told it cannot), and a NOT NULL column's field does not; a field read through a LEFT JOIN may be
    None whatever its column says."""
    import typing

    from sqlmodel import SQLModel

    import cycle.db.models  # noqa: F401 - the tables
    from cycle.db import rows

    tables = SQLModel.metadata.tables
    outer_joined: set[tuple[type, str]] = set()  # (none since rows._DECOMMISSIONED no longer joins contract)
    fields = [(row, field, f"{table}.{field}") for row, table in rows.TABLES.items() for field in row._fields]
    fields += [(row, field, where) for row, sources in rows.JOINED.items() for field, where in sources.items()]
    wrong = []
    for row, field, where in fields:
        table, _, column = where.partition(".")
        may_be_none = type(None) in typing.get_args(typing.get_type_hints(row)[field])
        if may_be_none != (tables[table].columns[column].nullable or (row, field) in outer_joined):
            wrong.append(f"{row.__name__}.{field} ({where}, nullable: {tables[table].columns[column].nullable})")
    assert not wrong, wrong


#: Public functions above cycle/db that still take a Session or a Sql (found by adv14): the house rule is that
#: these stay inside cycle/db. Each is called inside another library function's transaction, never from above the
#: library (test_above_the_library_only_a_store_is_handled), but a newcomer cannot tell that from its name. Make
#: one private, or give it a Store, and take it off this list; the test below fails on a new one.
TAKES_A_SESSION_OR_SQL = {
    "cycle.audit.chain.append", "cycle.audit.chain.entries", "cycle.audit.chain.head",
    "cycle.audit.chain.iter_entries", "cycle.audit.records.check", "cycle.contracts.due",
    "cycle.contracts.holder_of", "cycle.contracts.serve_notice", "cycle.contracts.set_terms",
    "cycle.contracts.statuses_of", "cycle.governance.authority.authority_change_refusal",
    "cycle.governance.authority.decision_authority", "cycle.governance.authority.lead_refusal",
    "cycle.governance.authority.owner_refusal", "cycle.governance.authority.owners_this_stage",
    "cycle.governance.authority.requesters", "cycle.governance.authority.waived_by",
    "cycle.governance.people.anyone_holds_a_role", "cycle.governance.people.anyone_registered",
    "cycle.governance.people.approvers_of", "cycle.governance.people.ask_admin", "cycle.governance.people.find",
    "cycle.governance.people.get", "cycle.governance.people.holders", "cycle.governance.people.named_person",
    "cycle.governance.requests.recipients", "cycle.projects.engine.load_for_write",
    "cycle.projects.engine.record_change", "cycle.projects.history.entered_stage_on",
    "cycle.projects.history.entered_when_decided", "cycle.projects.history.stage_entry",
    "cycle.reminders.lease.check", "cycle.reminders.outbox.add", "cycle.reminders.outbox.addresses",
    "cycle.reminders.outbox.queue",
    "cycle.reminders.reviews.quarters_due",
    "cycle.reminders.rules.due", "cycle.workflow.gates.check", "cycle.workflow.gates.facts",
    "cycle.workflow.install.add", "cycle.workflow.registry.names",
}


def test_no_new_public_function_above_the_database_layer_takes_a_session_or_sql() -> None:
    """One handle: a public function of cycle/ outside cycle/db takes a Store; no new one takes a Session, a Sql
    or a connection (the ones there are listed above, to be worked off)."""
    found = set()
    for name in _library():
        if name == "cycle.db" or name.startswith("cycle.db."):
            continue
        for node in ast.walk(ast.parse(_sources()[name].read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
                params = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
                if any(p.annotation is not None and re.search(r"\b(Session|Sql|Connection)\b",
                                                              ast.unparse(p.annotation)) for p in params):
                    found.add(f"{name}.{node.name}")
    assert not found - TAKES_A_SESSION_OR_SQL, sorted(found - TAKES_A_SESSION_OR_SQL)
    gone = sorted(TAKES_A_SESSION_OR_SQL - found)
    assert not gone, f"no longer take one: take them off TAKES_A_SESSION_OR_SQL: {gone}"


@pytest.mark.parametrize("name", sorted(n for n in _sources() if n.startswith(("cycle.notifications",
                                                                               "cycle.reports"))))
def test_notifications_and_reports_have_no_commands_of_their_own(name: str) -> None:
    """Sending mail and rendering reports sit between the library and the CLI: commands live in cycle.commands
    with the one copy of the CLI's scaffolding (notifications/commands.py once held a drifted second copy)."""
    path = _sources()[name]
    for line, module in _imports(name, path):
        assert module.split(".")[0] != "click", f"{path.relative_to(ROOT)}:{line} imports {module}"
        assert not module.startswith(("cycle.cli", "cycle.commands")), \
            f"{path.relative_to(ROOT)}:{line} imports {module}"


def test_only_outfile_itself_uses_its_private_helpers() -> None:
    """Where a command may write (--out, --bundle, a site's folder) is checked by outfile's public functions: a
    caller reaching into `outfile._same` and the like repeats half of the check and drifts from the rest of it."""
    reached = []
    for name, path in _sources().items():
        if name == "cycle.outfile":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "outfile" \
                    and node.attr.startswith("_"):
                reached.append(f"{path.relative_to(ROOT)}:{node.lineno}: outfile.{node.attr}")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").endswith("outfile"):
                reached += [f"{path.relative_to(ROOT)}:{node.lineno}: {alias.name}" for alias in node.names
                            if alias.name.startswith("_")]
    assert reached == []
