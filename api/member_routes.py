"""Member routes: thin calls into `quality.members.service.MemberService` (CONTRACT.md "Members")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from api.openapi import DATABASE, INVALID, LITERAL_PATH, MEMBER_NOT_FOUND, SCORING, WITH_BODY
from api.audit_routes import audit
from api.routes import InFlightDep, charge_posts, opened_once
from api.routing import is_literal_path
from quality.members.schemas import (MAX_PROFILE_ACTIVITIES, MAX_STORED_BATCH, ActivitiesBatch, MemberPage,
                                     MemberProfile, ProfileRequest, StoredCount, TierConfirmation, TierName,
                                     Timestamp)
from quality.members.scoring import needs_scoring
from quality.members.service import MemberService, check_activity_count

router = APIRouter(tags=["members"])

MemberId = Annotated[str, Path(min_length=1, max_length=256)]
# `GET /members/profile` is not a member's profile: that path belongs to `POST /members/profile`.
StoredMemberId = Annotated[str, Path(min_length=1, max_length=256, json_schema_extra={"not": {"const": "profile"}})]


def get_members(request: Request) -> MemberService:
    """The member service; its store (the contest store's database) is opened on first use."""
    return opened_once(request, "members", lambda state: MemberService.from_settings(state.service, state.settings))


def get_stateless_members(request: Request) -> MemberService:
    """The member service without a store: `POST /members/profile` needs no database."""
    return MemberService(request.app.state.service)


MembersDep = Annotated[MemberService, Depends(get_members)]
StatelessDep = Annotated[MemberService, Depends(get_stateless_members)]


@router.post("/members/profile", response_model=MemberProfile, responses=SCORING)
def profile(body: ProfileRequest, members: StatelessDep, in_flight: InFlightDep, request: Request) -> MemberProfile:
    """A member's profile from the history sent (≤ 5,000 activities): the four stages with figures
    and evidence naming activity ids, the suggested tier with reasons, and what the next tier still
    needs. Activities with content and no `score` are scored once now (≤ 256 per call)."""
    check_activity_count(body.activities, MAX_PROFILE_ACTIVITIES)  # refused, not charged
    charge_posts(request, sum(map(needs_scoring, body.activities)))
    with in_flight:
        return members.profile(body)


@router.post("/members/{member_id}/activities", response_model=StoredCount,
             responses={**SCORING, **DATABASE})
def add_activities(member_id: MemberId, batch: ActivitiesBatch, members: MembersDep,
                   in_flight: InFlightDep, request: Request) -> StoredCount:
    """Store activities (≤ 256), idempotent by activity `id`: a retried batch stores nothing twice;
    an id already stored with other content is 422 `activity_id_reused`. Stored durably before
    the answer. Content without a score is scored once, now."""
    check_activity_count(batch.activities, MAX_STORED_BATCH)  # refused, not charged
    charge_posts(request, sum(map(needs_scoring, batch.activities)))
    with in_flight:
        counts = members.add_activities(member_id, batch.activities)
    audit(request, member_id, None, counts.model_dump())
    return counts


@router.post("/members/{member_id}/tier", response_model=MemberProfile,
             responses={**WITH_BODY, **MEMBER_NOT_FOUND, **DATABASE})
def confirm_tier(member_id: MemberId, confirmation: TierConfirmation, members: MembersDep,
                 request: Request) -> MemberProfile:
    """An operator confirms the tier a member holds (leading is only ever suggested until a person
    does): stored, recorded in the audit trail, and from then on the tier the ladder looks on from.
    The member's profile as of now is returned."""
    key = getattr(request.state, "api_key", None)
    profile = members.confirm_tier(member_id, confirmation.tier, key.name if key is not None else None)
    audit(request, member_id, None, {"tier": confirmation.tier})
    return profile


@router.get("/members/{member_id}", response_model=MemberProfile,
            responses={**MEMBER_NOT_FOUND, **INVALID, **LITERAL_PATH, **DATABASE})
def stored_profile(member_id: StoredMemberId, members: MembersDep, request: Request,
                   as_of: Annotated[Timestamp | None, Query(description="the profile's date (default: now); "
                                                                        "with its UTC offset")] = None) -> MemberProfile:
    """The stored member's profile as of now (or `as_of`); 404 for a member with no stored activity.
    `/members/profile` is `POST /members/profile`'s path, not a member (405)."""
    if is_literal_path(request.scope, f"/members/{member_id}"):
        raise HTTPException(405)
    return members.stored_profile(member_id, as_of)


@router.get("/members", response_model=MemberPage, responses={**INVALID, **DATABASE})
def list_members(members: MembersDep, tier: TierName | None = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 50,
                 cursor: Annotated[str | None, Query(max_length=256)] = None) -> MemberPage:
    """Stored members with their suggested tier and stage scores (as of their last stored
    activity), by member id; pass `next_cursor` back as `cursor` for the next page."""
    return members.members(tier, limit, cursor)
