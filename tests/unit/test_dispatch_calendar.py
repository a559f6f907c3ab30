from datetime import UTC, date, datetime

import pytest

from services.dispatch.domain.calendar import CalendarError, Duration
from services.dispatch.rule_files import load_calendar, load_policy
from shared.reference import load_reference
from shared.settings import Settings

pytestmark = pytest.mark.unit
CONFIG = Settings().config_dir
CAL = load_calendar(CONFIG / "holidays.yaml")


def sh(y, m, d, hh=0, mm=0):
    """A Shanghai wall-clock time as UTC."""
    return datetime(y, m, d, hh, mm, tzinfo=CAL.tz).astimezone(UTC)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 1, 26), True),  # Sunday make-up day before Spring Festival
        (date(2025, 1, 28), False),  # 除夕 2025
        (date(2025, 10, 8), False),
        (date(2025, 10, 11), True),  # Saturday make-up day
        (date(2026, 1, 2), False),
        (date(2026, 1, 4), True),  # Sunday make-up day
        (date(2026, 2, 14), True),
        (date(2026, 2, 23), False),
        (date(2026, 2, 28), True),
        (date(2026, 5, 9), True),
        (date(2026, 9, 20), True),
        (date(2026, 10, 7), False),
        (date(2026, 10, 10), True),
        (date(2026, 11, 27), True),  # an ordinary Friday
        (date(2026, 11, 28), False),  # an ordinary Saturday
        (date(2027, 2, 8), False),
    ],
)
def test_holidays_and_make_up_days(day, working):
    assert CAL.is_working_day(day) is working


def test_every_year_has_its_official_holiday_count():
    # 2025 and 2026 notices: 元旦 1/3, 春节 8/9, 清明 3, 劳动 5, 端午 3, 中秋(+国庆) 8 / 3+7
    assert sum(1 for d in CAL.holidays if d.year == 2025) == 1 + 8 + 3 + 5 + 3 + 8
    assert sum(1 for d in CAL.holidays if d.year == 2026) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert sorted(d for d in CAL.workdays if d.year == 2026) == [
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    ]


def test_working_hours_skip_nights_weekends_and_holidays():
    # Friday 16:30 + 2 working hours = one hour on Friday, one on Monday: 10:00
    assert CAL.add(sh(2026, 11, 27, 16, 30), 120) == sh(2026, 11, 30, 10, 0)
    # before opening: counting starts at 09:00
    assert CAL.add(sh(2026, 11, 30, 6, 0), 60) == sh(2026, 11, 30, 10, 0)
    # National Day week: Sept 30 17:00 + 1h -> Oct 8 09:30 (Oct 1-7 off)
    assert CAL.add(sh(2026, 9, 30, 17, 0), 60) == sh(2026, 10, 8, 9, 30)
    # the Saturday make-up day Oct 10 counts
    assert CAL.add(sh(2026, 10, 9, 17, 0), 60) == sh(2026, 10, 10, 9, 30)
    # a deadline exactly at closing time stays at closing time
    assert CAL.add(sh(2026, 11, 30, 9, 0), CAL.minutes_per_day) == sh(2026, 11, 30, 17, 30)


def test_working_days_and_same_day_emergencies():
    start = sh(2026, 2, 13, 10, 0)  # Friday before Spring Festival 2026
    # 3 working days: Sat 14 (make-up) 10:00 -> Tue 24 10:00 -> Wed 25 10:00
    assert Duration.parse("3wd").after(start, CAL) == sh(2026, 2, 25, 10, 0)
    urgent = Duration.parse("same-day").after(sh(2026, 2, 16, 10, 0), CAL)
    assert urgent == sh(2026, 2, 17)  # emergencies count on holidays too
    late = Duration.parse("same-day").after(sh(2026, 2, 16, 22, 0), CAL)
    assert late == sh(2026, 2, 17, 2, 0)  # at least four hours
    assert Duration.parse("30m").after(start, CAL) == sh(2026, 2, 13, 10, 30)


def test_years_without_data_are_an_error_not_a_guess():
    with pytest.raises(CalendarError):
        CAL.is_working_day(date(2031, 1, 2))


@pytest.mark.parametrize("text", ["3", "3 weeks", "-1wd", "wd"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError):
        Duration.parse(text)


def test_the_shipped_policy_has_deadlines_per_category_and_priority():
    ref = load_reference()
    policy = load_policy(CONFIG / "routing.yaml", set(ref.categories))
    assert str(policy.deadlines("neighbour-conflict", "normal").resolve) == "13wd"
    assert str(policy.deadlines("streetlight-out", "normal").resolve) == "3wd"
    assert str(policy.deadlines("gas-leak", "urgent").resolve) == "same-day"
    assert policy.ladder.reopen_at_or_below == 2
