"""The only errors that leave an adapter. Every provider's library or HTTP error
is translated into one of these, in one place per adapter, with ``raise ... from``.

    ProviderError
    ├── AuthRevoked   the provider refused our credentials for good: relink needed
    ├── RateLimited   slow down; ``retry_after`` seconds when the provider said so
    ├── Transient     5xx, time-outs, resets: try again later
    └── BadData       the response could not be used at all (points that are merely
                      bad are skipped and reported, not raised)

Programmer mistakes (TypeError and friends) are deliberately not part of the tree.
"""

from __future__ import annotations


class ProviderError(Exception):
    kind: str = "provider_error"


class AuthRevoked(ProviderError):
    kind = "auth_revoked"


class RateLimited(ProviderError):
    kind = "rate_limited"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Transient(ProviderError):
    kind = "transient"


class BadData(ProviderError):
    kind = "bad_data"
