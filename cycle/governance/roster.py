"""Everyone cycle knows, as `people list` reads them: plain SQL, without the ORM that changing them needs
(cycle.governance.people), so that the listing starts at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import Any

from cycle.db.store import Store


@dataclass
class PersonView:
    name: str
    email: str
    roles: list[tuple[str, str]] = field(default_factory=list)  # (role, body)

    def has(self, role: str, body: str | None = None) -> bool:
        return any(r == role and (body is None or b == body) for r, b in self.roles)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "email": self.email,
                "roles": [{"role": r, "body": b or None} for r, b in self.roles]}


@contextmanager
def everyone(store: Store) -> Iterator[Iterator[PersonView]]:
    """Everyone cycle knows, by name, with their roles: read as it is used, in one read transaction that lasts as
    long as the `with` (memory stays bounded however many people there are)."""
    with store.reading(snapshot=True) as sql, closing(sql.stream(
            "SELECT p.id, p.name, p.email, r.role, r.body FROM person p LEFT JOIN person_role r ON r.person_id = p.id "
            "ORDER BY p.name, p.id, r.id")) as found:
        yield _grouped(found)


def _grouped(found: Iterator[Any]) -> Iterator[PersonView]:
    """One PersonView per person from rows of a person joined with their roles (one row each, or one with none)."""
    person: PersonView | None = None
    last = None
    for row in found:
        if row.id != last:
            if person is not None:
                yield person
            person, last = PersonView(row.name, row.email), row.id
        if row.role is not None:
            person.roles.append((row.role, row.body))  # type: ignore[union-attr]
    if person is not None:
        yield person
