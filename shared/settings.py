"""Settings read from the environment (prefix ``LINLI_``), with documented defaults.

Every field's description is the operator documentation: ``linli config`` prints the table
and the README reproduces it.
"""

from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.kafka.membership import Membership

REPO_ROOT = Path(__file__).resolve().parent.parent

DEV_SECRET = "dev-only-resident-secret-change-me"
DEV_WEB_TOKEN_SECRET = "dev-only-web-token-secret-change-me"

SERVICE_PORTS = {
    "intake": 8081,
    "dispatch": 8082,
    "notify": 8083,
    "ledger": 8084,
    "consult": 8085,
    "web": 8080,
}


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
    consult_port: int = Field(SERVICE_PORTS["consult"], description="HTTP port of consult.")
    web_port: int = Field(SERVICE_PORTS["web"], description="HTTP port of the web console.")
    instance_id: str = Field(
        "",
        description="This replica's stable name in Kafka's consumer groups (static membership: "
        "restarted after a crash, it takes its partitions back at once instead of waiting for "
        "its old session to expire and a rebalance). Must differ between replicas of a service "
        "and stay the same across restarts of one; empty: <host name>-<service>-<HTTP port>.",
    )
    kafka_session_timeout_ms: int = Field(
        6000,
        ge=1000,
        le=300_000,
        description="How long a replica that stopped heartbeating keeps its partitions before "
        "the others take them over (within the brokers' group.min/max.session.timeout.ms; "
        "Kafka's own minimum default is 6000). Lower: quicker hand-over after a crash; too "
        "low: a replica paused by a busy machine loses its partitions.",
    )
    kafka_heartbeat_interval_ms: int = Field(
        1000,
        ge=100,
        le=100_000,
        description="How often a consumer heartbeats its group (at most a third of the session "
        "timeout); a live replica hears of a rebalance at its next heartbeat.",
    )
    publish_timeout_s: float = Field(
        4.0, gt=0, description="How long an HTTP request waits for Kafka's acknowledgement."
    )
    consumer_poll_ms: int = Field(
        20,
        ge=1,
        le=1000,
        description="How long an idle consumer waits for records, then pauses, before asking "
        "again: an event reaching an idle consumer waits up to this long more (lower: less "
        "latency, more idle wake-ups).",
    )
    retry_after_s: int = Field(
        5, ge=1, description="Retry-After seconds sent with a 503 while a dependency is down."
    )
    probe_interval_s: float = Field(
        2.0, gt=0, description="How often readiness re-checks Kafka and MongoDB."
    )
    resident_secret: SecretStr = Field(
        SecretStr(DEV_SECRET),
        description="Key of the pseudonymous resident references, residents' tokens and "
        "report tokens (HMAC-SHA256). Must be set in production.",
    )
    log_level: str = Field("INFO", description="Log level.")
    log_format: Literal["console", "json"] = Field(
        "console", description="console for people, json for log collectors."
    )
    ledger_command_wait_s: float = Field(
        8.0,
        gt=0,
        description="How long a ledger HTTP request waits for its command's outcome before "
        "answering 202 with a command id to poll.",
    )
    ledger_batch_size: int = Field(
        500,
        ge=1,
        le=5000,
        description="Records the ledger's consumers fetch at once; a batch's donations are "
        "posted with one group commit (one block of the chain) per fund.",
    )
    web_public_url: str = Field(
        "http://127.0.0.1:8080",
        description="Public base URL of the web service: the signed rating links residents get "
        "open its /rate page; the QR codes and printed notices link to its /report form.",
    )
    notify_rating_ttl_h: int = Field(
        168, ge=1, description="Hours a return-visit rating link stays valid."
    )
    notify_signin_codes_per_address: int = Field(
        10, ge=1, le=10000, description="Sign-in codes one client address may ask for per hour."
    )
    notify_retry_max_attempts: int = Field(
        5, ge=1, description="Attempts per channel before a temporary failure is given up on."
    )
    notify_retry_base_s: float = Field(
        2.0, gt=0, description="First retry delay; doubled each attempt, with full jitter."
    )
    notify_retry_max_s: float = Field(300.0, gt=0, description="Longest retry delay, in seconds.")
    notify_rate_per_s: str = Field(
        "email=20,webhook=20,sms=10",
        description="Per-channel send rate limits per replica, name=messages per second.",
    )
    notify_broadcast_batch: int = Field(
        1000, ge=1, description="Residents per fan-out batch of an area broadcast."
    )
    notify_broadcast_lease_s: float = Field(
        30.0, gt=0, description="How long a replica holds a broadcast before another may resume it."
    )
    notify_reach_every_s: float = Field(
        300.0, gt=0, description="How often residents are counted per node for broadcast previews."
    )
    notify_stream_max_s: float = Field(
        0.0,
        ge=0,
        description="Seconds a resident's live inbox stream stays open before notify ends it "
        "(EventSource reconnects by itself, with Last-Event-ID); 0: until the client goes.",
    )
    smtp_host: str = Field("", description="SMTP server for email; empty disables email.")
    smtp_port: int = Field(587, description="SMTP port.")
    smtp_starttls: bool = Field(True, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_username: str = Field("", description="SMTP user name (empty: no authentication).")
    smtp_password: SecretStr = Field(SecretStr(""), description="SMTP password.")
    smtp_ca_file: str = Field(
        "", description="CA bundle that signs the SMTP server's certificate (empty: system CAs)."
    )
    smtp_from: str = Field("linli@localhost", description="Sender address of emails.")
    smtp_timeout_s: float = Field(10.0, gt=0, description="SMTP connect and command timeout.")
    sms_gateway_url: str = Field("", description="HTTP SMS gateway endpoint; empty disables SMS.")
    sms_gateway_secret: SecretStr = Field(
        SecretStr(""), description="Key that signs SMS gateway requests (HMAC-SHA256)."
    )
    http_send_timeout_s: float = Field(
        5.0, gt=0, description="Timeout of webhook and SMS gateway requests."
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
    dev_clock_offset_s: float = Field(
        0.0,
        ge=0,
        description="Development only: dispatch's clock runs this many seconds ahead, to watch "
        "deadlines pass (refused in production).",
    )

    consult_secret: SecretStr = Field(
        SecretStr(DEV_SECRET + "-consult"),
        description="Consult: key of the households' eligibility records and paper codes "
        "(HMAC-SHA256). Must be set in production.",
    )
    consult_close_settle_s: float = Field(
        1.0,
        ge=0,
        description="Consult: seconds a closing poll waits for ballots already being cast "
        "before it counts; a ballot is checked against a poll read at most half this old.",
    )
    consult_tick_s: float = Field(
        2.0,
        ge=0,
        description="Consult: how often polls are looked at for announcements, reminders and "
        "closing times (0: never, for tests).",
    )
    web_token_secret: SecretStr = Field(
        SecretStr(DEV_WEB_TOKEN_SECRET),
        description="Key the web console signs staff tokens with and dispatch, notify, "
        "ledger and consult verify them by (HMAC-SHA256). Must be set in production.",
    )
    web_token_ttl_s: int = Field(
        120, ge=10, le=3600, description="Web: lifetime of a staff token sent to a service."
    )
    web_session_idle_min: int = Field(
        30, ge=1, description="Web: minutes without a request before a session ends."
    )
    web_session_absolute_h: int = Field(
        10, ge=1, description="Web: hours after sign-in when a session ends regardless."
    )
    web_lockout_failures: int = Field(
        5, ge=1, description="Web: failed sign-ins in a row that lock an account."
    )
    web_lockout_min: int = Field(15, ge=1, description="Web: minutes a locked account waits.")
    web_cookie_secure: bool = Field(
        False, description="Web: send the session cookie over HTTPS only (on in production)."
    )
    web_service_urls: str = Field(
        "",
        description="Web: where it reaches the services, name=url comma separated (empty: "
        "127.0.0.1 and each service's port).",
    )
    web_open311_url: str = Field(
        "",
        max_length=200,
        description="Web: the Open311 endpoint apps use, as the public discovery page lists it "
        "(empty: intake's /open311/v2/ as the web reaches it).",
    )
    web_public_refresh_s: float = Field(
        300.0,
        ge=0,
        description="Web: how often the public fund page's cache is read again whole from the "
        "ledger, besides on each of the ledger's events (0: at start and on events only).",
    )
    web_public_stats_s: float = Field(
        60.0,
        ge=0,
        description="Web: how long the public district page keeps dispatch's rates and counts "
        "before asking again.",
    )
    web_live_poll_s: float = Field(
        2.0,
        gt=0,
        le=60,
        description="Web: how often a live board asks dispatch whether its "
        "scope changed (one ask per scope per interval, shared by its open streams).",
    )
    web_live_per_person: int = Field(
        4, ge=1, description="Web: live streams (open boards) one person may hold at once."
    )
    web_live_streams: int = Field(
        200, ge=1, description="Web: live streams one web process holds at once."
    )
    web_live_stream_s: float = Field(
        600.0,
        gt=0,
        description="Web: how long a live stream lasts before the browser opens "
        "it again (the session and the bounds are checked anew).",
    )

    intake_rate_per_client: float = Field(
        20.0, ge=0, description="Intake: reports per second per client address (0: no limit)."
    )
    intake_burst_per_client: float = Field(
        40.0, ge=1, description="Intake: burst of reports a client address may send at once."
    )
    intake_rate_per_key: float = Field(
        50.0, ge=0, description="Intake: Open311 requests per second per API key (0: no limit)."
    )
    intake_burst_per_key: float = Field(
        100.0, ge=1, description="Intake: burst of Open311 requests per API key."
    )
    intake_max_photo_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, le=8 * 1024 * 1024, description="Intake: largest photo upload."
    )
    intake_duplicate_radius_m: float = Field(
        150.0, ge=0, description="Intake: open reports this close are offered as duplicates."
    )
    intake_duplicate_days: int = Field(
        30, ge=1, description="Intake: how far back open reports count as possible duplicates."
    )

    @model_validator(mode="after")
    def _no_dev_secret_in_production(self) -> Settings:
        if self.env == "production" and self.resident_secret.get_secret_value() == DEV_SECRET:
            raise ValueError("LINLI_RESIDENT_SECRET must be set in production")
        if self.env == "production" and self.dev_clock_offset_s:
            raise ValueError("LINLI_DEV_CLOCK_OFFSET_S is for development; production refuses it")
        if self.env == "production" and self.consult_secret.get_secret_value().startswith(
            DEV_SECRET
        ):
            raise ValueError("LINLI_CONSULT_SECRET must be set in production")
        if (
            self.env == "production"
            and self.web_token_secret.get_secret_value() == DEV_WEB_TOKEN_SECRET
        ):
            raise ValueError("LINLI_WEB_TOKEN_SECRET must be set in production")
        return self

    @property
    def kafka_servers(self) -> list[str]:
        """The bootstrap servers as the Kafka clients take them: one ``host:port`` each."""
        return [server.strip() for server in self.kafka_bootstrap.split(",") if server.strip()]

    def database_name(self, service: str) -> str:
        return f"{self.db_prefix}{service}"

    def port_of(self, service: str) -> int:
        return int(getattr(self, f"{service}_port"))

    def group_instance_id(self, service: str) -> str:
        """The replica's name in its consumer groups (``instance_id``, or one stable per host,
        service and HTTP port: two replicas on one host never share a port)."""
        return self.instance_id or f"{socket.gethostname()}-{service}-{self.port_of(service)}"

    def membership(self, service: str) -> Membership:
        """How this replica of ``service`` belongs to its consumer groups."""
        return Membership(
            instance_id=self.group_instance_id(service),
            session_timeout_ms=self.kafka_session_timeout_ms,
            heartbeat_interval_ms=self.kafka_heartbeat_interval_ms,
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
