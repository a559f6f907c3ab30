"""Working time: official holidays, make-up working days (调休) and working hours.

Deadlines are counted in working minutes inside ``[start, end)`` of each working day, local
time. A day is a working day when it is a make-up working day, or a weekday that is not a
holiday. Everything here is pure: the calendar is data, times are aware datetimes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


class CalendarError(ValueError):
    """The calendar cannot answer (e.g. a date in a year it has no data for)."""


@dataclass(frozen=True)
class WorkingCalendar:
    holidays: frozenset[date]
    workdays: frozenset[date]
    years: frozenset[int]
    tz: ZoneInfo = ZoneInfo("Asia/Shanghai")  # noqa: RUF009 (immutable)
    day_start: time = time(9, 0)
    day_end: time = time(17, 30)

    @property
    def minutes_per_day(self) -> int:
        start = self.day_start.hour * 60 + self.day_start.minute
        return self.day_end.hour * 60 + self.day_end.minute - start

    def is_working_day(self, day: date) -> bool:
        if day.year not in self.years:
            raise CalendarError(f"no holiday calendar for {day.year}")
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    def _bounds(self, day: date) -> tuple[datetime, datetime]:
        return (
            datetime.combine(day, self.day_start, self.tz),
            datetime.combine(day, self.day_end, self.tz),
        )

    def add(self, start: datetime, minutes: float) -> datetime:
        """The moment ``minutes`` working minutes after ``start`` (in UTC).

        Time outside working hours does not count; a deadline that falls exactly at the end
        of a working day stays there (it does not jump to the next morning).
        """
        if minutes < 0:
            raise ValueError("minutes must be >= 0")
        remaining = timedelta(minutes=minutes)
        cursor = self.local(start)
        day = cursor.date()
        for _ in range(3700):  # ten years of days: a calendar gap raises before this ends
            if self.is_working_day(day):
                opens, closes = self._bounds(day)
                begin = max(cursor, opens)
                if begin < closes:
                    available = closes - begin
                    if remaining <= available:
                        return (begin + remaining).astimezone(UTC)
                    remaining -= available
            day += timedelta(days=1)
            cursor = datetime.combine(day, time(0), self.tz)
        raise CalendarError("deadline too far in the future")

    def end_of_day(self, moment: datetime) -> datetime:
        """The end of the local calendar day of ``moment`` (for same-day emergencies)."""
        local = self.local(moment)
        return datetime.combine(local.date() + timedelta(days=1), time(0), self.tz).astimezone(UTC)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|h|wh|wd|d)\s*$")


@dataclass(frozen=True)
class Duration:
    """A span of time as operators write it: ``30m``/``4h``/``2d`` wall-clock, ``6wh``
    working hours, ``3wd`` working days, or ``same-day`` (end of the local day, at least
    ``minimum`` later)."""

    amount: float
    unit: str  # m, h, d, wh, wd, same-day

    @classmethod
    def parse(cls, text: str) -> Duration:
        text = str(text).strip()
        if text == "same-day":
            return cls(0, "same-day")
        match = _DURATION.match(text)
        if not match:
            raise ValueError(f"{text!r} is not a duration (30m, 4h, 2d, 6wh, 3wd, same-day)")
        return cls(float(match.group(1)), match.group(2))

    def after(self, start: datetime, calendar: WorkingCalendar) -> datetime:
        if self.unit == "m":
            return start + timedelta(minutes=self.amount)
        if self.unit == "h":
            return start + timedelta(hours=self.amount)
        if self.unit == "d":
            return start + timedelta(days=self.amount)
        if self.unit == "wh":
            return calendar.add(start, self.amount * 60)
        if self.unit == "wd":
            return calendar.add(start, self.amount * calendar.minutes_per_day)
        return max(calendar.end_of_day(start), start + timedelta(hours=4))

    def before(self, end: datetime, start: datetime, calendar: WorkingCalendar) -> datetime:
        """A reminder point ``self`` before ``end``, never earlier than ``start`` (working units
        are taken as wall-clock here: a reminder only needs to come before the deadline)."""
        if self.unit in ("wh", "h"):
            span = timedelta(hours=self.amount)
        elif self.unit in ("wd", "d"):
            span = timedelta(days=self.amount)
        elif self.unit == "m":
            span = timedelta(minutes=self.amount)
        else:
            span = timedelta(0)
        return max(start, end - span)

    def __str__(self) -> str:
        return "same-day" if self.unit == "same-day" else f"{self.amount:g}{self.unit}"
