"""Which providers exist, where their code lives, and how each is configured.

Each provider module exports the same two names, imported lazily so a
provider's libraries load only when that provider is used:

- ``credentials_from_token_file(text: str) -> dict``: validate an exported token
  file and return the credentials to store (encrypted) on the link;
- an adapter class built as ``Adapter(config, credentials: CredentialVault)``
  implementing :class:`core.source.StepSource`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from adapters.garmin.config import GarminConfig
from adapters.google_health.config import GoogleHealthConfig
from core.errors import StridewiseError
from core.source import CredentialVault, StepSource
from stridewise.settings import Settings

# provider name -> (module, adapter class name)
PROVIDERS: dict[str, tuple[str, str]] = {
    "google-health": ("adapters.google_health", "GoogleHealthAdapter"),
    "garmin": ("adapters.garmin", "GarminAdapter"),
}


def google_config(settings: Settings) -> GoogleHealthConfig:
    secret = settings.google_client_secret
    return GoogleHealthConfig(
        api_url=settings.google_health_api_url,
        authorize_url=settings.google_oauth_authorize_url,
        token_url=settings.google_oauth_token_url,
        client_id=settings.google_client_id,
        client_secret=secret.get_secret_value() if secret else None,
        page_size=settings.google_page_size,
        timeout_s=settings.provider_timeout_seconds,
    )


def garmin_config(settings: Settings) -> GarminConfig:
    return GarminConfig(
        api_url=settings.garmin_api_url,
        token_url=settings.garmin_token_url,
        sso_url=settings.garmin_sso_url,
        intraday_days=settings.garmin_intraday_days,
        lookback_days=settings.garmin_lookback_days,
        timeout_s=settings.provider_timeout_seconds,
    )


CONFIGS: dict[str, Callable[[Settings], object]] = {
    "google-health": google_config,
    "garmin": garmin_config,
}


def _module(provider: str):
    try:
        module_name, _ = PROVIDERS[provider]
    except KeyError as err:
        known = ", ".join(sorted(PROVIDERS))
        raise StridewiseError(f"unknown provider {provider!r} (known: {known})") from err
    return import_module(module_name)


def build_source(provider: str, settings: Settings, credentials: CredentialVault) -> StepSource:
    adapter_class = getattr(_module(provider), PROVIDERS[provider][1])
    return adapter_class(CONFIGS[provider](settings), credentials)


def token_file_importer(provider: str) -> Callable[[str], dict]:
    return _module(provider).credentials_from_token_file
