"""`cycle init` and `cycle db`: creating or upgrading the database, its schema revision, the PostgreSQL roles."""

from __future__ import annotations

import click

from ._common import CONTEXT, actor, any_store, emit, json_option


@click.command()
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

    store = any_store()
    done = install.init(store, actor())
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


@click.group(context_settings=CONTEXT)
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

    st = schema.status(any_store())
    if as_json:
        emit(st.as_dict())
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
