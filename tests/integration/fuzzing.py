"""Schema-driven fuzzing of a service's OpenAPI document (schemathesis) against the real app
served on loopback: the examples, coverage and fuzzing phases, positive and negative data,
every check (no 5xx, documented status codes, content types and schemas, positive data
accepted, negative data rejected). ``authorize`` gives generated positive cases valid keys,
so that they reach past authentication to what the schema describes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress

import hypothesis
import requests
import schemathesis
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase
from schemathesis import Case, GenerationMode
from schemathesis.checks import CHECKS
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)

from tests.helpers import wait_ready


@contextmanager
def served(app: FastAPI, port: int, service: str) -> Iterator[str]:
    """The app under uvicorn in its own thread on 127.0.0.1:``port``, once ready."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/readyz", service, 60, alive=thread.is_alive)
        yield base
    finally:
        server.should_exit = True
        thread.join(10)


def _refused_only_for(response: requests.Response, fields: frozenset[str]) -> bool:
    if response.status_code != 422:
        return False
    try:
        errors = response.json()["errors"]
    except (ValueError, KeyError, TypeError):
        return False
    return all(error.get("field") in fields for error in errors)


def fuzz(
    app: FastAPI,
    base: str,
    authorize: Callable[[Case], None],
    *,
    examples: int,
    skipped_checks: frozenset[str] = frozenset(),
    cross_field: Mapping[str, frozenset[str]] | None = None,
) -> list[str]:
    """Every failure found (empty: none), one line each, over every operation.

    ``cross_field``: per operation (``POST /api/v1/x``), the fields of rules between fields
    that JSON Schema cannot state (``ends`` not before ``starts``): a refusal naming only
    those fields is not counted as valid data rejected."""
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.config.generation.update(modes=list(GenerationMode))  # positive and negative
    session = requests.Session()
    checks = [c for c in CHECKS.get_all() if c.__name__ not in skipped_checks]
    failures: dict[str, str] = {}  # one per operation, phase, mode and kind of failure
    config = HypothesisTestConfig(
        project=schema.config,
        modes=list(HypothesisTestMode),  # examples, coverage, fuzzing
        settings=hypothesis.settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        ),
    )

    def check(case: Case) -> None:
        meta = case.meta
        mode = meta.generation.mode if meta else GenerationMode.POSITIVE
        if mode is GenerationMode.POSITIVE:
            authorize(case)
        response = case.call(base_url=base, session=session, timeout=15)
        label = f"{case.operation.label} [{meta.phase.name.value if meta else '?'}/{mode.value}]"
        if response.status_code >= 500:
            failures.append(f"{label}: {response.status_code} {response.text[:200]}")
            return
        rule_fields = (cross_field or {}).get(case.operation.label, frozenset())
        if rule_fields and _refused_only_for(response, rule_fields):
            return
        try:
            case.validate_response(response, checks=checks)
        except (Exception, BaseExceptionGroup) as exc:  # collect, report all at the end
            lines = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
            failures.setdefault(f"{label} {lines[0] if lines else ''}", " | ".join(lines)[:400])

    for result in schema.get_all_operations():
        test = create_test(operation=result.ok(), test_func=check, config=config)
        # nothing to generate in some phase and mode (e.g. no parameter to get wrong)
        with suppress(hypothesis.errors.Unsatisfiable):
            test()
    return [f"{what}: {detail}" for what, detail in failures.items()]
