"""MongoDB-protocol plumbing: the client factory and the writes replicas may race on."""

from shared.mongo.client import make_client
from shared.mongo.writes import upsert, upsert_returning

__all__ = ["make_client", "upsert", "upsert_returning"]
