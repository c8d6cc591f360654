"""`cycle review`, `cycle remind`, `cycle outbox` and `cycle scheduler`: reminders, from the review meetings held
to the mail sent (cycle.reminders decides what is due; cycle.notifications sends it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ._common import (
    CONTEXT,
    DATE,
    ID,
    MINUTES,
    QUARTER,
    actor,
    as_of_or_today,
    echo_each,
    emit,
    emit_each,
    json_option,
    json_write,
    london_as_of_option,
    ready_store,
)

if TYPE_CHECKING:
    from cycle.db.store import Store


def _where(transport: Any) -> str:
    """Where mail goes, said plainly: the Maildir default is announced with how to change it."""
    from cycle.notifications.mail import MaildirTransport
    from cycle.reminders.settings import config_path

    if isinstance(transport, MaildirTransport):
        return (f"the Maildir {transport.path} (no SMTP server configured; set CYCLE_SMTP_HOST, "
                f"or [smtp] in {config_path()}, to send by email)")
    return str(transport.describe())


@click.group(context_settings=CONTEXT)
def review() -> None:
    """Quarterly contract review meetings (English financial quarters: Q1 is April-June)."""


@review.command("record")
@json_write
@click.argument("key")
@click.option("--quarter", required=True, type=QUARTER,
              help="The financial quarter reviewed, e.g. 2026-Q3 (October-December 2026); 2026-Q4 is Jan-Mar 2027.")
@click.option("--held-on", required=True, type=DATE, help="The day the meeting was held, YYYY-MM-DD.")
@click.option("--attendee", "attendees", multiple=True, metavar="NAME",
              help="Someone who attended (repeat for each), e.g. alice or \"Trust X: J Smith\".")
@click.option("--note", help="Optional note, e.g. where the minutes are.")
@click.option("--as-of", hidden=True)  # taken once; now refused, so --held-on cannot be dated after today
def review_record(key: str, quarter: str, held_on: str, attendees: tuple[str, ...], note: str | None,
                  as_of: str | None) -> None:
    """Record that a quarter's review meeting was held (this stops its reminders), with who attended; the
    record keeps each indicator's status for the quarter as it stood (docs/performance.md).

    --held-on is the day the meeting was held: today or earlier (London date).

    \b
    Example:
      cycle review record camhs --quarter 2026-Q3 --held-on 2026-12-10 --attendee alice \\
        --attendee "Trust X: J Smith" --note "minutes CR-2026-12"
    """
    from cycle.reminders import reviews

    if as_of is not None:
        raise click.UsageError("review record takes no --as-of: a review is recorded once the meeting has been "
                               "held; give the day it was held with --held-on (today or earlier)")
    r = reviews.record(ready_store(), key, quarter, held_on, actor=actor(), note=note, attendees=list(attendees))
    said = ""
    if r.snapshot:
        counts: dict[str, int] = {}
        for item in r.snapshot:
            counts[item["status"] or "not running"] = counts.get(item["status"] or "not running", 0) + 1
        said = f"; {len(r.snapshot)} indicators: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    click.echo(f"Recorded the {r.quarter} review of {r.project}, held on {r.held_on}{said}.")


@review.command("list")
@click.argument("key", required=False)
@json_option
def review_list(key: str | None, as_json: bool) -> None:
    """List the review meetings recorded, all or one project's.

    \b
    Example:
      cycle review list camhs
    """
    from cycle.reminders import reviews

    from .output import safe

    with reviews.listing(ready_store(), key) as found:
        if as_json:
            emit_each(r.as_dict() for r in found)
        else:
            echo_each((safe(f"{r.project:<24} {r.quarter}  held on {r.held_on}  by {r.recorded_by}"
                            + (f"  {r.note}" if r.note else "")) for r in found),
                      empty="No reviews recorded. Record one with: cycle review record KEY --quarter 2026-Q3 "
                            "--held-on DATE")


def _plan_text(plan: Any, where: str) -> str:
    lines = [f"Reminders due on {plan.as_of.isoformat()} (London):"]
    labels = {None: "would send", "queued": "queued", "pending": "queued", "sending": "sending", "failed": "FAILED"}
    shown = [r for r in plan.reminders if r.status != "sent"]
    done = len(plan.reminders) - len(shown)
    if not shown:
        lines.append("  nothing to send")
    for r in shown:
        state = labels.get(r.status, r.status)
        ident = f" #{r.outbox_id}" if r.outbox_id else ""
        lines.append(f"  {state:<12} {r.kind:<15} {r.project} {r.period}  to {r.recipient} <{r.email}>"
                     f" ({r.role}){ident}: {r.context.get('summary')}")
    if done:
        lines.append(f"  ({done} already sent: cycle outbox list --status sent)")
    if plan.problems:
        lines.append("Cannot be sent until fixed (the next run sends them once fixed):")
        for p in plan.problems:
            lines.append(f"  {p.kind:<15} {p.project} {p.period}: {p.problem}")
            lines.append(f"      fix with: {p.fix}")
    lines.append(f"Mail goes to {where}.")
    from .output import lines_of

    return lines_of(lines)


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@click.option("--dry-run", is_flag=True, help="List what a run would send, and what cannot be sent; change nothing.")
@london_as_of_option
@json_option
@click.pass_context
def remind(ctx: click.Context, dry_run: bool, as_of: str | None, as_json: bool) -> None:
    """What reminders are due: quarterly reviews, notice deadlines, gates waiting on a decision.

    `cycle remind --dry-run` lists them; `cycle remind run` queues and sends them once (for cron).

    \b
    Example:
      cycle remind --dry-run --as-of 2027-01-10
      cycle remind run
    """
    if ctx.invoked_subcommand is not None:
        if dry_run or as_of or as_json:
            raise click.UsageError("--dry-run, --as-of and --json go either before nothing (cycle remind --dry-run) "
                                   "or after run (cycle remind run --as-of DATE)")
        return
    if not dry_run:
        if as_of:  # a date by now: DATE refused anything else as it was parsed
            raise click.UsageError(f"--as-of needs --dry-run or run: cycle remind --dry-run --as-of {as_of} to see "
                                   f"what is due, or cycle remind run --as-of {as_of} to send it")
        if as_json:
            raise click.UsageError("--json needs --dry-run: cycle remind --dry-run --json")
        click.echo(ctx.get_help(), err=True)  # as a bare `cycle` or any other bare group: exit 2
        ctx.exit(2)
    from cycle.notifications import mail
    from cycle.reminders import rules

    plan = rules.preview(ready_store(), as_of_or_today(as_of))
    if as_json:
        emit(plan.as_dict())
    else:
        click.echo(_plan_text(plan, _where(mail.transport())))


@remind.command("run")
@click.option("--as-of", type=DATE, help="Run as of DATE (YYYY-MM-DD, London): today or earlier (sent today, as "
                                              "things stand today); a later day only with --dry-run.")
@click.option("--dry-run", is_flag=True, help="Only list what would be sent (same as cycle remind --dry-run).")
@click.option("--no-send", is_flag=True, help="Queue what is due but leave sending to `cycle outbox send`.")
def remind_run(as_of: str | None, dry_run: bool, no_send: bool) -> None:
    """One tick: queue every reminder due today, then send the outbox. Safe to run twice or from cron.

    Exits 1 when anything due could not be queued or delivered, on this run or an earlier one while it is still
    due (stderr says which, how many and why).

    \b
    Example:
      cycle remind run
      # crontab, daily at 07:00:  0 7 * * *  cycle remind run
    """
    from cycle.notifications import mail, send
    from cycle.reminders import rules

    store = ready_store()
    today = as_of_or_today(as_of)
    transport = mail.transport()
    if dry_run:
        click.echo(_plan_text(rules.preview(store, today), _where(transport)))
        return
    plan = rules.enqueue(store, today, actor=actor())
    from .output import counted

    before = len(plan.reminders) - len(plan.new)
    click.echo(f"{today.isoformat()}: queued {counted(len(plan.new), 'reminder')}; "
               f"{before} {'was' if before == 1 else 'were'} already queued or sent.")
    for p in plan.problems:
        click.echo(f"Not sent: {p.kind} {p.project} {p.period}: {p.problem}; fix with: {p.fix}", err=True)
    daily = _daily_checkpoint(store, today)
    if no_send:
        click.echo("Send them with: cycle outbox send")
        _say_checkpoint(daily)
        _refuse_undelivered(store, plan, daily=daily)
        return
    drained = send.drain(store, actor=actor(), transport=transport)
    _report(drained, transport)
    _say_checkpoint(daily)
    _refuse_undelivered(store, plan, drained, daily)


def _daily_checkpoint(store: Any, today: Any) -> Any:
    """The day's signed checkpoint to the governance leads (cycle.reminders.checkpoints), said in one line; only on
    a run for today (a run dated earlier makes up reminders, but a checkpoint signed now is today's)."""
    from cycle.calendar import clock
    from cycle.reminders import checkpoints

    if today != clock.london_today():
        return None
    return checkpoints.daily(store, today, actor=actor())


def _say_checkpoint(daily: Any) -> None:
    """The checkpoint's line, last (after what the run says about the reminders): on stderr only as a problem."""
    said = daily.line() if daily is not None else None
    if said is not None:
        click.echo(said, err=daily.problem is not None)


def _refuse_undelivered(store: Any, plan: Any, drained: Any = None, daily: Any = None) -> None:
    """Exit 1 (cron and monitoring notice) when anything due was not queued or not accepted by the server: in
    this run, or (`plan`: a remind run) in an earlier one while the reminder is still due (a row refused for good,
    or waiting to retry, keeps the run failing until it is sent or its reminder is no longer due)."""
    from cycle.errors import NotDelivered
    from cycle.reminders import outbox as box

    from .output import safe

    tried = drained.failed + drained.waiting if drained is not None else []
    seen = {r.id for r in tried}
    due = sorted({r.outbox_id for r in plan.reminders if r.outbox_id and r.status != "sent"}) if plan else []
    if daily is not None:  # today's checkpoint too, until every lead has it
        from cycle.reminders import checkpoints

        due = sorted({*due, *checkpoints.unsent(store, daily.day)})
    earlier = [r for r in box.undelivered(store, due) if r.id not in seen] if due else []
    for r in earlier:
        if r.status == "failed":
            click.echo(safe(f"  still failed #{r.id} to {r.recipient} <{r.email}> ({r.kind} {r.project} {r.period}, "
                            f"still due): {r.last_error}; retry with: cycle outbox retry {r.id} (if the address is "
                            f"wrong, first: cycle people add {r.recipient} --email ADDRESS)"), err=True)
        else:
            click.echo(safe(f"  still waiting #{r.id} to {r.recipient} <{r.email}> ({r.kind} {r.project} "
                            f"{r.period}): {r.last_error}; next try after {r.next_attempt_at[:19]}Z"), err=True)
    failed = len(drained.failed if drained is not None else []) + sum(r.status == "failed" for r in earlier)
    waiting = len(drained.waiting if drained is not None else []) + sum(r.status != "failed" for r in earlier)
    not_queued = (len(plan.problems) if plan is not None else 0) + (daily is not None and daily.problem is not None)
    if not_queued or failed or waiting:
        raise NotDelivered(not_queued, failed, waiting)


def _report(drained: Any, transport: Any) -> None:
    click.echo(f"Outbox: {drained.summary()}. Mail went to {_where(transport)}.")
    for r in drained.cancelled:
        click.echo(f"  cancelled #{r.id} to {r.recipient}: {r.last_error}")
    for r in drained.failed:
        click.echo(f"  failed #{r.id} to {r.recipient} <{r.email}>: {r.last_error}; retry with: cycle outbox retry "
                   f"{r.id} (if the address is wrong, first: cycle people add {r.recipient} --email ADDRESS)",
                   err=True)
    for r in drained.waiting:
        click.echo(f"  waiting #{r.id} to {r.recipient} <{r.email}>: {r.last_error}; next try after "
                   f"{r.next_attempt_at[:19]}Z", err=True)


@click.group(context_settings=CONTEXT)
def outbox() -> None:
    """The outbox: every reminder queued, with its delivery state and attempts."""


@outbox.command("list")
@click.option("--status", type=click.Choice(["pending", "sending", "sent", "failed", "cancelled"]),
              help="Only rows in this state (cancelled: not sent, its date no longer applied).")
@json_option
def outbox_list(status: str | None, as_json: bool) -> None:
    """List outbox rows: one per reminder and recipient.

    \b
    Example:
      cycle outbox list --status failed
    """
    from cycle.reminders import outbox_rows

    with outbox_rows.listing(ready_store(), status) as rows:
        if as_json:
            emit_each(r.as_dict() for r in rows)
        else:
            echo_each(map(_outbox_line, rows),
                      empty="The outbox is empty." if status is None else f"No {status} messages.")


def _outbox_line(r: Any) -> str:
    """An outbox row as `outbox list` shows it: one line, and a second with its last error while unsent."""
    from .output import safe

    when = {"sent": f"sent {(r.sent_at or '')[:19]}Z", "pending": f"next try {r.next_attempt_at[:19]}Z"
            if r.attempts else "not tried yet"}.get(r.status, "")
    line = safe((f"#{r.id:<4} {r.status:<8} {r.kind:<15} {r.project} {r.period}  to {r.recipient} <{r.email}>"
                 f"  attempts {r.attempts}  {when}").rstrip())
    if r.last_error and r.status != "sent":
        said = "not sent" if r.status == "cancelled" else "last error"
        line += "\n" + safe(f"       {said}: {r.last_error}")
    return line


@outbox.command("send")
def outbox_send() -> None:
    """Send every outbox row that is due (new, or due for a retry); exits 1 when any was not delivered.

    \b
    Example:
      cycle outbox send
    """
    from cycle.notifications import mail, send

    transport = mail.transport()
    drained = send.drain(ready_store(), actor=actor(), transport=transport)
    _report(drained, transport)
    _refuse_undelivered(None, None, drained)


@outbox.command("retry")
@json_write
@click.argument("row_id", metavar="ID", type=ID)
def outbox_retry(row_id: int) -> None:
    """Make a failed (or waiting) row due again now; send it with `cycle outbox send`.

    \b
    Example:
      cycle outbox retry 12 && cycle outbox send
    """
    from cycle.reminders import outbox as box

    from .output import counted

    r = box.retry(ready_store(), row_id, actor=actor())
    click.echo(f"#{r.id} ({r.kind} {r.project} to {r.recipient}) is due again after "
               f"{counted(r.attempts, 'attempt')}. Send it with: cycle outbox send")


@click.group(context_settings=CONTEXT)
def scheduler() -> None:
    """The reminder scheduler: one per database, ticking daily (or use cron with `cycle remind run`)."""


@scheduler.command("run")
@click.option("--at", metavar="HH:MM", help="Daily tick time, Europe/London (default 07:00, or [scheduler] at).")
@click.option("--drain-every", type=MINUTES,
              help="Minutes between sends of messages waiting to be retried, 1 to 1440 (default 5).")
@click.option("--standby", is_flag=True, help="If another scheduler is running, wait and take over when it stops.")
@click.option("--site", "site_dir", metavar="DIR",
              help="Rebuild the governance site in DIR after each tick (as `cycle site build --out DIR --force`).")
def scheduler_run(at: str | None, drain_every: int | None, standby: bool, site_dir: str | None) -> None:
    """Run the scheduler until stopped: a tick at start-up and daily, each sending what is due once.

    A second scheduler on the same database refuses to start (exit 4), or with --standby waits.

    \b
    Example:
      cycle scheduler run --at 07:00
    """
    from cycle.notifications import mail
    from cycle.notifications.scheduler import ReminderScheduler, configured, parse_at

    if at is not None:
        parse_at(at)  # "" too: a time given must be a time, never the default
    default_at, default_every = configured()
    store = ready_store()
    if site_dir is not None:
        from cycle import site as site_data

        site_data.check(site_dir, force=True, option="--site")  # refused now (exit 2), not at every tick
    transport = mail.transport()
    click.echo(f"Mail goes to {_where(transport)}.")
    sched = ReminderScheduler(store, actor=actor(), at=default_at if at is None else at,
                              drain_every_minutes=default_every if drain_every is None else drain_every,
                              transport=transport, log=lambda line: click.echo(line),
                              on_tick=None if site_dir is None else rebuild_site(store, site_dir, click.echo))
    sched.run(standby=standby)
    if sched.error is not None:
        raise sched.error


def rebuild_site(store: Store, out: str, log: Callable[[str], None]) -> Callable[[Any], None]:
    """What the scheduler runs after each tick with --site: the site rebuilt and swapped in, one line said (a
    refusal or a failed check too: the next tick tries again)."""
    from cycle.errors import CycleError

    from .site import build_site

    def rebuild(_ticked: Any) -> None:
        try:
            written, verified = build_site(store, out, force=True, option="--site")
        except CycleError as exc:
            log(f"  site not rebuilt: {exc}")
            return
        said = "" if verified["ok"] else " (its check FAILED: the pages say so; see: cycle audit verify)"
        log(f"  site rebuilt in {written}{said}")
    return rebuild


@scheduler.command("status")
@json_option
def scheduler_status(as_json: bool) -> None:
    """Which scheduler holds the lease on this database, if any.

    \b
    Example:
      cycle scheduler status
    """
    from cycle.reminders import lease

    row = lease.current(ready_store())
    data: dict[str, Any] = {"running": row is not None, "holder": None, "host": None, "pid": None,
                            "started_at": None, "expires_at": None}
    if row is not None:
        data.update(holder=row.holder, host=row.host, pid=row.pid, started_at=row.started_at,
                    expires_at=row.expires_at)
    if as_json:
        emit(data)  # an object either way (never a bare null): `running` says whether one holds the lease
    elif row is None:
        click.echo("No scheduler is running on this database. Start one with: cycle scheduler run")
    else:
        click.echo(f"Scheduler {data['holder']} (pid {data['pid']} on {data['host']}) since "
                   f"{data['started_at'][:19]}Z; lease until {data['expires_at'][:19]}Z.")
