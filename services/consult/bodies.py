"""What consult's HTTP API accepts: strict bodies (no coercion, no unknown fields), each
field bounded; the errors name the field."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from services.consult.domain.ballots import KEY_MIN_CHARS
from services.consult.domain.polls import Option, Rules
from shared.events.base import INTEGRAL

Int = Annotated[int, Strict(), INTEGRAL]  # 5.0 is JSON's 5; "5", true and 5.5 are refused


class Strictly(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OptionIn(Strictly):
    id: str = Field(pattern=r"^[a-z0-9-]{1,20}$")
    label: str = Field(min_length=1, max_length=100)


class RulesIn(Strictly):
    kind: Literal["single", "multiple", "ranked"]
    options: list[OptionIn] = Field(min_length=2, max_length=20)
    max_choices: Int = Field(1, ge=1, le=20, description="multiple: most options chosen")
    quorum_percent: Int = Field(0, ge=0, le=100, description="Share of the frozen roll needed.")
    closes_at: datetime | None = None

    def rules(self) -> Rules:
        options = tuple(Option(o.id, o.label) for o in self.options)
        most = self.max_choices if self.kind != "ranked" else len(options)  # rank them all
        return Rules(self.kind, options, most, self.quorum_percent, None, self.closes_at)


class PollIn(RulesIn):
    poll_id: str | None = Field(None, pattern=r"^poll_[0-9a-z_-]{3,60}$")
    node_id: str = Field(min_length=1, max_length=200)
    question: str = Field(min_length=1, max_length=500)
    consultation_id: str | None = Field(None, max_length=80)
    remind_before_h: Int = Field(24, ge=1, le=720)


class AmendIn(RulesIn):
    question: str | None = Field(None, min_length=1, max_length=500)


class BallotIn(Strictly):
    choice: list[str] = Field(min_length=1, max_length=20, description="Option ids, in rank order")
    ballot_key: str = Field(
        min_length=KEY_MIN_CHARS,
        max_length=128,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="A secret your device or paper sheet keeps; the same key changes the ballot.",
    )
    resident_ref: str | None = Field(None, pattern=r"^res_[0-9a-z]{16,40}$")
    household: str | None = Field(None, max_length=240, description="When you are on two rolls")
    paper_code: str | None = Field(None, min_length=8, max_length=40)


class PaperCodesIn(Strictly):
    households: list[str] = Field(min_length=1, max_length=1000)


class ConsultationIn(Strictly):
    id: str = Field(pattern=r"^con_[0-9a-z_-]{3,60}$")
    node_id: str = Field(min_length=1, max_length=200)
    question: str = Field(min_length=1, max_length=500)
    description: str = Field("", max_length=5000)
    attachments: list[str] = Field(default_factory=list, max_length=10)
    opens_at: datetime
    closes_at: datetime


class CommentIn(Strictly):
    resident_ref: str = Field(pattern=r"^res_[0-9a-z]{16,40}$")
    household: str | None = Field(None, max_length=240)
    text: str = Field(min_length=1, max_length=2000)


class HideIn(Strictly):
    reason: str = Field(min_length=1, max_length=500)


class ResolutionIn(Strictly):
    resolution_id: str = Field(pattern=r"^res_[0-9a-z_-]{3,60}$")
    title: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=5000)
    poll_id: str | None = Field(None, pattern=r"^poll_[0-9a-z_-]{3,60}$")
    disbursement_id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_:-]{0,99}$")


class DecisionIn(Strictly):
    verdict: Literal["approve", "refuse"]
    reason: str = Field(min_length=1, max_length=1000)
