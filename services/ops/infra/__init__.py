"""Local development servers (Kafka, FerretDB) run as plain processes; see :mod:`.local`."""

from services.ops.infra.errors import LocalInfraError
from services.ops.infra.install import InstalledPaths, ensure_installed
from services.ops.infra.local import DEV_STATE_DIR, TEST_STATE_DIR, LocalServers, down, status, up

__all__ = [
    "DEV_STATE_DIR",
    "TEST_STATE_DIR",
    "InstalledPaths",
    "LocalInfraError",
    "LocalServers",
    "down",
    "ensure_installed",
    "status",
    "up",
]
