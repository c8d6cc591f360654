"""Reminders as email: jinja2 templates (text and HTML), headers no user text can break, an .ics date.

Templates live in `notifications/templates/` as KIND.subject, KIND.txt and KIND.html; a file of the
same name in $CYCLE_HOME/templates/ replaces the built-in one. HTML is autoescaped, text is not: a
title `<script>` reaches the text part as written and the HTML part as `&lt;script&gt;`.

The context keeps dates as ISO (YYYY-MM-DD, as the .ics and JSON do); templates show them as UK
readers write them, with the filters `uk_date` ("30 September 2027"), `long_date` ("Thursday 30
September 2027"), `uk_dates` (every ISO date in a sentence) and `days` ("1 day", "3 days").

Every reminder has the same shape (`facts` builds it, the templates lay it out): a heading, the key facts
(service, provider, contract reference, the date that matters with its weekday, days left), one sentence of
what to do and by when, a warning when that date is not a working day, and the cycle command as a
secondary line only when every recipient holds a role in cycle.

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
from cycle.calendar import dates
from cycle.errors import BadInput
from cycle.reminders.outbox import message_id
from cycle.reminders.outbox_rows import Row

BUILTIN = Path(__file__).resolve().parent / "templates"
KINDS = ("review-due", "review-overdue", "notice", "notice-passed", "contract-end", "gate-waiting", "gate-request",
         "return-due", "return-late", "action-overdue", "action-escalated",
         "assessment-due", "assessment-overdue", "audit-checkpoint", "standstill-ends", "procurement-due",
         "procurement-missed")

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
    return f"{day.day} {dates.MONTHS[day.month - 1]} {day.year}"


def days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in template_dirs()]),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(uk_date=uk_date, uk_dates=uk_dates, days=days, long_date=long_date)
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


# --- what every reminder says: a heading, the key facts, one sentence of what to do and by when ----------

def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def long_date(value: Any) -> str:
    """'2027-12-24' -> 'Friday 24 December 2027'; anything else is left as it is."""
    day = _day(value)
    return dates.long_date(day) if day else str(value)


def _left(n: int) -> str:
    return "today" if n == 0 else days(n)


@dataclass
class Facts:
    """What a reminder email shows, whichever its kind: the templates lay it out."""

    heading: str
    facts: list[tuple[str, str]]
    action: str
    advice: str | None = None  # the date to act by is not a working day: say so, and the day before
    when: str | None = None  # the date that matters (ISO), for the calendar entry
    act_by: str | None = None  # the day to act by (ISO): `when`, or the working day before it
    calendar: str | None = None  # the calendar entry's title

    def as_context(self) -> dict[str, Any]:
        return {"heading": self.heading, "facts": self.facts, "action": self.action, "advice": self.advice,
                "calendar": self.calendar, "facts_width": max((len(label) for label, _ in self.facts), default=0) + 2}


def _service(c: dict[str, Any]) -> list[tuple[str, str]]:
    out = [("Service", f"{c['title']} ({c['project']})")]
    if "provider" in c:
        out += [("Provider", c.get("provider") or "not recorded"),
                ("Contract reference", c.get("contract_ref") or "not recorded")]
    return out


def _stage(c: dict[str, Any], field_name: str = "stage") -> str:
    title = c.get(f"{field_name}_title")
    return str(title) if title else str(c.get(field_name, "")).replace("-", " ").capitalize()


def _act_by(day: date, days_left: Any, verb: str, nation: str) -> tuple[str | None, str]:
    """(advice, day to act by) for a date `days_left` days after the reminder's day: the advice when `day` is not a
    working day (dates.NonWorking.advice, as of the reminder's day), and the working day before it to act by."""
    off = dates.non_working(day, nation)
    if off is None:
        return None, day.isoformat()
    return off.advice(verb, today=day - timedelta(days=int(days_left))), off.act_by.isoformat()


def facts(kind: str, c: dict[str, Any], nation: str) -> Facts:
    """The heading, key facts and action sentence of a reminder of `kind` (see docs/reminders.md)."""
    title = str(c.get("title") or c.get("project") or kind)
    if kind == "notice":
        deadline = date.fromisoformat(c["deadline"])
        advice, act_by = _act_by(deadline, c["days_left"], "serve notice", nation)
        runs_on = (f"the contract runs on to {long_date(c['run_on_to'])}" if c.get("run_on_to")
                   else "the contract runs on past its end date")
        return Facts(
            f"Notice deadline: {title}",
            _service(c) + [("Notice deadline", dates.long_date(deadline)), ("Days left", _left(c["days_left"])),
                           ("Notice period", str(c.get("notice") or "not recorded")),
                           ("Contract ends", long_date(c.get("contract_end") or "not recorded"))],
            f"If the service is to end, serve notice on {c.get('provider') or 'the provider'} by "
            f"{dates.long_date(deadline)}; otherwise {runs_on}.",
            advice, c["deadline"], act_by, f"Notice deadline: {title} ({c['project']})")
    if kind == "notice-passed":
        run_on_to = c.get("run_on_to")
        return Facts(
            f"Notice deadline passed: {title}",
            _service(c) + [("Notice deadline was", long_date(c["deadline"])),
                           ("Contract ends", long_date(c.get("contract_end") or "not recorded")),
                           ("Now runs on to", long_date(run_on_to) if run_on_to else "no run-on period recorded")],
            f"No notice was recorded by {long_date(c['deadline'])}, so the contract runs on"
            + (f" to {long_date(run_on_to)}" if run_on_to else " past its end date")
            + ": if notice was served, record it; if not, plan for the run-on.",
            None, run_on_to, run_on_to,
            f"Contract runs on to this day: {title} ({c['project']})" if run_on_to else None)
    if kind == "contract-end":  # a contract with no notice period (cycle.reminders.ending)
        end = c["contract_end"]
        return Facts(
            f"Contract ends: {title}",
            _service(c) + [("Contract ends", long_date(end)), ("Days left", _left(c["days_left"])),
                           ("Notice period", "not recorded")],
            f"The contract with {c.get('provider') or 'the provider'} ends on {long_date(end)}. If the service is "
            f"to go on, extend the contract or have its replacement in place by then; if the contract has a notice "
            f"period, record it, and the notice reminders take over.",
            None, end, end, f"Contract ends: {title} ({c['project']})")
    if kind == "review-due":
        due = date.fromisoformat(c["review_due"])
        about = ("Quarter", f"{c['quarter']}, {c['quarter_about']}")
        if c["days_left"] < 0:
            return Facts(
                f"Quarterly review not recorded: {title}",
                _service(c) + [about, ("Review was due by", dates.long_date(due)), ("Days late", days(c["days_late"]))],
                f"The review meeting for {c['quarter']} was due by {dates.long_date(due)}: if it was held, record it; "
                f"if not, hold it as soon as you can.")
        advice, act_by = _act_by(due, c["days_left"], "hold the review", nation)
        return Facts(
            f"Quarterly review due: {title}",
            _service(c) + [about, ("Review due by", dates.long_date(due)), ("Days left", _left(c["days_left"]))],
            f"Hold the quarterly contract review meeting for {c['quarter']} by {dates.long_date(due)}, and record it "
            f"once it has been held.",
            advice, c["review_due"], act_by, f"Quarterly review due: {title} ({c['project']}), {c['quarter']}")
    if kind == "review-overdue":
        return Facts(
            f"Quarterly review overdue: {title}",
            _service(c) + [("Quarter", f"{c['quarter']}, {c['quarter_about']}"),
                           ("Review was due by", long_date(c["review_due"])),
                           ("Days overdue", days(c["days_overdue"]))],
            f"No review meeting for {c['quarter']} is recorded: if it was held, have it recorded; if not, ask the "
            f"owner to hold it now.")
    if kind == "gate-waiting":
        gates = [(f"Gate to {_stage(g, 'to')}", str(g.get("title") or g["id"])) for g in c.get("gates", [])]
        body = c.get("body")
        return Facts(
            f"Waiting for a decision: {title}",
            [("Service", f"{title} ({c['project']})"), ("Stage", _stage(c)),
             ("Waiting since", long_date(c["since"])), ("Days waiting", days(c["days_waiting"])),
             ("Decision by", str(body) if body else "no accountable body recorded"), *gates],
            "Everything the gate needs is recorded except the decision"
            + (f" of {body}" if body else "") + ": put it to the next meeting, then record the decision.")
    if kind in ("return-due", "return-late"):
        return _return_facts(kind, c, title, nation)
    if kind in ("action-overdue", "action-escalated"):
        return _action_facts(kind, c, title)
    if kind in ("assessment-due", "assessment-overdue"):
        due_by = long_date(c["assessment_due"])
        if kind == "assessment-due":
            return Facts(
                f"Contract performance assessment due: {title}",
                _service(c) + [("Assessment due by", due_by), ("Days left", _left(c["days_left"]))],
                f"Under the Procurement Act 2023 (s.71(2)) assess the supplier's performance against the contract's "
                f"KPIs by {due_by}, publish it, and record it: {c['command']}",
                None, c["assessment_due"], c["assessment_due"],
                f"Contract performance assessment due: {title} ({c['project']})")
        return Facts(
            f"Contract performance assessment overdue: {title}",
            _service(c) + [("Assessment was due by", due_by), ("Days overdue", days(c["days_overdue"]))],
            f"No assessment against the contract's KPIs is recorded since it fell due (Procurement Act 2023 "
            f"s.71(2)): if it was made, record it ({c['command']}); if not, make and publish it now.")
    if kind in ("standstill-ends", "procurement-due", "procurement-missed"):
        return _procurement_facts(kind, c, title, nation)
    if kind == "audit-checkpoint":  # cycle.reminders.checkpoints
        return Facts(f"Signed audit checkpoint for {uk_date(c['day'])}",
                     [("Entry", str(c["seq"])), ("Hash", str(c["hash"])), ("Signed at", f"{c['at']} (UTC)"),
                      ("Key fingerprint", str(c["key"]))],
                     "Keep this email: it records the audit log as it stood. Check it against the published public "
                     "key with: cycle audit verify --checkpoint FILE --public-key FILE")
    # A kind added since (with its own templates): the bare facts.
    return Facts(str(c.get("summary") or title), [("Service", f"{title} ({c.get('project', '-')})")],
                 str(c.get("summary") or ""))


def _reply(c: dict[str, Any]) -> str:
    """The person at the council to send a return or news of an action to: the project's owner, with their email."""
    name, email = c.get("reply_to"), c.get("reply_email")
    if not name:
        return "the council's contract manager"
    return f"{name} ({email})" if email else str(name)


def _names(items: list[dict[str, Any]]) -> str:
    keys = [str(i.get("kpi")) for i in items]
    return keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + " and " + keys[-1]


def _return_facts(kind: str, c: dict[str, Any], title: str, nation: str) -> Facts:
    """A quarterly return due or late (issue 17 part 4): to the provider contact, or (late, none recorded) the owner."""
    due = date.fromisoformat(c["return_due"])
    missing = list(c.get("indicators") or [])
    count = f"{len(missing)} indicator" + ("" if len(missing) == 1 else "s")
    facts_ = _service(c) + [("Quarter", f"{c['quarter']}, {c['quarter_about']}")]
    if kind == "return-due":
        advice, act_by = _act_by(due, c["days_left"], "send the return", nation)
        return Facts(
            f"Quarterly return due: {title}",
            facts_ + [("Return due by", dates.long_date(due)), ("Days left", _left(c["days_left"])),
                      ("Indicators awaited", f"{count}: {_names(missing)}"), ("Send it to", _reply(c))],
            f"Please send the {c['quarter']} values of the {count} below to {_reply(c)} by {dates.long_date(due)}.",
            advice, c["return_due"], act_by, f"Quarterly return due: {title} ({c['project']}), {c['quarter']}")
    late = [("Return was due by", dates.long_date(due)), ("Days late", days(c["days_late"])),
            ("Indicators missing", f"{count}: {_names(missing)}")]
    if c.get("role") == "owner":
        return Facts(
            f"Quarterly return late: {title}",
            facts_ + late + [("Provider contact", "none recorded")],
            f"The {c['quarter']} return was due by {dates.long_date(due)} and {count} still "
            f"{'has' if len(missing) == 1 else 'have'} no value: ask {c.get('provider') or 'the provider'} for "
            f"{'it' if len(missing) == 1 else 'them'}, then record {'it' if len(missing) == 1 else 'them'}. No "
            f"provider contact is recorded for this contract, so this reminder comes to you.")
    return Facts(
        f"Quarterly return late: {title}",
        facts_ + late + [("Send it to", _reply(c))],
        f"The {c['quarter']} return was due by {dates.long_date(due)} and {count} still "
        f"{'has' if len(missing) == 1 else 'have'} no value: please send {'it' if len(missing) == 1 else 'them'} "
        f"to {_reply(c)} now.")


def _procurement_facts(kind: str, c: dict[str, Any], title: str, nation: str) -> Facts:
    """A statutory date of a procurement (cycle.reminders.statutory): a standstill ending, a step due or missed."""
    day = date.fromisoformat(c["date"])
    on = f"{dates.long_date(day)} ({c['cite']})"
    facts_ = [("Service", f"{title} ({c['project']})"), ("Regime", str(c["regime_title"])),
              ("Route", str(c["route_title"])), ("Step", f"{c['step_title']} ({c['step']})")]
    if kind == "standstill-ends":
        after = long_date(c["not_before"])
        return Facts(
            f"Standstill ending: {title}",
            facts_ + [("Standstill ends", f"end of {on}"), ("Not before", after), ("Days left", _left(c["days_left"]))],
            f"Do not enter into the contract before {after}"
            + ("; if a provider makes representations before the standstill ends, record them, as the award then "
               "waits for a further decision." if c.get("representations") else "."),
            None, c["date"], c["date"], f"Standstill ends: {title} ({c['project']})")
    if kind == "procurement-due":
        advice, act_by = _act_by(day, c["days_left"], "do it", nation)
        return Facts(
            f"Procurement deadline: {title}",
            facts_ + [("Due by", on), ("Days left", _left(c["days_left"]))],
            f"The law requires this step by {dates.long_date(day)}: do it by then, and record the day it was done.",
            advice, c["date"], act_by, f"Procurement deadline: {c['step']}, {title} ({c['project']})")
    return Facts(
        f"Procurement deadline missed: {title}",
        facts_ + [("Was due by", on), ("Days late", days(c["days_late"]))],
        f"This step was due by {dates.long_date(day)} and is not recorded: if it was done, record the day it was "
        f"done; if not, do it now.")


def _action_facts(kind: str, c: dict[str, Any], title: str) -> Facts:
    """An action past its due date: to its owner, then (still open) to the governance lead."""
    facts_ = [("Service", f"{title} ({c['project']})"), ("Action", f"#{c['action_id']} {c['action']}"),
              ("Owner", str(c["action_owner"]))]
    if c.get("kpi"):
        facts_.append(("Indicator", str(c["kpi"])))
    facts_ += [("Was due by", long_date(c["due"])), ("Days overdue", days(c["days_overdue"]))]
    if kind == "action-overdue":
        return Facts(
            f"Action overdue: {title}", facts_,
            f"Action #{c['action_id']} was due by {long_date(c['due'])} and is not recorded as done: if it is done, "
            f"tell {_reply(c)} so that it is recorded; if not, finish it as soon as you can.")
    return Facts(
        f"Action still open: {title}", facts_,
        f"Action #{c['action_id']}, owned by {c['action_owner']}, is still open {days(c['days_overdue'])} after its "
        f"due date: follow it up with them, and have it recorded as done once it is.")


def domain_of(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "localhost"


#: SEQUENCE counts seconds from here: every later message about the same date raises it.
_SEQUENCE_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def sequence(now: datetime) -> int:
    """The .ics SEQUENCE of a message sent at `now`: later messages for one date (the next rung of the notice
    ladder, a retry, the message once the deadline has passed) raise it, so a calendar keeps the newest."""
    return max(0, int((now.astimezone(UTC) - _SEQUENCE_EPOCH).total_seconds()))


def ics_uid(project: str, what: str, which: str, domain: str) -> str:
    """One calendar entry per project, kind of date and the thing it is about (a contract for its notice
    deadline and run-on end, a quarter's last day for its review), on the sender's domain."""
    return f"{hashlib.sha256(chr(31).join((project, what, which)).encode('utf-8')).hexdigest()[:32]}@{domain}"


def _uid_subject(kind: str, context: dict[str, Any], when: str) -> str:
    """What a calendar entry is about: a contract's deadlines move when its terms are changed, and the entry
    must move with them (the same UID, a higher SEQUENCE), not stay behind in every recipient's calendar; a
    review's entry is its quarter's."""
    if kind in ("notice", "notice-passed", "contract-end"):
        return f"contract {context.get('contract_ref') or ''}"
    if kind == "return-due":
        return f"{when} contract {context.get('contract_ref') or ''}"
    if kind in ("standstill-ends", "procurement-due"):  # a date that moves moves the entry
        return f"{context.get('clock') or ''} {context.get('step') or ''}"
    return when


_UID_KIND = {"review-due": "review", "notice": "notice", "notice-passed": "run-on", "contract-end": "end",
             "return-due": "return", "standstill-ends": "standstill", "procurement-due": "procurement"}


def ics(row: Row, context: dict[str, Any], f: Facts, domain: str, now: datetime,
        command: str | None = None) -> bytes | None:
    """An iCalendar file putting the date that matters in the recipient's calendar, with an alarm at 09:00 the
    day before the day to act by; None when no date still matters (a review reported late or overdue)."""
    if row.kind not in _UID_KIND or not f.when or not f.act_by or not f.calendar:
        return None
    from icalendar import Alarm, Calendar, Event

    day, act_by = date.fromisoformat(f.when), date.fromisoformat(f.act_by)
    cal = Calendar()
    cal.add("prodid", "-//cycle//commissioning reminders//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", ics_uid(row.project, _UID_KIND[row.kind], _uid_subject(row.kind, context, f.when), domain))
    event.add("sequence", sequence(now))
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", day)
    event.add("dtend", day + timedelta(days=1))
    event.add("summary", one_line(f.calendar))
    described = " ".join(x for x in (f.action, f.advice or "", f"With cycle: {command}" if command else "") if x)
    event.add("description", one_line(described))
    event.add("transp", "TRANSPARENT")
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", one_line(f.calendar))
    alarm.add("trigger", -timedelta(days=(day - act_by).days + 1) + timedelta(hours=9))
    event.add_component(alarm)
    cal.add_component(event)
    return bytes(cal.to_ical())


def _to(name: str, email: str) -> str:
    """'name <email>', the name quoted where it must be; formataddr takes only an ASCII address, so an
    internationalised one is put in after it."""
    if email.isascii():
        return formataddr((name, email))
    return formataddr((name, "@")).rpartition("<")[0] + f"<{email}>"


def _by_role(rows: list[Row]) -> list[dict[str, Any]]:
    """The recipients of one message grouped by the role each one's own row names ("approver for ...", "deputy for
    chair to 2027-01-31"), in order: [{"names": [...], "role": role or None}, ...]."""
    groups: dict[str | None, list[str]] = {}
    for row in rows:
        try:
            context = json.loads(row.context)
        except ValueError:  # a row edited by hand: its name alone
            context = None
        role = context.get("role") if isinstance(context, dict) else None
        groups.setdefault(role if isinstance(role, str) else None, []).append(row.recipient)
    return [{"names": names, "role": role} for role, names in groups.items()]


def message(rows: list[Row], sender: str, now: datetime | None = None,
            env: jinja2.Environment | None = None, users: set[str] | None = None,
            nation: str | None = None) -> EmailMessage:
    """One email for the rows of one reminder (same project, kind and period), one row per recipient.

    The cycle command to act with is shown only when every recipient holds a role in cycle (`users`): a
    board member who never uses it gets the plain sentence only. `nation`: whose bank holidays count (default:
    the setting, reminders.settings.bank_holidays; a drain looks it up once for all its messages).
    """
    from cycle.reminders.settings import bank_holidays

    now = now or datetime.now(UTC)
    first = rows[0]
    context = json.loads(first.context)
    recipients = [(r.recipient, r.email) for r in rows]
    try:
        f = facts(first.kind, context, nation or bank_holidays())
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a queued row edited by hand, say
        raise TemplateProblem(first.kind, f"the queued reminder's details cannot be read ({type(exc).__name__}: "
                                          f"{exc}); nothing was sent") from None
    command = context.get("command") if users is not None and all(n in users for n, _ in recipients) else None
    context = {**context, **f.as_context(), "show_command": command is not None, "stage_title": _stage(context),
               "recipients": [name for name, _ in recipients], "by_role": _by_role(rows),
               "recipient": recipients[0][0] if len(recipients) == 1 else None}
    domain = domain_of(sender)
    attachment = ics(first, context, f, domain, now, command)
    context["has_calendar"] = attachment is not None
    body = render(first.kind, context, env)
    # An internationalised address is written as UTF-8 (sent only where the server offers SMTPUTF8: send.py).
    msg = EmailMessage(policy=SMTP if all(e.isascii() for _, e in recipients) else SMTP.clone(utf8=True))
    msg["Subject"] = body.subject
    msg["From"] = sender
    msg["To"] = ", ".join(_to(one_line(name), email) for name, email in recipients)
    msg["Date"] = format_datetime(now.astimezone(UTC))
    msg["Message-ID"] = message_id(first.project, first.kind, first.period, domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to a reminder
    msg["X-Cycle-Reminder"] = one_line(f"{first.project} {first.kind} {first.period}")
    msg.set_content(body.text)
    msg.add_alternative(body.html, subtype="html")
    if first.kind == "audit-checkpoint":  # the file `audit verify --checkpoint` reads, byte for byte
        document = context.get("document")
        if not isinstance(document, str) or not document.isascii():
            raise TemplateProblem(first.kind, "the queued checkpoint's document cannot be read; nothing was sent")
        msg.add_attachment(document.encode("ascii"), maintype="text", subtype="plain",
                           filename=f"cycle-checkpoint-{one_line(first.period)}.txt")
    if attachment is not None:
        msg.add_attachment(attachment, maintype="text", subtype="calendar",
                           filename=f"{first.project}-{first.kind}.ics",
                           params={"method": "PUBLISH", "charset": "utf-8"})  # MIME's default is US-ASCII
    return msg
