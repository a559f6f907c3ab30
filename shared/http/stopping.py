"""Whether this process is shutting down. Uvicorn's graceful shutdown waits for every open
answer to end, and a live stream (Server-Sent Events) never ends by itself: each stream asks
``is_stopping`` at its next check and ends, so a stop takes one poll interval, not the whole
graceful timeout. The browser's EventSource reconnects, to another replica if need be."""

from __future__ import annotations

from typing import Any


def mark_stopping(app: Any) -> None:
    """Called from the server's signal handler: a plain flag, no event loop work."""
    app.state.stopping = True


def is_stopping(app: Any) -> bool:
    return bool(getattr(app.state, "stopping", False))
