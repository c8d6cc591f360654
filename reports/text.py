"""Markdown text for the reports that must not wait for jinja2 and the renderer: a value shown as written, and a
report's title, which `cycle report` prints the moment the report's input is checked (the templates print the
same title through `title`)."""

from __future__ import annotations

import re
from typing import Any

_MARKUP = re.compile(r"[`*_\[\]~]")


def md(value: Any) -> str:
    """A value shown as written in Markdown, also inside a table cell: no pipes or line breaks, no HTML, and none
    of the characters that start emphasis, code or a link (a title cannot make a bold 'Approved' or a link)."""
    text = "" if value is None else str(value)
    for a, b in (("\\", "\\\\"), ("|", "\\|"), ("<", "&lt;"), (">", "&gt;"), ("\r", " "), ("\n", " ")):
        text = text.replace(a, b)
    return _MARKUP.sub(r"\\\g<0>", text)


def title(heading: dict[str, Any]) -> str:
    """A Markdown report's title and the blank line after it, from its heading (cycle.headings): `report`, and
    `quarter` or `scope`."""
    if heading["report"] == "quarterly":
        return f"# Commissioning portfolio, {heading['quarter']}\n\n"
    return f"# Gate audit: {md(heading['scope'])}\n\n"
