"""Every error stridewise raises on purpose, in two trees.

    StridewiseError        bad input or state a user can fix; the CLI prints its
    ├── NotFound           message as one line and the web answers 404 / 422
    └── MissingSecretKey

    ProviderError          the only errors that leave an adapter: every provider
    ├── AuthRevoked        library or HTTP error is translated into one of these,
    ├── RateLimited        in one place per adapter, with ``raise ... from``
    ├── Transient
    └── BadData

- ``AuthRevoked``: the provider refused our credentials for good; relink needed.
- ``RateLimited``: slow down; ``retry_after`` seconds when the provider said so.
- ``Transient``: 5xx, time-outs, resets; try again later.
- ``BadData``: the response could not be used at all (points that are merely bad
  are skipped and reported, not raised).

Programmer mistakes (TypeError and friends) are deliberately in neither tree.
"""

from __future__ import annotations


class StridewiseError(Exception):
    """Bad input or state the user can fix; never a bug."""


class NotFound(StridewiseError):
    pass


class MissingSecretKey(StridewiseError):
    def __init__(self) -> None:
        super().__init__(
            "STRIDEWISE_SECRET_KEY is not set; generate one with "
            "'stridewise secret generate' and export it"
        )


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
