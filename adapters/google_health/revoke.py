"""Ending a Google link at Google: ``POST https://oauth2.googleapis.com/revoke``.

Revoking the refresh token ends the whole grant (its access tokens too), so a
patient who deletes their data is no longer readable by this client. The revoke
endpoint sits beside the token endpoint (Google and the sandbox alike)."""

from __future__ import annotations

import httpx

from adapters.google_health.config import GoogleHealthConfig


def revoke_url(config: GoogleHealthConfig) -> str:
    return config.token_url.rsplit("/", 1)[0] + "/revoke"


def revoke(config: GoogleHealthConfig, http: httpx.Client, credentials: dict) -> bool:
    """True when Google ended the grant or no longer knew it (400 ``invalid_token``:
    already revoked or expired); False when Google could not be reached."""
    token = credentials.get("refresh_token") or credentials.get("token")
    if not token:
        return True
    try:
        response = http.post(revoke_url(config), data={"token": token})
    except httpx.HTTPError:
        return False
    return response.status_code in (200, 400)
