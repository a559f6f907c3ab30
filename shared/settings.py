"""Settings read from the environment (prefix ``LINLI_``), with documented defaults.

Every field's description is the operator documentation: ``linli config`` prints the table
and the README reproduces it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent

DEV_SECRET = "dev-only-resident-secret-change-me"

SERVICE_PORTS = {"intake": 8081, "dispatch": 8082, "notify": 8083, "ledger": 8084}


class Settings(BaseSettings):
    """Platform settings shared by every service and the ``linli`` tool."""

    model_config = SettingsConfigDict(env_prefix="LINLI_", extra="ignore")

    env: Literal["development", "test", "production"] = Field(
        "development", description="Deployment environment; production refuses dev secrets."
    )
    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma separated."
    )
    mongodb_url: str = Field(
        "mongodb://127.0.0.1:27017/", description="MongoDB-protocol server URL."
    )
    db_prefix: str = Field(
        "linli_", description="Prefix of each service's own database (e.g. linli_intake)."
    )
    topic_prefix: str = Field(
        "", description="Prefix added to every topic name (isolates test runs on one cluster)."
    )
    topic_partitions: int = Field(
        6, ge=1, description="Partitions of the main event topics created by `linli topics apply`."
    )
    topic_replication: int = Field(
        1, ge=1, description="Replication factor of created topics (3 on a production cluster)."
    )
    config_dir: Path = Field(
        REPO_ROOT / "deploy" / "config",
        description="Folder of the reference data: tree, departments, categories, routing.",
    )
    http_host: str = Field("127.0.0.1", description="Address the HTTP servers bind to.")
    intake_port: int = Field(SERVICE_PORTS["intake"], description="HTTP port of intake.")
    dispatch_port: int = Field(SERVICE_PORTS["dispatch"], description="HTTP port of dispatch.")
    notify_port: int = Field(SERVICE_PORTS["notify"], description="HTTP port of notify.")
    ledger_port: int = Field(SERVICE_PORTS["ledger"], description="HTTP port of ledger.")
    publish_timeout_s: float = Field(
        4.0, gt=0, description="How long an HTTP request waits for Kafka's acknowledgement."
    )
    retry_after_s: int = Field(
        5, ge=1, description="Retry-After seconds sent with a 503 while a dependency is down."
    )
    probe_interval_s: float = Field(
        2.0, gt=0, description="How often readiness re-checks Kafka and MongoDB."
    )
    resident_secret: SecretStr = Field(
        SecretStr(DEV_SECRET),
        description="Key of the pseudonymous resident references and inbox tokens "
        "(HMAC-SHA256). Must be set in production.",
    )
    log_level: str = Field("INFO", description="Log level.")
    log_format: Literal["console", "json"] = Field(
        "console", description="console for people, json for log collectors."
    )
    max_body_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest accepted JSON request body, in bytes."
    )
    dispatch_timer_interval_s: float = Field(
        0.2, ge=0, description="How often dispatch looks for due timers (0: never, for tests)."
    )
    dispatch_timer_batch: int = Field(
        200, ge=1, description="Most timers one dispatch replica fires per tick."
    )

    @model_validator(mode="after")
    def _no_dev_secret_in_production(self) -> Settings:
        if self.env == "production" and self.resident_secret.get_secret_value() == DEV_SECRET:
            raise ValueError("LINLI_RESIDENT_SECRET must be set in production")
        return self

    def database_name(self, service: str) -> str:
        return f"{self.db_prefix}{service}"

    def port_of(self, service: str) -> int:
        return int(getattr(self, f"{service}_port"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
