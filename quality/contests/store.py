"""The contest store: contests, their scored entries (with photo hashes and thumbnails) and
judges' votes, in SQLite (default) or PostgreSQL.

Every method is one short transaction on its own session, so a store is shared by FastAPI's
threadpool. A write method returns only after its commit: on SQLite (WAL, synchronous=FULL)
and on PostgreSQL (synchronous_commit on) the row is then on disk.

    store = ContestStore.from_url(settings.contest_database_url)
    contest = store.create_contest(ContestCreate(name="...", theme="..."))
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from quality.contests.db import Store
from quality.contests.schemas import (
    Contest,
    ContestCreate,
    Entry,
    EntryImage,
    JudgementRecord,
    PairJudgement,
    RankingInputs,
    ScoreJudgement,
)
from quality.contests.tables import ContestRow, EntryImageRow, EntryRow, JudgementRow, new_id, utc_now
from quality.errors import InvalidInput, NotFound

# Stored embeddings: little-endian float32, whatever the machine.
_EMBEDDING_DTYPE = np.dtype("<f4")


@dataclass(frozen=True)
class StoredImage:
    """One photo of an entry as stored: index in the post, pHash (hex), original size, and a
    JPEG thumbnail (None when read back with the entry: fetch it with `thumbnail`)."""

    index: int
    phash: str
    width: int
    height: int
    thumbnail: bytes | None = None


@dataclass(frozen=True)
class StoredEntry:
    """A stored entry with everything kept for it. `result` is the ScoreResult as a dict."""

    id: str
    contest_id: str
    client_id: str | None
    created_at: datetime
    kind: str
    title: str | None
    text: str | None
    parent_text: str | None
    result: dict
    model_version: str
    rubric_version: str
    audition_score: float
    flags: list[str]
    duplicate_of: list[str]
    images: list[StoredImage] = field(default_factory=list)
    text_embedding: np.ndarray | None = None  # float32, 1-D
    text_sha256: str | None = None
    replayed: bool = False  # returned for a retried Idempotency-Key: stored by an earlier request

    def __eq__(self, other: object) -> bool:
        # Field by field; the embedding (a numpy array) by value.
        if not isinstance(other, StoredEntry):
            return NotImplemented
        for name in (item.name for item in fields(self)):
            mine, theirs = getattr(self, name), getattr(other, name)
            if isinstance(mine, np.ndarray) or isinstance(theirs, np.ndarray):
                if mine is None or theirs is None or not np.array_equal(mine, theirs):
                    return False
            elif mine != theirs:
                return False
        return True

    __hash__ = None  # holds lists and an array

    def to_entry(self, thumbnail_url: Callable[[str, str, int], str]) -> Entry:
        """The API shape; `thumbnail_url(contest_id, entry_id, index)` gives each image's URL."""
        return Entry(
            id=self.id,
            contest_id=self.contest_id,
            client_id=self.client_id,
            created_at=self.created_at,
            title=self.title,
            text=self.text,
            images=[EntryImage(index=image.index, phash=image.phash, width=image.width, height=image.height,
                               thumbnail_url=thumbnail_url(self.contest_id, self.id, image.index))
                    for image in self.images],
            result=self.result,
            model_version=self.model_version,
            rubric_version=self.rubric_version,
            flags=list(self.flags),
            duplicate_of=list(self.duplicate_of),
        )


@dataclass(frozen=True)
class Recorded:
    """A judgement as stored, and whether this call replayed an earlier one (same Idempotency-Key)."""

    judgement: JudgementRecord
    replayed: bool


class ContestStore(Store):
    """Contests, entries and judgements in one database (see module docstring)."""

    # --- contests -------------------------------------------------------------------------

    def create_contest(self, contest: ContestCreate) -> Contest:
        return self.record_contest(contest)[0]

    def record_contest(self, contest: ContestCreate, idempotency_key: str | None = None) -> tuple[Contest, bool]:
        """`create_contest`, once per `idempotency_key`: with a key seen before, the contest created
        then and True (replayed); the same key with another contest is `InvalidInput`
        (idempotency_key_reused)."""
        row = ContestRow(id=new_id(), name=contest.name, theme=contest.theme, description=contest.description,
                         created_at=utc_now(), idempotency_key=idempotency_key,
                         request_sha256=_sha256(contest.model_dump_json()) if idempotency_key else None)
        try:
            with self._write.begin() as session:
                earlier = _row_with_key(session, ContestRow, idempotency_key)
                if earlier is None:
                    session.add(row)
        except IntegrityError:  # the same key committed by another request meanwhile (PostgreSQL)
            with self._read.begin() as session:
                earlier = _row_with_key(session, ContestRow, idempotency_key)
            if earlier is None:
                raise
        if earlier is None:
            return _contest(row, 0, 0), False
        _same_request(earlier, row.request_sha256, "contest")
        return self.get_contest(earlier.id), True

    def get_contest(self, contest_id: str) -> Contest:
        """The contest with its entry and judgement counts; `NotFound` if there is none."""
        with self._read.begin() as session:
            found = session.execute(_contests_with_counts().where(ContestRow.id == contest_id)).first()
        if found is None:
            raise _no_contest(contest_id)
        return _contest(*found)

    def list_contests(self) -> list[Contest]:
        """Every contest, oldest first, with counts."""
        with self._read.begin() as session:
            rows = session.execute(_contests_with_counts().order_by(ContestRow.created_at, ContestRow.id)).all()
        return [_contest(*row) for row in rows]

    # --- entries --------------------------------------------------------------------------

    def add_entry(
        self,
        contest_id: str,
        *,
        client_id: str | None,
        kind: str,
        title: str | None,
        text: str | None,
        parent_text: str | None,
        result: dict,
        model_version: str,
        rubric_version: str,
        audition_score: float,
        flags: Sequence[str] = (),
        duplicate_of: Sequence[str] = (),
        images: Sequence[StoredImage] = (),
        text_embedding: np.ndarray | None = None,
        text_sha256: str | None = None,
        idempotency_key: str | None = None,
        request_sha256: str | None = None,
    ) -> StoredEntry:
        """Store a scored entry and its images' hashes and thumbnails; committed on return.
        `NotFound` for an unknown contest. With an `idempotency_key` this contest has seen (by
        `request_sha256`, the post sent with it), the entry stored then is returned (`replayed`)."""
        indexes = [image.index for image in images]
        if len(set(indexes)) != len(indexes):
            raise InvalidInput(f"image indexes repeat: {indexes}", field="images")
        if any(image.thumbnail is None for image in images):
            raise InvalidInput("every stored image needs its thumbnail", field="images")
        embedding = _embedding_bytes(text_embedding)
        row = EntryRow(
            id=new_id(), contest_id=contest_id, client_id=client_id, created_at=utc_now(), kind=kind, title=title,
            text=text, parent_text=parent_text, result=result, model_version=model_version,
            rubric_version=rubric_version, audition_score=float(audition_score), flags=list(flags),
            duplicate_of=list(duplicate_of), text_embedding=embedding, text_sha256=text_sha256,
            idempotency_key=idempotency_key, request_sha256=request_sha256,
        )
        image_rows = [EntryImageRow(entry_id=row.id, index=image.index, phash=image.phash, width=image.width,
                                    height=image.height, thumbnail=image.thumbnail)
                      for image in sorted(images, key=lambda image: image.index)]
        try:
            with self._write.begin() as session:
                _require_contest(session, contest_id)
                if (earlier := self._entry_with_key(session, contest_id, idempotency_key, request_sha256)) is not None:
                    return earlier
                session.add(row)
                session.flush()  # the entry before its images: foreign keys are checked per statement
                session.add_all(image_rows)
        except IntegrityError:  # the same key committed by another request meanwhile (PostgreSQL)
            with self._read.begin() as session:
                earlier = self._entry_with_key(session, contest_id, idempotency_key, request_sha256)
            if earlier is None:
                raise
            return earlier
        return _stored_entry(row, image_rows)

    def entry_with_key(self, contest_id: str, idempotency_key: str | None,
                       request_sha256: str | None) -> StoredEntry | None:
        """The entry stored with this key (`replayed`), None if none; `InvalidInput`
        (idempotency_key_reused) when the key came with another post."""
        with self._read.begin() as session:
            return self._entry_with_key(session, contest_id, idempotency_key, request_sha256)

    @staticmethod
    def _entry_with_key(session: Session, contest_id: str, key: str | None, request_sha256: str | None):
        if key is None:
            return None
        row = session.scalar(select(EntryRow).where(EntryRow.contest_id == contest_id,
                                                    EntryRow.idempotency_key == key))
        if row is None:
            return None
        _same_request(row, request_sha256, "entry")
        return replace(_stored_entry(row, _images_of(session, [row.id]).get(row.id, [])), replayed=True)

    def entries(self, contest_id: str) -> list[StoredEntry]:
        """The contest's entries in the order they were added (images without thumbnail bytes).
        `NotFound` for an unknown contest."""
        with self._read.begin() as session:
            _require_contest(session, contest_id)
            rows = session.scalars(select(EntryRow).where(EntryRow.contest_id == contest_id)
                                   .order_by(EntryRow.created_at, EntryRow.id)).all()
            images = _images_of(session, [row.id for row in rows])
        return [_stored_entry(row, images.get(row.id, [])) for row in rows]

    def get_entry(self, contest_id: str, entry_id: str) -> StoredEntry:
        """One entry of the contest; `NotFound` if the contest or the entry (in it) is missing."""
        with self._read.begin() as session:
            row = session.scalars(select(EntryRow).where(EntryRow.contest_id == contest_id,
                                                         EntryRow.id == entry_id)).first()
            if row is None:
                _require_contest(session, contest_id)
                raise NotFound(f"no entry {entry_id!r} in contest {contest_id!r}", field="entry_id")
            images = _images_of(session, [row.id])
        return _stored_entry(row, images.get(row.id, []))

    def thumbnail(self, contest_id: str, entry_id: str, index: int) -> bytes:
        """The JPEG thumbnail of an entry's image; `NotFound` if any part is missing."""
        with self._read.begin() as session:
            data = session.scalar(
                select(EntryImageRow.thumbnail)
                .join(EntryRow, EntryRow.id == EntryImageRow.entry_id)
                .where(EntryRow.contest_id == contest_id, EntryRow.id == entry_id, EntryImageRow.index == index))
        if data is None:
            raise NotFound(f"no image {index} of entry {entry_id!r} in contest {contest_id!r}", field="index")
        return bytes(data)

    def fingerprints(self, contest_id: str) -> list[tuple[str, str | None, np.ndarray | None, tuple[str, ...]]]:
        """(id, text_sha256, text_embedding, photo phashes) of each entry, in the order added: what the
        repeat checks compare a new entry with, without reading results or thumbnails."""
        with self._read.begin() as session:
            _require_contest(session, contest_id)
            rows = session.execute(select(EntryRow.id, EntryRow.text_sha256, EntryRow.text_embedding)
                                   .where(EntryRow.contest_id == contest_id)
                                   .order_by(EntryRow.created_at, EntryRow.id)).all()
            hashes: dict[str, list[str]] = {}
            for entry_id, phash in session.execute(
                    select(EntryImageRow.entry_id, EntryImageRow.phash).join(EntryRow)
                    .where(EntryRow.contest_id == contest_id).order_by(EntryImageRow.index)):
                hashes.setdefault(entry_id, []).append(phash)
        return [(entry_id, sha, _embedding_array(embedding), tuple(hashes.get(entry_id, ())))
                for entry_id, sha, embedding in rows]

    def entries_with_text(self, contest_id: str, text_sha256: str) -> list[str]:
        """Ids of the contest's entries whose normalised text has this sha256, earliest first."""
        with self._read.begin() as session:
            return list(session.scalars(
                select(EntryRow.id).where(EntryRow.contest_id == contest_id, EntryRow.text_sha256 == text_sha256)
                .order_by(EntryRow.created_at, EntryRow.id)))

    # --- judgements -----------------------------------------------------------------------

    def add_judgement(self, contest_id: str, judgement: PairJudgement | ScoreJudgement) -> JudgementRecord:
        """Record a vote; committed (durable) on return. `NotFound` for an unknown contest;
        `InvalidInput` (with `field`) when an entry named is not in this contest, when
        winner == loser, or a score is outside 0-100."""
        return self.record_judgement(contest_id, judgement).judgement

    def record_judgement(self, contest_id: str, judgement: PairJudgement | ScoreJudgement,
                         idempotency_key: str | None = None) -> Recorded:
        """`add_judgement`, once per `idempotency_key`: with a key this contest has seen, the vote
        recorded then is returned (`replayed`) and nothing is stored; the same key with another
        judgement is `InvalidInput` (code idempotency_key_reused)."""
        if isinstance(judgement, PairJudgement):
            if judgement.winner == judgement.loser:
                raise InvalidInput("winner and loser are the same entry", field="loser")
            row = JudgementRow(kind="pair", winner_id=judgement.winner, loser_id=judgement.loser)
            named = {"winner": judgement.winner, "loser": judgement.loser}
        elif isinstance(judgement, ScoreJudgement):
            score = float(judgement.score)
            if not (math.isfinite(score) and 0.0 <= score <= 100.0):
                raise InvalidInput(f"score must be within 0-100, not {score}", field="score")
            row = JudgementRow(kind="score", entry_id=judgement.entry, score=score)
            named = {"entry": judgement.entry}
        else:
            raise TypeError(f"not a judgement: {type(judgement).__name__}")
        row.id = new_id()
        row.contest_id = contest_id
        row.judge = judgement.judge
        row.created_at = utc_now()
        if idempotency_key is not None:
            row.idempotency_key = idempotency_key
            row.request_sha256 = hashlib.sha256(judgement.model_dump_json().encode()).hexdigest()
        try:
            with self._write.begin() as session:
                _require_contest(session, contest_id)
                earlier = _judgement_with_key(session, contest_id, idempotency_key)
                if earlier is not None:
                    return _replayed(earlier, row.request_sha256)
                present = set(session.scalars(select(EntryRow.id).where(EntryRow.contest_id == contest_id,
                                                                        EntryRow.id.in_(named.values()))))
                for name, entry_id in named.items():
                    if entry_id not in present:
                        raise InvalidInput(f"{entry_id!r} is not an entry of contest {contest_id!r}", field=name)
                session.add(row)
        except IntegrityError:
            # Another request with the same key committed between our check and our insert
            # (PostgreSQL; SQLite writers are serialised): answer with its vote.
            with self._read.begin() as session:
                earlier = _judgement_with_key(session, contest_id, idempotency_key)
            if earlier is None:
                raise
            return _replayed(earlier, row.request_sha256)
        return Recorded(_judgement(row), replayed=False)

    def judgements(self, contest_id: str) -> list[JudgementRecord]:
        """The contest's votes in the order they were recorded; `NotFound` for an unknown contest."""
        with self._read.begin() as session:
            _require_contest(session, contest_id)
            rows = session.scalars(select(JudgementRow).where(JudgementRow.contest_id == contest_id)
                                   .order_by(JudgementRow.created_at, JudgementRow.id)).all()
        return [_judgement(row) for row in rows]

    def votes(self, contest_id: str) -> list[tuple[str, str, str | None, str | None, str | None, float | None]]:
        """(kind, judge, winner, loser, entry, score) of every judgement, in recorded order: the
        columns the ranking reads, without building records (cheap for thousands of votes)."""
        with self._read.begin() as session:
            _require_contest(session, contest_id)
            rows = session.execute(
                select(JudgementRow.kind, JudgementRow.judge, JudgementRow.winner_id, JudgementRow.loser_id,
                       JudgementRow.entry_id, JudgementRow.score)
                .where(JudgementRow.contest_id == contest_id)
                .order_by(JudgementRow.created_at, JudgementRow.id)).all()
        return [tuple(row) for row in rows]

    def ranking_inputs(self, contest_id: str, judgement: JudgementRecord) -> RankingInputs:
        """What the ranking rests on now (the answer to a recorded judgement)."""
        with self._read.begin() as session:
            _require_contest(session, contest_id)
            entries = session.scalar(select(func.count()).select_from(EntryRow)
                                     .where(EntryRow.contest_id == contest_id))
            by_kind = dict(session.execute(select(JudgementRow.kind, func.count())
                                           .where(JudgementRow.contest_id == contest_id)
                                           .group_by(JudgementRow.kind)).all())
            judges = session.scalar(select(func.count(func.distinct(JudgementRow.judge)))
                                    .where(JudgementRow.contest_id == contest_id))
        return RankingInputs(judgement=judgement, entries=entries or 0, pairs=by_kind.get("pair", 0),
                             scores=by_kind.get("score", 0), judges=judges or 0)


# --- helpers ------------------------------------------------------------------------------


def _no_contest(contest_id: str) -> NotFound:
    return NotFound(f"no contest {contest_id!r}", field="contest_id")


def _require_contest(session: Session, contest_id: str) -> None:
    if session.scalar(select(ContestRow.id).where(ContestRow.id == contest_id)) is None:
        raise _no_contest(contest_id)


def _contests_with_counts():
    entries = (select(func.count()).select_from(EntryRow).where(EntryRow.contest_id == ContestRow.id)
               .correlate(ContestRow).scalar_subquery())
    judgements = (select(func.count()).select_from(JudgementRow).where(JudgementRow.contest_id == ContestRow.id)
                  .correlate(ContestRow).scalar_subquery())
    return select(ContestRow, entries, judgements)


def _contest(row: ContestRow, entries: int, judgements: int) -> Contest:
    return Contest(id=row.id, name=row.name, theme=row.theme, description=row.description,
                   created_at=row.created_at, entries=entries or 0, judgements=judgements or 0)


def _embedding_bytes(embedding: np.ndarray | None) -> bytes | None:
    if embedding is None:
        return None
    array = np.asarray(embedding)
    if array.ndim != 1 or array.size == 0:
        raise InvalidInput(f"a text embedding is one non-empty vector, not shape {array.shape}",
                           field="text_embedding")
    array = array.astype(_EMBEDDING_DTYPE)
    if not np.all(np.isfinite(array)):
        raise InvalidInput("the text embedding has non-finite values", field="text_embedding")
    return array.tobytes()


def _embedding_array(data: bytes | None) -> np.ndarray | None:
    if data is None:
        return None
    return np.frombuffer(bytes(data), dtype=_EMBEDDING_DTYPE).astype(np.float32)


def _images_of(session: Session, entry_ids: list[str]) -> dict[str, list[StoredImage]]:
    """Images (without thumbnails) of these entries, by entry id, in index order."""
    found: dict[str, list[StoredImage]] = {}
    chunk = 500  # parameters per statement stay well under SQLite's limit
    for start in range(0, len(entry_ids), chunk):
        rows = session.execute(
            select(EntryImageRow.entry_id, EntryImageRow.index, EntryImageRow.phash, EntryImageRow.width,
                   EntryImageRow.height)
            .where(EntryImageRow.entry_id.in_(entry_ids[start:start + chunk]))
            .order_by(EntryImageRow.entry_id, EntryImageRow.index)).all()
        for entry_id, index, phash, width, height in rows:
            found.setdefault(entry_id, []).append(StoredImage(index=index, phash=phash, width=width, height=height))
    return found


def _stored_entry(row: EntryRow, images: Sequence[EntryImageRow | StoredImage]) -> StoredEntry:
    return StoredEntry(
        id=row.id, contest_id=row.contest_id, client_id=row.client_id, created_at=row.created_at, kind=row.kind,
        title=row.title, text=row.text, parent_text=row.parent_text, result=row.result,
        model_version=row.model_version, rubric_version=row.rubric_version, audition_score=row.audition_score,
        flags=list(row.flags), duplicate_of=list(row.duplicate_of),
        images=[StoredImage(index=image.index, phash=image.phash, width=image.width, height=image.height)
                for image in images],
        text_embedding=_embedding_array(row.text_embedding), text_sha256=row.text_sha256,
    )


def _judgement_with_key(session: Session, contest_id: str, key: str | None) -> JudgementRow | None:
    if key is None:
        return None
    return session.scalar(select(JudgementRow).where(JudgementRow.contest_id == contest_id,
                                                     JudgementRow.idempotency_key == key))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _row_with_key(session: Session, table, key: str | None):
    return None if key is None else session.scalar(select(table).where(table.idempotency_key == key))


def _same_request(earlier, request_sha256: str | None, what: str) -> None:
    if earlier.request_sha256 != request_sha256:
        raise InvalidInput(f"this Idempotency-Key was already used for another {what}", code="idempotency_key_reused")


def _replayed(earlier: JudgementRow, request_sha256: str | None) -> Recorded:
    if earlier.request_sha256 != request_sha256:
        raise InvalidInput("this Idempotency-Key was already used for another judgement in this contest",
                           code="idempotency_key_reused")
    return Recorded(_judgement(earlier), replayed=True)


def _judgement(row: JudgementRow) -> JudgementRecord:
    return JudgementRecord(id=row.id, contest_id=row.contest_id, judge=row.judge, kind=row.kind,
                           winner=row.winner_id, loser=row.loser_id, entry=row.entry_id, score=row.score,
                           created_at=row.created_at)
