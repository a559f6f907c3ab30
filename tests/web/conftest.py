"""The platform as processes (every service, the web console included), the console's demo
accounts, and helpers that sign in and read a page's forms."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from services.ops.cli.web import DEMO_PASSWORD, create_demo_accounts
from services.ops.infra import services as procs
from shared.settings import Settings
from tests.platform import running_platform
from tests.servers import Endpoints


@dataclass
class Platform:
    settings: Settings
    processes: procs.ServiceProcesses

    def url(self, service: str) -> str:
        return self.processes.url(service)


@pytest.fixture(scope="module")
def platform(servers: Endpoints, tmp_path_factory) -> Iterator[Platform]:
    with running_platform(
        servers,
        tmp_path_factory.mktemp("services"),
        "w",
        env={
            "LINLI_INTAKE_RATE_PER_CLIENT": "0",
            "LINLI_NOTIFY_SIGNIN_CODES_PER_ADDRESS": "200",  # every browser here is 127.0.0.1
            "LINLI_NOTIFY_REACH_EVERY_S": "1",  # broadcast previews count new residents soon
        },
        ready_timeout_s=120,
    ) as (settings, processes):
        create_demo_accounts(settings)
        yield Platform(settings, processes)


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def signed_in(platform: Platform, username: str, lang: str = "zh-CN") -> httpx.Client:
    """A client with a live session of ``username`` (a demo account)."""
    client = httpx.Client(base_url=platform.url("web"), timeout=20)
    client.cookies.set("linli_lang", lang)
    page = client.get("/signin")
    answer = client.post(
        "/signin",
        data={"csrf": csrf_of(page.text), "username": username, "password": DEMO_PASSWORD},
    )
    assert answer.status_code == 303, answer.text
    client.cookies.set("linli_session", answer.cookies["linli_session"])
    return client


def report(
    platform: Platform, category: str, node: str, text: str, media_url: str = "", **attributes
) -> str:
    body = {"category": category, "node_id": node, "description": text,
            "contact": {"phone": "13800001111"}}  # fmt: skip
    if media_url:
        body["media_url"] = media_url
    if attributes:
        body["attributes"] = attributes
    answer = httpx.post(f"{platform.url('intake')}/api/v1/issues", json=body, timeout=20)
    assert answer.status_code == 202, answer.text
    return answer.json()["issue_id"]


def run(coro):
    return asyncio.run(coro)
