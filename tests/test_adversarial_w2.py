"""adv-w2: attempts on issue 20 (two-body ratification, supporting evidence, programmes, hub role), through the
real CLI. Each test failed on main before its fix, or is marked xfail(strict=True) with what is left open."""

from __future__ import annotations

from .conftest import BODY, Cli, Database
from .test_ratification import CCG, barnet, decide  # noqa: F401 - the `barnet` fixture


def test_a_programme_edited_to_one_not_on_record_is_named_on_the_card_not_shown_as_none(
        barnet: Cli, db: Database) -> None:  # noqa: F811
    """project show printed 'programme         None (ghost)' (a Python None) for a project whose programme
    column was edited by hand to a key no programme has; the card now says the key is not on record."""
    run = barnet
    run("programme", "add", "camhs", "--title", "Children's mental health")
    run("project", "set", "barnet", "--programme", "camhs")
    db.tamper("UPDATE project SET programme = 'ghost' WHERE key = 'barnet'")
    shown = run("project", "show", "barnet").stdout
    assert "None" not in shown
    assert "  programme         ghost (no programme with this key: see cycle programme list)\n" in shown
    run("audit", "verify", expect=1)
