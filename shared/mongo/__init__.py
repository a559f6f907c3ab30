"""MongoDB-protocol plumbing: the client factory and the idempotent-consumer record."""

from shared.mongo.client import make_client
from shared.mongo.processed import ProcessedEvents

__all__ = ["ProcessedEvents", "make_client"]
