"""Notify's rules: which message an event becomes, in the resident's language. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
LANGUAGES = ("zh-CN", "en")


@dataclass(frozen=True)
class Message:
    kind: str
    title: str
    body: str


def _local(at: datetime) -> str:
    return at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def assigned_message(
    *, issue_id: str, owner_name: str, resolve_due: datetime, language: str
) -> Message:
    """The resident hears who owns their report and by when it should be resolved."""
    if language == "en":
        return Message(
            "issue.assigned",
            "Your report has an owner",
            f"Report {issue_id} is now handled by {owner_name}. "
            f"It should be resolved by {_local(resolve_due)} (Beijing time).",
        )
    return Message(
        "issue.assigned",
        "您的反映已有承办单位",
        f"您反映的问题（编号 {issue_id}）已由{owner_name}承办，"
        f"预计在 {_local(resolve_due)} 前办结。",
    )
