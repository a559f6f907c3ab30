"""Intake's reads: one report (by its report token, or a signed-in resident's own token), a
resident's own reports (by their token), Open311's request search and
single requests, a batch request's token, a photo."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from services.intake.application.filing import TOKEN_SCOPE
from services.intake.application.refusals import BadToken, NotFound
from services.intake.domain import open311 as spec
from services.intake.domain.places import Places
from services.intake.domain.views import follower_view, resident_view
from services.intake.idempotency import issue_id_for_key
from services.intake.media import MediaStore
from services.intake.store import IssueStore
from shared.residents import FOLLOW_PURPOSE, report_token_matches, token_matches

_TOKEN = re.compile(r"^tok_[0-9a-f]{32}$")


class Reading:
    def __init__(
        self,
        *,
        store: IssueStore,
        media: MediaStore,
        categories: dict,
        places: Places,
        secret: str,
        clock: Callable[[], datetime],
    ):
        self._store = store
        self._media = media
        self._categories = categories
        self._codes = frozenset(categories)
        self._places = places
        self._secret = secret
        self._clock = clock

    def _view(self, doc: Mapping[str, Any], token: str) -> dict[str, Any] | None:
        """The report as this token sees it: its reporter's (the report token, or the
        reporter's own token), a follower's (the follower's report token, or a follower's
        own token), or None."""
        issue_id, reporter = doc["_id"], doc.get("resident_ref") or ""
        if report_token_matches(self._secret, issue_id, token) or (
            reporter and token_matches(self._secret, reporter, token)
        ):
            return resident_view(doc)
        if report_token_matches(self._secret, issue_id, token, FOLLOW_PURPOSE) or any(
            token_matches(self._secret, ref, token) for ref in doc.get("followers", [])
        ):
            return follower_view(doc)
        return None

    async def issue(self, issue_id: str, token: str) -> dict[str, Any]:
        """The reporter's (or a follower's) view of one report: with the report token that
        filing or following answered, or as a signed-in resident."""
        doc = await self._store.get(issue_id)
        view = self._view(doc, token) if doc is not None and token else None
        if view is None:
            # the same answer for "absent" and "not yours": ids are not probed
            raise NotFound(f"no issue {issue_id} for this token", "path.issue_id")
        return view

    async def of_resident(self, ref: str, token: str) -> list[dict[str, Any]]:
        """Every report a resident filed or follows, newest first (those they follow as a
        follower sees them): the resident token alone (from a sign-in) opens it, never a
        report token."""
        if not token or not token_matches(self._secret, ref, token):
            raise BadToken("missing or wrong resident token", "header.authorization")
        return [
            resident_view(doc) if doc.get("resident_ref") == ref else follower_view(doc)
            for doc in await self._store.of_resident(ref)
        ]

    def services(self, lang: str) -> list[dict[str, Any]]:
        """Every service (category) that can be requested, as Open311 lists them."""
        return [spec.service_entry(c, lang) for c in self._categories.values()]

    def service(self, code: str, lang: str) -> dict[str, Any]:
        """The extra attributes a service asks for."""
        category = self._categories.get(code)
        if category is None:
            raise NotFound(f"no service {code!r}", "service_code")
        return spec.service_definition(category, lang)

    def _request_view(self, doc: Mapping[str, Any], lang: str) -> dict[str, Any]:
        category = self._categories.get(doc.get("category"))
        return spec.request_view(doc, category, self._places.tree, lang)

    async def requests(self, params: Mapping[str, str], lang: str) -> list[dict[str, Any]]:
        """Open311's search: by ids, or by services, window and status (the spec's rules)."""
        query = spec.parse_request_query(params, self._clock(), self._codes)
        return [self._request_view(d, lang) for d in await self._store.query(query)]

    async def request(self, request_id: str, lang: str) -> dict[str, Any]:
        doc = await self._store.get(request_id)
        if doc is None:
            raise NotFound(f"no request {request_id!r}", "service_request_id")
        return self._request_view(doc, lang)

    async def request_of_token(self, token: str) -> str:
        """The request id behind a batch service's token, once it is recorded."""
        doc = None
        if _TOKEN.match(token):
            doc = await self._store.get(issue_id_for_key(token, TOKEN_SCOPE))
        if doc is None:
            raise NotFound(f"no request for token {token!r} (yet)", "token")
        return doc["_id"]

    async def photo(self, media_id: str) -> dict[str, Any]:
        doc = await self._media.get(media_id)
        if doc is None:
            raise NotFound(f"no photo {media_id}", "path.media_id")
        return doc
