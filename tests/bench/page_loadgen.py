"""An open-loop GET load generator for pages, as its own process:
``python -m tests.bench.page_loadgen PORT RATE SECONDS CONNECTIONS PATH``. Requests start on
schedule whatever the answers do (latency counts from the scheduled time, so queueing is
never hidden). Besides that latency it collects the server's own time from each answer's
``Server-Timing: app;dur=<ms>`` header. Prints one JSON line: counts and percentiles."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections import Counter

from tests.bench.loadgen import percentiles, scheduled

DURATION = re.compile(rb"server-timing:\s*app;dur=([0-9.]+)", re.I)


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def get(self, request: bytes) -> tuple[int, float | None]:
        """(status, the server's own time in seconds, if it said)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        found = DURATION.search(head)
        return int(head[9:12]), float(found.group(1)) / 1000 if found else None


async def open_loop(port: int, rate: float, seconds: float, connections: int, path: str) -> dict:
    request = f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n".encode()
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await Connection.open(port))
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    server: list[float] = []
    clock = time.perf_counter

    async def one(_: int, due: float) -> None:
        connection = await idle.get()  # waiting for a free connection counts as latency
        status, server_s = await connection.get(request)
        statuses[status] += 1
        latencies.append(clock() - due)
        if server_s is not None:
            server.append(server_s)
        idle.put_nowait(connection)

    elapsed = await scheduled(rate, seconds, one)
    return {
        "rate": statuses[200] / elapsed,
        "statuses": {str(k): v for k, v in statuses.items()},
        "client": percentiles(latencies),
        "server": percentiles(server),
    }


def main() -> None:
    port, rate, seconds, connections, path = sys.argv[1:6]
    result = asyncio.run(open_loop(int(port), float(rate), float(seconds), int(connections), path))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
