"""The FastAPI application: one `QualityService`, set up once when the app starts."""

from __future__ import annotations

import importlib.metadata
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.audit_routes import router as audit_router
from api.auth import ApiKeyAuth, is_loopback, parse_api_keys
from api.quotas import KeyLimits
from api.contest_routes import router as contest_router
from api.errors import install_error_handlers
from api.limits import BodySizeLimit, InFlightLimit
from api.member_routes import router as member_router
from api.metrics import Metrics, MetricsMiddleware
from api.openapi import install_openapi
from api.quotas import Budgets
from api.routes import router
from api.ui_routes import router as ui_router
from quality.batching import MicroBatcher
from quality.service import QualityService
from quality.settings import Settings, get_settings

DESCRIPTION = (
    "Scores posts and replies of Chinese car-brand communities: clarity, sincerity, "
    "helpfulness, civility and photo composition, mapped by a versioned rubric to the "
    "stage-two `audition` score and the stage-three `civility_signal`.\n\n"
    "Every error has the body `ErrorBody`: `{\"error\": {\"code\", \"message\", \"field\"}}`, with the "
    "statuses each operation declares; besides those, a path that does not exist gives 404 (`not_found`) and "
    "a method a path does not have gives 405 (`method_not_allowed`, with `Allow`). With `QUALITY_API_KEYS` "
    "set, every operation but `/health` needs a key (401 without one, 403 without its scope): each operation "
    "names the scope it needs in `x-required-scope` (`score`, `judge` or `admin`; `any`: any valid key; "
    "`open`: none)."
)


def create_app(settings: Settings | None = None, service: QualityService | None = None) -> FastAPI:
    settings = settings or get_settings()
    api_keys = parse_api_keys(settings.api_keys)  # InvalidApiKeys (a bad entry) stops start-up here

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if getattr(app.state, "service", None) is None:
            # Verifies every model checksum and the rubric; a mismatch stops start-up here.
            app.state.service = QualityService(settings)
        app.state.service.warm_up()
        # POST /score posts are micro-batched by one worker thread (quality.batching), unless
        # the service sends them elsewhere to be batched and scored (the Ray Serve ingress).
        if app.state.service.micro_batched:
            app.state.batcher = MicroBatcher.from_settings(
                app.state.service, settings, on_batch=app.state.metrics.observe_batch).start()
        try:
            yield
        finally:
            # Graceful: refuse new posts (503), score every admitted one (off the event loop,
            # so requests still waiting for their results can be answered meanwhile).
            if app.state.batcher is not None:
                await run_in_threadpool(app.state.batcher.stop, settings.request_timeout_s)
            if getattr(app.state, "contests", None) is not None:
                app.state.contests.close()
            for opened in ("members", "audit"):
                if getattr(app.state, opened, None) is not None:
                    getattr(app.state, opened).close()

    app = FastAPI(
        title="quality",
        version=importlib.metadata.version("quality"),
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.in_flight = InFlightLimit(settings.max_in_flight)
    app.state.batcher = None  # started with the app (lifespan)
    app.state.metrics = Metrics()
    install_error_handlers(app)
    app.state.settings = settings
    app.state.contests = None  # opened on first use (api.contest_routes.get_contests)
    app.state.members = None  # opened on first use (api.member_routes.get_members)
    app.state.audit = None  # opened on first use (api.audit_routes.get_audit)
    app.include_router(router)
    app.include_router(contest_router)
    app.include_router(member_router)
    app.include_router(audit_router)
    app.include_router(ui_router)
    # Without keys on a non-loopback bind (QUALITY_OPEN_ACCESS): a budget per client address.
    address_limits = KeyLimits.parse(settings.address_limits) if not api_keys and not is_loopback(settings.host) else None
    # errors, limits, keys (or the per-address budget) in /openapi.json
    install_openapi(app, keys_configured=bool(api_keys), limits=settings.limits,
                    address_budget=address_limits is not None and address_limits != KeyLimits())
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(BodySizeLimit, max_bytes=settings.limits.max_body_bytes)
    # Outermost: no key, no body read (api/auth.py; a no-op without QUALITY_API_KEYS).
    app.state.budgets = Budgets()  # the keys' request rates and daily post quotas (api/quotas.py)
    app.add_middleware(ApiKeyAuth, keys=api_keys, budgets=app.state.budgets, address_limits=address_limits,
                       on_key=lambda name, status: app.state.metrics.observe_key(
                           name, "allowed" if status is None else "rate_limited"))
    return app
