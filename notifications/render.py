"""Reminders as email: jinja2 templates (text and HTML), headers no user text can break, an .ics date.

Templates live in `notifications/templates/` as KIND.subject, KIND.txt and KIND.html; a file of the
same name in $CYCLE_HOME/templates/ replaces the built-in one. HTML is autoescaped, text is not: a
title `<script>` reaches the text part as written and the HTML part as `&lt;script&gt;`.

The context keeps dates as ISO (YYYY-MM-DD, as the .ics and JSON do); templates show them as UK
readers write them, with the filters `uk_date` ("30 September 2027"), `uk_dates` (every ISO date in
a sentence) and `days` ("1 day", "3 days").

No user text can add a header. Every header value is reduced to one line: CR, LF and the other line
breaks (VT, FF, NEL, U+2028, U+2029) and their encoded forms (=0A, %0A, &#10; ...) become spaces, and
RFC 2047 encoded words are broken up so a client cannot decode a line break out of them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Any

import jinja2

from cycle import config
from cycle.errors import BadInput
from cycle.reminders.outbox import Row, message_id

BUILTIN = Path(__file__).resolve().parent / "templates"
KINDS = ("review-due", "review-overdue", "notice", "notice-passed", "gate-waiting")
# Which date lands in the calendar, by kind.
ICS_DATE = {"review-due": "review_due", "notice": "deadline"}

_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_ENCODED_BREAKS = re.compile(r"=0[ADad]|%0[ADad]|&#0*1[03];|&#[xX]0*[aAdD];|\\[rn]|\\u2028|\\u2029|\\x0[aAdD]")


class TemplateProblem(BadInput):
    """A template failed to render (a team's override in $CYCLE_HOME/templates, say)."""

    def __init__(self, name: str, problem: str):
        super().__init__(f"template {name}: {problem}")


def one_line(text: str) -> str:
    """Text made safe for a mail header: one line, no encoded line breaks, no encoded words."""
    text = _ENCODED_BREAKS.sub(" ", text)
    text = _BREAKS.sub(" ", text)
    text = text.replace("=?", "= ?")
    return " ".join(text.split())


def template_dirs() -> list[Path]:
    return [config.home() / "templates", BUILTIN]


_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def uk_date(value: Any) -> Any:
    """'2027-09-30' -> '30 September 2027'; anything that is not an ISO date is left as it is."""
    m = _ISO_DATE.fullmatch(value.strip()) if isinstance(value, str) else None
    return _spell(m) if m else value


def uk_dates(value: Any) -> Any:
    """Every ISO date in a sentence written out: 'Serve notice by 2027-03-31' -> '... by 31 March 2027'."""
    return _ISO_DATE.sub(_spell, value) if isinstance(value, str) else value


def _spell(m: re.Match[str]) -> str:
    try:
        day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return m.group(0)
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in template_dirs()]),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(uk_date=uk_date, uk_dates=uk_dates, days=days)
    return env


@dataclass
class Rendered:
    subject: str
    text: str
    html: str


def render(kind: str, context: dict[str, Any], env: jinja2.Environment | None = None) -> Rendered:
    env = env or environment()
    out = []
    for suffix in ("subject", "txt", "html"):
        name = f"{kind}.{suffix}"
        try:
            out.append(env.get_template(name).render(**context))
        except jinja2.TemplateNotFound:
            raise TemplateProblem(name, f"not found in {' or '.join(str(p) for p in template_dirs())}") from None
        except jinja2.TemplateError as exc:
            raise TemplateProblem(name, str(exc)) from None
    return Rendered(one_line(out[0]), out[1], out[2])


def domain_of(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "localhost"


def ics(row: Row, context: dict[str, Any], domain: str, now: datetime) -> bytes | None:
    """An iCalendar file putting the reminder's date in the recipient's calendar (review and deadline kinds)."""
    field_name = ICS_DATE.get(row.kind)
    if field_name is None or not context.get(field_name):
        return None
    if context.get("days_left", 0) < 0:
        return None  # a review reminder sent late: the date has gone, so nothing to put in a calendar
    from icalendar import Calendar, Event

    day = date.fromisoformat(context[field_name])
    # One event per date, whatever the rung: a later reminder updates the same calendar entry.
    uid_key = "\x1f".join((row.project, "review" if row.kind == "review-due" else "notice", context[field_name]))
    what = (f"Quarterly review due: {context['title']} ({row.project}), {context.get('quarter')}"
            if row.kind == "review-due" else f"Notice deadline: {context['title']} ({row.project})")
    cal = Calendar()
    cal.add("prodid", "-//cycle//commissioning reminders//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"{hashlib.sha256(uid_key.encode('utf-8')).hexdigest()[:32]}@{domain}")
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", day)
    event.add("dtend", day + timedelta(days=1))
    event.add("summary", one_line(what))
    event.add("description", one_line(context.get("summary", "")) + ". " + one_line(context.get("command", "")))
    event.add("transp", "TRANSPARENT")
    cal.add_component(event)
    return bytes(cal.to_ical())


def message(rows: list[Row], sender: str, now: datetime | None = None,
            env: jinja2.Environment | None = None) -> EmailMessage:
    """One email for the rows of one reminder (same project, kind and period), one row per recipient."""
    now = now or datetime.now(UTC)
    first = rows[0]
    context = json.loads(first.context)
    recipients = [(r.recipient, r.email) for r in rows]
    context = {**context, "recipients": [name for name, _ in recipients],
               "recipient": recipients[0][0] if len(recipients) == 1 else None}
    body = render(first.kind, context, env)
    domain = domain_of(sender)
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = body.subject
    msg["From"] = sender
    msg["To"] = ", ".join(formataddr((one_line(name), email)) for name, email in recipients)
    msg["Date"] = format_datetime(now.astimezone(UTC))
    msg["Message-ID"] = message_id(first.project, first.kind, first.period, domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to a reminder
    msg["X-Cycle-Reminder"] = one_line(f"{first.project} {first.kind} {first.period}")
    msg.set_content(body.text)
    msg.add_alternative(body.html, subtype="html")
    attachment = ics(first, context, domain, now)
    if attachment is not None:
        msg.add_attachment(attachment, maintype="text", subtype="calendar",
                           filename=f"{first.project}-{first.kind}.ics", params={"method": "PUBLISH"})
    return msg
