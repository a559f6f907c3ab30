"""Consult's HTTP adapter. Offices (Bearer office key) draft, open and close polls under
their node, import rolls, print paper codes, open consultations and moderate them; the
compound's parties (Bearer party key) propose and decide resolutions; residents (their
reference and Bearer inbox token, or a paper one-time code) see their polls, vote and
comment; anyone reads a poll, its results once closed, and its published ballots.

Each route parses, calls the application object (``Consult``) and shapes the answer; the
domain's refusals reach the client through the service's ``ErrorMap`` (``refusals``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request

from services.consult.access import office_over
from services.consult.application import Consult
from services.consult.bodies import (
    AmendIn,
    BallotIn,
    CommentIn,
    ConsultationIn,
    DecisionIn,
    HideIn,
    PaperCodesIn,
    PollIn,
    ResolutionIn,
)
from services.consult.domain.consultations import Consultation
from services.consult.domain.polls import Amend, Poll, Refused
from services.consult.domain.resolutions import Decide, Resolution
from services.consult.polls import new_poll_id
from services.consult.store import Stale
from shared.http.errors import ApiError, ErrorMap
from shared.http.schema import error_responses

Auth = Annotated[str | None, Header(description="Bearer <key or resident token>")]
PollPath = Annotated[str, Path(pattern=r"^poll_[0-9a-z_-]{3,60}$")]
ResidentPath = Annotated[str, Path(pattern=r"^res_[0-9a-z]{16,40}$")]
ERRORS = error_responses(401, 403, 404, 409, 422, 503)
STATUS = {
    "not_found": 404,
    **dict.fromkeys(("not_on_roll", "not_eligible", "not_a_party"), 403),
    **dict.fromkeys(("bad_code", "unauthenticated"), 401),
    **dict.fromkeys(
        (
            "rules_frozen",
            "not_draft",
            "poll_not_open",
            "poll_closed",
            "exists",
            "conflict",
            "other_key",
            "already_voted",
            "decided",
            "already_hidden",
            "closed",
            "not_open",
            "counting",
        ),
        409,
    ),
}  # fmt: skip; any other refusal: 422


def refused(exc: Refused) -> ApiError:
    return ApiError(STATUS.get(exc.code, 422), exc.code, exc.reason, exc.field)


def refusals(errors: ErrorMap) -> None:
    """Consult's refusals as answers, for every route."""
    errors.refuse(Refused, refused)
    errors.refuse(Stale, lambda _: ApiError(409, "conflict", "changed at the same time; retry"))


def public_poll(doc: dict[str, Any]) -> dict[str, Any]:
    keep = ("node_id", "question", "kind", "options", "max_choices", "quorum_percent")
    view = {"poll_id": doc["_id"], **{k: doc[k] for k in keep}, "status": doc["status"]}
    view |= {"closes_at": doc.get("closes_at"), "roll_size": doc.get("roll_size", 0),
             "consultation_id": doc.get("consultation_id")}  # fmt: skip
    if doc["status"] == "closed" and doc.get("results"):
        view["results"] = doc["results"]  # hidden until the poll is closed and counted
        view["households_voted"] = doc.get("households_voted")  # >= turnout
    return view


def build_router(consult: Consult) -> APIRouter:
    api = APIRouter(prefix="/api/v1/consult", tags=["consult"])
    _poll_routes(api, consult)
    _voting_routes(api, consult)
    _consultation_routes(api, consult)
    _resolution_routes(api, consult)
    return api


async def _owned(consult: Consult, poll_id: str, authorization: str | None) -> None:
    """Only the office over the poll's node acts on it."""
    who = await consult.principal(authorization)
    office_over(consult.tree, who, (await consult.polls.doc(poll_id))["node_id"])


def _poll_routes(api: APIRouter, consult: Consult) -> None:
    @api.post("/polls", status_code=201, responses=ERRORS)
    async def create_poll(body: PollIn, authorization: Auth = None) -> dict[str, Any]:
        """Draft a poll under a node the office owns; the rules may change until it opens."""
        who = await consult.principal(authorization)
        office_over(consult.tree, who, body.node_id)
        poll = Poll(body.poll_id or new_poll_id(), body.node_id, who.node, body.question,
                    body.rules(), consultation_id=body.consultation_id)  # fmt: skip
        return public_poll(await consult.polls.create(poll, body.remind_before_h))

    @api.patch("/polls/{poll_id}", responses=ERRORS)
    async def amend_poll(poll_id: PollPath, body: AmendIn, authorization: Auth = None) -> dict:
        """Change a draft's rules; refused once the poll is open (rules frozen)."""
        await _owned(consult, poll_id, authorization)
        amend = Amend(body.rules(), body.question)
        return public_poll(await consult.polls.amend(poll_id, amend))

    @api.post("/polls/{poll_id}/open", responses=ERRORS)
    async def open_poll(poll_id: PollPath, authorization: Auth = None) -> dict[str, Any]:
        """Open: the roll under the node is frozen, its households are told."""
        await _owned(consult, poll_id, authorization)
        return public_poll(await consult.polls.open(poll_id))

    @api.post("/polls/{poll_id}/close", responses=ERRORS)
    async def close_poll(poll_id: PollPath, authorization: Auth = None) -> dict[str, Any]:
        """Close now, count and publish the results."""
        await _owned(consult, poll_id, authorization)
        return public_poll(await consult.polls.close(poll_id))

    @api.get("/polls/{poll_id}", responses=ERRORS)
    async def get_poll(poll_id: PollPath, authorization: Auth = None) -> dict[str, Any]:
        """A poll's question and rules; its results and turnout once it is closed. A draft
        is the office's alone: to anyone else it does not exist (404)."""
        doc = await consult.polls.doc(poll_id)
        if doc["status"] == "draft":
            try:
                office_over(consult.tree, await consult.principal(authorization), doc["node_id"])
            except ApiError as exc:
                raise ApiError(404, "not_found", f"no poll {poll_id}", "path.poll_id") from exc
        return public_poll(doc)

    @api.get("/polls/{poll_id}/ballots", responses=ERRORS)
    async def published_ballots(poll_id: PollPath) -> dict[str, Any]:
        """Every ballot of a closed poll (receipt, choice, the receipt it replaced): find your
        receipt, or recount them all (``linli consult recount``)."""
        doc = await consult.polls.doc(poll_id)
        if doc["status"] != "closed":
            raise ApiError(409, "poll_not_closed", "ballots are published once the poll closes")
        return {"poll": public_poll(doc), "ballots": await consult.voting.published(poll_id)}

    @api.get("/residents/{resident_ref}/polls", responses=ERRORS)
    async def my_polls(resident_ref: ResidentPath, authorization: Auth = None) -> dict:
        """The polls whose roll holds your household."""
        households = await consult.resident(resident_ref, authorization)
        return {"polls": [public_poll(d) for d in await consult.polls.visible_to(households)]}


def _voting_routes(api: APIRouter, consult: Consult) -> None:
    @api.post(
        "/rolls",
        responses=ERRORS,
        openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    )
    async def import_roll(request: Request, authorization: Auth = None) -> dict[str, Any]:
        """Import households (CSV ``building,household,phone,language``) of buildings the
        office owns; the answer lists every rejected line with its reason."""
        who = await consult.principal(authorization)
        office_over(consult.tree, who, who.node)
        try:
            text = (await request.body()).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ApiError(422, "invalid", "the roll must be UTF-8 CSV", "body") from exc
        return await consult.rolls.import_csv(text, who.node)

    @api.post("/polls/{poll_id}/paper-codes", status_code=201, responses=ERRORS)
    async def paper_codes(poll_id: PollPath, body: PaperCodesIn, authorization: Auth = None):
        """One-time codes to print for households without phones (shown once)."""
        await _owned(consult, poll_id, authorization)
        return {"codes": await consult.rolls.paper_codes(poll_id, body.households)}

    @api.post("/polls/{poll_id}/ballots", status_code=201, responses=ERRORS)
    async def cast(poll_id: PollPath, body: BallotIn, authorization: Auth = None) -> dict:
        """Cast, or change, your household's ballot (the last one before the close counts)."""
        claim = None
        if body.paper_code:
            household, claim = await consult.rolls.paper_household(poll_id, body.paper_code)
        else:
            household = await consult.voter(
                poll_id, body.resident_ref, authorization, body.household
            )
        choice = tuple(body.choice)
        done = await consult.voting.cast(poll_id, household, body.ballot_key, choice, claim)
        return {"status": done.status, "receipt": done.receipt, "ballot_number": done.number}


def _consultation_routes(api: APIRouter, consult: Consult) -> None:
    @api.post("/consultations", status_code=201, responses=ERRORS)
    async def open_consultation(body: ConsultationIn, authorization: Auth = None) -> dict:
        """Put a question to the residents under a node the office owns."""
        who = await consult.principal(authorization)
        office_over(consult.tree, who, body.node_id)
        item = Consultation(body.id, body.node_id, who.node, body.question, body.description,
                            tuple(body.attachments), body.opens_at, body.closes_at)  # fmt: skip
        return await consult.consultations.open(item)

    @api.post("/consultations/{consultation_id}/comments", status_code=201, responses=ERRORS)
    async def comment(consultation_id: str, body: CommentIn, authorization: Auth = None):
        """Comment as your household (only residents under the consultation's node)."""
        households = await consult.resident(body.resident_ref, authorization)
        if body.household:
            households = [h for h in households if h == body.household]
        if not households:
            raise ApiError(403, "not_eligible", "no household of yours is on a roll", "body")
        return await consult.consultations.comment(consultation_id, households[0], body.text)

    @api.get("/consultations/{consultation_id}/comments", responses=ERRORS)
    async def comments(consultation_id: str) -> dict[str, Any]:
        """Comments; a hidden one shows the reason in place of its text."""
        return {"comments": await consult.consultations.comments(consultation_id)}

    @api.post("/comments/{comment_id}/hide", responses=ERRORS)
    async def hide(comment_id: str, body: HideIn, authorization: Auth = None) -> dict:
        """Hide a comment with a reason (the office that opened the consultation)."""
        who = await consult.principal(authorization)
        return await consult.consultations.hide(
            comment_id, body.reason, who.key_id, lambda c: office_over(consult.tree, who, c.node_id)
        )


def party_of(who, compound: str) -> None:
    if who.kind != "party" or who.node != compound:
        raise ApiError(403, "forbidden", "this needs a party key of the compound",
                       "header.authorization")  # fmt: skip


def _resolution_routes(api: APIRouter, consult: Consult) -> None:
    @api.post("/compounds/{compound}/resolutions", status_code=201, responses=ERRORS)
    async def propose(compound: str, body: ResolutionIn, authorization: Auth = None) -> dict:
        """A party of the compound puts a motion to the three parties."""
        who = await consult.principal(authorization)
        party_of(who, compound)
        motion = Resolution(body.resolution_id, compound, body.title, body.text, (),
                            poll_id=body.poll_id, disbursement_id=body.disbursement_id)  # fmt: skip
        return await consult.resolutions.propose(motion)

    @api.post("/resolutions/{resolution_id}/decide", responses=ERRORS)
    async def decide(resolution_id: str, body: DecisionIn, authorization: Auth = None) -> dict:
        """Your party approves or refuses, with a reason; all three approving passes it."""
        who = await consult.principal(authorization)
        party_of(who, (await consult.resolutions.get(resolution_id))["compound"])
        command = Decide(who.party or "", body.verdict, body.reason, who.key_id)
        return await consult.resolutions.decide(resolution_id, command)

    @api.get("/resolutions/{resolution_id}", responses=ERRORS)
    async def get_resolution(resolution_id: str) -> dict[str, Any]:
        """A resolution, its parties' verdicts and reasons."""
        return await consult.resolutions.get(resolution_id)
