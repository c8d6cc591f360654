"""Who pays for a contract: funding split across organisations by share or by amount, optionally within a named
pooled budget (a section 75 pool under the NHS Act 2006, as seeds 003 and 004 describe).

A split by shares adds up to exactly 100%; a split by amounts to the contract's value when it is set. Values are
Decimal, never float, and stored as decimal text (as contract values are)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from cycle import inputs
from cycle.db.rows import FunderRow
from cycle.errors import BadInput

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Part:
    """One funder's part: a share (percent) or an amount (pounds)."""

    funder: str
    share: Decimal | None = None
    amount: Decimal | None = None

    def shown(self) -> str:
        """'Nottinghamshire County Council 60%' or 'NHS ... ICB £1,200.50'."""
        if self.share is not None:
            return f"{self.funder} {_number(self.share)}%"
        return f"{self.funder} {pounds(self.amount)}"

    def as_dict(self) -> dict[str, Any]:
        return {"funder": self.funder, "share": None if self.share is None else _number(self.share),
                "amount": None if self.amount is None else str(self.amount)}


@dataclass(frozen=True)
class Funding:
    """A contract's split as recorded: its parts in order, and the pool it is within (if any)."""

    parts: tuple[Part, ...]
    pool: str | None = None

    @property
    def by(self) -> str:
        return "share" if self.parts and self.parts[0].share is not None else "amount"

    def total(self) -> Decimal:
        return sum(((p.share if self.by == "share" else p.amount) or Decimal(0) for p in self.parts), Decimal(0))

    def summary(self) -> str:
        """'Nottinghamshire County Council 60%; NHS Nottingham and Nottinghamshire ICB 40%'."""
        return "; ".join(p.shown() for p in self.parts)

    def mismatch(self, value_total: str | None) -> str | None:
        """Why the split no longer adds up (amounts against a value changed since), or None when it does."""
        total = self.total()
        if self.by == "share":
            return None if total == HUNDRED else f"the shares add up to {_number(total)}%, not 100%"
        if value_total is None:
            return None
        value = _decimal(value_total)
        if value is None or total == value:
            return None
        return f"the amounts add up to {pounds(total)}, but the contract's value is now {pounds(value)}"

    def as_dict(self, value_total: str | None) -> dict[str, Any]:
        return {"by": self.by, "pool": self.pool, "funders": [p.as_dict() for p in self.parts],
                "total": _number(self.total()) if self.by == "share" else str(self.total()),
                "warning": self.mismatch(value_total)}


_STORED = re.compile(r"[0-9]{1,16}(?:\.[0-9]{1,4})?")


def _decimal(text: str | None) -> Decimal | None:
    """Decimal text as cycle stores it; None for anything else (a hand edit: '1e999999999' would print a billion
    digits, 'NaN' compares with nothing)."""
    if text is None or not _STORED.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only digits
        return None


def _number(d: Decimal) -> str:
    """60 -> '60', 33.340 -> '33.34' (no exponent, no trailing zeros)."""
    text = format(d, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def pounds(d: Decimal | None) -> str:
    return "£?" if d is None else f"£{d:,.2f}"


def of_rows(found: list[FunderRow]) -> Funding | None:
    """The split these rows hold (None for none). A share or amount edited into something that is not a number
    reads as 0, so the split then fails to add up and says so."""
    if not found:
        return None
    parts = tuple(Part(r.funder, None if r.share is None else (_decimal(r.share) or Decimal(0)),
                       None if r.share is not None else (_decimal(r.amount) or Decimal(0))) for r in found)
    return Funding(parts, found[0].pool)


_SHARE = re.compile(r"0*([0-9]{1,3}(?:\.[0-9]{1,4})?)\s*%?")


def parse_share(text: str) -> Decimal:
    """'60%', '60', '33.33%' -> Decimal; more than 0 and at most 100, at most four decimal places."""
    raw = (text or "").strip()
    m = _SHARE.fullmatch(raw)
    shown = raw if len(raw) <= 40 else raw[:37] + "..."
    if m is None:
        loose = re.fullmatch(r"([0-9]+)(?:\.([0-9]+))?\s*%?", raw)
        if loose is not None and len(loose.group(1).lstrip("0")) > 3:
            raise BadInput(f"--share {shown!r} must be more than 0% and at most 100%")
        if loose is not None:
            raise BadInput(f"--share {shown!r} has more than four decimal places; write e.g. 33.3333%")
        raise BadInput(f"--share {shown!r} is not a percentage; write e.g. 60% or 33.33%")
    share = Decimal(m.group(1))
    if not 0 < share <= HUNDRED:
        raise BadInput(f"--share {shown!r} must be more than 0% and at most 100%")
    return share


def parse_amount(text: str) -> Decimal:
    amount = Decimal(inputs.money(text, "--amount"))
    if amount <= 0:
        raise BadInput(f"--amount {text.strip()!r} must be more than £0")
    return amount


def _same(name: str) -> str:
    """A funder's name as compared for "named twice": compatibility forms folded, invisible characters (a zero-width
    space) dropped, spacing and case ignored."""
    import unicodedata

    folded = "".join(ch for ch in unicodedata.normalize("NFKC", name) if unicodedata.category(ch) != "Cf")
    return " ".join(folded.split()).casefold()


def parse(funders: list[str], shares: list[str], amounts: list[str], pool: str | None) -> Funding:
    """The split the options give: every --funder with a --share each, or with an --amount each (not both)."""
    if not funders:
        raise BadInput("name who pays: --funder NAME --share 60% (or --amount £...) for each; or --clear")
    if shares and amounts:
        raise BadInput("give every funder a --share or every funder an --amount, not a mix of the two")
    given, option = (shares, "--share") if shares or not amounts else (amounts, "--amount")
    if len(given) != len(funders):
        raise BadInput(f"{len(funders)} --funder but {len(given)} {option}: give each funder its {option}, "
                       f"e.g. --funder \"Council\" {option} {'60%' if option == '--share' else '£600,000'}")
    names = [inputs.one_line(f, "--funder") for f in funders]
    seen: dict[str, str] = {}
    for name in names:
        if _same(name) in seen:
            raise BadInput(f"--funder {name!r} is named twice; give each funder once, with its whole part")
        seen[_same(name)] = name
    if option == "--share":
        parts = tuple(Part(n, share=parse_share(s)) for n, s in zip(names, given, strict=True))
    else:
        parts = tuple(Part(n, amount=parse_amount(a)) for n, a in zip(names, given, strict=True))
    return Funding(parts, inputs.one_line(pool, "--pool", required=False) if pool is not None else None)


def check(split: Funding, value_total: str | None, address: str) -> None:
    """Refuse a split that does not add up: shares to exactly 100%, amounts to the contract's value."""
    total = split.total()
    if split.by == "share":
        if total != HUNDRED:
            raise BadInput(f"the shares add up to {_number(total)}%; they must add up to exactly 100%")
        return
    value = _decimal(value_total)
    if value is None:
        raise BadInput(f"amounts must add up to the contract's value, and it has none; set it first with: "
                       f"cycle contract set {address} --value £...")
    if total != value:
        raise BadInput(f"the amounts add up to {pounds(total)}; they must add up to the contract's value, "
                       f"{pounds(value)}")


def stored(split: Funding) -> list[dict[str, str | None]]:
    """Each part as a contract_funder row holds it: funder, share and amount as decimal text, the pool."""
    return [{"funder": p.funder, "share": None if p.share is None else _number(p.share),
             "amount": None if p.amount is None else str(p.amount), "pool": split.pool} for p in split.parts]


def same(a: Funding | None, b: Funding | None) -> bool:
    """The same split: the same funders in the same order with the same shares or amounts, in the same pool."""
    return a is not None and b is not None and a.pool == b.pool and stored(a) == stored(b)


def recorded(split: Funding | None, value_total: str | None) -> dict[str, Any] | None:
    """A split as a contract.fund audit entry holds it (its old or new split), without the warning."""
    if split is None:
        return None
    out = split.as_dict(value_total)
    out.pop("warning")
    return out
