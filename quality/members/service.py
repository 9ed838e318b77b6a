"""The member layer's one entry point: profiles from a history sent whole (stateless) or from
the member store, and storing activities. The API, the CLI and evaluation call this."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from quality.errors import NotFound, TooLarge
from quality.members.profile import build_profile
from quality.members.schemas import (MAX_PROFILE_ACTIVITIES, MAX_STORED_BATCH, Activity, MemberPage, MemberProfile, MemberSummary,
                                     ProfileRequest, StoredCount)
from quality.members.scoring import check_unique_ids, facts_of, score_missing
from quality.members.store import MemberStore
from quality.service import QualityService
from quality.settings import Limits, Settings
from quality.validation import check_post


class MemberService:
    def __init__(self, scorer: QualityService, store: MemberStore | None = None):
        self.scorer = scorer
        self.store = store

    @classmethod
    def from_settings(cls, scorer: QualityService, settings: Settings | None = None) -> MemberService:
        """Stored mode in the contest store's database (`QUALITY_CONTEST_DATABASE_URL`)."""
        settings = settings or scorer.settings
        return cls(scorer, MemberStore.from_url(settings.contest_database_url))

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    @property
    def rubric(self):
        return self.scorer.rubric

    def profile(self, request: ProfileRequest) -> MemberProfile:
        """Stateless: the history in the request, content without a score scored once now."""
        check_activity_count(request.activities, MAX_PROFILE_ACTIVITIES)
        check_activity_posts(request.activities, self.scorer.settings.limits)
        as_of = request.as_of or datetime.now(UTC)
        return self._build(request.member_id, request.activities, as_of, request.current_tier)

    def _build(self, member_id: str, activities: Sequence[Activity], as_of: datetime,
               current_tier: str | None) -> MemberProfile:
        scores = score_missing(self.scorer, activities)
        facts = facts_of(activities, scores, self.rubric)
        return build_profile(member_id, facts, self.rubric, as_of, current_tier, self.scorer.models_version)

    # --- stored mode --------------------------------------------------------------------------

    def _require_store(self) -> MemberStore:
        if self.store is None:
            raise RuntimeError("this MemberService has no store (MemberService.from_settings opens one)")
        return self.store

    def add_activities(self, member_id: str, activities: Sequence[Activity]) -> StoredCount:
        """Store a batch (idempotent by activity id). Content without a score is scored first,
        so stored history is never scored again; the member's summary is then refreshed."""
        store = self._require_store()
        check_activity_count(activities, MAX_STORED_BATCH)
        check_activity_posts(activities, self.scorer.settings.limits)
        check_unique_ids(activities)  # a batch naming one id twice is refused before any work
        already = store.known(member_id, activities)
        fresh = [a for i, a in enumerate(activities) if i not in already]
        scores = score_missing(self.scorer, fresh)
        scored = [a.model_copy(update={"score": scores[i]}) if i in scores else a for i, a in enumerate(fresh)]
        stored, again = store.add(member_id, scored)
        self.refresh_summary(member_id)
        return StoredCount(stored=stored, already_stored=again + len(already))

    def stored_profile(self, member_id: str, as_of: datetime | None = None) -> MemberProfile:
        store = self._require_store()
        activities = store.activities(member_id)
        if not activities:
            raise NotFound(f"no activities are stored for member {member_id!r}", field="member_id")
        return self._build(member_id, activities, as_of or datetime.now(UTC), store.confirmed_tier(member_id))

    def confirm_tier(self, member_id: str, tier: str, by: str | None) -> MemberProfile:
        """A person confirms the member's tier (leading is only ever suggested until then): it is
        the held tier the ladder looks on from. The summary is refreshed; the profile returned."""
        store = self._require_store()
        store.confirm_tier(member_id, tier, by)
        return self.refresh_summary(member_id)

    def refresh_summary(self, member_id: str) -> MemberProfile:
        store = self._require_store()
        activities = store.activities(member_id)
        profile = self._build(member_id, activities, datetime.now(UTC), store.confirmed_tier(member_id))
        store.save_summary(profile, len(activities), max((a.at for a in activities), default=None))
        return profile

    def members(self, tier: str | None = None, limit: int = 50, cursor: str | None = None) -> MemberPage:
        rows, next_cursor = self._require_store().summaries(tier, limit, cursor)
        return MemberPage(members=[MemberSummary(member_id=row.member_id, suggested_tier=row.suggested_tier,
                                                 stages=row.stages, activities=row.activities,
                                                 last_active=row.last_active) for row in rows],
                          next_cursor=next_cursor)


def check_activity_posts(activities: Sequence[Activity], limits: Limits) -> None:
    """Every post an activity carries is checked as `/score` checks it (422 empty_post,
    parent_on_post; 413 past a limit), whether or not it will be scored: with its score given,
    or on an activity kind that is only counted, it is still what the schema says a post is."""
    for index, activity in enumerate(activities):
        if activity.post is not None:
            check_post(activity.post, limits, field_prefix=f"activities[{index}].post.")


def check_activity_count(activities: Sequence[Activity], limit: int) -> None:
    """413 for more than `limit` activities in one call."""
    if len(activities) > limit:
        raise TooLarge(f"{len(activities)} activities; at most {limit} per call", field="activities")
