"""CSV as cycle writes it, everywhere (`--csv`, `export audit --format csv`): RFC 4180 (CRLF line ends, a field
quoted when it holds a comma, a quote or a line break, quotes doubled), UTF-8 with a byte order mark so that
Excel reads names like "Café Ltd" or "£" as written, and safe to open in a spreadsheet.

Safe: a cell a spreadsheet would read as a formula (OWASP, "CSV injection") is written with a single quote in
front, so it shows as the text it is and runs nothing: one that starts with = + - @ (or their full-width
forms), a tab or a carriage return, also after leading spaces or line breaks. A cell that is wholly a number,
such as -250.00, is data and left as it is: a spreadsheet reads it as a number, which runs nothing.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

#: What starts a formula in Excel, LibreOffice or Google Sheets (OWASP's list, and the full-width forms).
TRIGGERS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_LEADING = " \n\r\t\x0b\x0c\u00a0\u3000"
BOM = "\ufeff"
_BATCH = 200  # rows written at once


def neutral(text: str) -> str:
    """`text` as a cell that cannot run a formula (see the module's docstring)."""
    if not text or _NUMBER.fullmatch(text):
        return text
    if text[0] in TRIGGERS or text.lstrip(_LEADING)[:1] in TRIGGERS:
        return "'" + text
    return text


def cell(value: Any) -> str:
    """One value as a cell: None as empty, a date as 2027-09-30, a number as written, text made `neutral`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return neutral(str(value))


def lines(header: Sequence[str], records: Iterable[Sequence[Any]],
          first: Sequence[Any] | None = None) -> Iterator[str]:
    """The CSV text of `header` and then each record, a batch of rows at a time as they come (the byte order
    mark first; `first`, when given, a row before the header, such as what an export was taken from)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    if first is not None:
        writer.writerow([cell(v) for v in first])
    writer.writerow([neutral(h) for h in header])
    n = 0
    for record in records:
        writer.writerow([cell(v) for v in record])
        n += 1
        if n == _BATCH:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            n = 0
    yield buffer.getvalue()


def text(header: Sequence[str], records: Iterable[Sequence[Any]]) -> str:
    """lines(), whole (for tests and small outputs)."""
    return "".join(lines(header, records))
