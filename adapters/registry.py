"""Which providers exist and where their code lives.

Each provider module exports the same two names, imported lazily so a provider's
libraries load only when that provider is used:

- ``credentials_from_token_file(text: str) -> dict``: validate an exported token
  file and return the credentials to store (encrypted) on the link;
- an adapter class built as ``Adapter(settings, credentials: CredentialStore)``
  implementing :class:`adapters.base.StepSource`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from adapters.base import StepSource
from ingest.credentials import CredentialStore
from ingest.errors import StridewiseError
from ingest.settings import Settings

# provider name -> (module, adapter class name)
PROVIDERS: dict[str, tuple[str, str]] = {
    "google-health": ("adapters.google_health", "GoogleHealthAdapter"),
    "garmin": ("adapters.garmin", "GarminAdapter"),
}


def _module(provider: str):
    try:
        module_name, _ = PROVIDERS[provider]
    except KeyError as err:
        known = ", ".join(sorted(PROVIDERS))
        raise StridewiseError(f"unknown provider {provider!r} (known: {known})") from err
    return import_module(module_name)


def build_source(provider: str, settings: Settings, credentials: CredentialStore) -> StepSource:
    return getattr(_module(provider), PROVIDERS[provider][1])(settings, credentials)


def token_file_importer(provider: str) -> Callable[[str], dict]:
    return _module(provider).credentials_from_token_file
