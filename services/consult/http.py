"""Consult's HTTP adapter. Offices (Bearer office key) draft, open and close polls under
their node, import rolls, print paper codes, open consultations and moderate them; the
compound's parties (Bearer party key) propose and decide resolutions; residents (their
reference and Bearer inbox token, or a paper one-time code) see their polls, vote and
comment; anyone reads a poll, its results once closed, and its published ballots."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Request
from pydantic import BaseModel, ConfigDict, Field, Strict

from services.consult.access import office_over, principal
from services.consult.application import Consult
from services.consult.domain.ballots import KEY_MIN_CHARS
from services.consult.domain.consultations import Consultation
from services.consult.domain.polls import Amend, Option, Poll, Refused, Rules
from services.consult.domain.resolutions import Decide, Resolution
from services.consult.polls import new_poll_id
from shared.http.errors import ApiError
from shared.http.schema import error_responses
from shared.residents import token_matches

Auth = Annotated[str | None, Header(description="Bearer <key or resident token>")]
PollPath = Annotated[str, Path(pattern=r"^poll_[0-9a-z_-]{3,60}$")]
Int = Annotated[int, Strict()]
NOT_FOUND = {"not_found"}
CONFLICT = {
    "rules_frozen", "not_draft", "poll_not_open", "poll_closed", "exists", "conflict",
    "other_key", "already_voted", "decided", "already_hidden", "closed", "not_open", "counting",
}  # fmt: skip
FORBIDDEN = {"not_on_roll", "not_eligible", "not_a_party"}


def refused(exc: Refused) -> ApiError:
    status = (
        404 if exc.code in NOT_FOUND
        else 409 if exc.code in CONFLICT
        else 403 if exc.code in FORBIDDEN
        else 401 if exc.code == "bad_code"
        else 422
    )  # fmt: skip
    return ApiError(status, exc.code, exc.reason, exc.field)


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


def public_poll(doc: dict[str, Any]) -> dict[str, Any]:
    keep = ("node_id", "question", "kind", "options", "max_choices", "quorum_percent")
    view = {"poll_id": doc["_id"], **{k: doc[k] for k in keep}, "status": doc["status"]}
    view |= {"closes_at": doc.get("closes_at"), "roll_size": doc.get("roll_size", 0)}
    if doc["status"] == "closed" and doc.get("results"):
        view["results"] = doc["results"]  # hidden until the poll is closed and counted
        view["households_voted"] = doc.get("households_voted")  # >= turnout
    return view


def build_router(consult: Consult, *, resident_secret: str) -> APIRouter:
    api = APIRouter(prefix="/api/v1/consult", tags=["consult"])
    errors = error_responses(401, 403, 404, 409, 422, 503)

    async def resident(ref: str | None, authorization: str | None) -> list[str]:
        token = (authorization or "")[7:].strip() if authorization else ""
        if not ref or not token or not token_matches(resident_secret, ref, token):
            raise ApiError(401, "unauthenticated", "resident_ref and its token are needed",
                           "header.authorization")  # fmt: skip
        return await consult.store.households_of(ref)

    async def household_for(poll_id: str, body: BallotIn, authorization) -> tuple[str, Any]:
        if body.paper_code:
            return await consult.rolls.paper_household(poll_id, body.paper_code)
        households = await resident(body.resident_ref, authorization)
        if body.household:
            households = [h for h in households if h == body.household]
        on_roll = [h for h in households if await consult.polls.household_on_roll(poll_id, h)]
        if len(on_roll) != 1:
            reason = "not on this poll's roll" if not on_roll else "name your household"
            raise ApiError(403 if not on_roll else 422, "not_on_roll", reason, "body.household")
        return on_roll[0], None

    @api.post("/polls", status_code=201, responses=errors)
    async def create_poll(body: PollIn, authorization: Auth = None) -> dict[str, Any]:
        """Draft a poll under a node the office owns; the rules may change until it opens."""
        who = await principal(consult.store, authorization)
        office_over(consult.tree, who, body.node_id)
        poll = Poll(body.poll_id or new_poll_id(), body.node_id, who.node, body.question,
                    body.rules(), consultation_id=body.consultation_id)  # fmt: skip
        try:
            return public_poll(await consult.polls.create(poll, body.remind_before_h))
        except Refused as exc:
            raise refused(exc) from exc

    async def owned(poll_id: str, authorization: str | None) -> None:
        who = await principal(consult.store, authorization)
        try:
            doc = await consult.polls.doc(poll_id)
        except Refused as exc:
            raise refused(exc) from exc
        office_over(consult.tree, who, doc["node_id"])

    @api.patch("/polls/{poll_id}", responses=errors)
    async def amend_poll(poll_id: PollPath, body: AmendIn, authorization: Auth = None) -> dict:
        """Change a draft's rules; refused once the poll is open (rules frozen)."""
        await owned(poll_id, authorization)
        try:
            return public_poll(
                await consult.polls.amend(poll_id, Amend(body.rules(), body.question))
            )
        except Refused as exc:
            raise refused(exc) from exc

    @api.post("/polls/{poll_id}/open", responses=errors)
    async def open_poll(poll_id: PollPath, authorization: Auth = None) -> dict[str, Any]:
        """Open: the roll under the node is frozen, its households are told."""
        await owned(poll_id, authorization)
        try:
            return public_poll(await consult.polls.open(poll_id))
        except Refused as exc:
            raise refused(exc) from exc

    @api.post("/polls/{poll_id}/close", responses=errors)
    async def close_poll(poll_id: PollPath, authorization: Auth = None) -> dict[str, Any]:
        """Close now, count and publish the results."""
        await owned(poll_id, authorization)
        try:
            return public_poll(await consult.polls.close(poll_id))
        except Refused as exc:
            raise refused(exc) from exc

    @api.post(
        "/rolls",
        responses=errors,
        openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    )
    async def import_roll(request: Request, authorization: Auth = None) -> dict[str, Any]:
        """Import households (CSV ``building,household,phone,language``) of buildings the
        office owns; the answer lists every rejected line with its reason."""
        who = await principal(consult.store, authorization)
        office_over(consult.tree, who, who.node)
        try:
            text = (await request.body()).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ApiError(422, "invalid", "the roll must be UTF-8 CSV", "body") from exc
        return await consult.rolls.import_csv(text, who.node)

    @api.post("/polls/{poll_id}/paper-codes", status_code=201, responses=errors)
    async def paper_codes(poll_id: PollPath, body: PaperCodesIn, authorization: Auth = None):
        """One-time codes to print for households without phones (shown once)."""
        await owned(poll_id, authorization)
        try:
            return {"codes": await consult.rolls.paper_codes(poll_id, body.households)}
        except Refused as exc:
            raise refused(exc) from exc

    @api.get("/polls/{poll_id}", responses=errors)
    async def get_poll(poll_id: PollPath) -> dict[str, Any]:
        """A poll's question and rules; its results and turnout once it is closed."""
        try:
            return public_poll(await consult.polls.doc(poll_id))
        except Refused as exc:
            raise refused(exc) from exc

    @api.get("/polls/{poll_id}/ballots", responses=errors)
    async def published_ballots(poll_id: PollPath) -> dict[str, Any]:
        """Every ballot of a closed poll (receipt, choice, the receipt it replaced): find your
        receipt, or recount them all (``linli consult recount``)."""
        try:
            doc = await consult.polls.doc(poll_id)
        except Refused as exc:
            raise refused(exc) from exc
        if doc["status"] != "closed":
            raise ApiError(409, "poll_not_closed", "ballots are published once the poll closes")
        ballots = await consult.voting.published(poll_id, doc.get("counted_batches") or [])
        return {"poll": public_poll(doc), "ballots": ballots}

    @api.post("/polls/{poll_id}/ballots", status_code=201, responses=errors)
    async def cast(poll_id: PollPath, body: BallotIn, authorization: Auth = None) -> dict:
        """Cast, or change, your household's ballot (the last one before the close counts)."""
        try:
            household, claim = await household_for(poll_id, body, authorization)
            cast = await consult.voting.cast(
                poll_id, household, body.ballot_key, tuple(body.choice), claim
            )
        except Refused as exc:
            raise refused(exc) from exc
        return {"status": cast.status, "receipt": cast.receipt, "ballot_number": cast.number}

    @api.get("/residents/{resident_ref}/polls", responses=errors)
    async def my_polls(
        resident_ref: Annotated[str, Path(pattern=r"^res_[0-9a-z]{16,40}$")],
        authorization: Auth = None,
    ) -> dict[str, Any]:
        """The polls whose roll holds your household."""
        households = await resident(resident_ref, authorization)
        return {"polls": [public_poll(d) for d in await consult.polls.visible_to(households)]}

    _consultation_routes(api, consult, errors, resident)
    _resolution_routes(api, consult, errors)
    return api


def _consultation_routes(api: APIRouter, consult: Consult, errors, resident) -> None:
    @api.post("/consultations", status_code=201, responses=errors)
    async def open_consultation(body: ConsultationIn, authorization: Auth = None) -> dict:
        """Put a question to the residents under a node the office owns."""
        who = await principal(consult.store, authorization)
        office_over(consult.tree, who, body.node_id)
        item = Consultation(body.id, body.node_id, who.node, body.question, body.description,
                            tuple(body.attachments), body.opens_at, body.closes_at)  # fmt: skip
        try:
            return await consult.consultations.open(item)
        except Refused as exc:
            raise refused(exc) from exc

    @api.post("/consultations/{consultation_id}/comments", status_code=201, responses=errors)
    async def comment(consultation_id: str, body: CommentIn, authorization: Auth = None):
        """Comment as your household (only residents under the consultation's node)."""
        households = await resident(body.resident_ref, authorization)
        if body.household:
            households = [h for h in households if h == body.household]
        if not households:
            raise ApiError(403, "not_eligible", "no household of yours is on a roll", "body")
        try:
            return await consult.consultations.comment(consultation_id, households[0], body.text)
        except Refused as exc:
            raise refused(exc) from exc

    @api.get("/consultations/{consultation_id}/comments", responses=errors)
    async def comments(consultation_id: str) -> dict[str, Any]:
        """Comments; a hidden one shows the reason in place of its text."""
        return {"comments": await consult.consultations.comments(consultation_id)}

    @api.post("/comments/{comment_id}/hide", responses=errors)
    async def hide(comment_id: str, body: HideIn, authorization: Auth = None) -> dict:
        """Hide a comment with a reason (the office that opened the consultation)."""
        who = await principal(consult.store, authorization)
        try:
            return await consult.consultations.hide(
                comment_id, body.reason, who.key_id,
                lambda c: office_over(consult.tree, who, c.node_id),
            )  # fmt: skip
        except Refused as exc:
            raise refused(exc) from exc


def _resolution_routes(api: APIRouter, consult: Consult, errors) -> None:
    @api.post("/compounds/{compound}/resolutions", status_code=201, responses=errors)
    async def propose(compound: str, body: ResolutionIn, authorization: Auth = None) -> dict:
        """A party of the compound puts a motion to the three parties."""
        who = await principal(consult.store, authorization)
        if who.kind != "party" or who.node != compound:
            raise ApiError(403, "forbidden", "this needs a party key of the compound",
                           "header.authorization")  # fmt: skip
        motion = Resolution(body.resolution_id, compound, body.title, body.text, (),
                            poll_id=body.poll_id, disbursement_id=body.disbursement_id)  # fmt: skip
        try:
            return await consult.resolutions.propose(motion)
        except Refused as exc:
            raise refused(exc) from exc

    @api.post("/resolutions/{resolution_id}/decide", responses=errors)
    async def decide(resolution_id: str, body: DecisionIn, authorization: Auth = None) -> dict:
        """Your party approves or refuses, with a reason; all three approving passes it."""
        who = await principal(consult.store, authorization)
        try:
            doc = await consult.resolutions.get(resolution_id)
            if who.kind != "party" or who.node != doc["compound"]:
                raise ApiError(403, "forbidden", "this needs a party key of the compound",
                               "header.authorization")  # fmt: skip
            command = Decide(who.party or "", body.verdict, body.reason, who.key_id)
            return await consult.resolutions.decide(resolution_id, command)
        except Refused as exc:
            raise refused(exc) from exc

    @api.get("/resolutions/{resolution_id}", responses=errors)
    async def get_resolution(resolution_id: str) -> dict[str, Any]:
        """A resolution, its parties' verdicts and reasons."""
        try:
            return await consult.resolutions.get(resolution_id)
        except Refused as exc:
            raise refused(exc) from exc
