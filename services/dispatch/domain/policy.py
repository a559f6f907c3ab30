"""Deadline policies: how long an owner has to acknowledge and to resolve, per category and
priority, and the reminder/escalation ladder. Pure data plus the arithmetic on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from services.dispatch.domain.calendar import Duration, WorkingCalendar


@dataclass(frozen=True)
class Deadlines:
    ack: Duration
    resolve: Duration


@dataclass(frozen=True)
class Ladder:
    """The escalation ladder of one duty (all counted from its current deadline)."""

    # reminder ahead of the deadline; 催办 at it; escalation this long after it; 通报 this long
    # after the first missed deadline; 回访 after resolution; closed unanswered after the visit
    remind_before: Duration = Duration(2, "wh")  # noqa: RUF009 (frozen)
    escalate_after: Duration = Duration(1, "wh")  # noqa: RUF009
    reprimand_after: Duration = Duration(3, "wd")  # noqa: RUF009
    return_visit_after: Duration = Duration(0, "m")  # noqa: RUF009
    close_unanswered_after: Duration = Duration(3, "wd")  # noqa: RUF009
    reopen_at_or_below: int = 2  # ratings 1..this reopen the case (重办); above close it


@dataclass(frozen=True)
class DeadlinePolicy:
    by_priority: dict[str, Deadlines]
    by_category: dict[str, dict[str, Deadlines]] = field(default_factory=dict)
    ladder: Ladder = Ladder()

    def deadlines(self, category: str, priority: str) -> Deadlines:
        return self.by_category.get(category, {}).get(priority) or self.by_priority[priority]

    def dues(
        self, category: str, priority: str, start: datetime, calendar: WorkingCalendar
    ) -> tuple[datetime, datetime]:
        """(ack_due, resolve_due) for a duty that starts at ``start``."""
        deadlines = self.deadlines(category, priority)
        return deadlines.ack.after(start, calendar), deadlines.resolve.after(start, calendar)
