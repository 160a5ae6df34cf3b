"""Signed webhooks after the Standard Webhooks spec, signed by the ``standardwebhooks``
package: ``webhook-id`` (stable per outbox row, so receivers deduplicate),
``webhook-timestamp`` (of this attempt) and ``webhook-signature``.

A secret per endpoint, shown once when added and kept encrypted. A receiver
answering 410 Gone is disabled; other non-2xx answers and timeouts are retried.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from core.errors import NotFound, StridewiseError
from delivery.email import PermanentSendError, TransientSendError
from ingest.crypto import Cipher
from ingest.delivery_models import WebhookEndpoint
from ingest.models import Therapist


class EndpointGone(PermanentSendError):
    """The receiver answered 410: it wants no more events."""


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def add_endpoint(
    session: Session, cipher: Cipher, therapist_id: str, url: str
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its secret (the only time it is shown)."""
    if session.get(Therapist, therapist_id) is None:
        raise NotFound(f"no therapist {therapist_id!r} (see 'stridewise therapist add')")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise StridewiseError(f"{url!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise StridewiseError("put no credentials in a webhook URL: the events are signed")
    secret = new_secret()
    endpoint = WebhookEndpoint(
        therapist_id=therapist_id, url=url, secret=cipher.encrypt_json({"secret": secret})
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def active_endpoints(session: Session, therapist_id: str) -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.therapist_id == therapist_id, WebhookEndpoint.active)
            .order_by(WebhookEndpoint.id)
        )
    )


def body(event: str, data: dict, at: datetime) -> str:
    return json.dumps(
        {"type": event, "timestamp": at.isoformat(), "data": data}, separators=(",", ":")
    )


def post(
    client: httpx.Client, url: str, secret: str, msg_id: str, payload: str, at: datetime
) -> None:
    """Sign and send one event; raise the outbox's error kinds on failure."""
    signature = Webhook(secret).sign(msg_id, at, payload)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }
    try:
        response = client.post(url, content=payload.encode(), headers=headers)
    except httpx.HTTPError as err:
        raise TransientSendError(f"webhook: {type(err).__name__}: {err}") from err
    if response.status_code == 410:
        raise EndpointGone("webhook endpoint answered 410 Gone: disabled")
    if not response.is_success:
        raise TransientSendError(f"webhook answered HTTP {response.status_code}")
