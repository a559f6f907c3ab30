"""Who besides the reporter hears of an issue's status change."""

from __future__ import annotations

from collections.abc import Iterable

# the reporter's own messages: the receipt of the report and the rating request (回访)
NOT_FOR_FOLLOWERS = frozenset({"issue.received", "issue.return-visit"})


def follower_recipients(kind: str, followers: Iterable[str], reporter: str | None) -> list[str]:
    """Who besides the reporter hears of a status change of an issue: every follower once,
    in the order they followed, never the reporter again, nobody for the reporter's own
    messages."""
    if kind in NOT_FOR_FOLLOWERS:
        return []
    return [ref for ref in dict.fromkeys(followers) if ref and ref != reporter]
