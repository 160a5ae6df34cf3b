"""``/metrics`` in Prometheus format. Sync, account, alert and message figures are
read from the database at scrape time (so every replica reports the same truth);
request latency is this process's own histogram."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Receive, Scope, Send

from core.clock import utcnow
from ingest.delivery_models import OutboxMessage
from ingest.models import LinkedAccount, LinkStatus, SyncRun
from ingest.programme_models import Alert


class DatabaseCollector:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def collect(self):
        now = utcnow()
        syncs = CounterMetricFamily(
            "stridewise_syncs",
            "Finished syncs by provider and outcome",
            labels=["provider", "outcome"],
        )
        accounts = GaugeMetricFamily(
            "stridewise_accounts", "Linked accounts by state", labels=["state"]
        )
        lag = GaugeMetricFamily(
            "stridewise_sync_lag_seconds", "Age of the oldest due active account"
        )
        alerts = CounterMetricFamily(
            "stridewise_alerts_raised", "Alerts raised by rule", labels=["rule"]
        )
        messages = GaugeMetricFamily(
            "stridewise_messages",
            "Outbox messages by channel, status",
            labels=["channel", "status"],
        )
        with self.factory() as session:
            for provider, outcome, n in session.execute(
                select(LinkedAccount.provider, SyncRun.outcome, func.count())
                .join(LinkedAccount, LinkedAccount.id == SyncRun.account_id)
                .where(SyncRun.outcome != "running")
                .group_by(LinkedAccount.provider, SyncRun.outcome)
            ):
                syncs.add_metric([provider, outcome], n)
            for state, n in session.execute(
                select(LinkedAccount.status, func.count()).group_by(LinkedAccount.status)
            ):
                accounts.add_metric([state], n)
            oldest = session.scalar(
                select(func.min(LinkedAccount.next_sync_due)).where(
                    LinkedAccount.status == LinkStatus.ACTIVE.value,
                    LinkedAccount.next_sync_due <= now,
                )
            )
            lag.add_metric([], (now - oldest).total_seconds() if oldest else 0.0)
            for rule, n in session.execute(select(Alert.rule, func.count()).group_by(Alert.rule)):
                alerts.add_metric([rule], n)
            for channel, status, n in session.execute(
                select(OutboxMessage.channel, OutboxMessage.status, func.count()).group_by(
                    OutboxMessage.channel, OutboxMessage.status
                )
            ):
                messages.add_metric([channel, status], n)
        yield from (syncs, accounts, lag, alerts, messages)


def registry_for(factory: sessionmaker[Session]) -> tuple[CollectorRegistry, Histogram]:
    """A registry per app (tests build many apps in one process)."""
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(factory))
    latency = Histogram(
        "stridewise_request_seconds", "Request latency by route", ["method", "route", "status"],
        registry=registry,
    )  # fmt: skip
    return registry, latency


class RequestTimer:
    """ASGI middleware observing each request's latency under its route template (never
    the raw path: ids stay out of the labels)."""

    def __init__(self, app: ASGIApp, latency: Histogram) -> None:
        self.app, self.latency = app, latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), {"code": 500}

        async def send_status(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.latency.labels(scope["method"], route, str(status["code"])).observe(
                time.perf_counter() - started
            )
