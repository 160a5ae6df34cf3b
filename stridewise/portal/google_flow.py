"""Linking Google Health from the browser: the adapter's consent request (PKCE S256,
``state``) and code exchange, with the redirect to ``/link/google-health/callback``
at the public URL and the verifier kept server-side, bound to the invitation."""

from __future__ import annotations

import httpx
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from adapters.google_health.auth import SCOPES
from adapters.google_health.consent import (
    ConsentRequest,
    LinkFailed,
    consent_request,
    exchange_code,
    read_identity,
)
from adapters.google_health.revoke import revoke
from ingest.crypto import Cipher
from ingest.db import transaction
from ingest.portal_models import PendingLogin
from stridewise.linking.google import PROVIDER, LinkedGoogleAccount, store_link
from stridewise.portal.invitations import check_usable
from stridewise.portal.linking import LinkRefused, invitation, spend, take_pending
from stridewise.portal.pending import save_pending
from stridewise.providers import google_config
from stridewise.settings import Settings

CALLBACK_PATH = "/link/google-health/callback"


def callback_url(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + CALLBACK_PATH


def start(factory: sessionmaker[Session], settings: Settings, invitation_id: int) -> str:
    """The consent URL to send the browser to (its verifier stays here, encrypted)."""
    request = consent_request(google_config(settings), callback_url(settings))
    with transaction(factory) as session:
        check_usable(invitation(session, invitation_id))
        payload = {"verifier": request.verifier, "redirect_uri": request.redirect_uri}
        save_pending(
            session, Cipher(settings.secret_key), invitation_id, PROVIDER, payload, request.state
        )
    return request.url


def finish(
    factory: sessionmaker[Session],
    settings: Settings,
    invitation_id: int,
    params: dict[str, str],
    http: httpx.Client | None = None,
) -> LinkedGoogleAccount:
    """The callback: refuse a foreign or replayed ``state``, a denial, missing scopes;
    else store the link and spend the invitation. The pending step is used up either way."""
    state = params.get("state", "")
    with transaction(factory) as session:
        row, payload = (
            take_pending(session, Cipher(settings.secret_key), state, PROVIDER, invitation_id)
            if state
            else (None, None)
        )
        if row is None:
            raise LinkRefused("state")
        session.execute(delete(PendingLogin).where(PendingLogin.id == row.id))
        spent = invitation(session, invitation_id)
        patient_id = spent.patient_id
    check_usable(spent)
    if "error" in params or not params.get("code"):
        raise LinkRefused("denied")
    config = google_config(settings)
    request = ConsentRequest("", state, payload["verifier"], payload["redirect_uri"])
    client = http or httpx.Client(timeout=30.0)
    try:
        try:
            credentials = exchange_code(config, client, request, params["code"])
        except LinkFailed as err:
            raise LinkRefused("exchange") from err
        if not set(SCOPES) <= set(credentials["scopes"]):
            revoke(config, client, credentials)
            raise LinkRefused("scopes")
        try:
            identity = read_identity(config, client, credentials)
        except LinkFailed as err:
            raise LinkRefused("identity") from err
    finally:
        if http is None:
            client.close()
    linked = store_link(factory, Cipher(settings.secret_key), patient_id, credentials, identity)
    spend(factory, invitation_id, PROVIDER)
    return linked
