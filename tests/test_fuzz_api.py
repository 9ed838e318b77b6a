"""Fuzzing the API from its own `/openapi.json` with schemathesis (issue 10).

In-process (schemathesis' ASGI transport: no socket, no network), with the app's lifespan
running (so `POST /score` goes through the micro-batcher as in production) and the contest
database in a temporary folder. Every operation gets schema-conforming and schema-violating
cases; about a third of the cases on `/contests/{contest_id}/...` use a contest (and entry)
that exists, so they reach past the 404.

Enforced on every case: no 5xx (schemathesis' `not_a_server_error`), and the response conforms
to the schema (schemathesis' status code, content type and response schema conformance checks),
4xx included: every error status an operation can give is declared with the contract's body
`ErrorBody` (`{"error": {"code", "message", "field"}}`, no other keys; api/openapi.py), so the
schema check is what holds 4xx bodies to the contract.

The default run is small (a few examples per operation and mode, well under a minute); the long
run (`-m fuzz`) makes at least `QUALITY_FUZZ_CASES` (10,000) cases in total:

    .venv/bin/python -m pytest -m fuzz tests/test_fuzz_api.py -q -s
"""

from __future__ import annotations

import collections
import json
import os
import time

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

schemathesis = pytest.importorskip("schemathesis")

from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.core.transport import Response  # noqa: E402
from schemathesis.python import asgi  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app  # noqa: E402
from tests.conftest import b64, encode_image, synthetic_photo  # noqa: E402

DEFAULT_EXAMPLES = 12         # per operation and generation mode: 16 operations x 2 modes
LONG_TOTAL = int(os.environ.get("QUALITY_FUZZ_CASES", "10000"))
LONG_TIME_LIMIT_S = float(os.environ.get("QUALITY_FUZZ_SECONDS", "3000"))
SCHEMA_CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module", params=["no-keys", "keys"])
def fuzz_target(service, tmp_path_factory, request):
    """(schema, client, known path parameters); the app's lifespan runs for the module. Twice: as
    served without keys (the document then declares none), and with QUALITY_API_KEYS set, the
    client sending an admin key (the document declares keys, scopes and 401/403/429)."""
    from api.auth import new_key

    key, entry = new_key("admin", "fuzz") if request.param == "keys" else (None, None)
    settings = service.settings.model_copy(update={"state_dir": tmp_path_factory.mktemp("fuzz-contests"),
                                                   "api_keys": entry})
    app = create_app(settings, service=service)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app,
                                            headers={"Authorization": f"Bearer {key}"} if key else {})
    # Credentials are not made up: without keys there are none to make; with keys the client sends
    # the admin key (and no negative cases for parameterless operations come from auth parameters).
    schema.config.generation.update(with_security_parameters=False)
    client = asgi.get_client(app)
    if key:
        client.headers["Authorization"] = f"Bearer {key}"
    with client:
        contest = client.post("/contests", json={"name": "fuzz", "theme": "我的第一次长途旅行"})
        assert contest.status_code == 201, contest.text
        contest_id = contest.json()["id"]
        photo = b64(encode_image(synthetic_photo(seed=3), quality=85))
        entry = client.post(f"/contests/{contest_id}/entries",
                            json={"text": "第一次自驾去稻城，油耗和路况都记下来了。", "images": [{"data": photo}]})
        assert entry.status_code == 201, entry.text
        other = client.post(f"/contests/{contest_id}/entries", json={"text": "高速油耗6.2L，空间够用。"})
        assert other.status_code == 201, other.text
        known = {"contest_id": contest_id, "entry_id": entry.json()["id"], "other_entry_id": other.json()["id"]}
        yield schema, client, known
    asgi.shutdown_lifespans()  # closes the contest store (the app's lifespan end)


class Tally:
    def __init__(self) -> None:
        self.cases = 0
        self.statuses: collections.Counter = collections.Counter()
        self.by_operation: collections.Counter = collections.Counter()
        self.server_errors: list[str] = []
        self.schema_failures: list[str] = []
        self.skipped: list[str] = []

    def summary(self) -> str:
        lines = [f"cases: {self.cases}", f"statuses: {dict(sorted(self.statuses.items()))}",
                 f"5xx: {len(self.server_errors)}",
                 f"not conforming to the schema (status, content type or body): {len(self.schema_failures)}"]
        lines += [f"  {label}: {n}" for label, n in sorted(self.by_operation.items())]
        lines += [f"  skipped: {s}" for s in self.skipped]
        lines += [f"  5xx: {e}" for e in self.server_errors[:10]]
        lines += [f"  schema: {e}" for e in self.schema_failures[:10]]
        return "\n".join(lines)


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _check_case(case, client, tally: Tally) -> None:
    response = case.call(session=client, timeout=120)
    label = f"{case.operation.method.upper()} {case.operation.path} -> {response.status_code}"
    tally.cases += 1
    tally.statuses[f"{response.status_code // 100}xx"] += 1
    tally.by_operation[label] += 1
    try:
        case.validate_response(response, checks=[not_a_server_error])
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - schemathesis raises a FailureGroup
        tally.server_errors.append(f"{label}: {_short(exc)} | body {response.text[:200]!r}")
        return
    try:
        case.validate_response(response, checks=SCHEMA_CHECKS)
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001
        tally.schema_failures.append(f"{label}: {_short(exc)} | body {response.text[:200]!r}")


def _repair_post(post, text: str):
    """A schema-valid post made to pass the checks the schema cannot say (some text, `parent` only
    on replies, no undecodable photo), so the fuzzed text reaches the scorers."""
    if not isinstance(post, dict):
        return post
    post = dict(post, images=[])
    if not (post.get("text") or "").strip() and not (post.get("title") or "").strip():
        post["text"] = text
    if post.get("parent") is not None:
        post["kind"] = "reply"
    return post


def _repaired(case_and_text):
    case, text = case_and_text
    if case.operation.path == "/score/batch" and isinstance(case.body, dict):
        case.body = dict(case.body, items=[_repair_post(p, text) for p in case.body.get("items", [])[:8]] or
                         [_repair_post({}, text)])
    else:
        case.body = _repair_post(case.body, text)
    return case


def _strategy(operation, mode: GenerationMode, known: dict):
    base = operation.as_strategy(generation_mode=mode)
    names = {p.name for p in operation.path_parameters}
    known_here = {k: v for k, v in known.items() if k in names}
    branches = [base, base]
    if known_here:
        branches.append(operation.as_strategy(generation_mode=mode, path_parameters=known_here))
    if mode is GenerationMode.POSITIVE and operation.method.upper() == "POST":
        scored = operation.path in ("/score", "/score/batch", "/contests/{contest_id}/entries")
        if scored:
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=known_here or None)
            branches.append(st.tuples(strategy, st.text(min_size=1, max_size=400)).map(_repaired))
        elif operation.path == "/contests/{contest_id}/judgements":
            entry, other = known["entry_id"], known["other_entry_id"]
            bodies = st.one_of(
                st.fixed_dictionaries({"judge": st.text(min_size=1, max_size=80), "winner": st.sampled_from([entry, other]),
                                       "loser": st.sampled_from([entry, other])}),
                st.fixed_dictionaries({"judge": st.text(min_size=1, max_size=80), "entry": st.just(entry),
                                       "score": st.floats(-10, 110) | st.integers(-10, 110)}))
            branches.append(bodies.flatmap(lambda body: operation.as_strategy(
                generation_mode=mode, path_parameters=known_here, body=body)))
    return st.one_of(*branches)


def _fuzz(schema, client, known, tally: Tally, examples: int, deadline: float) -> None:
    for result in schema.get_all_operations():
        operation = result.ok()
        takes_input = any(len(group) for group in (operation.path_parameters, operation.query,
                                                   operation.headers, operation.cookies, operation.body))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if time.monotonic() > deadline:
                return
            if mode is GenerationMode.NEGATIVE and not takes_input:
                continue  # nothing to break: hypothesis would only report "unsatisfiable"

            @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=_strategy(operation, mode, known))
            def run(case) -> None:
                if time.monotonic() <= deadline:
                    _check_case(case, client, tally)

            try:
                run()
            except Unsatisfiable:
                tally.skipped.append(f"{mode.value} {operation.method.upper()} {operation.path}: unsatisfiable")
            except Exception as exc:  # noqa: BLE001 - e.g. no negative data for a parameterless operation
                if "negative" in str(exc).lower() or "generat" in str(exc).lower():
                    tally.skipped.append(f"{mode.value} {operation.method.upper()} {operation.path}: {_short(exc)[:120]}")
                else:
                    raise


def _assert_clean(tally: Tally) -> None:
    assert not tally.server_errors, tally.summary()
    assert not tally.schema_failures, tally.summary()


def test_schema_checks_hold_4xx_to_the_contract(fuzz_target):
    """The checks `_check_case` runs catch a 4xx whose body is not the contract's, or whose status
    the operation does not declare (so a clean fuzz run means something for 4xx)."""
    schema, client, _ = fuzz_target
    case = schema["/contests/{contest_id}"]["GET"].Case(path_parameters={"contest_id": "no-such-contest"})
    response = case.call(session=client)
    assert response.status_code == 404
    case.validate_response(response, checks=SCHEMA_CHECKS)  # the real 404 conforms

    def altered(status: int, body: dict) -> Response:
        return Response(status, response.headers, json.dumps(body).encode(), response.request, 0.0, verify=False)

    real = response.json()
    for status, body, found in ((404, {"error": {"code": "not_found", "message": "gone"}}, "violates schema"),
                                (404, {"detail": "Not Found"}, "violates schema"),  # FastAPI's own body
                                (404, {"error": {**real["error"], "extra": 1}}, "violates schema"),
                                (404, {"error": {**real["error"], "code": ""}}, "violates schema"),
                                (409, real, "Undocumented status code")):  # not declared for the operation
        with pytest.raises(BaseException) as failure:  # noqa: PT011 - schemathesis raises a FailureGroup
            case.validate_response(altered(status, body), checks=SCHEMA_CHECKS)
        assert found in str(failure.value), (status, body, str(failure.value)[:300])


def test_every_operation_fuzzed_briefly_gives_no_5xx(fuzz_target):
    schema, client, known = fuzz_target
    tally = Tally()
    started = time.monotonic()
    _fuzz(schema, client, known, tally, DEFAULT_EXAMPLES, deadline=started + 90)
    print(f"\nschemathesis default run ({time.monotonic() - started:.1f} s)\n{tally.summary()}")
    _assert_clean(tally)
    assert tally.cases >= 100
    assert tally.statuses["2xx"] > 0 and tally.statuses["4xx"] > 0


@pytest.mark.fuzz
def test_ten_thousand_cases_give_no_5xx(fuzz_target, request):
    # Marked, and skipped unless the marker is asked for, so `make test` (plain `pytest`) leaves it out.
    if "fuzz" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the long schemathesis run: select it with `-m fuzz`")
    schema, client, known = fuzz_target
    tally = Tally()
    started = time.monotonic()
    deadline = started + LONG_TIME_LIMIT_S
    rounds = 0
    # Rounds of fresh random cases until the total is reached: operations without parameters
    # have a single case per round, so the others make up the count.
    while tally.cases < LONG_TOTAL and time.monotonic() < deadline:
        rounds += 1
        _fuzz(schema, client, known, tally, examples=200, deadline=deadline)
        print(f"round {rounds}: {tally.cases} cases, {time.monotonic() - started:.0f} s, "
              f"5xx {len(tally.server_errors)}", flush=True)
    print(f"\nschemathesis long run ({time.monotonic() - started:.1f} s, {rounds} rounds)\n{tally.summary()}")
    _assert_clean(tally)
    assert tally.cases >= LONG_TOTAL, f"only {tally.cases} cases within {LONG_TIME_LIMIT_S} s"
