"""The topic catalogue: every topic the platform uses, its key, partitions and retention.

Services never rely on auto-creation: ``linli topics apply`` (and every service at start-up)
creates what is missing and brings settings in line, idempotently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

DAY_MS = 24 * 60 * 60 * 1000
SERVICES = ("intake", "dispatch", "notify", "ledger", "consult", "web")

ISSUES_REPORTED = "issues.reported"
ISSUES_LIFECYCLE = "issues.lifecycle"
RESIDENTS_CONTACTS = "residents.contacts"
ISSUES_FEEDBACK = "issues.feedback"
DEPT_ACTIONS = "dept.actions"
LEDGER_DONATIONS = "ledger.donations"
LEDGER_RECEIPTS = "ledger.receipts"
LEDGER_COMMANDS = "ledger.commands"
NOTIFICATIONS_DELIVERED = "notifications.delivered"
NOTIFICATIONS_FAILED = "notifications.failed"
NOTIFICATIONS_RETRY = "notifications.retry"
NOTIFICATIONS_DEAD = "notifications.dead"
CONSULT_EVENTS = "consult.events"
CONSULT_NOTICES = "consult.notices"


def dept_tasks(department: str) -> str:
    """The topic a department reads its tasks from."""
    return f"dept.{department}.tasks"


def dept_outcomes(department: str) -> str:
    """The topic a department reads the outcome of its Kafka actions from."""
    return f"dept.{department}.outcomes"


def dead_letters(service: str) -> str:
    """Where a service's consumers put messages they cannot process."""
    return f"dlq.{service}"


def min_insync_replicas(replication: int) -> int:
    """Copies a write must reach before an acks=all producer hears back: 2 of 3 (or more), so
    one broker may be lost without losing an acknowledged record or stopping writes; every
    copy below 3, since two brokers of two must not both be needed to write."""
    return 2 if replication >= 3 else 1


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    key: str
    description: str
    partitions: int | None = None  # None: the settings' default for event topics
    compacted: bool = False
    retention_days: int | None = 30
    extra_configs: dict[str, str] = field(default_factory=dict)

    def configs(self, replication: int = 1) -> dict[str, str]:
        """The topic's settings on a cluster that keeps ``replication`` copies of it."""
        configs = {"cleanup.policy": "compact" if self.compacted else "delete"}
        configs["retention.ms"] = (
            "-1" if self.retention_days is None else str(self.retention_days * DAY_MS)
        )
        configs["min.insync.replicas"] = str(min_insync_replicas(replication))
        configs.update(self.extra_configs)
        return configs


def catalogue(departments: Iterable[str]) -> list[Topic]:
    """All topics, given the department codes of the reference data."""
    topics = [
        Topic(ISSUES_REPORTED, "issue id", "New reports and service requests, from intake."),
        Topic(
            ISSUES_LIFECYCLE,
            "issue id",
            "Every state change of an issue, from dispatch, in order per issue.",
        ),
        Topic(
            RESIDENTS_CONTACTS,
            "resident reference",
            "Residents' contact details for notify alone; compacted, latest per resident.",
            partitions=3,
            compacted=True,
            retention_days=None,
            extra_configs={"min.compaction.lag.ms": "0", "delete.retention.ms": str(DAY_MS)},
        ),
        Topic(ISSUES_FEEDBACK, "issue id", "Residents' ratings from the return visit, by notify."),
        Topic(DEPT_ACTIONS, "issue id", "Departments' actions on their tasks, by Kafka."),
        Topic(LEDGER_DONATIONS, "campaign", "Donations in: payment callbacks, front desks."),
        Topic(LEDGER_RECEIPTS, "donation id", "Receipts issued by the ledger, for thank-yous."),
        Topic(
            LEDGER_COMMANDS,
            "fund (campaign id)",
            "The ledger's commands: spending requests, decisions, reversals, front-desk "
            "donations; one writer per fund.",
        ),
        Topic(NOTIFICATIONS_DELIVERED, "resident reference", "Messages delivered, per channel."),
        Topic(NOTIFICATIONS_FAILED, "resident reference", "Messages that could not be sent."),
        Topic(
            NOTIFICATIONS_RETRY,
            "resident reference",
            "Notify's own retries of temporarily failed sends, due at a back-off time.",
        ),
        Topic(
            NOTIFICATIONS_DEAD,
            "resident reference",
            "Sends that failed for good or ran out of retries, with the reason (replayable).",
            retention_days=90,
        ),
        Topic(CONSULT_EVENTS, "poll or resolution id", "Polls opened and counted, resolutions."),
        Topic(CONSULT_NOTICES, "notice id", "Consult's notices to one household each, for notify."),
    ]
    topics += [
        Topic(
            dept_tasks(code),
            "issue id",
            f"Tasks, reminders, escalations and closures for department {code}.",
            partitions=3,
        )
        for code in sorted(departments)
    ]
    topics += [
        Topic(
            dept_outcomes(code),
            "issue id",
            f"Outcome (applied or refused, with the reason) of each Kafka action of {code}.",
            partitions=3,
        )
        for code in sorted(departments)
    ]
    topics += [
        Topic(
            dead_letters(service),
            "original key",
            f"Messages {service} could not process, with the error and original headers.",
            partitions=1,
            retention_days=90,
        )
        for service in SERVICES
    ]
    return topics
