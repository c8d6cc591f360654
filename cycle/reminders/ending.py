"""``contract-end``: the reminder for a contract with no notice period recorded.

Such a contract has no notice deadline, so the notice ladder (rules._notice) has nothing to say about it, and
`contracts due` lists it at its end date. Its end date is the date that matters: one reminder, when the end is
as near as the notice ladder's first rung (120 days by default) or nearer, up to the end date itself; not after
(a contract that ended before cycle first ran is not announced). Sent once: the outbox's key is the project, the
kind, the end date (with '/c<id>' after it for a project's later contracts, as the notice reminders do) and the
recipient; a changed end date is a new date, and gets its own reminder.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

from cycle.calendar import dates
from cycle.db.rows import ContractRow, ProjectRow
from cycle.inputs import stored_day
from cycle.shell import quote

from .settings import Settings


class Collector(Protocol):
    """What the rule needs of rules._Collector: the day reminders go, and a way to address one."""

    sent_on: date

    def add(self, project: ProjectRow, kind: str, period: str, summary: str, parts: tuple[dict[str, Any], ...],
            who: list[tuple[str, str | None, bool]]) -> None: ...


KIND = "contract-end"


def contract_end(c: Collector, holder: ProjectRow, contract: ContractRow, cfg: Settings,
                 decommissioners: list[ProjectRow], first: bool = True, several: bool = False) -> None:
    """The contract's end-date reminder, if it has no notice period and its end is near (see the module)."""
    end = stored_day(contract.end)
    if contract.notice or end is None:
        return
    days = (end - c.sent_on).days
    if not 0 <= days <= max(cfg.notice_ladder, default=120):
        return
    period = end.isoformat() + ("" if first else f"/c{contract.id}")
    named = f"{holder.key} --ref {quote(contract.ref)}" if several and contract.ref else holder.key
    who: list[tuple[str, str | None, bool]] = [("owner", holder.owner, True),
                                               ("senior responsible officer", holder.sro, False)]
    for child in decommissioners:
        who.append((f"owner of {child.key}", child.owner, False))
    which = f"Contract {contract.ref}" if several and contract.ref else "Contract"  # which of the project's
    summary = f"{which} ends {dates.in_days(days)} ({end.isoformat()}), no notice period recorded"
    context: dict[str, Any] = {
        "contract_end": end.isoformat(), "provider": contract.provider, "contract_ref": contract.ref,
        "days_left": days, "summary": summary,
        "command": f"cycle contract set {named} --notice '6 months'"}
    c.add(holder, KIND, period, summary, (context,), who)
