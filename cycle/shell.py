"""The commands cycle suggests as a next step, ready to paste: values quoted for a POSIX shell."""

from __future__ import annotations

import re

_SAFE = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


def quote(value: str) -> str:
    """Quote a value for a POSIX shell, readably: "Children's Trust Board" rather than '...'"'"'...'."""
    if _SAFE.match(value):
        return value
    return '"' + re.sub(r'(["\\$`])', r"\\\1", value) + '"'
