"""Local development servers (Kafka, FerretDB) run as plain processes; see :mod:`.local`."""

from shared.infra.errors import LocalInfraError
from shared.infra.install import InstalledPaths, ensure_installed
from shared.infra.local import DEV_STATE_DIR, TEST_STATE_DIR, LocalServers, down, status, up

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
