"""The HTTP API on Ray Serve: the same FastAPI app, with scoring on a batching, scalable deployment.

Two deployments:
- `Scorer` holds a `QualityService` (models loaded once per replica, in its constructor). Its
  `score` method is a `serve.batch`: single posts arriving within `ray_batch_wait_s` are scored
  together, up to `ray_max_batch_size`, as one `score_batch` (the same result alone or in any
  batch). Replicas: `ray_replicas`, or autoscaled between `ray_min_replicas` and
  `ray_max_replicas` on `ray_target_ongoing_requests` per replica.
- `Ingress` runs `api.app.create_app` (`serve.ingress`): every route, middleware and error of
  the contract. Its service is a `ServeScoringService`: a `QualityService` that scores nothing
  itself -- `POST /score` and `POST /score/batch` send each post to the `Scorer` deployment (a
  batch's posts spread over the replicas; `serve.batch` there does what the local server's
  micro-batcher does, so the ingress starts none); `/info`, `/health` and the manifest checks
  stay local, and the ingress loads no model.

Run it with `serve run ray_apps.serve_app:build_app` (settings from `QUALITY_*`; any
setting also as `key=value` after it), or from Python with `run(settings, host, port)`.
"""

from __future__ import annotations

import asyncio
import os
import time

from ray import serve
from ray.serve.handle import DeploymentHandle

from quality.errors import Overloaded, QualityError
from quality.schemas import Post, ScoreResult
from quality.service import QualityService
from quality.settings import Settings
from quality.validation import check_batch_size, check_batch_text


def _settings(values: dict | Settings | None) -> Settings:
    if isinstance(values, Settings):
        return values
    return Settings(**(values or {}))


@serve.deployment(name="Scorer")
class Scorer:
    def __init__(self, settings: dict):
        from ray_apps.listeners import bind_to_node_address
        from ray_apps.worker import build_service

        bind_to_node_address()  # before Serve starts this replica's gRPC listener (ray_apps/listeners.py)
        self.settings = _settings(settings)
        self.service = build_service(settings)
        self.posts_scored = 0
        self.score.set_max_batch_size(self.settings.ray_max_batch_size)
        self.score.set_batch_wait_timeout_s(self.settings.ray_batch_wait_s)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.01)
    async def score(self, posts: list[Post]) -> list[ScoreResult | QualityError]:
        """One result per post, or the error of a post that cannot be scored (returned, not
        raised, so one bad post does not fail the others in its batch)."""
        outcomes = await asyncio.to_thread(self.service.score_each, posts)
        self.posts_scored += len(posts)
        return outcomes

    def models_version(self) -> str:
        return self.service.models_version

    def stats(self) -> dict:
        """What this replica did (read by tests and operators): posts scored, in this process."""
        return {"posts_scored": self.posts_scored, "pid": os.getpid()}


class ServeScoringService(QualityService):
    """The ingress's service: scoring goes to the `Scorer` deployment, the rest is local.

    Every way the API scores (`score`, `score_batch`, `score_each`, `score_prepared_each`) sends
    the posts to the scorers; the models are never loaded here (`scorers` refuses)."""

    micro_batched = False  # the Scorer's serve.batch batches; a local batcher would score here

    def __init__(self, settings: Settings, scorer: DeploymentHandle):
        super().__init__(settings)  # verifies the manifest, loads the rubric; loads no model
        self.scorer = scorer

    def warm_up(self) -> None:
        """Nothing to load here: Serve routes to a Scorer replica only once its models are loaded."""

    @property
    def ready(self) -> bool:
        return True

    @property
    def scorers(self):
        raise RuntimeError("the Ray Serve ingress loads no model: scoring goes to the Scorer deployment")

    def score_each(self, posts: list[Post], deadline: float | None = None) -> list[ScoreResult | QualityError]:
        return self._call(posts, deadline)

    def score_prepared_each(self, prepared: list, deadline: float | None = None) -> list[ScoreResult | Exception]:
        return self._call([item.post for item in prepared], deadline)

    def _call(self, posts: list[Post], deadline: float | None = None) -> list[ScoreResult | QualityError]:
        from ray.serve.exceptions import BackPressureError

        try:
            responses = [self.scorer.score.remote(post) for post in posts]
            if deadline is None:
                return [response.result() for response in responses]
            out = []
            for response in responses:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                out.append(response.result(timeout_s=left))
            return out
        except BackPressureError as error:
            raise Overloaded(f"every scorer replica is busy ({error}); retry shortly", code="overloaded") from error
        except TimeoutError as error:
            for response in responses:
                response.cancel()
            raise Overloaded("the batch was not scored in time; retry later or send smaller batches",
                             code="timeout") from error

    def score(self, post: Post) -> ScoreResult:
        [result] = self._call([post])
        if isinstance(result, QualityError):
            raise result
        return result

    def score_batch(self, posts: list[Post], batch_field: str | None = "items",
                    deadline: float | None = None) -> list[ScoreResult]:
        """As `QualityService.score_batch`: the batch's size and text budget first; past
        `deadline` the posts still being scored are cancelled and the batch is 503 "timeout"."""
        if batch_field is not None:
            check_batch_size(len(posts), self.settings.limits)
            check_batch_text(posts, self.settings.limits)
        results = self._call(posts, deadline)
        for index, result in enumerate(results):  # the first bad post, as the local service reports it
            if isinstance(result, QualityError):
                if batch_field is not None and result.field is not None:
                    result.field = f"{batch_field}[{index}].{result.field}"
                raise result
        return results


def scorer_capacity(settings: Settings) -> int:
    """Requests the scorer replicas can hold at most: each up to two batches (one scoring, one filling)."""
    replicas = settings.ray_max_replicas or settings.ray_replicas
    return 2 * settings.ray_max_batch_size * replicas


@serve.deployment(name="Ingress")
@serve.ingress()
class Ingress:
    def __init__(self, scorer: DeploymentHandle, settings: dict):
        from ray_apps.listeners import bind_to_node_address

        bind_to_node_address()
        self.scorer = scorer
        self.settings = _settings(settings)

    async def __serve_build_asgi_app__(self):
        import anyio.to_thread

        from api.app import create_app
        from api.limits import InFlightLimit

        app = create_app(self.settings, service=ServeScoringService(self.settings, self.scorer))
        # The local API's bound (QUALITY_MAX_IN_FLIGHT) is per process; here requests wait on the
        # scorers, so this replica may hold as many as they can batch. Past that: 503.
        limit = max(self.settings.max_in_flight, scorer_capacity(self.settings) // self.settings.ray_ingress_replicas)
        app.state.in_flight = InFlightLimit(limit)
        limiter = anyio.to_thread.current_default_thread_limiter()  # sync routes wait in threads
        limiter.total_tokens = max(limiter.total_tokens, limit + 8)
        return app


def build(settings: Settings | dict | None = None):
    """The Serve application (`serve.run(build(settings))`)."""
    settings = _settings(settings)
    if settings.photo_store is not None and settings.photo_store_record and (
            settings.ray_replicas > 1 or (settings.ray_max_replicas or 1) > 1):
        raise ValueError("QUALITY_PHOTO_STORE_RECORD needs one scorer replica: several would record the same "
                         "photo for different posts")
    values = settings.model_dump(mode="json")
    scorer_options: dict = {
        "ray_actor_options": {"num_cpus": settings.ray_worker_cpus},
        "max_ongoing_requests": 2 * settings.ray_max_batch_size,
        "max_queued_requests": settings.ray_max_queued_requests,
    }
    if settings.ray_max_replicas is not None:
        scorer_options["autoscaling_config"] = {
            "min_replicas": min(settings.ray_min_replicas, settings.ray_max_replicas),
            "max_replicas": settings.ray_max_replicas,
            "target_ongoing_requests": settings.ray_target_ongoing_requests,
        }
    else:
        scorer_options["num_replicas"] = settings.ray_replicas
    capacity = max(settings.max_in_flight, scorer_capacity(settings) // settings.ray_ingress_replicas)
    scorer = Scorer.options(**scorer_options).bind(values)
    return Ingress.options(
        num_replicas=settings.ray_ingress_replicas,
        ray_actor_options={"num_cpus": 0},
        max_ongoing_requests=capacity + 8,  # + room for /health, /info, /metrics
        max_queued_requests=settings.ray_max_queued_requests,
    ).bind(scorer, values)


def build_app(args: dict | None = None):
    """Application builder for `serve run ray_apps.serve_app:build_app [setting=value ...]`."""
    return build(Settings(**(args or {})))


def run(settings: Settings | None = None, host: str = "127.0.0.1", port: int = 8000, name: str = "quality"):
    """Start Serve's HTTP proxy on host:port and deploy the app at `/` (Ray must be initialised).
    Returns the ingress handle; `serve.shutdown()` stops it."""
    from api.auth import is_loopback

    if not is_loopback(host):  # Ray's own inter-node listeners are not bound to loopback (SECURITY.md)
        raise ValueError(f"refusing to bind {host}: the Ray Serve app is served on loopback addresses only")
    serve.start(http_options={"host": host, "port": port})
    return serve.run(build(settings), name=name, route_prefix="/")
