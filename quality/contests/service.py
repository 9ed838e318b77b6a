"""Contests over the scorer and the store: entries scored on arrival against the contest's theme and
checked against earlier entries, judgements recorded, and the suggested ranking computed.

The API and the judges' page call this; `quality rank` calls `rank_posts` (no storage).
"""

from __future__ import annotations

import hashlib

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from quality.contests.checks import Candidate, Findings, content_flags, repeated_content, text_fingerprint
from quality.contests.schemas import (Contest, ContestCreate, Entry, PairJudgement, RankedEntry, Ranking,
                                      RankingInputs, ScoreJudgement, SuggestedPair)
from quality.contests.store import ContestStore, StoredEntry, StoredImage
from quality.contests.thumbnails import thumbnail_jpeg
from quality.errors import InvalidInput, QualityError
from quality.registry import DIMENSIONS
from quality.rubric.config import Rubric
from quality.schemas import Post, ScoreResult
from quality.service import QualityService
from quality.settings import Settings
from quality.validation import check_post

if TYPE_CHECKING:  # the ranking (choix, scipy.stats) loads on first use, not at server start
    from quality.contests.ranking import DirectScore, Preference

RANKING_CACHE = 32  # contests whose last ranking is kept (recomputed when an entry or judgement arrives)


def thumbnail_path(contest_id: str, entry_id: str, index: int) -> str:
    return f"/contests/{contest_id}/entries/{entry_id}/images/{index}/thumbnail"


def _unique(values) -> list[str]:
    return list(dict.fromkeys(values))


@dataclass(frozen=True)
class ScoredEntry:
    """A post scored against a contest theme, with what the repeat checks and the store keep of it."""

    result: ScoreResult
    images: list[StoredImage]  # hashes and sizes; thumbnails when asked for
    candidate: Candidate


def score_entry(scorer: QualityService, post: Post, theme: str, entry_id: str, *, thumbnails: bool) -> ScoredEntry:
    scored = scorer.score_with_inputs(post.model_copy(update={"theme": theme}))
    composition = scored.result.dimensions.composition
    images = [StoredImage(index=info.index, phash=info.phash, width=info.width, height=info.height,
                          thumbnail=thumbnail_jpeg(decoded) if thumbnails else None)
              for info, decoded in zip(composition.images if composition else [], scored.images)]
    candidate = Candidate(id=entry_id, phashes=tuple(image.phash for image in images),
                          text_sha256=text_fingerprint(post.title, post.text), text_embedding=scored.text_embedding)
    return ScoredEntry(scored.result, images, candidate)


def entry_flags(result: ScoreResult, found: Findings, rubric: Rubric) -> list[str]:
    """The score's own flags, the repeats found, and the rubric's contest-entry flags / needs-review."""
    return _unique([*result.flags, *found.flags, *content_flags(result, rubric.flags.contest_entry)])


def dimension_scores(result: dict) -> dict[str, float | None]:
    """Each dimension's score, and its parts as "<dimension>.<part>" (e.g. composition.perceived_quality)."""
    scores = {}
    for name, value in result["dimensions"].items():
        scores[name] = (value or {}).get("score")
        spec = DIMENSIONS.get(name)
        for field, _ in spec.parts if spec else ():
            if (value or {}).get(field) is not None:
                scores[f"{name}.{field}"] = value[field]
    return scores


class ContestService:
    def __init__(self, scorer: QualityService, store: ContestStore, settings: Settings | None = None):
        self.scorer = scorer
        self.store = store
        settings = settings or scorer.settings
        self.top_k = settings.ranking_top_k
        self.bootstrap = settings.ranking_bootstrap
        # Entries of one contest are checked against the earlier ones and stored one at a time, so
        # of two copies sent at once the later is flagged (within this process).
        self._entry_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        # Per contest, only the last ranking and the entries it read, with the counts they are
        # valid for: an older ranking of the same contest is never asked for again, and each kept
        # copy of a 500-entry contest holds ~10 MB.
        self._rankings: OrderedDict[str, tuple[tuple, Ranking]] = OrderedDict()
        self._entries: OrderedDict[str, tuple[int, list[StoredEntry]]] = OrderedDict()  # stored entries never change
        self._rankings_lock = threading.Lock()

    @classmethod
    def from_settings(cls, scorer: QualityService, settings: Settings | None = None) -> "ContestService":
        settings = settings or scorer.settings
        return cls(scorer, ContestStore.from_url(settings.contest_database_url), settings)

    def close(self) -> None:
        self.store.close()

    # -- contests and entries -------------------------------------------------------------
    def create_contest(self, contest: ContestCreate, idempotency_key: str | None = None) -> tuple[Contest, bool]:
        """The contest created, and whether this replays an earlier request with the same key."""
        return self.store.record_contest(contest, idempotency_key)

    def get_contest(self, contest_id: str) -> Contest:
        return self.store.get_contest(contest_id)

    def list_contests(self) -> list[Contest]:
        return self.store.list_contests()

    def _lock_for(self, contest_id: str) -> threading.Lock:
        with self._locks_lock:
            return self._entry_locks.setdefault(contest_id, threading.Lock())

    def add_entry(self, contest_id: str, post: Post, idempotency_key: str | None = None) -> tuple[Entry, bool]:
        """Score the post against the contest's theme, check it against earlier entries, store it;
        and whether this replays an earlier request with the same key (then nothing is scored or
        stored: the entry stored then is the answer)."""
        check_post(post, self.scorer.settings.limits)  # as sent: its own theme is replaced, not unchecked
        contest = self.store.get_contest(contest_id)
        request_sha256 = hashlib.sha256(post.model_dump_json().encode()).hexdigest() if idempotency_key else None
        earlier = self.store.entry_with_key(contest_id, idempotency_key, request_sha256)
        if earlier is not None:
            return earlier.to_entry(thumbnail_path), True
        new = score_entry(self.scorer, post, contest.theme, "new", thumbnails=True)
        with self._lock_for(contest_id):
            earlier = [Candidate(id=entry_id, phashes=phashes, text_sha256=sha, text_embedding=embedding)
                       for entry_id, sha, embedding, phashes in self.store.fingerprints(contest_id)]
            found = repeated_content(new.candidate, earlier)
            result = new.result
            stored = self.store.add_entry(
                contest_id, client_id=post.id, kind=post.kind, title=post.title, text=post.text,
                parent_text=post.parent.text if post.parent else None, result=result.model_dump(mode="json"),
                model_version=result.versions.models, rubric_version=result.versions.rubric,
                audition_score=result.audition.score, flags=entry_flags(result, found, self.scorer.rubric),
                duplicate_of=found.duplicate_of, images=new.images, text_embedding=new.candidate.text_embedding,
                text_sha256=new.candidate.text_sha256, idempotency_key=idempotency_key,
                request_sha256=request_sha256)
        return stored.to_entry(thumbnail_path), stored.replayed

    def entries(self, contest_id: str) -> list[Entry]:
        return [entry.to_entry(thumbnail_path) for entry in self.store.entries(contest_id)]

    def get_entry(self, contest_id: str, entry_id: str) -> Entry:
        return self.store.get_entry(contest_id, entry_id).to_entry(thumbnail_path)

    def thumbnail(self, contest_id: str, entry_id: str, index: int) -> bytes:
        return self.store.thumbnail(contest_id, entry_id, index)

    # -- judgements and ranking -----------------------------------------------------------
    def add_judgement(self, contest_id: str, judgement: PairJudgement | ScoreJudgement,
                      idempotency_key: str | None = None) -> tuple[RankingInputs, bool]:
        """Recorded (committed) before the answer is given; with an `idempotency_key` this contest
        has seen, the vote recorded then (and True: replayed) instead of a second one."""
        recorded = self.store.record_judgement(contest_id, judgement, idempotency_key)
        return self.store.ranking_inputs(contest_id, recorded.judgement), recorded.replayed

    def judgements(self, contest_id: str):
        return self.store.judgements(contest_id)

    def ranking(self, contest_id: str) -> Ranking:
        contest = self.store.get_contest(contest_id)
        key = (contest.entries, contest.judgements, self.top_k, self.bootstrap)
        with self._rankings_lock:
            kept = self._rankings.get(contest_id)
            if kept is not None and kept[0] == key:
                self._rankings.move_to_end(contest_id)
                return kept[1]
            kept_entries = self._entries.get(contest_id)
        entries = kept_entries[1] if kept_entries is not None and kept_entries[0] == contest.entries else None
        if entries is None:
            entries = self.store.entries(contest_id)
        from quality.contests.ranking import DirectScore, Preference

        votes = self.store.votes(contest_id)
        preferences = [Preference(winner=winner, loser=loser, judge=judge)
                       for kind, judge, winner, loser, _, _ in votes if kind == "pair"]
        scores = [DirectScore(entry=entry, score=score, judge=judge)
                  for kind, judge, _, _, entry, score in votes if kind == "score"]
        ranking = build_ranking(entries, preferences, scores, theme=contest.theme, k=self.top_k,
                                bootstrap=self.bootstrap, thumbnail_url=thumbnail_path, contest_id=contest_id)
        with self._rankings_lock:
            self._rankings[contest_id] = (key, ranking)
            self._entries[contest_id] = (contest.entries, entries)
            for cache in (self._rankings, self._entries):
                cache.move_to_end(contest_id)
                while len(cache) > RANKING_CACHE:
                    cache.popitem(last=False)
        return ranking


def build_ranking(entries: list[StoredEntry], preferences: list[Preference], scores: list[DirectScore], *,
                  theme: str, k: int, bootstrap: int, thumbnail_url: Callable[[str, str, int], str] | None = None,
                  contest_id: str | None = None) -> Ranking:
    """The suggested ranking of stored (or freshly scored) entries, in the API's shape."""
    from quality.contests.ranking import Item, rank

    by_id = {entry.id: entry for entry in entries}
    outcome = rank([Item(id=e.id, model_score=e.audition_score) for e in entries], preferences, scores,
                               k=min(k, max(1, len(entries))), bootstrap=bootstrap)
    ranked = []
    for item in outcome.items:
        entry = by_id[item.id]
        ranked.append(RankedEntry(
            entry=item.id, rank=item.rank, score=round(item.score, 2),
            interval=(round(item.interval[0], 2), round(item.interval[1], 2)), p_top_k=round(item.p_top_k, 4),
            tied_with=list(item.tied_with), model_score=round(entry.audition_score, 2),
            comparisons=item.comparisons, judge_scores=item.judge_scores,
            dimensions=dimension_scores(entry.result), reasons=list(entry.result["audition"].get("reasons", [])),
            flags=list(entry.flags), title=entry.title,
            thumbnails=[thumbnail_url(entry.contest_id, entry.id, image.index) for image in entry.images]
            if thumbnail_url else []))
    next_pair = (SuggestedPair(a=outcome.next_pair.a, b=outcome.next_pair.b, why=outcome.next_pair.why)
                 if outcome.next_pair else None)
    return Ranking(contest_id=contest_id, theme=theme, k=min(k, max(1, len(entries))), method=outcome.method,
                   bootstrap=outcome.bootstrap, entries=ranked, next_pair=next_pair, pairs=len(preferences),
                   scores=len(scores))


def rank_posts(scorer: QualityService, posts: list[Post], theme: str, *, k: int, bootstrap: int,
               preferences: list[Preference] = (), scores: list[DirectScore] = ()
               ) -> tuple[Ranking, list[tuple[str, QualityError]]]:
    """Stateless: score the posts against `theme`, flag repeats among them, rank. Entry ids are the
    posts' `id`s (or their 1-based positions as strings when absent). A post that cannot be scored
    is left out, with the judgements that name it, and returned with its error."""
    from datetime import datetime, timezone

    ids = [post.id or str(number) for number, post in enumerate(posts, start=1)]
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if repeated:
        raise InvalidInput(f"post ids must be unique in a contest; repeated: {repeated[:5]}", field="id")
    entries, earlier, failed = [], [], []
    for entry_id, post in zip(ids, posts):
        try:
            new = score_entry(scorer, post, theme, entry_id, thumbnails=False)
        except QualityError as error:
            failed.append((entry_id, error))
            continue
        found = repeated_content(new.candidate, earlier)
        earlier.append(new.candidate)
        result = new.result
        entries.append(StoredEntry(
            id=entry_id, contest_id="", client_id=post.id, created_at=datetime.now(timezone.utc), kind=post.kind,
            title=post.title, text=post.text, parent_text=None, result=result.model_dump(mode="json"),
            model_version=result.versions.models, rubric_version=result.versions.rubric,
            audition_score=result.audition.score, flags=entry_flags(result, found, scorer.rubric),
            duplicate_of=found.duplicate_of, images=new.images))
    # A judgement about a post that could not be scored is left out with it (an id that names no
    # post at all is still an error: a typo in the judgements file).
    unscored = {entry_id for entry_id, _ in failed}
    preferences = [p for p in preferences if p.winner not in unscored and p.loser not in unscored]
    scores = [s for s in scores if s.entry not in unscored]
    ranking = build_ranking(entries, preferences, scores, theme=theme, k=k, bootstrap=bootstrap)
    return ranking, failed
