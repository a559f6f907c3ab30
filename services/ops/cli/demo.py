"""Demo data for ``make up``: reports from the article's places, a campaign and its donations.

Everything goes in through the public APIs, as a resident and a front desk would send it:
reports to intake (each with its own ``Idempotency-Key``), the campaign and the donations to
the ledger (client-chosen ids), so a second run files nothing twice. Tests check every record
here against the current catalogue and the APIs' models (``tests/unit/test_demo_data.py``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

from shared.settings import Settings

DEMO_REPORTS: list[dict[str, Any]] = [
    {
        "category": "streetlight-out",
        "node_id": "sz.tongjiang.niuerqiao.hongqi",
        "description": "红旗小区门口巷道路灯不亮",
        "attributes": {"lamps-out": 2},
        "contact": {"phone": "13800000000", "language": "zh-CN"},
    },
    {
        "category": "sewer-blockage",
        "node_id": "sz.tongjiang.niuerqiao.hongqi",
        "description": "雨后巷口积水，下水道堵塞",
        "attributes": {"location-detail": "巷口井盖处"},
        "contact": {"phone": "13800000001", "language": "zh-CN"},
    },
    {
        "category": "water-pipe-burst",
        "node_id": "sz.tongjiang.niuerqiao.hongqi.b03",
        "description": "3号楼外供水管破裂",
        "attributes": {"severity": "spraying", "location-detail": "3号楼东侧"},
        "contact": {"phone": "13800000002", "language": "zh-CN"},
    },
    {
        "category": "garbage-overflow",
        "node_id": "sz.tongjiang.niuerqiao.hongqi",
        "description": "Bins at the gate overflowing",
        "attributes": {"days-uncollected": 3},
        "contact": {"phone": "13800000003", "language": "en"},
    },
    {
        "category": "overhead-cable-tangle",
        "node_id": "sz.tongjiang.niuerqiao.hongqi.b01",
        "description": "楼道外飞线缠绕，存在隐患",
        "attributes": {"operator": ["unknown"]},
        "contact": {"phone": "13800000004", "language": "zh-CN"},
    },
]

DEMO_CAMPAIGN: dict[str, Any] = {
    "id": "winter-warmth",
    "name": "冬日暖心 Winter warmth",
    "goal_fen": 5_000_000,
    "starts": "2026-11-01",
    "ends": "2027-02-28",
    "projects": ["elderly-heating", "quilts"],
}

DEMO_DONATIONS: list[dict[str, Any]] = [
    {
        "donation_id": "demo-online-0001",
        "campaign": "winter-warmth",
        "channel": "online",
        "amount_fen": 50_000,
        "payment_ref": "demo-pay-0001",
    },
    {
        "donation_id": "demo-offline-0001",
        "campaign": "winter-warmth",
        "channel": "offline",
        "amount_fen": 200_000,
        "receipt_book_no": "demo-book-01-p01",
        "donor": {"name": "嘉州爱心车队", "named": True},
    },
    {
        "donation_id": "demo-inkind-0001",
        "campaign": "winter-warmth",
        "channel": "in-kind",
        "amount_fen": 38_000,
        "item": "quilts",
        "quantity": 20,
        "valuation_method": "invoice",
    },
]


class DemoFailed(Exception):
    """A demo record was refused or a service did not answer; the message says which and why."""


@dataclass(frozen=True)
class Loaded:
    reports: list[dict[str, Any]]  # intake's answers, in DEMO_REPORTS order
    donations: int


def _refusal(response: httpx.Response) -> str:
    """The platform's error format, as one line."""
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    reasons = "; ".join(f"{e.get('field') or '-'}: {e.get('message')}" for e in errors)
    return f"HTTP {response.status_code} {reasons}"


def _report_key(index: int) -> str:
    return f"linli-demo-report-{index + 1}"


def post_reports(http: httpx.Client, intake_url: str) -> list[dict[str, Any]]:
    answers = []
    for index, body in enumerate(DEMO_REPORTS):
        what = f"demo report {index + 1} of {len(DEMO_REPORTS)} ({body['category']})"
        response = _send(
            http, "POST", f"{intake_url}/api/v1/issues", what, json=body,
            headers={"Idempotency-Key": _report_key(index)},
        )  # fmt: skip
        if response.status_code != 202:
            raise DemoFailed(f"{what} refused by intake: {_refusal(response)}")
        answers.append(response.json())
    return answers


def post_campaign_and_donations(http: httpx.Client, ledger_url: str, clerk_key: str) -> int:
    auth = {"Authorization": f"Bearer {clerk_key}"}
    what = f"demo campaign {DEMO_CAMPAIGN['id']}"
    response = _send(
        http, "POST", f"{ledger_url}/api/v1/campaigns", what, json=DEMO_CAMPAIGN, headers=auth
    )
    if response.status_code not in (200, 201):
        raise DemoFailed(f"{what} refused by the ledger: {_refusal(response)}")
    for body in DEMO_DONATIONS:
        what = f"demo donation {body['donation_id']}"
        response = _send(
            http, "POST", f"{ledger_url}/api/v1/donations", what, json=body, headers=auth
        )
        if response.status_code == 202:  # the fund's writer is slow: wait for the outcome
            response = _outcome(http, ledger_url, response.json()["command_id"], what)
        if response.status_code not in (200, 201):
            raise DemoFailed(f"{what} refused by the ledger: {_refusal(response)}")
    return len(DEMO_DONATIONS)


def _outcome(http: httpx.Client, ledger_url: str, command_id: str, what: str) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = _send(http, "GET", f"{ledger_url}/api/v1/commands/{command_id}", what)
        if response.status_code != 404:
            return response
        time.sleep(0.5)
    raise DemoFailed(f"{what}: the ledger did not post it within 60 s (command {command_id})")


def _send(http: httpx.Client, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
    """One request, retried while the service answers 503 (a dependency still settling)."""
    for _ in range(10):
        try:
            response = http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise DemoFailed(f"{what}: no answer from {url}: {exc!r}") from exc
        if response.status_code != 503:
            return response
        time.sleep(float(response.headers.get("Retry-After", "1")))
    return response


def demo_clerk_key(settings: Settings) -> str:
    """A ledger clerk key for the demo's front desk (only its hash is stored)."""
    from services.ops.cli.ledger import new_key

    try:
        _, key = asyncio.run(
            new_key(settings, name="demo front desk", role="clerk", party=None, funds=["*"])
        )
    except Exception as exc:  # the database's own error, said in one line
        raise DemoFailed(f"a ledger clerk key for the demo: {exc!r}") from exc
    return key


def load_demo(settings: Settings, urls: dict[str, str]) -> Loaded:
    """Post every demo record; ``DemoFailed`` names the first one that did not go in."""
    with httpx.Client(timeout=30) as http:
        reports = post_reports(http, urls["intake"])
        donations = post_campaign_and_donations(http, urls["ledger"], demo_clerk_key(settings))
    return Loaded(reports, donations)
