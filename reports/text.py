"""Markdown text for the reports that must not wait for jinja2 and the renderer: a value shown as written, and a
report's title, which `cycle report` prints the moment the report's input is checked (the templates print the
same title through `title`)."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

from cycle.inputs import escaped

_MARKUP = re.compile(r"[`*_\[\]~]")


def md(value: Any) -> str:
    """A value shown as written in Markdown, also inside a table cell: no pipes or line breaks (a space each), no
    HTML, none of the characters that start emphasis, code or a link (a title cannot make a bold 'Approved' or a
    link), and nothing that could move a terminal's cursor or reorder its text (ESC, U+2028 ... shown as \\x1b,
    \\u2028, as cycle.inputs.escaped shows them in every listing: text a hand edit put in the database)."""
    text = escaped(("" if value is None else str(value)).replace("\r", " ").replace("\n", " "))
    for a, b in (("\\", "\\\\"), ("|", "\\|"), ("<", "&lt;"), (">", "&gt;")):
        text = text.replace(a, b)
    return _MARKUP.sub(r"\\\g<0>", text)


def shown(value: Any) -> Any:
    """Every value a template prints (jinja2's `finalize`), before HTML escaping: with anything that could move a
    terminal's cursor, reorder or hide text shown as an escape, as in `md` and every listing, so a page or report
    printed to a terminal (`cycle report quarterly --format html`) cannot clear it. Its own newlines and tabs stay:
    HTML takes them as spaces, and a diagram's text keeps its lines. Markup (built escaped) stays Markup."""
    if not isinstance(value, str):
        return value
    out = escaped(value, keep="\n\t")
    return type(value)(out) if out is not value and isinstance(value, Markup) else out


def title(heading: dict[str, Any]) -> str:
    """A Markdown report's title and the blank line after it, from its heading (cycle.headings): `report`, and
    `quarter` or `scope`."""
    if heading["report"] == "quarterly":
        return f"# Commissioning portfolio, {heading['quarter']}\n\n"
    return f"# Gate audit: {md(heading['scope'])}\n\n"
