"""Where the Google Health API and Google's OAuth live, and our OAuth client.

Built by the application from settings; the same code talks to Google and to
the loopback sandbox, only these values differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class GoogleHealthConfig:
    api_url: str = "https://health.googleapis.com"
    authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    token_url: str = "https://oauth2.googleapis.com/token"
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    # Points per list page (the API allows 1 to 10000; fewer calls per sync with more).
    page_size: int = 10000
    # Seconds one HTTP call may take (connecting, or waiting for any byte): a host
    # that accepts and never answers costs a sync slot this long, then is Transient.
    timeout_s: float = 30.0
