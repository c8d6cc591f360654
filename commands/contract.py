"""`cycle contract` and `cycle contracts`: a project's contract, and what needs a decision soon."""

from __future__ import annotations

from collections.abc import Callable

import click

from ._common import (
    CONTEXT,
    DATE,
    MONEY,
    PERIOD,
    actor,
    as_of_date,
    as_of_option,
    as_of_or_today,
    csv_option,
    echo_each,
    emit,
    emit_csv,
    emit_each,
    expect_version_option,
    json_option,
    json_write,
    one_format,
    ready_store,
)

#: The terms `contract set` and `contract add` share, in the order --help lists them.
_TERMS = (
    click.option("--start", type=DATE, help="Start date, YYYY-MM-DD."),
    click.option("--end", type=DATE, help="End date, YYYY-MM-DD."),
    click.option("--value", "value_total", type=MONEY,
                 help="Total value in pounds, e.g. 1250000, £1,250,000.50 or 1.25m."),
    click.option("--annual-value", "value_annual", type=MONEY, help="Annual value in pounds."),
    click.option("--notice", type=PERIOD, help="Notice period: '6 months', '90 days' or '60 working days'."),
    click.option("--extension-to", type=DATE, help="Latest end date the extension options allow, YYYY-MM-DD."),
    click.option("--if-no-notice", type=click.Choice(["run-on", "ends"]),
                 help="Without notice the contract runs on (for --run-on) or simply ends (this clears any run-on)."),
    click.option("--run-on", type=PERIOD,
                 help="How long it runs on without notice, once, e.g. '12 months' (implies --if-no-notice run-on)."),
    click.option("--termination-costs",
                 help="Penalties and costs due should the contract be terminated early, as it states them."),
    click.option("--provider-contact", metavar="PERSON",
                 help="The provider's contact, who gets its return and action reminders: a person in the people "
                      "list with an email and the role provider. \"\" removes it."),
    click.option("--regime", metavar="pa2023|pa2023-light-touch|psr|none",
                 help="The regime it was let under: the Procurement Act 2023, a light-touch contract under it, the "
                      "NHS Provider Selection Regime, or none of these."),
    click.option("--kpis-exempt", metavar="REASON",
                 help="Why KPIs could not appropriately assess the supplier's performance (Procurement Act 2023 "
                      "s.52(2)); '' withdraws it."),
)


def _terms(f: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_TERMS):
        f = option(f)
    return f


@click.group(context_settings=CONTEXT)
def contract() -> None:
    """A project's contracts: terms, notice deadline, notice served."""


@contract.command("set")
@json_write
@click.argument("key")
@click.option("--provider", help="The provider's name.")
@click.option("--ref", help="The contract's reference; when the project has several, the one to change.")
@click.option("--contract", "which", metavar="REF",
              help="The contract to change, by its reference (then --ref gives it a new one).")
@_terms
@click.option("--title", help="The title of the agreement (Transparency Code).")
@click.option("--description", help="The goods or services provided (Transparency Code).")
@click.option("--department", help="The department or service responsible (Transparency Code).")
@click.option("--review-date", type=DATE, help="The contract's review date, YYYY-MM-DD (Transparency Code).")
@click.option("--awarded-by", metavar="quote|tender|TEXT",
              help="quote (an invitation to quote), tender (a published invitation to tender), or the route in "
                   "words when neither, e.g. 'direct award (PSR)'.")
@click.option("--sme", metavar="yes|no", help="Whether the supplier is a small or medium-sized enterprise.")
@click.option("--vcse", metavar="yes|no", help="Whether the supplier is a voluntary or community sector organisation.")
@click.option("--registration-number", help="The supplier's charity or company registration number.")
@click.option("--vat-not-recoverable", type=MONEY, help="Value Added Tax that cannot be recovered, in pounds.")
@expect_version_option
def contract_set(key: str, expect_version: int | None, which: str | None, **terms: str | None) -> None:
    """Record or change a project's contract terms (only the options given change). A project with
    several contracts needs --ref (or --contract) to say which.

    \b
    Example:
      cycle contract set camhs --provider "Trust X" --ref CAMHS-2025-01 --start 2025-04-01 \\
        --end 2028-03-31 --value 3.6m --annual-value 1.2m --notice "6 months" --run-on "12 months" \\
        --termination-costs "3 months' charges (about £300,000) if ended early"
    """
    from cycle.projects import engine

    from . import output

    st = engine.set_contract(ready_store(), key, terms, actor=actor(), expect_version=expect_version,
                             contract=which)
    click.echo(output.contract_set(key, st))


@contract.command("add")
@json_write
@click.argument("key")
@click.option("--ref", required=True, help="The new contract's reference, unique within the project.")
@click.option("--provider", help="The provider's name.")
@_terms
@expect_version_option
def contract_add(key: str, expect_version: int | None, **terms: str | None) -> None:
    """Add another contract to a project (a lot, a second provider, a successor contract).

    \b
    Example:
      cycle contract add camhs --ref CAMHS-LOT2 --provider "Trust Y" --start 2026-04-01 \\
        --end 2029-03-31 --value 900k --notice "3 months" --if-no-notice ends
    """
    from cycle.projects import engine

    from . import output

    st = engine.set_contract(ready_store(), key, terms, actor=actor(), expect_version=expect_version, mode="add")
    click.echo(output.contract_set(key, st))


@contract.command("fund")
@json_write
@click.argument("key")
@click.option("--ref", help="The contract, by its reference (needed when the project has several).")
@click.option("--funder", "funders", multiple=True, metavar="NAME",
              help="An organisation paying for the contract; give one --share or --amount after each.")
@click.option("--share", "shares", multiple=True, metavar="PERCENT",
              help="The funder's share, e.g. 60% (the shares add up to exactly 100%).")
@click.option("--amount", "amounts", multiple=True, metavar="POUNDS",
              help="The funder's amount, e.g. £1,200.50 (the amounts add up to the contract's value).")
@click.option("--pool", metavar="NAME", help="The pooled budget the split is within, e.g. a section 75 pool.")
@click.option("--clear", is_flag=True, help="Forget who pays for the contract (audited).")
def contract_fund(key: str, ref: str | None, funders: tuple[str, ...], shares: tuple[str, ...],
                  amounts: tuple[str, ...], pool: str | None, clear: bool) -> None:
    """Record who pays for a contract: each --funder with its --share (adding up to 100%) or its --amount
    (adding up to the contract's value), optionally within a pooled budget. It replaces any split recorded
    before, as one audited change.

    \b
    Example:
      cycle contract fund camhs --funder "Nottinghamshire County Council" --share 60% \\
        --funder "NHS Nottingham and Nottinghamshire ICB" --share 40% --pool "Section 75 CYP pool"
      cycle contract fund camhs --ref CAMHS-LOT2 --funder "Council" --amount £600,000 \\
        --funder "ICB" --amount £300,000
      cycle contract fund camhs --clear
    """
    from cycle import funding
    from cycle.errors import BadInput
    from cycle.projects import engine

    from . import output

    if clear and (funders or shares or amounts or pool is not None):
        raise BadInput("--clear forgets who pays; give it alone, or give the new split without --clear")
    split = None if clear else funding.parse(list(funders), list(shares), list(amounts), pool)
    st, before = engine.fund_contract(ready_store(), key, split, actor=actor(), contract=ref)
    click.echo(output.fund(key, st, before))


@contract.command("show")
@click.argument("key")
@click.option("--ref", help="The contract, by its reference (without it: the project's only contract, or all).")
@as_of_option
@json_option
def contract_show(key: str, ref: str | None, as_of: str | None, as_json: bool) -> None:
    """The contract, its notice deadline and its status on a date (every contract of a project that
    has several, unless --ref names one; with --json, then, a list).

    \b
    Example:
      cycle contract show camhs --as-of 2026-10-01
      cycle contract show camhs --ref CAMHS-LOT2
    """
    from cycle.projects import views

    from . import output

    found = views.show_contracts(ready_store(), key, as_of_date(as_of), ref, every=True)
    if as_json:
        emit(output.contract_json(found[0].as_dict()) if len(found) == 1
             else [output.contract_json(st.as_dict()) for st in found])
    else:
        click.echo("\n\n".join(output.contract(st) for st in found))


@contract.command("notice")
@json_write
@click.argument("key")
@click.option("--served-on", required=True, type=DATE, help="The day notice was served, YYYY-MM-DD.")
@click.option("--ref", required=True, help="The notice letter's reference.")
@click.option("--contract", "which", metavar="REF",
              help="The contract notice was served on, by its reference (needed when the project has several).")
def contract_notice(key: str, served_on: str, ref: str, which: str | None) -> None:
    """Record that notice was served on the contract.

    \b
    Example:
      cycle contract notice camhs-decommissioning --served-on 2026-09-15 --ref "Notice letter NL-114"
    """
    from cycle.projects import engine

    from . import output

    st = engine.serve_notice(ready_store(), key, served_on, ref, actor=actor(), contract=which)
    click.echo(output.contract(st))


@contract.command("correct")
@click.argument("key")
@click.option("--notice-served-on", required=True, type=DATE,
              help="The day notice was really served, YYYY-MM-DD (not before 1990, not in the future).")
@click.option("--reason", required=True, help="Why the record was wrong; kept in the audit entry.")
@click.option("--ref", help="The contract, by its reference (needed when the project has several).")
def contract_correct(key: str, notice_served_on: str, reason: str, ref: str | None) -> None:
    """Correct the day notice was recorded as served (a governance lead only): an audit entry of its own
    holds the old and the new day and the reason.

    \b
    Example:
      cycle contract correct camhs --notice-served-on 2026-09-15 --reason "typo: the year was 0206"
    """
    from cycle.governance import corrections

    old, new = corrections.correct_notice(ready_store(), key, served_on=notice_served_on, reason=reason,
                                          actor=actor(), contract=ref)
    click.echo(f"Corrected {key}: notice served on {new} (was {old}). See: cycle contract show {key}")


@click.group(context_settings=CONTEXT)
def contracts() -> None:
    """Across all contracts: the register, and what needs a decision soon."""


@contracts.command("list")
@click.option("--provider", metavar="NAME", help="Only this provider's contracts (whatever the case or spacing).")
@click.option("--status", "which", type=click.Choice(["live", "ended", "all"]), default="live", show_default=True,
              help="live: not ended on the day (incomplete terms count as live); ended; or all.")
@as_of_option
@json_option
@csv_option
def contracts_list(provider: str | None, which: str, as_of: str | None, as_json: bool, as_csv: bool) -> None:
    """Every contract: its project, reference, provider, dates, maximum end, value, notice deadline and status.

    \b
    Example:
      cycle contracts list
      cycle contracts list --provider "Trust X" --status all --csv > contracts.csv
    """
    from cycle import contracts as register

    from . import output

    one_format(as_json, as_csv)
    day = as_of_or_today(as_of)
    with register.listing(ready_store(), day, provider, which) as listing:
        if as_json:
            emit_each(map(output.listed_contract, listing.rows))
        elif as_csv:
            columns = output.CONTRACT_COLUMNS
            emit_csv(columns, ([d[c] for c in columns] for d in map(output.listed_contract, listing.rows)))
        else:
            echo_each((output.contract_line(st, listing.width) for st in listing.rows),
                      empty=output.no_contracts(provider, which, day))


@contracts.command("due")
@click.option("--within", type=PERIOD, default="180d", show_default=True,
              help="Window: 180d, 6m, 26w, 60 working days.")
@as_of_option
@json_option
def contracts_due(within: str, as_of: str | None, as_json: bool) -> None:
    """Live contracts whose notice deadline, end date or run-on end falls in the window, soonest first.

    \b
    Example:
      cycle contracts due --within 180d --as-of 2026-10-01
    """
    from cycle.projects import views

    from . import output

    rows = views.contracts_due(ready_store(), as_of_date(as_of), within)
    if as_json:
        emit([output.due_json(when, what, st) for when, what, st in rows])
    else:
        click.echo(output.due(rows, within))
