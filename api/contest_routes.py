"""Contest routes: thin calls into `quality.contests.service.ContestService`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request, Response, status

from api.openapi import DATABASE, IN_CONTEST, NOT_FOUND, SCORING, WITH_BODY
from api.audit_routes import audit
from api.routes import InFlightDep, charge_posts, opened_once
from quality.contests.schemas import Contest, ContestCreate, Entry, Judgement, JudgementRecord, Ranking, RankingInputs
from quality.contests.service import ContestService
from quality.schemas import Post

router = APIRouter(tags=["contests"], responses=DATABASE)

Id = Annotated[str, Path(min_length=1, max_length=64)]
# Printable ASCII, no spaces: a UUID or any other unique token the client makes per request.
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=128,
                                              pattern=r"^[\x21-\x7e]+$",
                                              description="makes a retried request count once (see above)")]


def get_contests(request: Request) -> ContestService:
    """The contest service, opened (database connected and migrated) on first use."""
    return opened_once(request, "contests", lambda state: ContestService.from_settings(state.service, state.settings))


ContestsDep = Annotated[ContestService, Depends(get_contests)]
REPLAYED = {201: {"headers": {"Idempotent-Replayed": {
    "description": "`true` when this answers a retry: what was stored for this Idempotency-Key before",
    "schema": {"type": "string", "enum": ["true"]}}}}}


@router.post("/contests", response_model=Contest, status_code=status.HTTP_201_CREATED,
             responses={**WITH_BODY, **REPLAYED})
def create_contest(contest: ContestCreate, contests: ContestsDep, response: Response, request: Request,
                   idempotency_key: IdempotencyKey = None) -> Contest:
    """A themed contest; entries are scored against its theme. With an `Idempotency-Key`, a retry
    is answered with the contest created first (`Idempotent-Replayed: true`), not a second one."""
    created, replayed = contests.create_contest(contest, idempotency_key)
    audit(request, created.id, idempotency_key, {"replayed": True} if replayed else None)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return created


@router.get("/contests", response_model=list[Contest])
def list_contests(contests: ContestsDep) -> list[Contest]:
    return contests.list_contests()


@router.get("/contests/{contest_id}", response_model=Contest, responses=IN_CONTEST)
def get_contest(contest_id: Id, contests: ContestsDep) -> Contest:
    return contests.get_contest(contest_id)


@router.post("/contests/{contest_id}/entries", response_model=Entry, status_code=status.HTTP_201_CREATED,
             responses={**SCORING, **NOT_FOUND, **REPLAYED})
def add_entry(contest_id: Id, post: Post, contests: ContestsDep, in_flight: InFlightDep, response: Response,
              request: Request, idempotency_key: IdempotencyKey = None) -> Entry:
    """Score a post against the contest's theme, check it against earlier entries, store it. With an
    `Idempotency-Key`, a retry is answered with the entry stored first (`Idempotent-Replayed: true`):
    nothing is scored or stored again; the same key with another post is 422 `idempotency_key_reused`."""
    charge_posts(request, 1)
    with in_flight:
        entry, replayed = contests.add_entry(contest_id, post, idempotency_key)
    audit(request, entry.id, idempotency_key, {"contest": contest_id, **({"replayed": True} if replayed else {})})
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return entry


@router.get("/contests/{contest_id}/entries", response_model=list[Entry], responses=IN_CONTEST)
def list_entries(contest_id: Id, contests: ContestsDep) -> list[Entry]:
    return contests.entries(contest_id)


@router.get("/contests/{contest_id}/entries/{entry_id}", response_model=Entry, responses=IN_CONTEST)
def get_entry(contest_id: Id, entry_id: Id, contests: ContestsDep) -> Entry:
    return contests.get_entry(contest_id, entry_id)


@router.get("/contests/{contest_id}/entries/{entry_id}/images/{index}/thumbnail", response_class=Response,
            responses={**IN_CONTEST, 200: {"content": {"image/jpeg": {}}}})
def thumbnail(contest_id: Id, entry_id: Id, index: Annotated[int, Path(ge=0, le=1000)],
              contests: ContestsDep) -> Response:
    """A JPEG thumbnail (at most 320 px) of an entry's photo."""
    return Response(contests.thumbnail(contest_id, entry_id, index), media_type="image/jpeg",
                    headers={"Cache-Control": "private, max-age=86400"})


@router.get("/contests/{contest_id}/ranking", response_model=Ranking, responses=IN_CONTEST)
def ranking(contest_id: Id, contests: ContestsDep) -> Response:
    """The suggested ranking: model scores as prior, judges' preferences and scores combined
    (Bradley-Terry), with bootstrap intervals, p_top_k, ties and the next pair worth comparing."""
    # Built as a typed Ranking already: serialised directly, not validated a second time.
    return Response(contests.ranking(contest_id).model_dump_json(), media_type="application/json")


@router.post("/contests/{contest_id}/judgements", response_model=RankingInputs,
             status_code=status.HTTP_201_CREATED, responses={**WITH_BODY, **NOT_FOUND, **REPLAYED})
def add_judgement(contest_id: Id, judgement: Judgement, contests: ContestsDep, response: Response,
                  request: Request, idempotency_key: IdempotencyKey = None) -> RankingInputs:
    """A judge's preference (`winner` over `loser`) or direct score (`entry`, `score` 0-100). Stored
    durably before the answer: a 201 is never lost.

    Send an `Idempotency-Key` header (any unique string, e.g. a UUID, per vote) to make retries
    safe: a vote repeated with a key this contest has seen is answered with the vote recorded
    then (`Idempotent-Replayed: true`) and not counted twice; the same key with another vote is
    422 `idempotency_key_reused`."""
    inputs, replayed = contests.add_judgement(contest_id, judgement, idempotency_key)
    audit(request, inputs.judgement.id, idempotency_key,
          {"contest": contest_id, **({"replayed": True} if replayed else {})})
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return inputs


@router.get("/contests/{contest_id}/judgements", response_model=list[JudgementRecord], responses=IN_CONTEST)
def list_judgements(contest_id: Id, contests: ContestsDep) -> list[JudgementRecord]:
    return contests.judgements(contest_id)
