"""Dispatch's rules, no I/O: routing, the case state machine, working-time deadlines, rates."""

from services.dispatch.domain.routing import (
    Assignment,
    OwnerRule,
    RoutingError,
    RoutingTable,
    route,
)

__all__ = ["Assignment", "OwnerRule", "RoutingError", "RoutingTable", "route"]
