"""Where data lives and who is acting, read from the environment at call time."""

from __future__ import annotations

import getpass
import os
import unicodedata
from pathlib import Path

from .errors import BadInput


def home() -> Path:
    """$CYCLE_HOME, else the XDG data directory ($XDG_DATA_HOME or ~/.local/share) /cycle."""
    explicit = os.environ.get("CYCLE_HOME")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cycle"


def database_url() -> str:
    """$CYCLE_DATABASE_URL (any SQLAlchemy URL), else a SQLite file in the home."""
    url = os.environ.get("CYCLE_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{home() / 'cycle.db'}"


def actor() -> str:
    """The person acting: $CYCLE_USER, else the login name."""
    name = os.environ.get("CYCLE_USER") or _login()
    name = unicodedata.normalize("NFC", name.strip())  # siân typed either way is one person
    if not name or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise BadInput("CYCLE_USER must be a plain name (no control characters). Set it, e.g.: export CYCLE_USER=alice")
    return name


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
