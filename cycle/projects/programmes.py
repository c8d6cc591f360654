"""Programmes (seed 002: commissioning intentions), each with projects under it; and the hub's role in a project.

A programme is a row of its own, with a key like a project's and a title, added once (`cycle programme add`) and
never changed; a project names the programme it belongs to by its key (`project new|set --programme`), which must
be one there is. The hub's role (seed 001 Appendix A) is a project field of its own, separate from the
commissioning model: the hub leads the commissioning, is an associate to another lead, or works in partnership.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cycle.db.store import Store
from cycle.errors import BadInput
from cycle.inputs import one_line
from cycle.shell import quote

#: The hub's role in a project (seed 001 Appendix A).
HUB_ROLES = ("lead", "associate", "partnership")
#: What `report quarterly` calls the projects that belong to no programme (listed last).
NO_PROGRAMME = "Not in a programme"
#: A key, a programme's or a project's (engine checks project keys with it too).
KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")

if TYPE_CHECKING:  # the ORM only for `programme add`: the read commands stay light (tests/test_docs.py)
    from cycle.db.models import Programme


@dataclass(frozen=True)
class ProgrammeView:
    key: str
    title: str
    projects: int
    created_by: str
    created_at: str

    def as_dict(self) -> dict[str, Any]:
        return {"programme": self.key, "title": self.title, "projects": self.projects,
                "created_by": self.created_by, "created_at": self.created_at}


def checked_hub_role(value: str | None) -> str | None:
    """`value` if it is one of HUB_ROLES (None for none given); BadInput naming the choices otherwise."""
    if value is None:
        return None
    if value not in HUB_ROLES:
        raise BadInput(f"--hub-role {value!r} is not one of: {', '.join(HUB_ROLES)} (the hub leads the "
                       f"commissioning, is an associate to another lead commissioner, or works in partnership)")
    return value


def known(there: dict[str, str], key: str | None, what: str = "--programme") -> str | None:
    """`key` if a programme of `there` (key -> title: cycle.db.rows.programme_titles) has it (None for none given);
    BadInput naming the programmes there are otherwise."""
    if key is None:
        return None
    given = key
    if given not in there:
        listed = f"the programmes are: {', '.join(there)}" if there else "there are none yet"
        raise BadInput(f"{what} {key!r}: there is no programme with that key ({listed}); add it with: cycle "
                       f"programme add {quote(given) if KEY.match(given) else 'KEY'} --title TITLE")
    return given


def add(store: Store, key: str, title: str, *, actor: str) -> Programme:
    """Add a programme; its key is for good (projects name it), so a key taken is refused."""
    from cycle.audit import chain
    from cycle.calendar import clock
    from cycle.db.models import Programme
    from cycle.db.sql import sql_of

    if not KEY.match(key):
        raise BadInput(f"programme key {key!r} must be lower-case letters, digits and '-', e.g. emotional-health")
    title = one_line(title, "--title")
    actor = store.actor(actor)
    with store.write() as s:
        sql = sql_of(s)
        taken = sql.one("SELECT title FROM programme WHERE key = :key", key=key)
        if taken is not None:
            raise BadInput(f"a programme with key {key!r} already exists ({taken.title}); see them with: cycle "
                           f"programme list")
        row = Programme(key=key, title=title, created_by=actor, created_at=clock.utc_now())
        s.add(row)
        s.flush()
        chain.append(s, actor=actor, action="programme.add", project=None,
                     payload={"programme_id": row.id, "programme": key, "title": title})
        return row


def listing(store: Store) -> list[ProgrammeView]:
    """Every programme, in key order, with how many projects belong to it."""
    with store.reading() as sql:
        return [ProgrammeView(r.key, r.title, int(r.projects), r.created_by, r.created_at) for r in sql.rows(
            "SELECT g.key, g.title, g.created_by, g.created_at, (SELECT count(*) FROM project p "
            "WHERE p.programme = g.key) AS projects FROM programme g ORDER BY g.key")]
