"""Where data lives and who is acting, read from the environment at call time."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from cycle.governance import identity

from .errors import BadInput


def home() -> Path:
    """$CYCLE_HOME, else the XDG data directory ($XDG_DATA_HOME when absolute, else ~/.local/share) /cycle."""
    explicit = os.environ.get("CYCLE_HOME")
    if explicit:
        return Path(explicit).expanduser()
    return _xdg("XDG_DATA_HOME", Path.home() / ".local" / "share") / "cycle"


def config_dir() -> Path:
    """The XDG config directory ($XDG_CONFIG_HOME when absolute, else ~/.config) /cycle: where settings a person
    edits live."""
    return _xdg("XDG_CONFIG_HOME", Path.home() / ".config") / "cycle"


def _xdg(name: str, default: Path) -> Path:
    """An XDG base folder: the variable when it is an absolute path, else the default (the XDG Base Directory
    spec has a relative one ignored: it would follow the folder cycle happens to run from)."""
    given = os.environ.get(name) or ""
    return Path(given) if os.path.isabs(given) else default


def database_url() -> str:
    """$CYCLE_DATABASE_URL (any SQLAlchemy URL), else a SQLite file in the home."""
    url = os.environ.get("CYCLE_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{home() / 'cycle.db'}"


def actor() -> str:
    """The person acting, as their canonical login (cycle.governance.identity): $CYCLE_USER, else the login name."""
    given = os.environ.get("CYCLE_USER")
    name = given or _login()
    if identity.is_login(name):
        return identity.login(name)
    where = "CYCLE_USER" if given else "your login name (CYCLE_USER is not set)"
    raise BadInput(f"{where} {name!r} is not a login name ({identity.RULE}); nothing was done. "
                   f"Set it to yours, e.g.: export CYCLE_USER=alice")


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
