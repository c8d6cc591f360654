"""Who a name means: one canonical login per person, however it is typed.

A person is named by their login: letters of one alphabet, digits, and . _ @ - (siân, dafydd,
j.smith@council, 山田たろう). One alphabet, because "аlice" with a Cyrillic а looks like alice and
is not her. Two spellings that differ only in Unicode form or case ("Chair", "chair",
"ｃｈａｉｒ") are one person, so every name cycle stores or compares (CYCLE_USER, `people add`,
--owner, --sro, --lead, --governance-lead, approvers, whoever recorded, asked or waived, and the
logins `cycle db roles-sql` creates) goes through `login` here and nowhere else. Names an older
cycle stored in another spelling are compared through `canonical`, and never rewritten.

PostgreSQL's triggers compare names with their own function, cycle_login (see migration 0009):
lower(normalize(NAME, NFKC)), the closest the server comes to this; cycle checks first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from cycle.errors import BadInput

PATTERN = re.compile(r"[^\W_][\w.@-]{0,63}")
RULE = "letters of one alphabet, digits, . _ @ -"
# Writing systems used together in one name: Japanese mixes kanji and both kana.
_ONE_WRITING = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "KATAKANA-HIRAGANA": "CJK"}


def canonical(name: str) -> str:
    """`name` as cycle compares it: NFKC, case-folded, NFKC again (folding can undo the first)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def _alphabets(name: str) -> set[str]:
    """The writing systems of the letters in `name` (the first word of each one's Unicode name)."""
    words = (unicodedata.name(ch, "?").split(" ")[0] for ch in name if ch.isalpha())
    return {_ONE_WRITING.get(word, word) for word in words}


def is_login(name: str) -> bool:
    """Whether `name`, as typed, is a login cycle accepts (in any spelling)."""
    found = canonical(name.strip())
    return PATTERN.fullmatch(found) is not None and len(_alphabets(found)) <= 1


def login(name: str, what: str = "name") -> str:
    """The canonical login for `name`; BadInput, naming `what`, unless it is one."""
    found = canonical((name or "").strip())
    if not PATTERN.fullmatch(found):
        raise BadInput(f"{what} {name!r} is not a login name ({RULE}), e.g. alice or j.smith")
    alphabets = _alphabets(found)
    if len(alphabets) > 1:
        raise BadInput(f"{what} {name!r} mixes the {' and '.join(sorted(a.title() for a in alphabets))} "
                       f"alphabets, as a look-alike of another name would; a login is in one ({RULE})")
    return found


def same(a: str | None, b: str | None) -> bool:
    """Whether two stored or typed names are the same person."""
    return a is not None and b is not None and canonical(a) == canonical(b)


def among(name: str, names: Iterable[str | None]) -> bool:
    """Whether `name` is the same person as any of `names`."""
    mine = canonical(name)
    return any(n is not None and canonical(n) == mine for n in names)
