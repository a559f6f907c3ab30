"""Dispatch's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from services.dispatch.cases import Dispatcher
from services.dispatch.routing import load_routing
from services.dispatch.store import CaseStore
from shared.events import DepartmentTaskV1, IssueAssignedV1, IssueReportedV1
from shared.reference import load_reference
from shared.service import build_parts
from shared.settings import Settings
from shared.topics import ISSUES_LIFECYCLE, ISSUES_REPORTED, dept_tasks


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    reference = load_reference(settings.config_dir)
    routing = load_routing(settings.config_dir / "routing.yaml", set(reference.departments))
    parts = build_parts(settings, "dispatch")
    parts.publisher.declare(ISSUES_LIFECYCLE, IssueAssignedV1)
    for code in sorted(reference.departments):
        parts.publisher.declare(dept_tasks(code), DepartmentTaskV1)
    store = CaseStore(parts.db)
    dispatcher = Dispatcher(
        store=store, publisher=parts.publisher, reference=reference, routing=routing
    )
    parts.consume(ISSUES_REPORTED, {IssueReportedV1: dispatcher.on_reported})
    return parts.app(
        title="Linli dispatch",
        description="Routes issues to offices and departments and holds them to deadlines.",
        routers=[],
        prepare_db=store.prepare,
    )
