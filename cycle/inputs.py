"""What a person typed, checked before anything is read or written: one line of text, an ISO date.

Each refusal is BadInput naming the option, with an example where one helps.
"""

from __future__ import annotations

from datetime import date
from typing import Literal, overload

from .errors import BadInput

_EXAMPLES = {"--ref": '"minutes 2026-10-14 item 5"', "--body": "\"Children's Trust Board\"",
             "--reason": '"covered by the 2026 JSNA engagement"', "title": None}


@overload
def one_line(value: str | None, what: str, required: Literal[True] = True) -> str: ...
@overload
def one_line(value: str | None, what: str, required: bool) -> str | None: ...


def one_line(value: str | None, what: str, required: bool = True) -> str | None:
    """`value` stripped, if it is one line of text; None for nothing given unless `required`."""
    if value is None or not value.strip():
        if required:
            example = _EXAMPLES.get(what)
            raise BadInput(f"{what} must not be empty" + (f"; e.g. {what} {example}" if example else ""))
        return None
    if any(ord(ch) < 32 and ch not in "\t" for ch in value):
        raise BadInput(f"{what} must be a single line of text (no control characters)")
    return value.strip()


def iso_date(value: str | None, what: str) -> str | None:
    """`value` as YYYY-MM-DD, if it is a date; None for nothing given."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise BadInput(f"{what} {value!r} is not a date; use YYYY-MM-DD, e.g. 2026-10-14") from None
