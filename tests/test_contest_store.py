"""The contest store on SQLite (always) and PostgreSQL (when a server can be had): round trips,
counts, errors, durability settings, migrations, concurrency.

PostgreSQL: the `postgres_url` fixture (conftest.py, tests/postgres.py): `QUALITY_TEST_POSTGRES_URL`
if set, else a throwaway cluster for the session; each test works in a schema of its own, dropped
after. When neither works, the PostgreSQL cases are skipped with the reason.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from quality.contests.db import alembic_config, current_revision, head_revision, make_engine, upgrade
from quality.contests.schemas import ContestCreate, Entry, PairJudgement, ScoreJudgement
from quality.contests.store import ContestStore, StoredImage
from quality.contests.tables import Base, JudgementRow, new_id, utc_now
from quality.errors import InvalidInput, NotFound, Unavailable
from quality.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'contests.db'}"  # `state/` does not exist yet
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'contests.db'}"


@pytest.fixture
def store(database_url):
    with ContestStore.from_url(database_url) as opened:
        yield opened


# --- what the tests store ------------------------------------------------------------------


def score_result(audition: float = 72.5) -> dict:
    """A ScoreResult (as JSON) the way the scorer answers it."""
    return {
        "id": "p1",
        "versions": {"models": "m-1", "rubric": "r-1", "rubric_sha256": "0" * 64},
        "dimensions": {
            "clarity": {"score": 0.8, "confidence": 0.9, "evidence": ["首先说结论"]},
            "sincerity": None, "helpfulness": None, "civility": None, "composition": None,
        },
        "audition": {"score": audition, "band": "promising", "reasons": ["结构清楚"], "reason_codes": ["clear"]},
        "civility_signal": {"score": 0.9, "label": "constructive", "needs_review": False},
        "flags": [],
    }


def add_entry(store: ContestStore, contest_id: str, *, text_: str = "高速油耗6.2L，空间够一家三口用。",
              images: list[StoredImage] = (), embedding=None, audition: float = 72.5, **overrides):
    values = dict(client_id="p1", kind="post", title="提车三个月", text=text_, parent_text=None,
                  result=score_result(audition), model_version="m-1", rubric_version="r-1",
                  audition_score=audition, flags=[], duplicate_of=[], images=list(images),
                  text_embedding=embedding, text_sha256=None)
    values.update(overrides)
    return store.add_entry(contest_id, **values)


def new_contest(store: ContestStore, name: str = "长途之旅"):
    return store.create_contest(ContestCreate(name=name, theme="我的第一次长途旅行", description="晒出你的旅程"))


# --- round trips ---------------------------------------------------------------------------


def test_contests_round_trip_with_counts(store):
    first = new_contest(store, "一")
    second = store.create_contest(ContestCreate(name="二", theme="露营"))
    assert (first.entries, first.judgements) == (0, 0)
    assert len(first.id) == 32 and first.id != second.id
    assert first.created_at.tzinfo is not None and first.created_at.utcoffset().total_seconds() == 0

    got = store.get_contest(first.id)
    assert got == first
    assert store.get_contest(second.id).description is None
    assert [contest.id for contest in store.list_contests()] == [first.id, second.id]

    a = add_entry(store, first.id)
    b = add_entry(store, first.id)
    store.add_judgement(first.id, PairJudgement(judge="评委甲", winner=a.id, loser=b.id))
    store.add_judgement(first.id, ScoreJudgement(judge="评委乙", entry=a.id, score=88))
    counted = {contest.id: (contest.entries, contest.judgements) for contest in store.list_contests()}
    assert counted == {first.id: (2, 2), second.id: (0, 0)}
    assert (store.get_contest(first.id).entries, store.get_contest(first.id).judgements) == (2, 2)


def test_entries_round_trip_with_images_thumbnails_and_embedding(store):
    contest = new_contest(store)
    other = new_contest(store, "其他")
    thumbnails = [b"\xff\xd8\xff\xe0 first jpeg \x00\x01", b"\xff\xd8\xff\xe0 second \x00" * 50]
    images = [StoredImage(index=1, phash="f0e1d2c3b4a59687", width=1280, height=960, thumbnail=thumbnails[1]),
              StoredImage(index=0, phash="0123456789abcdef", width=640, height=480, thumbnail=thumbnails[0])]
    embedding = np.random.default_rng(0).normal(size=512).astype(np.float32)
    stored = add_entry(store, contest.id, images=images, embedding=embedding, flags=["near_duplicate_text"],
                       duplicate_of=["e0"], text_sha256="ab" * 32, kind="reply", parent_text="首保什么时候做？")
    plain = add_entry(store, contest.id, text_=None, client_id=None, title=None, audition=40.0)
    add_entry(store, other.id)

    listed = store.entries(contest.id)
    assert [entry.id for entry in listed] == [stored.id, plain.id]
    got = listed[0]
    assert got == store.get_entry(contest.id, stored.id)
    assert (got.kind, got.client_id, got.title, got.parent_text) == ("reply", "p1", "提车三个月", "首保什么时候做？")
    assert got.result == score_result() and got.result["audition"]["reasons"] == ["结构清楚"]
    assert (got.model_version, got.rubric_version, got.audition_score) == ("m-1", "r-1", 72.5)
    assert (got.flags, got.duplicate_of, got.text_sha256) == (["near_duplicate_text"], ["e0"], "ab" * 32)
    assert got.text_embedding.dtype == np.float32 and np.array_equal(got.text_embedding, embedding)
    assert got.created_at.tzinfo is not None and got.created_at == stored.created_at
    assert [(image.index, image.phash, image.width, image.height, image.thumbnail) for image in got.images] == [
        (0, "0123456789abcdef", 640, 480, None), (1, "f0e1d2c3b4a59687", 1280, 960, None)]
    assert stored.images == got.images
    assert [store.thumbnail(contest.id, stored.id, index) for index in (0, 1)] == thumbnails

    assert (plain.text, plain.title, plain.client_id, plain.text_embedding, plain.images) == (
        None, None, None, None, [])
    assert store.get_entry(contest.id, plain.id) == plain
    assert store.entries_with_text(contest.id, "ab" * 32) == [stored.id]
    assert store.entries_with_text(other.id, "ab" * 32) == []

    entry = got.to_entry(lambda contest_id, entry_id, index:
                         f"/contests/{contest_id}/entries/{entry_id}/images/{index}")
    assert isinstance(entry, Entry)
    assert entry.result.audition.score == 72.5
    assert entry.images[1].thumbnail_url == f"/contests/{contest.id}/entries/{stored.id}/images/1"


def test_judgements_round_trip_in_order(store):
    contest = new_contest(store)
    a, b, c = (add_entry(store, contest.id) for _ in range(3))
    posted = [
        store.add_judgement(contest.id, PairJudgement(judge="甲", winner=a.id, loser=b.id)),
        store.add_judgement(contest.id, ScoreJudgement(judge="乙", entry=c.id, score=61.5)),
        store.add_judgement(contest.id, PairJudgement(judge="甲", winner=c.id, loser=a.id)),
    ]
    assert (posted[0].kind, posted[0].winner, posted[0].loser, posted[0].entry, posted[0].score) == (
        "pair", a.id, b.id, None, None)
    assert (posted[1].kind, posted[1].entry, posted[1].score, posted[1].winner) == ("score", c.id, 61.5, None)
    assert store.judgements(contest.id) == posted
    assert all(record.created_at.tzinfo is not None for record in posted)
    inputs = store.ranking_inputs(contest.id, posted[-1])
    assert (inputs.entries, inputs.pairs, inputs.scores, inputs.judges) == (3, 2, 1, 2)
    assert inputs.judgement == posted[-1]


# --- errors --------------------------------------------------------------------------------


def test_unknown_contest_entry_or_image_is_not_found(store):
    contest = new_contest(store)
    other = new_contest(store, "其他")
    entry = add_entry(store, contest.id, images=[StoredImage(0, "0123456789abcdef", 4, 3, b"jpeg")])
    foreign = add_entry(store, other.id)
    missing = "0" * 32
    calls = [
        lambda: store.get_contest(missing),
        lambda: add_entry(store, missing),
        lambda: store.entries(missing),
        lambda: store.judgements(missing),
        lambda: store.get_entry(missing, entry.id),
        lambda: store.get_entry(contest.id, missing),
        lambda: store.get_entry(contest.id, foreign.id),
        lambda: store.thumbnail(contest.id, entry.id, 1),
        lambda: store.thumbnail(other.id, entry.id, 0),
        lambda: store.add_judgement(missing, PairJudgement(judge="甲", winner=entry.id, loser=foreign.id)),
        lambda: store.add_judgement(missing, ScoreJudgement(judge="甲", entry=entry.id, score=50)),
    ]
    for call in calls:
        with pytest.raises(NotFound) as raised:
            call()
        assert raised.value.status_code == 404
    assert store.get_contest(contest.id).entries == 1  # the failed add stored nothing anywhere
    assert len(store.entries(other.id)) == 1


@pytest.mark.parametrize("case, field", [
    ("winner_of_another_contest", "winner"),
    ("unknown_loser", "loser"),
    ("winner_is_loser", "loser"),
    ("scored_entry_of_another_contest", "entry"),
])
def test_judgement_naming_a_wrong_entry_is_invalid_input(store, case, field):
    contest = new_contest(store)
    other = new_contest(store, "其他")
    mine, foreign = add_entry(store, contest.id), add_entry(store, other.id)
    judgement = {
        "winner_of_another_contest": PairJudgement(judge="甲", winner=foreign.id, loser=mine.id),
        "unknown_loser": PairJudgement(judge="甲", winner=mine.id, loser="f" * 32),
        "winner_is_loser": PairJudgement(judge="甲", winner=mine.id, loser=mine.id),
        "scored_entry_of_another_contest": ScoreJudgement(judge="甲", entry=foreign.id, score=70),
    }[case]
    with pytest.raises(InvalidInput) as raised:
        store.add_judgement(contest.id, judgement)
    assert (raised.value.status_code, raised.value.field) == (422, field)
    assert store.judgements(contest.id) == [] and store.judgements(other.id) == []


def test_the_schema_itself_refuses_votes_across_contests_and_malformed_votes(store):
    """Constraints behind the store's checks: composite foreign keys and CHECKs."""
    contest = new_contest(store)
    other = new_contest(store, "其他")
    mine, foreign = add_entry(store, contest.id), add_entry(store, other.id)
    bad_rows = [
        dict(kind="pair", winner_id=foreign.id, loser_id=mine.id),  # entry of another contest
        dict(kind="pair", winner_id=mine.id, loser_id=mine.id),  # winner == loser
        dict(kind="score", entry_id=mine.id, score=101.0),  # outside 0-100
        dict(kind="score", entry_id=mine.id),  # a score without a score
        dict(kind="vote", entry_id=mine.id, score=50.0),  # no such kind
    ]
    for values in bad_rows:
        with pytest.raises(IntegrityError), store._write.begin() as session:
            session.add(JudgementRow(id=new_id(), contest_id=contest.id, judge="甲", created_at=utc_now(), **values))
    assert store.judgements(contest.id) == []


# --- SQLite settings, durability and concurrency ---------------------------------------------


def test_sqlite_runs_wal_synchronous_full_with_foreign_keys(tmp_path):
    url = f"sqlite:///{tmp_path / 'new' / 'deeper' / 'contests.db'}"
    engine = make_engine(url)
    try:
        ContestStore(engine)  # migrating switches foreign keys off for a while: on again after
        with engine.connect() as connection:
            pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("synchronous") == 2  # FULL
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") >= 1000
        assert (tmp_path / "new" / "deeper" / "contests.db").exists()
    finally:
        engine.dispose()


def test_default_database_is_a_sqlite_file_in_the_state_dir(tmp_path):
    url = Settings(state_dir=tmp_path / "state", database_url=None).contest_database_url
    with ContestStore.from_url(url) as store:
        new_contest(store)
    assert (tmp_path / "state" / "contests.db").exists()


def test_concurrent_judgements_from_threads_all_land(sqlite_url):
    threads_n, per_thread = 6, 15
    with ContestStore.from_url(sqlite_url) as store:
        contest = new_contest(store)
        entries = [add_entry(store, contest.id) for _ in range(4)]
        barrier = threading.Barrier(threads_n)
        returned: list[str] = []
        errors: list[BaseException] = []

        def post(worker: int) -> None:
            try:
                barrier.wait()
                for i in range(per_thread):
                    a, b = entries[(worker + i) % 4], entries[(worker + i + 1) % 4]
                    judgement = (PairJudgement(judge=f"j{worker}", winner=a.id, loser=b.id) if i % 2
                                 else ScoreJudgement(judge=f"j{worker}", entry=a.id, score=i))
                    returned.append(store.add_judgement(contest.id, judgement).id)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        workers = [threading.Thread(target=post, args=(worker,)) for worker in range(threads_n)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert errors == []
        assert len(returned) == threads_n * per_thread
    with ContestStore.from_url(sqlite_url) as reopened:
        assert sorted(record.id for record in reopened.judgements(contest.id)) == sorted(returned)
        assert reopened.get_contest(contest.id).judgements == threads_n * per_thread


def test_sigkill_while_posting_loses_no_returned_judgement(sqlite_url, tmp_path):
    """A child process posts judgements and prints each id once `add_judgement` returned;
    after a SIGKILL mid-stream every printed id is in the database."""
    with ContestStore.from_url(sqlite_url) as store:
        contest = new_contest(store)
        a, b = add_entry(store, contest.id), add_entry(store, contest.id)
    child = textwrap.dedent(f"""
        import sys
        from quality.contests.schemas import PairJudgement
        from quality.contests.store import ContestStore
        store = ContestStore.from_url({sqlite_url!r})
        print("ready", flush=True)
        while True:
            record = store.add_judgement({contest.id!r}, PairJudgement(judge="j", winner={a.id!r}, loser={b.id!r}))
            print(record.id, flush=True)
    """)
    process = subprocess.Popen([sys.executable, "-c", child], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    printed: list[str] = []
    try:
        deadline = time.monotonic() + 60
        assert process.stdout.readline().strip() == "ready", process.stderr.read()
        while len(printed) < 20 and time.monotonic() < deadline:
            line = process.stdout.readline().strip()
            if not line:
                break
            printed.append(line)
    finally:
        process.send_signal(signal.SIGKILL)
        rest = process.communicate(timeout=30)[0].split()  # answered before the kill landed
    printed += [line for line in rest if len(line) == 32]
    assert len(printed) >= 20
    with ContestStore.from_url(sqlite_url) as reopened:
        stored = {record.id for record in reopened.judgements(contest.id)}
    assert set(printed) <= stored


# --- migrations ----------------------------------------------------------------------------


def test_migrated_schema_matches_the_models(database_url):
    """A change to tables.py without a migration fails here."""
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                                    "compare_server_default": True})
            differences = compare_metadata(context, Base.metadata)
        assert differences == []
    finally:
        engine.dispose()


def test_upgrade_is_idempotent_and_data_survives_reopening(database_url):
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        store = ContestStore(engine)
        contest = new_contest(store)
        entry = add_entry(store, contest.id, images=[StoredImage(0, "0123456789abcdef", 4, 3, b"jpeg")])
        record = store.add_judgement(contest.id, ScoreJudgement(judge="甲", entry=entry.id, score=90))
    finally:
        engine.dispose()
    with ContestStore.from_url(database_url) as reopened:
        assert reopened.get_contest(contest.id) == contest.model_copy(update={"entries": 1, "judgements": 1})
        assert reopened.get_entry(contest.id, entry.id) == entry
        assert reopened.thumbnail(contest.id, entry.id, 0) == b"jpeg"
        assert reopened.judgements(contest.id) == [record]


def test_stores_opened_at_once_on_a_new_database_migrate_it_once(database_url):
    """Several processes (e.g. server workers) starting on an empty database at the same moment."""
    child = textwrap.dedent(f"""
        import sys
        from quality.contests.store import ContestStore
        print("ready", flush=True)
        sys.stdin.readline()  # "go": all children are imported
        ContestStore.from_url({database_url!r}).close()
    """)
    processes = [subprocess.Popen([sys.executable, "-c", child], cwd=PROJECT_ROOT, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    failures = []
    try:
        for process in processes:
            assert process.stdout.readline().strip() == "ready"
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
    finally:
        for process in processes:
            try:
                _, stderr = process.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
                _, stderr = process.communicate()
            if process.returncode != 0:
                failures.append(stderr[-2000:])
    assert failures == []
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_downgrade_refuses_to_drop_stored_data(sqlite_url):
    with ContestStore.from_url(sqlite_url) as store:
        contest = new_contest(store)
        with store.engine.connect() as connection, pytest.raises(RuntimeError, match="would drop"):
            command.downgrade(alembic_config(connection), "base")
        assert store.get_contest(contest.id).name == "长途之旅"
        assert current_revision(store.engine) == head_revision()


def test_a_database_newer_than_the_code_is_refused(sqlite_url):
    with ContestStore.from_url(sqlite_url) as store:
        with store._write.begin() as session:
            session.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine = make_engine(sqlite_url)
    try:
        with pytest.raises(RuntimeError, match="does not know"):
            ContestStore(engine)
    finally:
        engine.dispose()


def test_revisions_do_not_import_the_models():
    """Revision files stand alone: a later change to tables.py cannot change an old revision."""
    for path in (PROJECT_ROOT / "quality" / "contests" / "migrations" / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "quality.contests.tables" not in source, path.name
    assert head_revision() == "0006"


def test_the_key_revision_goes_down_and_up_keeping_every_contest_and_entry(sqlite_url):
    """0004 (contests' and entries' Idempotency-Key) down and up: only the keys go. (0002's, the
    judgements' keys, can no longer be downgraded from head: 0003 below it refuses, as it would
    drop stored member activities; and 0005 above it refuses, as it would drop the audit trail:
    the database is taken to 0004 only.)"""
    engine = make_engine(sqlite_url)
    upgrade(engine, "0004")
    with ContestStore(engine, migrate=False) as store:
        contest, replayed = store.record_contest(ContestCreate(name="长途之旅", theme="我的第一次长途旅行"), "c1")
        assert not replayed
        a, b = add_entry(store, contest.id).id, add_entry(store, contest.id, text_="第二篇").id
        store.record_judgement(contest.id, PairJudgement(judge="王", winner=a, loser=b), "k1")
        with store.engine.connect() as connection:  # no transaction open: foreign keys off while tables are rebuilt
            command.downgrade(alembic_config(connection), "0003")
            connection.commit()
        assert current_revision(store.engine) == "0003"
        with store.engine.connect() as connection:
            counts = [connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                      for table in ("contests", "entries", "judgements")]
        assert counts == [1, 2, 1]
    with ContestStore.from_url(sqlite_url) as store:  # migrates up again at start
        assert current_revision(store.engine) == head_revision()
        assert [e.id for e in store.entries(contest.id)] == [a, b]
        again, replayed = store.record_contest(ContestCreate(name="长途之旅", theme="我的第一次长途旅行"), "c1")
        assert not replayed and again.id != contest.id  # the old key was dropped with its column
        assert store.record_judgement(contest.id, PairJudgement(judge="王", winner=a, loser=b), "k1").replayed


def test_a_database_that_cannot_be_opened_is_unavailable_not_an_internal_error(tmp_path):
    """Down, restarting or unreachable: `Unavailable` (503 + Retry-After: retry), never a bare
    driver error (a 500). The PostgreSQL half -- the server killed mid-stream -- is in
    tests/test_contest_durability.py."""
    folder = tmp_path / "state"
    store = ContestStore.from_url(f"sqlite:///{folder / 'contests.db'}")
    contest = new_contest(store)
    store.close()  # no pooled connection keeps the old file open
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    folder.write_text("not a folder any more")  # SQLite cannot open the database now
    with pytest.raises(Unavailable) as raised:
        store.get_contest(contest.id)
    assert raised.value.status_code == 503 and raised.value.code == "unavailable"
    with pytest.raises(Unavailable):
        store.add_judgement(contest.id, PairJudgement(judge="j", winner="a", loser="b"))


def test_a_judgement_with_an_idempotency_key_is_stored_once(store):
    contest = new_contest(store)
    a, b = add_entry(store, contest.id).id, add_entry(store, contest.id, text_="第二篇").id
    vote = PairJudgement(judge="王", winner=a, loser=b)
    first = store.record_judgement(contest.id, vote, "vote-1")
    again = store.record_judgement(contest.id, vote, "vote-1")
    assert not first.replayed and again.replayed and again.judgement == first.judgement
    assert [j.id for j in store.judgements(contest.id)] == [first.judgement.id]
    with pytest.raises(InvalidInput) as reused:  # the same key for another vote
        store.record_judgement(contest.id, PairJudgement(judge="王", winner=b, loser=a), "vote-1")
    assert reused.value.code == "idempotency_key_reused"
    store.record_judgement(contest.id, vote)  # no key: every call is a new vote
    store.record_judgement(contest.id, vote, "vote-2")
    other = new_contest(store, "另一场")
    c, d = add_entry(store, other.id).id, add_entry(store, other.id, text_="第二篇").id
    assert not store.record_judgement(other.id, PairJudgement(judge="王", winner=c, loser=d), "vote-1").replayed
    assert len(store.judgements(contest.id)) == 3 and len(store.judgements(other.id)) == 1


def test_concurrent_retries_with_one_idempotency_key_store_one_vote(store):
    """A client that times out and retries while its first request is still being written."""
    contest = new_contest(store)
    a, b = add_entry(store, contest.id).id, add_entry(store, contest.id, text_="第二篇").id
    vote = ScoreJudgement(judge="李", entry=a, score=80)
    results, errors = [], []

    def post() -> None:
        try:
            results.append(store.record_judgement(contest.id, vote, "retry-me"))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert sum(not r.replayed for r in results) == 1 and len({r.judgement.id for r in results}) == 1
    assert len(store.judgements(contest.id)) == 1
