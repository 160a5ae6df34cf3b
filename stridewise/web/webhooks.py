"""Google Health push notifications: ``POST /webhooks/google-health``.

A notification names a user and the intervals that changed, never values; it
marks that user's account due (``ingest.sync.push.mark_due``) and notes the
earliest changed instant (``mark_changed``) so the next routine sync reads
minute data from there; polling and the daily full read stay the safety net for
lost pushes.
Google checks the endpoint with two ``{"type": "verification"}`` posts, one
carrying the configured ``Authorization`` secret (201) and one without (401).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from core.clock import utcnow
from ingest.db import transaction
from ingest.models import LinkedAccount
from ingest.portal_models import WebhookReceipt
from ingest.sync.push import mark_changed, mark_due
from stridewise.wiring import App

PATH = "/google-health"  # mounted under /webhooks
PROVIDER = "google-health"
SIGNATURE_HEADERS = ("x-healthapi-signature", "google-health-api-signature")
RECEIPT_DAYS = 7  # duplicates come within minutes; a week of hashes is plenty

log = structlog.get_logger("stridewise.webhooks")
router = APIRouter()


class _Interval(BaseModel):
    physicalTimeInterval: dict


class _Data(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: str
    healthUserId: str = Field(min_length=1, max_length=128)
    operation: str
    dataType: str
    intervals: list[_Interval] = []


class Notification(BaseModel):
    data: _Data


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status)


def _authorized(request: Request, secret: str) -> int | None:
    """None when the ``Authorization`` header holds the secret, else 401 / 403."""
    given = request.headers.get("authorization")
    if not given:
        return 401
    if given.lower().startswith("bearer "):
        given = given[7:]
    return None if hmac.compare_digest(given.encode(), secret.encode()) else 403


def _signed(request: Request, body: bytes, public_key_pem: str) -> bool:
    """ECDSA P-256 / SHA-256 over the raw body, DER signature in base64."""
    header = next((request.headers[h] for h in SIGNATURE_HEADERS if h in request.headers), "")
    try:
        signature = base64.b64decode(header + "=" * (-len(header) % 4), altchars=b"-_")
        key = load_pem_public_key(public_key_pem.encode())
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return False
        key.verify(signature, body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


@router.post(PATH, include_in_schema=False)
async def google_health(request: Request) -> Response:
    app: App = request.app.state.app
    settings = app.settings
    secret = settings.google_webhook_secret
    if secret is None:
        return _problem(503, "push notifications are not configured")
    refused = _authorized(request, secret.get_secret_value())
    if refused is not None:
        log.warning("webhook refused", reason="secret", status=refused)
        return _problem(refused, "missing or wrong Authorization")
    body = await request.body()
    try:
        parsed = json.loads(body)
    except ValueError:
        return _problem(422, "the body is not JSON")
    if isinstance(parsed, dict) and parsed.get("type") == "verification":
        return Response(status_code=201)
    key = settings.google_webhook_public_key
    if key and not _signed(request, body, key):
        log.warning("webhook refused", reason="signature")
        return _problem(401, "bad or missing signature")
    try:
        notification = Notification.model_validate(parsed)
    except ValidationError as err:
        return _problem(422, f"not a Google Health notification ({err.error_count()} errors)")
    marked = await run_in_threadpool(_mark, app, notification, hashlib.sha256(body).hexdigest())
    return JSONResponse({"accounts_marked": marked}, 200)


def _earliest_start(notification: Notification) -> datetime | None:
    """The earliest ``startTime`` among the notified intervals; ones that do not
    parse are left out (the account is marked due all the same)."""
    starts = []
    for interval in notification.data.intervals:
        try:
            start = datetime.fromisoformat(interval.physicalTimeInterval.get("startTime", ""))
        except (TypeError, ValueError):
            continue
        if start.tzinfo is not None:
            starts.append(start.astimezone(UTC))
    return min(starts, default=None)


def _mark(app: App, notification: Notification, body_hash: str) -> int:
    """Mark the notified user's account due once per distinct notification."""
    now = utcnow()
    try:
        with transaction(app.factory) as session:
            session.execute(
                delete(WebhookReceipt).where(
                    WebhookReceipt.received_at < now - timedelta(days=RECEIPT_DAYS)
                )
            )
            session.add(WebhookReceipt(body_hash=body_hash, received_at=now))
            session.flush()
            patient_id = session.scalar(
                select(LinkedAccount.patient_id).where(
                    LinkedAccount.provider == PROVIDER,
                    LinkedAccount.external_user_id == notification.data.healthUserId,
                )
            )
            if patient_id is None:
                log.info("webhook for an unknown user")
                return 0
            changed = _earliest_start(notification)
            if changed is not None:
                mark_changed(session, patient_id, PROVIDER, changed)
            marked = mark_due(session, patient_id, PROVIDER, now)
    except IntegrityError:
        log.info("webhook duplicate ignored")
        return 0
    log.info("webhook marked due", patient=patient_id, accounts=marked)
    return marked
