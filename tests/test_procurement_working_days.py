"""Issue 18 part 2: working days as each law defines them, checked against dates worked by hand (the comments show
the count), never against the same function.

PSR reg 12(12): not Saturday, Sunday, Christmas Day, Good Friday, the first Monday in May or a bank holiday in
England. PA 2023 s.123(1): not Saturday, Sunday or a bank holiday in any part of the United Kingdom."""

from __future__ import annotations

from datetime import date

import pytest

from cycle.errors import BadInput
from cycle.procurement.working_days import is_working_day, last_day

PSR, PA = "psr-working-days", "pa2023-working-days"


@pytest.mark.parametrize(("day", "psr", "pa", "why"), [
    (date(2027, 12, 24), True, True, "Christmas Eve is a working day under both"),
    (date(2027, 12, 27), False, False, "Christmas Day (observed), Monday"),
    (date(2027, 12, 28), False, False, "Boxing Day (observed), Tuesday"),
    (date(2027, 1, 4), True, False, "2 January falls on a Saturday: Scotland's holiday is Monday 4 January"),
    (date(2027, 11, 30), True, False, "St Andrew's Day, Tuesday: Scotland only"),
    (date(2026, 11, 30), True, False, "St Andrew's Day, Monday: Scotland only"),
    (date(2027, 3, 17), True, False, "St Patrick's Day, Wednesday: Northern Ireland only"),
    (date(2027, 7, 12), True, False, "Battle of the Boyne, Monday: Northern Ireland only"),
    (date(2026, 7, 13), True, False, "12 July 2026 is a Sunday: Northern Ireland's holiday is Monday 13 July"),
    (date(2027, 3, 26), False, False, "Good Friday"),
    (date(2027, 3, 29), False, False, "Easter Monday: England, Wales and Northern Ireland, not Scotland: a "
                                     "bank holiday in a part of the UK"),
    (date(2027, 8, 2), True, False, "first Monday in August: Scotland's summer bank holiday"),
    (date(2027, 8, 30), False, False, "last Monday in August: England's"),
    (date(2020, 5, 4), False, True, "the first Monday in May 2020: the bank holiday moved to Friday 8 May, but "
                                    "reg 12(12) names the first Monday in May itself"),
    (date(2020, 5, 8), False, False, "Friday 8 May 2020, VE Day: the early May bank holiday that year"),
    (date(2027, 1, 2), False, False, "a Saturday"),
    (date(2027, 1, 5), True, True, "an ordinary Tuesday"),
])
def test_which_days_are_working_days_under_each_law(day: date, psr: bool, pa: bool, why: str) -> None:
    assert (is_working_day(day, PSR), is_working_day(day, PA)) == (psr, pa), why


# PSR standstill (reg 12(2), (3), (9)): begins the day after publication; ends at the end of the 8th working day
# after the day it begins. PA 2023 mandatory standstill (s.51(2)): 8 working days beginning with the day of
# publication.
@pytest.mark.parametrize(("published", "psr_end", "pa_end"), [
    # Mon 11 Jan 2027. PSR: begins Tue 12; 13,14,15,18,19,20,21,22 -> Fri 22 Jan (issue 18 said 21: one short).
    # PA: 11,12,13,14,15,18,19,20 -> Wed 20 Jan.
    (date(2027, 1, 11), date(2027, 1, 22), date(2027, 1, 20)),
    # Christmas and New Year. Fri 18 Dec 2026. PSR: begins Sat 19; 21,22,23,24 (Christmas Eve counts), not 25 or
    # 28 (Boxing Day substitute), 29,30,31, not 1 Jan, 4 -> Mon 4 Jan 2027.
    # PA: 18,21,22,23,24,29,30,31 -> Thu 31 Dec.
    (date(2026, 12, 18), date(2027, 1, 4), date(2026, 12, 31)),
    # A Scotland-only holiday. Wed 23 Dec 2026. PSR: begins Thu 24; 29,30,31,4,5,6,7,8 -> Fri 8 Jan.
    # PA: 23,24,29,30,31, not 1 Jan nor Scotland's Mon 4 Jan (2 January observed), 5,6,7 -> Thu 7 Jan.
    (date(2026, 12, 23), date(2027, 1, 8), date(2027, 1, 7)),
    # Easter. Wed 24 Mar 2027. PSR: begins Thu 25; not 26 (Good Friday) nor 29 (Easter Monday);
    # 30,31,1,2,5,6,7,8 -> Thu 8 Apr.  PA: 24,25,30,31,1,2,5,6 -> Tue 6 Apr.
    (date(2027, 3, 24), date(2027, 4, 8), date(2027, 4, 6)),
    # Northern Ireland only. Wed 7 Jul 2027. PSR: begins Thu 8; 9,12 (a PSR working day),13,14,15,16,19,20 -> Tue
    # 20 Jul. PA: 7,8,9, not 12 Jul, 13,14,15,16,19 -> Mon 19 Jul.
    (date(2027, 7, 7), date(2027, 7, 20), date(2027, 7, 19)),
    # St Andrew's Day. Wed 24 Nov 2027. PSR: begins Thu 25; 26,29,30 (a PSR working day),1,2,3,6,7 -> Tue 7 Dec.
    # PA: 24,25,26,29, not Tue 30 Nov, 1,2,3,6 -> Mon 6 Dec.
    (date(2027, 11, 24), date(2027, 12, 7), date(2027, 12, 6)),
    # Northern Ireland's St Patrick's Day. Mon 15 Mar 2027. PSR: begins Tue 16; 17 (a PSR working day),18,19,22,
    # 23,24,25,(26 Good Friday),(29 Easter Monday),30 -> Tue 30 Mar. PA: 15,16, not 17, 18,19,22,23,24,25 -> Thu 25.
    (date(2027, 3, 15), date(2027, 3, 30), date(2027, 3, 25)),
])
def test_standstills_under_each_law(published: date, psr_end: date, pa_end: date) -> None:
    assert last_day(published, 8, PSR, "after-the-day-after") == psr_end
    assert last_day(published, 8, PA, "beginning-with") == pa_end


def test_a_publication_on_a_non_working_day_is_not_day_one_under_the_act() -> None:
    # Sat 9 Jan 2027: not a working day, so day 1 is Mon 11; 11,12,13,14,15,18,19,20 -> Wed 20 Jan
    assert last_day(date(2027, 1, 9), 8, PA, "beginning-with") == date(2027, 1, 20)
    # PSR: begins Sun 10; 11,12,13,14,15,18,19,20 -> Wed 20 Jan
    assert last_day(date(2027, 1, 9), 8, PSR, "after-the-day-after") == date(2027, 1, 20)


def test_calendar_day_periods_count_as_their_words_say() -> None:
    # PA s.53(1): 30 days beginning with the day of entry, 1 Feb 2027 -> the last day is 2 March 2027 (28 + 2)
    assert last_day(date(2027, 2, 1), 30, "days", "beginning-with") == date(2027, 3, 2)
    # s.53(1)(a): 120 days beginning with 1 Feb 2027 -> 31 May 2027 (28 + 31 + 30 + 31 = 120 ends 31 May)
    assert last_day(date(2027, 2, 1), 120, "days", "beginning-with") == date(2027, 5, 31)
    # s.54(5): 25 days beginning with the day following a tender notice on 1 Feb 2027 -> 26 Feb 2027
    assert last_day(date(2027, 2, 1), 25, "days", "after") == date(2027, 2, 26)
    # PSR reg 10(5): 14 days after 1 Feb 2027 -> 15 Feb 2027
    assert last_day(date(2027, 2, 1), 14, "days", "after") == date(2027, 2, 15)


def test_the_psr_further_wait_of_five_working_days() -> None:
    # reg 12(10)(a)(v): last further decision on Thu 24 Dec 2026: 29,30,31, not 1 Jan, 4, 5 -> Tue 5 Jan 2027
    assert last_day(date(2026, 12, 24), 5, PSR, "after") == date(2027, 1, 5)


def test_a_count_past_2100_is_refused_not_guessed() -> None:
    with pytest.raises(BadInput, match=r"runs past 2100-12-31, beyond the bank holidays cycle knows"):
        last_day(date(2100, 12, 28), 8, PA, "beginning-with")
