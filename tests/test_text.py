"""One policy for text (cycle.inputs.text), held in the library, and a terminal that text cannot take over.

Titles, references, notes, names, bodies, reasons and emails refuse control characters (an ESC sequence
that clears the screen, a newline that forges a line), DEL, NEL, U+2028/2029, direction overrides and
isolates, values that only look empty, and values longer than their kind allows; each refusal is one line,
exit 2, nothing written. Text already in a database (from before, or a hand edit) is escaped when listed.
"""

from __future__ import annotations

import pytest

from cycle.calendar.clock import london_today

from .conftest import BODY, Cli, Database

TODAY = london_today().isoformat()
CONTROL = "must be a single line of text (no control characters: tab, newline, escape ...)"
SEPARATOR = "must be a single line of text (no line or paragraph separators)"
BIDI = "must not hold right-to-left or other direction controls (U+202A-U+202E, U+2066-U+2069)"

HOSTILE = [
    pytest.param("\x1b[2J\x1b[Hcleared", CONTROL, id="ESC clear screen"),
    pytest.param("first\n  #99 forged line", CONTROL, id="newline"),
    pytest.param("carriage\rreturn", CONTROL, id="CR"),
    pytest.param("tab\there", CONTROL, id="tab"),
    pytest.param("del\x7f", CONTROL, id="DEL"),
    pytest.param("nel\x85next", CONTROL, id="NEL"),
    pytest.param("csi\x9b2J", CONTROL, id="C1 CSI"),
    pytest.param("line\u2028sep", SEPARATOR, id="U+2028"),
    pytest.param("para\u2029sep", SEPARATOR, id="U+2029"),
    pytest.param("invoice \u202egnp.exe", BIDI, id="RLO"),
    pytest.param("isolate \u2066x\u2069", BIDI, id="LRI"),
]

# (command, the option's argument index for the value, what the refusal names it)
COMMANDS = [
    pytest.param(["project", "new", "respite", "--title", "{}"], "title", id="project new --title"),
    pytest.param(["project", "set", "camhs", "--aim", "{}"], "aim", id="project set --aim"),
    pytest.param(["project", "set", "camhs", "--lead-commissioner", "{}"], "lead commissioner",
                 id="project set --lead-commissioner"),
    pytest.param(["evidence", "add", "camhs", "needs-assessment", "--ref", "{}"], "--ref", id="evidence --ref"),
    pytest.param(["evidence", "add", "camhs", "needs-assessment", "--ref", "r", "--note", "{}"], "--note",
                 id="evidence --note"),
    pytest.param(["decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "hold", "--body", BODY,
                  "--ref", "{}"], "--ref", id="decision --ref"),
    pytest.param(["decision", "record", "camhs", "--gate", "analyse-plan", "--outcome", "hold", "--body", "{}",
                  "--ref", "r"], "--body", id="decision --body"),
    pytest.param(["milestone", "add", "camhs", "{}", "--due", "2027-01-31"], "milestone title", id="milestone"),
    pytest.param(["contract", "set", "camhs", "--provider", "{}"], "--provider", id="contract --provider"),
    pytest.param(["contract", "set", "camhs", "--ref", "{}"], "--ref", id="contract --ref"),
    pytest.param(["gate", "request", "camhs", "--note", "{}"], "--note", id="gate request --note"),
    pytest.param(["gate", "waive", "camhs", "needs-assessment", "--reason", "{}"], "--reason", id="gate waive"),
    pytest.param(["review", "record", "camhs", "--quarter", "2026-Q1", "--held-on", "2026-06-01", "--note", "{}"],
                 "--note", id="review --note"),
    pytest.param(["people", "add", "sam", "--email", "{}"], "--email", id="people --email"),
    pytest.param(["people", "add", "sam", "--email", "sam@council.example", "--role", "approver", "--body", "{}"],
                 "--body", id="people --body"),
]


def _refused(run: Cli, db: Database, args: list[str]) -> str:
    before = db.dump()
    result = run(*args, expect=2)
    assert db.dump() == before
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("template, what", COMMANDS)
@pytest.mark.parametrize("value, rule", HOSTILE)
def test_hostile_text_is_refused_by_every_command_that_takes_text(ready: Cli, db: Database, template: list[str],
                                                                 what: str, value: str, rule: str) -> None:
    args = [value if a == "{}" else a for a in template]
    assert _refused(ready, db, args) == f"Error: {what} {rule}"


@pytest.mark.parametrize("value, rule", [
    pytest.param("\u200b\u200b", "holds only invisible characters; give some text", id="zero-width only"),
    pytest.param("\u2060\ufeff \u200d", "holds only invisible characters; give some text", id="joiners only"),
    pytest.param("x" * 100_000, "is 100000 characters long; it may have at most 300", id="100,000 characters"),
])
def test_values_that_look_empty_or_are_huge_are_refused(ready: Cli, db: Database, value: str, rule: str) -> None:
    assert _refused(ready, db, ["evidence", "add", "camhs", "needs-assessment", "--ref", value]) == (
        f"Error: --ref {rule}")


WALES = "\U0001f3f4\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f"  # the flag of Wales


@pytest.mark.parametrize("value, stored", [
    pytest.param("Cyfarfod y Bwrdd, eitem 5 \u2013 Gw\u0302yl", "Cyfarfod y Bwrdd, eitem 5 \u2013 G\u0175yl",
                 id="Welsh, decomposed circumflex"),
    pytest.param("Seirbh\u00eds\u00ed Sl\u00e1inte, Si\u00f4n O'D\u00e1laigh", None, id="Irish"),
    pytest.param("minutes \u2764\ufe0f 1\ufe0f\u20e3", None, id="emoji with variation selectors"),
    pytest.param(f"Croeso {WALES} minutes", None, id="the flag of Wales"),
    pytest.param("\u043f\u0440\u043e\u0442\u043e\u043a\u043e\u043b 1 \u4f1a\u8bae\u8bb0\u5f55 \u0645\u062d\u0636\u0631 "
                 "\u0938\u092d\u093e", None, id="other scripts"),
])
def test_text_in_any_language_is_kept_as_written(ready: Cli, value: str, stored: str | None) -> None:
    ready("evidence", "add", "camhs", "needs-assessment", "--ref", value)
    assert ready.json("project", "show", "camhs")["evidence"][0]["ref"] == (stored or value)
    assert (stored or value) in ready("project", "show", "camhs").stdout


@pytest.mark.parametrize("value, rule", [
    pytest.param("minutes 1\U000e0070\U000e0061\U000e0069\U000e0064",
                 "must not hold tag characters (U+E0000-U+E007F: invisible letters that hide text)",
                 id="tag characters after text"),
    pytest.param(f"{WALES}\U000e0041", "must not hold tag characters (U+E0000-U+E007F: invisible letters that "
                 "hide text)", id="tag characters after a flag"),
    pytest.param("\u0301", "holds only invisible characters; give some text", id="a lone combining mark"),
    pytest.param("\u2800 \u3164", "holds only invisible characters; give some text", id="blank symbols"),
])
def test_text_that_hides_text_or_shows_nothing_is_refused(ready: Cli, db: Database, value: str, rule: str) -> None:
    assert _refused(ready, db, ["evidence", "add", "camhs", "needs-assessment", "--ref", value]) == (
        f"Error: --ref {rule}")


def test_whitespace_only_is_empty(ready: Cli, db: Database) -> None:
    assert _refused(ready, db, ["evidence", "add", "camhs", "needs-assessment", "--ref", " \u3000 "]) == (
        'Error: --ref must not be empty; e.g. --ref "minutes 2026-10-14 item 5"')


def test_a_title_is_stored_nfc_normalised(ready: Cli) -> None:
    ready("project", "new", "cafe", "--title", "Cafe\u0301 services")  # e + combining acute
    assert ready.json("project", "show", "cafe")["title"] == "Caf\u00e9 services"


def test_the_library_holds_a_caller_other_than_the_cli(ready: Cli, db: Database) -> None:
    from cycle.db.store import open_store
    from cycle.errors import BadInput
    from cycle.governance import milestones
    from cycle.projects import engine

    store = open_store()
    before = db.dump()
    try:
        with pytest.raises(BadInput, match="direction controls"):
            engine.add_evidence(store, "camhs", "needs-assessment", "a\u202eb", actor="alice")
        with pytest.raises(BadInput, match="no control characters"):  # from the CLI, test_inputs: one line, exit 2
            engine.add_evidence(store, "camhs", "needs-assessment", "nul\x00", actor="alice")
        with pytest.raises(BadInput, match="out of range"):
            milestones.add_milestone(store, "camhs", "Spec", "2999-01-01", actor="alice")
        with pytest.raises(BadInput, match="at most 200"):
            engine.create_project(store, actor="alice", key="long", title="t" * 201, workflow="commissioning")
    finally:
        store.dispose()
    assert db.dump() == before


def test_text_already_in_the_database_cannot_take_over_the_terminal(ready: Cli, db: Database) -> None:
    """A hand edit (or an older cycle) put an ESC sequence, a forged line and an override in; every listing
    shows them escaped."""
    ready("people", "add", "alice", "--email", "alice@council.example")
    ready("evidence", "add", "camhs", "needs-assessment", "--ref", "JSNA")
    ready("milestone", "add", "camhs", "Spec agreed", "--due", "2027-01-31")
    evil = "Evil\x1b[2J\x1b[H\n   999  forged\u202etxt.exe\r\x07"
    db.drop_audit_triggers()
    db.tamper("UPDATE project SET title = :t, owner = :t WHERE key = 'camhs'",
              "UPDATE person SET email = :t WHERE name = 'alice'",
              "UPDATE evidence SET ref = :t",
              "UPDATE milestone SET title = :t",
              "UPDATE audit_entry SET actor = :t WHERE seq = 2",
              params={"t": evil})
    shown = "Evil\\x1b[2J\\x1b[H\\n   999  forged\\u202etxt.exe\\r\\x07"
    for args in (["project", "list"], ["project", "show", "camhs"], ["people", "list"], ["milestone", "list", "camhs"],
                 ["audit", "log"]):
        out = ready(*args).stdout
        assert not any(ch in out for ch in "\x1b\r\x07\u202e"), args
        assert "\n   999  forged" not in out, args
        assert shown in out, (args, out)



def test_hidden_letters_already_in_the_database_are_shown(ready: Cli, db: Database) -> None:
    """A hand edit hid "paid" in tag characters after a reference: listings show them as escapes; a flag stays."""
    ready("evidence", "add", "camhs", "needs-assessment", "--ref", f"minutes 1 {WALES}")
    db.drop_audit_triggers()
    db.tamper("UPDATE evidence SET ref = :t", params={"t": f"minutes 1 {WALES}\U000e0070\U000e0061"})
    out = ready("project", "show", "camhs").stdout
    assert f"minutes 1 {WALES}\\U000e0070\\U000e0061" in out
