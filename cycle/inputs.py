"""What a person typed, checked before anything is read or written: text, dates, ids, amounts of money.

One rule each, used by the CLI's parameter types (commands/_common.py) and by the library functions they
call, so a caller other than the CLI is held to it too. Each refusal is BadInput (exit 2) in one line
naming the option, with an example where one helps.

Text (`text`): NFC-normalised and stripped; never a control character (C0, DEL, C1 including NEL), a line or
paragraph separator, a bidirectional override or isolate, a tag character (U+E0000-U+E007F: invisible
letters that can hide words; the flags of England, Scotland and Wales, which are built from them, are text), or
text that is not UTF-8 (an argument the shell passed as bytes); never empty or nothing visible (only spaces,
format characters, combining marks, the braille blank or Hangul fillers); never longer than its kind allows.
Dates (`day`): YYYY-MM-DD from 1990-01-01 to 2100-12-31. Ids (`row_id`): 1 to 2147483647, the range of a
PostgreSQL integer. Money: at most £1,000,000,000,000. Periods: at most 100 years (cycle.calendar.dates).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Literal, overload

from .errors import BadInput

FIRST_DAY = date(1990, 1, 1)
LAST_DAY = date(2100, 12, 31)
MAX_ID = 2_147_483_647  # PostgreSQL's integer; SQLite's is wider
MAX_MONEY = Decimal("1000000000000")
MAX_PERIOD_YEARS = 100

#: The longest text of each kind, in characters.
LIMITS = {"title": 200, "name": 100, "ref": 300, "body": 200, "note": 2000, "reason": 2000, "email": 254,
          "text": 500}

_EXAMPLES = {"--ref": '"minutes 2026-10-14 item 5"', "--body": "\"Children's Trust Board\"",
             "--reason": '"covered by the 2026 JSNA engagement"'}
# Characters that reorder or hide text on a terminal or a page: bidi embeddings, overrides, isolates, marks.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SEPARATORS = frozenset("\u2028\u2029")
# Tag characters spell text no terminal or page shows. An emoji tag sequence uses them: only the three
# recommended flags (England, Scotland, Wales) are taken as text.
_TAGS = range(0xE0000, 0xE0080)
_FLAGS = re.compile("(\U0001f3f4\U000e0067\U000e0062(?:\U000e0065\U000e006e\U000e0067|\U000e0073\U000e0063\U000e0074|"
                    "\U000e0077\U000e006c\U000e0073)\U000e007f)")
# Every `hazard`, for a quick look through a long text (a report's every value) before one is escaped.
_HAZARDS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                      "\U000e0000-\U000e007f]")
# What shows nothing on its own: format characters, combining and enclosing marks, spaces and separators
# (by Unicode category, so a new invisible character is caught too), and letters and symbols drawn blank.
_UNSEEN_CATEGORIES = frozenset({"Cf", "Mn", "Me", "Zs", "Zl", "Zp"})
_BLANK = frozenset("\u115f\u1160\u2800\u3164\uffa0")


def hazard(ch: str) -> bool:
    """Whether a character could move a terminal's cursor, hide or reorder text, or is not text at all."""
    code = ord(ch)
    return (code < 32 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF or ch in _SEPARATORS or ch in _BIDI
            or code in _TAGS)


def escaped(value: str, keep: str = "") -> str:
    """`value` with every `hazard` shown as an escape (\\x1b, \\n, \\u202e), for a terminal: text already in a
    database from before these rules, or from a hand edit, cannot clear a screen or forge a line. `keep`: characters
    left as they are (an HTML page's own newlines and tabs)."""
    if not _HAZARDS.search(value):
        return value
    out = []
    for i, part in enumerate(_FLAGS.split(value)):
        if i % 2:  # a flag (the pattern's group) keeps its tag characters
            out.append(part)
            continue
        for ch in part:
            if not hazard(ch) or ch in keep:
                out.append(ch)
            elif ch in "\n\r\t":
                out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
            elif ord(ch) <= 0xFF:
                out.append(f"\\x{ord(ch):02x}")
            elif ord(ch) <= 0xFFFF:
                out.append(f"\\u{ord(ch):04x}")
            else:
                out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


def problem(value: str) -> str | None:
    """What makes `value` unfit to store or show as text, or None when nothing does."""
    if value.isascii() and value.isprintable():  # the common case, in C: ASCII's only hazards are C0 and DEL
        return None
    flags_only = False
    for ch in value:
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:
            return "is not valid UTF-8 text"
        if code < 32 or 0x7F <= code <= 0x9F:
            return "must be a single line of text (no control characters: tab, newline, escape ...)"
        if ch in _SEPARATORS:
            return "must be a single line of text (no line or paragraph separators)"
        if ch in _BIDI:
            return "must not hold right-to-left or other direction controls (U+202A-U+202E, U+2066-U+2069)"
        if code in _TAGS and not flags_only:  # looked at once: a long value of flags is not read again per flag
            if any(ord(c) in _TAGS for c in _FLAGS.sub("", value)):
                return "must not hold tag characters (U+E0000-U+E007F: invisible letters that hide text)"
            flags_only = True
    return None


def _visible(ch: str) -> bool:
    return not (unicodedata.category(ch) in _UNSEEN_CATEGORIES or ch in _BLANK or ch.isspace())


@overload
def text(value: str | None, what: str, kind: str = ..., required: Literal[True] = True) -> str: ...
@overload
def text(value: str | None, what: str, kind: str, required: bool) -> str | None: ...


def text(value: str | None, what: str, kind: str = "text", required: bool = True) -> str | None:
    """`value` as cycle stores it (NFC, stripped), if it is text of this kind; None for nothing given
    unless `required`. Every piece of text a person gives goes through here."""
    if value is None:
        _missing(what, required)
        return None
    found = problem(value)
    if found:
        raise BadInput(f"{what} {found}")
    clean = unicodedata.normalize("NFC", value).strip()
    if not clean:
        _missing(what, required)
        return None
    if not any(_visible(ch) for ch in clean):
        raise BadInput(f"{what} holds only invisible characters; give some text")
    limit = LIMITS[kind]
    if len(clean) > limit:
        raise BadInput(f"{what} is {len(clean)} characters long; it may have at most {limit}")
    return clean


def _missing(what: str, required: bool) -> None:
    if required:
        example = _EXAMPLES.get(what)
        raise BadInput(f"{what} must not be empty" + (f"; e.g. {what} {example}" if example else ""))
    return None


@overload
def one_line(value: str | None, what: str, required: Literal[True] = True) -> str: ...
@overload
def one_line(value: str | None, what: str, required: bool) -> str | None: ...


def one_line(value: str | None, what: str, required: bool = True) -> str | None:
    """`text` of the general kind (kept for callers that name no kind)."""
    return text(value, what, _kind_of(what), required)


def _kind_of(what: str) -> str:
    name = what.strip("-").split(" ")[-1]
    return name if name in LIMITS else "text"


def day(value: str | date, what: str) -> date:
    """`value` (YYYY-MM-DD) as a date, if it is one from FIRST_DAY to LAST_DAY."""
    if isinstance(value, date):
        when = value
    else:
        found = problem(value) if isinstance(value, str) else None
        try:
            if found:
                raise ValueError
            when = date.fromisoformat(value.strip())
        except (ValueError, AttributeError):
            raise BadInput(f"{what} {value!r} is not a date; use YYYY-MM-DD, e.g. 2027-03-31") from None
    if not FIRST_DAY <= when <= LAST_DAY:
        raise BadInput(f"{what} {when.isoformat()} is out of range; cycle takes dates from {FIRST_DAY} to "
                       f"{LAST_DAY}")
    return when


@lru_cache(maxsize=16384)  # a portfolio's rows share few dates: each text is checked once, not once per row
def stored_day(value: str | None) -> date | None:
    """A date read back from the database, or None when it is not one `day` accepts (a hand edit, which
    `audit verify` names): one odd row must not stop a listing."""
    try:
        return day(value, "date") if value else None
    except BadInput:
        return None


def iso_date(value: str | None, what: str) -> str | None:
    """`value` as YYYY-MM-DD, if it is a date `day` accepts; None for nothing given."""
    return None if value is None else day(value, what).isoformat()


def row_id(value: str | int, what: str) -> int:
    """`value` as a row id: a whole number from 1 to MAX_ID."""
    try:
        n = value if isinstance(value, int) else int(str(value).strip(), 10)
    except ValueError:
        raise BadInput(f"{what} {value!r} is not a number; give an id such as 12") from None
    if not 1 <= n <= MAX_ID:
        raise BadInput(f"{what} {_shown(n)} is out of range; an id is a whole number from 1 to {MAX_ID}")
    return n


def whole(value: str | int, what: str, low: int, high: int, unit: str) -> int:
    """`value` as a whole number from `low` to `high` (of `unit`, named in the refusal)."""
    try:
        n = value if isinstance(value, int) else int(str(value).strip(), 10)
    except ValueError:
        raise BadInput(f"{what} {value!r} is not a whole number of {unit}; give {low} to {high}") from None
    if not low <= n <= high:
        raise BadInput(f"{what} {_shown(n)} is out of range; give {low} to {high} {unit}")
    return n


def _shown(n: int) -> str:
    """A number for a refusal: a long one cut to its first digits and its length."""
    digits = str(n)
    return digits if len(digits) <= 20 else f"{digits[:12]}... ({len(digits)} digits)"


def money(value: str, what: str) -> str:
    """'£1,250,000', '1250000.50', '1.25m', '350k' -> '1250000.00', at most MAX_MONEY."""
    raw = (value or "").strip()
    m = re.fullmatch(r"£?\s*((?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]{1,2})?)\s*([km])?", raw, re.I)
    digits = m.group(1).replace(",", "") if m else ""
    if m is None or len(digits.split(".")[0]) > 15:
        if m is not None:
            raise BadInput(f"{what} is more than £{MAX_MONEY:,}; give the amount in pounds, e.g. 1.25m")
        commas = " (commas only between groups of three digits)" if "," in raw else ""
        shown = raw if len(raw) <= 40 else raw[:37] + "..."
        raise BadInput(f"{what} {shown!r} is not an amount in pounds; write e.g. 1250000, £1,250,000 or "
                       f"1.25m{commas}")
    try:
        amount = Decimal(digits) * {"k": 1000, "m": 1_000_000}.get((m.group(2) or "").lower(), 1)
    except InvalidOperation:  # pragma: no cover - the pattern admits only digits
        raise BadInput(f"{what} {raw!r} is not an amount in pounds") from None
    if amount > MAX_MONEY:
        raise BadInput(f"{what} is more than £{MAX_MONEY:,}; give the amount in pounds, e.g. 1.25m")
    return str(amount.quantize(Decimal("0.01")))


def json_safe(text: str) -> str:
    """JSON text as json.dumps(..., ensure_ascii=False) writes it, with each `hazard` past ASCII (C1 controls, bidi
    overrides, line and paragraph separators) written as its \\uXXXX escape: the same value to a program reading
    it, nothing a terminal acts on. (JSON escapes C0 itself; structure is ASCII, so only strings hold these.)"""
    if text.isascii():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if code <= 0x7F or not hazard(ch):
            out.append(ch)
        elif code > 0xFFFF:  # a surrogate pair, as ensure_ascii=True writes one
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out)
