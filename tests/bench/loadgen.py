"""A lean HTTP/1.1 load generator, run as its own process so that it never competes with the
app for an event loop: ``python -m tests.bench.loadgen PORT sustained SECONDS CONCURRENCY``
(closed loop: each connection posts again as soon as it is answered) or
``... PORT open RATE SECONDS CONNECTIONS`` (open loop: requests start on schedule whatever the
answers do; latency counts from the scheduled time, so queueing is never hidden).
Prints one JSON line with the counts, the rate and the latency percentiles."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable

PATH = "/api/v1/issues"


def report_body(i: int) -> bytes:
    return json.dumps(
        {
            "category": "streetlight-out",
            "node_id": "sz.tongjiang.niuerqiao.hongqi",
            "description": f"红旗巷路灯不亮 #{i}",
            "attributes": {"lamps-out": "2"},
            "contact": {"phone": f"138{i % 100_000_000:08d}"},
        },
        ensure_ascii=False,
    ).encode()


def request_bytes(port: int, i: int) -> bytes:
    body = report_body(i)
    head = (
        f"POST {PATH} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def post(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return status


def percentiles(latencies: list[float]) -> dict[str, float]:
    latencies = sorted(latencies) or [0.0]

    def pick(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {"p50": pick(0.5), "p95": pick(0.95), "p99": pick(0.99), "max": latencies[-1] * 1000}


async def sustained(port: int, seconds: float, concurrency: int) -> dict:
    connections = [await Connection.open(port) for _ in range(concurrency)]
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    counter = iter(range(10**9))
    clock = time.perf_counter
    stop = clock() + seconds

    async def worker(connection: Connection) -> None:
        while (now := clock()) < stop:
            statuses[await connection.post(request_bytes(port, next(counter)))] += 1
            latencies.append(clock() - now)

    started = clock()
    await asyncio.gather(*(worker(c) for c in connections))
    elapsed = clock() - started
    return {
        "rate": statuses[202] / elapsed,
        "statuses": dict(statuses),
        **percentiles(latencies),
    }


async def scheduled(
    rate: float, seconds: float, one: Callable[[int, float], Awaitable[None]]
) -> float:
    """An open loop: ``one(i, due)`` started at each due time whatever the answers do (so
    queueing is never hidden); the seconds from the first start to the last answer."""
    clock = time.perf_counter
    tasks = []
    start = clock()
    for i in range(int(rate * seconds)):
        due = start + i / rate
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    return clock() - start


async def open_loop(port: int, rate: float, seconds: float, connections: int) -> dict:
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await Connection.open(port))
    statuses: Counter[int] = Counter()
    latencies: list[float] = []

    async def one(i: int, due: float) -> None:
        connection = await idle.get()  # waiting for a free connection counts as latency
        statuses[await connection.post(request_bytes(port, 10**8 + i))] += 1
        latencies.append(time.perf_counter() - due)
        idle.put_nowait(connection)

    elapsed = await scheduled(rate, seconds, one)
    return {"rate": statuses[202] / elapsed, "statuses": dict(statuses), **percentiles(latencies)}


def main() -> None:
    port, mode = int(sys.argv[1]), sys.argv[2]
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # pragma: no cover - the plain loop works, only slower
        run = asyncio.run
    if mode == "sustained":
        result = run(sustained(port, float(sys.argv[3]), int(sys.argv[4])))
    else:
        result = run(open_loop(port, float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
