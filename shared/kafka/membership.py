"""How a replica belongs to its consumer groups: its static name and its session's timing.

A replica that dies without leaving keeps its partitions until its session times out; only
then do the other replicas take them over. The session and the heartbeat that keeps it alive
bound that hand-over: the coordinator notices a dead member ``session_timeout_ms`` after its
last heartbeat, and a live member hears of the rebalance at its next heartbeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Membership:
    instance_id: str | None = None  # static membership: a restart under it rejoins at once
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000

    def consumer_options(self) -> dict[str, Any]:
        """The Kafka consumer's settings for this membership."""
        return {
            "group_instance_id": self.instance_id,
            "session_timeout_ms": self.session_timeout_ms,
            "heartbeat_interval_ms": self.heartbeat_interval_ms,
        }
