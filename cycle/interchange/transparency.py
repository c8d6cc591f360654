"""`cycle export transparency`: the contracts dataset of the Local Government Transparency Code 2015 for a
quarter (docs/import.md#the-transparency-export).

Which contracts: every contract whose value exceeds £5,000 (its total value, or its annual value when no total
is recorded; "exceeds" is strictly more) that was in force at some time in the quarter: it started on or before
the quarter's last day (or its start is not recorded) and had not ended before its first day as things stood
then (contracts.status: a contract running on past its end date is still in force). The columns are the
details the Code lists, in its order, in its own words. The file is written with cycle.csvout (RFC 4180, UTF-8,
formula cells neutralised), whole or not at all (cycle.outfile), and the export is an audit entry
("transparency.export": the quarter, the file, its SHA-256 and how many contracts), appended in the transaction
that puts the file in place.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from cycle import contracts, csvout, outfile
from cycle.audit import chain
from cycle.calendar.quarters import Quarter, parse_quarter
from cycle.db import rows
from cycle.db.rows import ContractRow
from cycle.inputs import stored_day

if TYPE_CHECKING:
    from cycle.db.store import Store

ACTION = "transparency.export"
#: The Code's contract details (Part 2, "Procurement information"), in its order and words; the mapping
#: lgtc-2015 reads them back.
COLUMNS = ["Reference number", "Title of agreement", "Local authority department responsible",
           "Description of the goods and/or services being provided", "Supplier name and details",
           "Sum to be paid over the length of the contract", "Estimated annual spending or budget for the contract",
           "Value Added Tax that cannot be recovered", "Start date", "End date", "Review date",
           "Invitation to quote or published invitation to tender", "Small or medium sized enterprise",
           "Voluntary or community sector organisation", "Registration number"]
#: "a value that exceeds £5,000"
THRESHOLD = Decimal("5000")
_ROUTE = {"quote": "Invitation to quote", "tender": "Published invitation to tender"}
_YES_NO = {"yes": "Yes", "no": "No"}


@dataclass
class Exported:
    """What the export wrote: the file, the quarter, how many contracts, the file's SHA-256, its audit entry."""

    path: str
    quarter: str
    contracts: int
    sha256: str
    seq: int

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.path, "quarter": self.quarter, "contracts": self.contracts, "sha256": self.sha256,
                "seq": self.seq}


def _amount(text: str | None) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:  # a hand edit: not an amount cycle wrote (audit verify names it)
        return None


def belongs(key: str, c: ContractRow, q: Quarter) -> bool:
    """Whether the contract is in the quarter's dataset (see the module's docstring)."""
    value = _amount(c.value_total)
    if value is None:
        value = _amount(c.value_annual)
    if value is None or not value > THRESHOLD:
        return False
    start = stored_day(c.start)
    if start is not None and start > q.end:
        return False
    state = contracts.status(key, c, q.start).state
    if state == "incomplete":  # no notice period: its end date alone says whether it had ended
        end = stored_day(c.end)
        return end is None or end >= q.start
    return state != "ended"


def _fixed(value: Any) -> Any:
    """Text read leniently (a byte a hand edit left that is not UTF-8, as a lone surrogate) with it as U+FFFD."""
    if isinstance(value, str) and not value.isascii():
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def record(title: str, c: ContractRow) -> list[Any]:
    """One contract as the dataset's row (COLUMNS)."""
    return [_fixed(v) for v in _record(title, c)]


def _record(title: str, c: ContractRow) -> list[Any]:
    return [c.ref, c.title or title, c.department, c.description, c.provider, c.value_total, c.value_annual,
            c.vat_not_recoverable, c.start, c.end, c.review_date, _ROUTE.get(c.awarded_by or "", c.awarded_by),
            _YES_NO.get(c.sme or "", c.sme), _YES_NO.get(c.vcse or "", c.vcse), c.registration_number]


def export(store: Store, quarter: str, out: str, *, actor: str, force: bool = False) -> Exported:
    """Write the quarter's contracts dataset to `out` and record the export as an audit entry."""
    q = parse_quarter(quarter)
    outfile.check(out, force, printable=False)
    actor = store.actor(actor)
    digest = hashlib.sha256()
    counted = [0]

    def wanted(found: Iterator[tuple[str, str, ContractRow]]) -> Iterator[list[Any]]:
        for key, title, c in found:
            if belongs(key, c, q):
                counted[0] += 1
                yield record(title, c)

    def hashed(pieces: Iterator[str]) -> Iterator[str]:
        for piece in pieces:
            digest.update(piece.encode("utf-8", "surrogateescape"))
            yield piece

    with store.reading(snapshot=True) as sql, sql.any_text():
        with closing(rows.stream_published(sql)) as found:
            pending = outfile.prepare(out, hashed(csvout.lines(COLUMNS, wanted(found))), force)
    entry = outfile.place_recorded(pending, store.writing, lambda sql: chain.append(
        sql, actor=actor, action=ACTION,
        payload={"quarter": str(q), "file": out, "path": os.path.abspath(pending.path),
                 "sha256": digest.hexdigest(), "contracts": counted[0],
                 "threshold": str(THRESHOLD)}))
    return Exported(str(pending.path), str(q), counted[0], digest.hexdigest(), entry.seq)
