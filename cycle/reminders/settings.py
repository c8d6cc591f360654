"""reminders.toml (in ~/.config/cycle, or the old place, $CYCLE_HOME): when reminders fall due ([reminders]),
the SMTP server ([smtp]), the scheduler ([scheduler]) and whose bank holidays count ([calendar]); and the rules
each key's value must keep, checked
whenever the file is read.

One line naming the file and the key for anything wrong in it (an unknown section or key, a value of the wrong
type or out of range), wherever in the file, whichever section is asked for.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cycle import config, files
from cycle.calendar.dates import DEFAULT_NATION, NATIONS
from cycle.errors import BadInput

CONFIG_FILE = "reminders.toml"
DEFAULT_LADDER = (120, 90, 60, 30, 7)
SMTP_SECURITY = ("starttls", "ssl", "none")
TIME_OF_DAY = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
SETTINGS_MAX_BYTES = 100_000
#: The most days any of [reminders]' day counts may be: ten years.
MAX_DAYS = 3660
MAX_DRAIN_MINUTES = 1440
#: The most working days before a standstill ends its reminder may go (a standstill is 8 working days).
MAX_STANDSTILL_LEAD = 30
SMTP_TIMEOUT_MAX = 60  # seconds; the scheduler renews its lease every 30 s between sends, on the same thread


#: Lines for the person at the terminal, gathered while settings are found (the CLI prints them, once each).
notices: list[str] = []
_noticed: set[str] = set()


def config_path() -> Path:
    """Where reminders.toml is read from: the XDG config folder ($XDG_CONFIG_HOME/cycle, default ~/.config/cycle),
    else the old place, $CYCLE_HOME (read while it is there). When both hold one, the config folder's wins, and
    a notice says so. The config folder's path when neither exists (where to create it)."""
    new, old = config.config_dir() / CONFIG_FILE, config.home() / CONFIG_FILE
    try:
        has_new, has_old = new.exists() or new.is_symlink(), old.exists()  # a dangling link: named when read
        same = has_new and has_old and new.samefile(old)
    except OSError:  # a folder that cannot be looked into: as if absent, and the reading says what is wrong
        return new
    if has_new and has_old and not same:
        said = (f"{new} and {old} both exist: cycle reads {new} and ignores {old}; merge them into {new} and "
                f"remove {old}")
        if said not in _noticed:
            _noticed.add(said)
            notices.append(said)
    return old if has_old and not has_new else new


def _whole(value: Any, low: int, high: int | None = None) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool) and value >= low
            and (high is None or value <= high))


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and not any(ord(ch) < 32 for ch in value)


def _port(value: Any) -> bool:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return _whole(value, 1, 65535)


def _timeout(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and 0 < value <= SMTP_TIMEOUT_MAX)


_TEXT = (_text, "must be text in quotes")
# What each key may hold, and the rule said when it does not; checked whenever the file is read.
_RULES: dict[str, dict[str, tuple[Callable[[Any], bool], str]]] = {
    "reminders": {
        "review_lead_days": (lambda v: _whole(v, 0, 366), "must be a whole number of days, from 0 to 366"),
        "review_grace_days": (lambda v: _whole(v, 0, 366), "must be a whole number of days, from 0 to 366"),
        "gate_wait_days": (lambda v: _whole(v, 0, MAX_DAYS), f"must be a whole number of days, from 0 to {MAX_DAYS}"),
        "return_due_days": (lambda v: _whole(v, 0, 366), "must be a whole number of days, from 0 to 366"),
        "action_escalate_days": (lambda v: _whole(v, 0, MAX_DAYS),
                                 f"must be a whole number of days, from 0 to {MAX_DAYS}"),
        "procurement_lead_days": (lambda v: _whole(v, 0, 366), "must be a whole number of days, from 0 to 366"),
        "standstill_lead_days": (lambda v: _whole(v, 0, MAX_STANDSTILL_LEAD),
                                 f"must be a whole number of working days, from 0 to {MAX_STANDSTILL_LEAD}"),
        "notice_ladder": (lambda v: isinstance(v, list) and 0 < len(v) <= 20 and all(_whole(n, 0, MAX_DAYS) for n in v),
                          f"must be a list of days before the deadline, each from 0 to {MAX_DAYS}, "
                          f"e.g. [120, 90, 60, 30, 7]"),
    },
    "smtp": {
        "host": (lambda v: _text(v) and not any(ch.isspace() for ch in v),
                 'must be the server\'s name in quotes, e.g. "smtp.council.gov.uk"'),
        "port": (_port, "must be a port number from 1 to 65535, e.g. 587"),
        "security": (lambda v: isinstance(v, str) and v.strip().lower() in SMTP_SECURITY,
                     "must be one of: " + ", ".join(f'"{x}"' for x in SMTP_SECURITY)),
        "user": _TEXT, "password_file": _TEXT, "from": _TEXT, "helo": _TEXT, "cafile": _TEXT,
        "timeout": (_timeout, f"must be a number of seconds, more than 0 and at most {SMTP_TIMEOUT_MAX}, e.g. 30"),
    },
    "scheduler": {
        "at": (lambda v: isinstance(v, str) and bool(TIME_OF_DAY.match(v.strip())),
               'must be a time of day in quotes, HH:MM London time, e.g. "07:00"'),
        "drain_every_minutes": (lambda v: _whole(v, 1, MAX_DRAIN_MINUTES),
                                f"must be a whole number of minutes, from 1 to {MAX_DRAIN_MINUTES}"),
    },
    "calendar": {
        "bank_holidays": (lambda v: isinstance(v, str) and v in NATIONS,
                          "must be one of: " + ", ".join(f'"{n}"' for n in NATIONS)),
    },
}


def read_config(section: str) -> dict[str, Any]:
    """One section of reminders.toml (config_path; {} when the file is absent).

    The whole file is checked each time: an unknown section or key, or a value of the wrong type or
    out of range anywhere in it, is refused with one line naming the file and the key.
    """
    path = config_path()
    if not path.exists() and not path.is_symlink():
        return {}
    raw = files.read_toml(path, "a settings file", SETTINGS_MAX_BYTES)
    for name, body in raw.items():
        if name not in _RULES or not isinstance(body, dict):
            raise BadInput(f"{path}: unknown section [{name}]; it may have: "
                           + ", ".join(f"[{s}]" for s in _RULES))
        unknown = sorted(set(body) - set(_RULES[name]))
        if "password" in unknown and name == "smtp":
            raise BadInput(f"{path}: [smtp] password is not read from this file; put it in a file of its own "
                           f"and name it with password_file, or set CYCLE_SMTP_PASSWORD")
        if unknown:
            raise BadInput(f"{path}: [{name}] has unknown key {unknown[0]!r}; it knows: "
                           + ", ".join(sorted(_RULES[name])))
        for key, value in body.items():
            ok, rule = _RULES[name][key]
            if not ok(value):
                raise BadInput(f"{path}: [{name}] {key} {rule}")
    return dict(raw.get(section, {}))


@dataclass(frozen=True)
class Settings:
    review_lead_days: int = 14
    review_grace_days: int = 7
    notice_ladder: tuple[int, ...] = DEFAULT_LADDER
    gate_wait_days: int = 30
    return_due_days: int = 20  # a provider's quarterly return is due this many days after the quarter ends
    action_escalate_days: int = 14  # an action still open this many days after its due date goes to the governance lead
    procurement_lead_days: int = 7  # a statutory publication deadline's reminder, this many days before it
    standstill_lead_days: int = 2  # a standstill's reminder, this many working days (its law's) before it ends


def settings() -> Settings:
    raw = read_config("reminders")  # checked there
    values: dict[str, Any] = {name: raw[name] for name in (
        "review_lead_days", "review_grace_days", "gate_wait_days", "return_due_days", "action_escalate_days",
        "procurement_lead_days", "standstill_lead_days") if name in raw}
    if "notice_ladder" in raw:
        values["notice_ladder"] = tuple(sorted(set(raw["notice_ladder"]), reverse=True))
    return Settings(**values)


_nation_cache: dict[tuple[str | None, float | None], str] = {}


def bank_holidays() -> str:
    """Whose bank holidays make a day non-working: $CYCLE_BANK_HOLIDAYS, else [calendar] bank_holidays, else
    England. Read once per change of the file (contract arithmetic asks for it for every contract)."""
    given = os.environ.get("CYCLE_BANK_HOLIDAYS") or None
    if given is not None:
        if given not in NATIONS:
            raise BadInput(f"CYCLE_BANK_HOLIDAYS {given!r} is not one of: {', '.join(NATIONS)}")
        return given
    path = config_path()
    try:
        stamp: float | None = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    key = (str(path), stamp)
    if key not in _nation_cache:
        _nation_cache.clear()
        _nation_cache[key] = str(read_config("calendar").get("bank_holidays", DEFAULT_NATION))
    return _nation_cache[key]
