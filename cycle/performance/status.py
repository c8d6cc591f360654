"""Numbers, targets and the status of a quarter: the rules of docs/performance.md, on Decimals (never floats).

An indicator is judged in its own unit (for `%`, percentage points). For `higher` (and, mirrored, `lower`):

- `met`: on target or better, by at most the over-performance margin (`over`; none: any amount better);
- `over`: better than target by more than the margin (seed 001 section 8, footnote 17: it may mean the target
  was set wrongly, resources are over-committed or demand has changed, and is looked at too);
- `near`: short of target by at most the tolerance;
- `missed`: short by more.

For `band` (low to high, both included): inside is `met`; outside by at most the tolerance (below low or above
high) is `near`; further out is `missed`. A band has no `over`.

A quarter without a value is `awaited` until its return is late (DUE_DAYS after the quarter ends), then
`no-return`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from cycle.errors import BadInput

MET, NEAR, MISSED, OVER = "met", "near", "missed", "over"
AWAITED, NO_RETURN = "awaited", "no-return"
STATUSES = (MET, NEAR, MISSED, OVER, AWAITED, NO_RETURN)
#: The statuses a review looks at: the reminder lists them, the board view marks them.
FLAGGED = (MISSED, OVER, NO_RETURN)
BETTER = ("higher", "lower", "band")
BETTER_TREND, WORSE_TREND, SAME_TREND = "better", "worse", "same"

MAX_WHOLE_DIGITS = 15  # within what every spreadsheet and database holds exactly
MAX_PLACES = 6
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_GROUPED = re.compile(r"[+-]?[1-9][0-9]{0,2}\.[0-9]{3}")


def number(text: str | None, what: str, decimal_comma: bool = False) -> Decimal:
    """A value, target, tolerance or margin as written (87.5, -3, 92.0; with `decimal_comma`, also 87,5) as an exact
    Decimal; BadInput saying what is wrong otherwise (a percent sign, a thousands separator, a formula ...)."""
    raw = (text or "").strip()
    if decimal_comma and _GROUPED.fullmatch(raw):  # 1.250: a thousands separator where decimals take a comma?
        whole, as_decimal = raw.replace(".", ""), format(Decimal(raw).normalize(), "f").replace(".", ",")
        raise BadInput(f"{what} {raw!r} in a file that writes decimals with a comma: is it {whole} or {as_decimal}? "
                       f"write {whole}, or {as_decimal}")
    if decimal_comma and raw.count(",") == 1 and "." not in raw:
        raw = raw.replace(",", ".")
    if not raw:
        raise BadInput(f"{what} is empty; give a number, e.g. 87.5")
    if not _NUMBER.fullmatch(raw):
        hint = ""
        if raw.endswith("%"):
            hint = " without the % sign (the indicator's unit says it is a percentage)"
        elif "," in raw:
            hint = " with no thousands separator, and a point for decimals (87.5)"
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise BadInput(f"{what} {shown!r} is not a number; write it as digits{hint or ', e.g. 87.5'}")
    try:
        value = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only what Decimal reads
        raise BadInput(f"{what} {raw!r} is not a number") from None
    whole = raw.lstrip("+-").split(".")[0].lstrip("0")
    places = len(raw.split(".")[1]) if "." in raw else 0
    if len(whole) > MAX_WHOLE_DIGITS:
        raise BadInput(f"{what} {raw[:20]}... has more than {MAX_WHOLE_DIGITS} digits before the point; is it right?")
    if places > MAX_PLACES and value != value.quantize(Decimal(1).scaleb(-MAX_PLACES)):
        raise BadInput(f"{what} {raw} has more than {MAX_PLACES} decimal places")
    return value


def text_of(value: Decimal) -> str:
    """The one way a number is stored and shown: no exponent, no trailing zeros, no minus zero (92, 87.5, -3)."""
    if value == 0:
        return "0"
    out = format(value.normalize(), "f")
    return out


def stored(text: str | None) -> Decimal | None:
    """A number as stored; None for none, or for text edited by hand into something else (`audit verify` names it)."""
    if text is None:
        return None
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError, ValueError):
        return None
    if not value.is_finite():
        return None
    if value and abs(value.adjusted()) > _EXPONENT:  # a hand edit at Decimal's limits: arithmetic on it overflows
        return None
    return value


#: Beyond 1e9999 (or below 1e-9999 but not zero) a stored number is a hand edit (`kpi record` takes 15 digits
#: before the point), read as none: subtracting two such numbers overflowed Decimal's exponent (a traceback).
_EXPONENT = 9999


@dataclass(frozen=True)
class Rule:
    """What a quarter is judged against: the target (or band) in force then, the tolerance and the margin."""

    better: str  # higher | lower | band
    target: Decimal | None
    low: Decimal | None
    high: Decimal | None
    tolerance: Decimal
    over: Decimal | None

    @classmethod
    def of(cls, better: str, target: str | None, low: str | None, high: str | None, tolerance: str | None,
           over: str | None) -> Rule | None:
        """From stored text; None when it cannot be read (a hand edit), so nothing is judged by nonsense."""
        rule = cls(better, stored(target), stored(low), stored(high), stored(tolerance) or Decimal(0), stored(over))
        if better == "band":
            return rule if rule.low is not None and rule.high is not None and rule.low <= rule.high else None
        return rule if better in ("higher", "lower") and rule.target is not None else None

    def judge(self, value: Decimal) -> str:
        """met, near, missed or over (the module's rules)."""
        if self.better == "band":
            assert self.low is not None and self.high is not None
            outside = self.low - value if value < self.low else value - self.high if value > self.high else None
            if outside is None:
                return MET
            return NEAR if outside <= self.tolerance else MISSED
        assert self.target is not None
        ahead = value - self.target if self.better == "higher" else self.target - value
        if ahead >= 0:
            return OVER if self.over is not None and ahead > self.over else MET
        return NEAR if -ahead <= self.tolerance else MISSED

    def distance(self, value: Decimal) -> Decimal:
        """How far `value` is from the band (0 inside it), for a band's trend."""
        assert self.low is not None and self.high is not None
        return max(self.low - value, value - self.high, Decimal(0))

    def trend(self, before: Decimal | None, now: Decimal | None) -> str | None:
        """better, worse or same against the previous quarter's value, in the indicator's own direction (a band:
        nearer to it or further from it); None without both values."""
        if before is None or now is None:
            return None
        if self.better == "band":
            if self.low is None or self.high is None:
                return None
            a, b = self.distance(before), self.distance(now)
            return SAME_TREND if a == b else BETTER_TREND if b < a else WORSE_TREND
        if now == before:
            return SAME_TREND
        return BETTER_TREND if (now > before) == (self.better == "higher") else WORSE_TREND

    def describe(self, unit: str | None = None) -> str:
        """'target 92 (higher is better), tolerance 5, over 10' for text output."""
        u = f" {unit}" if unit and unit != "%" else unit or ""
        if self.better == "band":
            head = f"band {text_of(self.low or Decimal(0))} to {text_of(self.high or Decimal(0))}{u}"
        else:
            head = f"target {text_of(self.target or Decimal(0))}{u} ({self.better} is better)"
        tail = f", tolerance {text_of(self.tolerance)}"
        if self.better != "band":
            tail += f", over {text_of(self.over)}" if self.over is not None else ", no over margin"
        return head + tail
