"""Signals to a running service: stopped (SIGTERM) while a resident's live inbox stream is
open, it stops within a poll interval (the stream ends at its next check instead of holding
uvicorn's graceful shutdown for its whole timeout: 25 s, then the platform's SIGKILL at 30 s);
asked (SIGUSR1), it logs where each of its tasks waits and goes on serving."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import pytest

from services.ops.infra import services as procs
from shared.residents import resident_ref, resident_token
from tests.helpers import eventually
from tests.platform import free_port, running_platform

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


async def test_notify_stops_promptly_with_a_live_stream_open(servers, tmp_path):
    with running_platform(servers, tmp_path, "w", only={"notify": free_port()}) as running:
        settings, processes = running
        secret = settings.resident_secret.get_secret_value()
        ref = resident_ref(secret, "tel:13800000077")
        headers = {"Authorization": f"Bearer {resident_token(secret, ref)}"}
        url = f"{processes.url('notify')}/api/v1/residents/{ref}/inbox/stream"
        async with (
            httpx.AsyncClient(timeout=60) as client,
            client.stream("GET", url, headers=headers) as stream,
        ):
            assert stream.status_code == 200
            chunks = stream.aiter_raw()
            assert (await anext(chunks)).startswith(b": connected")
            began = time.monotonic()
            await asyncio.to_thread(procs.stop, processes, ["notify"], lambda _: None)
            took = time.monotonic() - began
            rest = b"".join([chunk async for chunk in chunks])  # the stream ended, not cut
    print(f"\nnotify stopped {took:.1f} s after SIGTERM with a stream open")
    assert took < 10, f"notify took {took:.1f} s to stop with a live stream open"
    assert b"connected" not in rest


async def test_a_running_service_writes_where_its_tasks_wait_on_sigusr1(servers, tmp_path):
    """For a hang: ``kill -USR1`` makes a service log each asyncio task and where it waits,
    and it goes on serving."""
    with running_platform(servers, tmp_path, "u", only={"notify": free_port()}) as running:
        _, processes = running
        os.kill(processes.pids("notify").live_pid()[0], signal.SIGUSR1)
        log = processes.log("notify")

        async def dumped() -> bool:
            return "task_dump" in log.read_text(errors="replace")

        await eventually(dumped, timeout_s=10)
        dump = next(line for line in log.read_text().splitlines() if "task_dump" in line)
        assert "--- " in dump and "Stack for" in dump, dump[:500]
        async with httpx.AsyncClient() as client:
            assert (await client.get(processes.url("notify") + "/readyz")).status_code == 200
