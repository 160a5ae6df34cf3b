"""The web application factory: pages for therapists and patients, the REST API,
webhooks, health and metrics, all over the one :class:`~stridewise.wiring.App`.

Routers and who guards them:

- ``stridewise.web.therapist`` pages: ``CurrentTherapist`` (signed session cookie), CSRF
- ``stridewise.web.patient`` pages: signed patient links, CSRF
- ``stridewise.web.api`` under ``/api/v1``: ``ApiTherapist`` (bearer token), no cookies
- ``stridewise.web.webhooks`` under ``/webhooks``: each provider's own signature
- ``stridewise.web.ops``: ``/healthz``, ``/metrics``
"""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.schedulers.base import BaseScheduler
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from ingest.sync.runner import worker_name
from stridewise.web import api, ops, patient, therapist, webhooks
from stridewise.web.errors import install_error_handlers
from stridewise.web.metrics import RequestTimer, registry_for
from stridewise.web.security import BrowserSecurity, CookiePolicy, csrf_protect
from stridewise.web.signing import signing_key
from stridewise.web.summaries import refresh_stale
from stridewise.web.templating import STATIC_DIR
from stridewise.wiring import App


def create_app(app: App, scheduler: BaseScheduler | None = None) -> FastAPI:
    """``scheduler``: the process's own, whose liveness ``/healthz`` reports (None in a
    web-only process)."""
    web = FastAPI(title="stridewise", version="1", docs_url="/docs", redoc_url=None)
    web.state.app = app
    web.state.factory = app.factory  # refuses a database whose schema is not current
    web.state.signing_key = signing_key(app.settings.secret_key)
    web.state.cookies = CookiePolicy.from_settings(app.settings)
    web.state.scheduler = scheduler
    if scheduler is not None:
        # Keeps the dashboard's figures fresh after syncs (see stridewise.web.summaries).
        scheduler.add_job(refresh_stale, "interval", minutes=5, id="caseload-summaries",
                          name="refresh caseload summaries", replace_existing=True,
                          next_run_time=datetime.now(UTC),
                          args=(web.state.factory, worker_name()))  # fmt: skip
    web.state.metrics, latency = registry_for(web.state.factory)
    web.add_middleware(BrowserSecurity, key=web.state.signing_key, cookies=web.state.cookies)
    web.add_middleware(RequestTimer, latency=latency)
    install_error_handlers(web)
    web.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    csrf = [Depends(csrf_protect)]
    # Pages are HTML for people: the OpenAPI document describes the API (and webhooks).
    web.include_router(therapist.router, dependencies=csrf, include_in_schema=False)
    web.include_router(patient.router, dependencies=csrf, include_in_schema=False)
    web.include_router(api.router, prefix="/api/v1")
    web.include_router(webhooks.router, prefix="/webhooks")
    web.include_router(ops.router)
    return web
