"""Service settings: shipped defaults in ``config/stridewise.toml``, overridden by
``STRIDEWISE_*`` environment variables (environment wins)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
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

    # Google Health adapter (issue 3): points per list page (the API allows 1 to
    # 10000; fewer calls per sync with more) and the loopback port the consent
    # redirect returns to (0 = any free port).
    google_page_size: int = Field(10000, ge=1, le=10000)
    google_redirect_port: int = Field(0, ge=0, le=65535)

    garmin_api_url: str = "https://connectapi.garmin.com"
    garmin_token_url: str = "https://diauth.garmin.com/di-oauth2-service/oauth/token"

    # Sync engine and scheduler (issue 5).
    sync_backfill_days: int = Field(30, ge=1, le=365)
    sync_lookback_days: int = Field(3, ge=0, le=60)
    sync_interval_minutes: float = Field(15, gt=0)
    sync_tick_seconds: float = Field(30, gt=0)
    sync_concurrency: int = Field(8, ge=1, le=256)
    sync_lease_seconds: int = Field(300, ge=5)
    sync_base_backoff_seconds: float = Field(60, gt=0)
    sync_max_backoff_seconds: float = Field(6 * 3600, gt=0)
    sync_jitter_seconds: float = Field(60, ge=0)
    provisional_settle_hours: float = Field(48, ge=0)
    # Local hour (patient's clock) after which the daily rules evaluation runs.
    daily_rules_hour: int = Field(7, ge=0, le=23)
    # Garmin adapter (issue 4): login host, intraday reach, late-upload re-read.
    garmin_sso_url: str = "https://sso.garmin.com"
    garmin_intraday_days: int = Field(7, ge=1, le=90)
    garmin_lookback_days: int = Field(3, ge=0, le=60)

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


def with_overrides(settings: Settings, updates: dict) -> Settings:
    """A validated copy with ``updates`` applied (``model_copy`` would skip validation,
    leaving e.g. secrets as plain strings)."""
    return Settings.model_validate({**settings.model_dump(), **updates})
