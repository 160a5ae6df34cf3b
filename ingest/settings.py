"""Service settings: shipped defaults in ``config/stridewise.toml``, overridden by
``STRIDEWISE_*`` environment variables (environment wins)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_DIR = Path(
    os.environ.get("STRIDEWISE_CONFIG_DIR", Path(__file__).resolve().parents[1] / "config")
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="STRIDEWISE_",
        toml_file=CONFIG_DIR / "stridewise.toml",
        extra="ignore",
    )

    database_url: str = "sqlite:///./stridewise.db"
    # Comma-separated Fernet keys; the first encrypts, all decrypt (rotation).
    secret_key: SecretStr | None = None
    log_format: str = "console"
    log_level: str = "INFO"
    source_priority: list[str] = ["garmin/*", "google-health/*", "fitbit-export/*", "csv/*"]

    google_health_api_url: str = "https://health.googleapis.com"
    google_oauth_authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_oauth_token_url: str = "https://oauth2.googleapis.com/token"
    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None

    garmin_api_url: str = "https://connectapi.garmin.com"
    garmin_token_url: str = "https://diauth.garmin.com/di-oauth2-service/oauth/token"

    @field_validator("log_format")
    @classmethod
    def _known_log_format(cls, value: str) -> str:
        if value not in {"console", "json"}:
            raise ValueError("log_format must be 'console' or 'json'")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests build their own ``Settings(...)`` instead."""
    return Settings()
