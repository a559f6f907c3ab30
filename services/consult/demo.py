"""Demo data for ``make up``: 嘉定小院 (formerly 九龙巷62号) names itself again, as in the
article: a ranked poll among five candidate names, its two buildings' households on the roll
(two of them without phones, for paper codes), opened through the running service so that
every household with a phone is told in its language."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from services.consult.access import create_key
from services.consult.store import ConsultStore
from shared.events import utcnow
from shared.mongo import make_client
from shared.reference import load_reference
from shared.settings import Settings

COMMUNITY = "sz.haitang.xianjie"
COMPOUND = f"{COMMUNITY}.jiading"
POLL_ID = "poll_jiading_name"
NAMES = [
    ("jiading", "嘉定小院"),
    ("jiulong", "九龙小院"),
    ("hemei", "和美小院"),
    ("linli", "邻里小院"),
    ("qingyuan", "清源小院"),
]


def demo_roll() -> str:
    lines = ["building,household,phone,language"]
    for building in ("b01", "b02"):
        for floor in range(1, 4):
            for door in (1, 2):
                household = f"{floor}0{door}"
                phone = (
                    ""
                    if (building, household) == ("b02", "302")
                    else f"1370{floor}{door}0{building[-1]}000"
                )
                language = "en" if household == "201" and building == "b01" else "zh-CN"
                lines.append(f"{COMPOUND}.{building},{household},{phone},{language}")
    lines.append(f"{COMPOUND}.b01,101,,zh-CN")  # a second line of a household: no new phone
    return "\n".join(lines) + "\n"


async def _office_key(settings: Settings) -> str:
    client = make_client(settings.mongodb_url, app_name="linli-demo")
    try:
        store = ConsultStore(client[settings.database_name("consult")])
        tree = load_reference(settings.config_dir).tree
        _, key = await create_key(store, tree, name="县街社区 (demo)", node=COMMUNITY, party=None)
        return key
    finally:
        await client.close()


def load_demo(settings: Settings, consult_url: str) -> tuple[str, str]:
    """Roll, poll and opening: what was done, and the demo office's key (shown once)."""
    key = asyncio.run(_office_key(settings))
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=consult_url, headers=auth, timeout=30) as client:
        roll = client.post(
            "/api/v1/consult/rolls", content=demo_roll(), headers={"content-type": "text/csv"}
        )
        roll.raise_for_status()
        poll = {
            "poll_id": POLL_ID,
            "node_id": COMPOUND,
            "question": "九龙巷62号的新院名 / The courtyard's new name",
            "kind": "ranked",
            "options": [{"id": i, "label": label} for i, label in NAMES],
            "quorum_percent": 50,
            "closes_at": (utcnow() + timedelta(days=14)).isoformat(),
        }
        made = client.post("/api/v1/consult/polls", json=poll)
        if made.status_code != 409:  # 409: an earlier, interrupted run made it
            made.raise_for_status()
        opened = client.post(f"/api/v1/consult/polls/{POLL_ID}/open")
        opened.raise_for_status()
    households = roll.json()["accepted"]
    return f"naming poll {POLL_ID} open to {households} households of 嘉定小院", key
