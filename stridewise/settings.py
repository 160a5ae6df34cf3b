"""Service settings: shipped defaults in ``config/stridewise.toml``, overridden by
``STRIDEWISE_*`` environment variables (environment wins)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

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
    # Routine syncs read minute data from the newest minute already read less this overlap
    # (plus days whose total moved or a webhook named); the whole look-back once
    # every full-read interval (and on ``stridewise sync --full``).
    sync_overlap_minutes: float = Field(30, ge=0, le=24 * 60)
    sync_full_read_hours: float = Field(24, gt=0)
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
    # Seconds one provider HTTP call may take (a host that never answers frees the
    # sync slot after this, as a transient failure).
    provider_timeout_seconds: float = Field(30, gt=0, le=300)

    # Where this deployment runs: "production" turns on the checks that refuse
    # sandbox URLs and plain http (stridewise doctor), Secure cookies and HSTS.
    env: Literal["development", "production"] = "development"
    # The address patients and therapists reach stridewise at (links in messages,
    # the OAuth redirect, invitations); https in production.
    public_url: str = "http://127.0.0.1:8000"

    # Patients in the browser: invitations and Google Health push notifications.
    invitation_days: int = Field(7, ge=1, le=90)
    google_webhook_secret: SecretStr | None = None
    # Verifies X-HEALTHAPI-SIGNATURE once Google publishes the key (PEM); optional.
    google_webhook_public_key: str | None = None

    # Therapists' sign-in.
    session_hours: float = Field(12, gt=0, le=24 * 14)
    login_max_failures: int = Field(5, ge=1, le=100)
    login_lockout_minutes: float = Field(15, gt=0)

    # Delivery: email over SMTP, signed webhooks, message hygiene.
    smtp_host: str = "localhost"
    smtp_port: int = Field(1025, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str = "stridewise <noreply@stridewise.localhost>"
    delivery_max_attempts: int = Field(8, ge=1, le=50)
    webhook_timeout_seconds: float = Field(15, gt=0, le=60)
    # Patients get no message in these local hours (HH:MM, the window may wrap midnight).
    quiet_hours_start: str = Field("21:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    quiet_hours_end: str = Field("08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")

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
