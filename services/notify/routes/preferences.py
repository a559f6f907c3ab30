"""The resident's preferences: channels in order, language, quiet hours, opt-outs, webhook."""

from __future__ import annotations

from fastapi import APIRouter, Header
from pydantic import BaseModel, Field

from services.notify.domain import Preferences, QuietHours
from services.notify.domain.names import ChannelName, Language
from services.notify.residents import Residents
from services.notify.routes.auth import UNAUTHORIZED, bearer


class PreferencesView(BaseModel):
    channels: tuple[ChannelName, ...]
    language: Language
    quiet_hours: QuietHours | None
    opt_outs: tuple[str, ...]
    webhook_url: str | None = Field(None, description="The robot URL; its secret is never shown.")


def preferences_view(prefs: Preferences) -> PreferencesView:
    return PreferencesView(
        channels=prefs.channels,
        language=prefs.language,
        quiet_hours=prefs.quiet_hours,
        opt_outs=prefs.opt_outs,
        webhook_url=prefs.webhook.url if prefs.webhook else None,
    )


def routes(residents: Residents) -> APIRouter:
    api = APIRouter()

    @api.get(
        "/residents/{ref}/preferences",
        response_model=PreferencesView,
        responses=UNAUTHORIZED,
        tags=["preferences"],
    )
    async def get_preferences(
        ref: str, authorization: str = Header("", description="Bearer <resident_token>")
    ) -> PreferencesView:
        """Channels in order of preference, language, quiet hours, opt-outs."""
        residents.check(ref, bearer(authorization))
        return preferences_view(await residents.preferences(ref))

    @api.put(
        "/residents/{ref}/preferences",
        response_model=PreferencesView,
        responses={**UNAUTHORIZED, 422: {"description": "Invalid preferences"}},
        tags=["preferences"],
    )
    async def put_preferences(
        ref: str,
        prefs: Preferences,
        authorization: str = Header("", description="Bearer <resident_token>"),
    ) -> PreferencesView:
        """Replace the resident's preferences. A webhook channel needs a webhook (URL, secret)."""
        residents.check(ref, bearer(authorization))
        return preferences_view(await residents.set_preferences(ref, prefs))

    return api
