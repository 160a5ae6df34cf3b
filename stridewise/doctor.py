"""``stridewise doctor``: is this configuration ready to run, and to go live?

One function per check, each returning a :class:`Check` (ok, warn or fail, with
the fix). Nothing here changes state: the database is only read, SMTP gets
``MAIL FROM`` then ``RSET`` and never a message. ``settings.env == "production"``
turns what is fine for development (sandbox URLs, plain http) into failures.
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import MissingSecretKey, StridewiseError
from ingest.crypto import Cipher
from ingest.db import schema_is_current
from ingest.models import LinkedAccount
from ingest.ops_models import latest_heartbeat
from stridewise.settings import Settings

OK, WARN, FAIL = "ok", "warn", "fail"
# Where stridewise.web mounts the Google Health push receiver.
WEBHOOK_PATH = "/webhooks/google-health"
MIN_WEBHOOK_SECRET = 16
PROVIDERS_DOC = "docs/providers.md"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


def _production(settings: Settings) -> bool:
    return settings.env == "production"


def _host(url: str) -> str | None:
    """The URL's host when it is an absolute http(s) URL, else None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    return parts.hostname


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value else ""


def env_name(field: str) -> str:
    return f"STRIDEWISE_{field.upper()}"


def _env_names(fields: list[str]) -> str:
    return ", ".join(env_name(f) for f in fields)


# --- storage -----------------------------------------------------------------


def check_database(settings: Settings, engine: Engine) -> Check:
    url = make_url(settings.database_url)
    shown = url.render_as_string(hide_password=True)
    file = url.database if url.get_backend_name() == "sqlite" else None
    if file and file != ":memory:" and not Path(file).exists():
        # Connecting would create an empty file; say so instead.
        return Check(
            "database",
            FAIL,
            f"no database file at {url.database}",
            "run 'stridewise db upgrade' (or fix STRIDEWISE_DATABASE_URL)",
        )
    try:
        current = schema_is_current(engine)
    except SQLAlchemyError as err:
        return Check(
            "database",
            FAIL,
            f"{shown} is unreachable ({type(err).__name__})",
            f"check {env_name('database_url')} and that the server is up",
        )
    if not current:
        return Check(
            "database",
            FAIL,
            f"{shown} is missing tables or behind the migrations",
            "run 'stridewise db upgrade'",
        )
    return Check("database", OK, f"{shown} is reachable and migrated to head")


def check_secret_key(settings: Settings, engine: Engine, db_ready: bool) -> Check:
    """The key is present, well formed, and decrypts every stored credential."""
    try:
        cipher = Cipher(settings.secret_key)
    except MissingSecretKey:
        return Check(
            "secret key",
            FAIL,
            "STRIDEWISE_SECRET_KEY is not set",
            "put the output of 'stridewise secret generate' in it",
        )
    except StridewiseError as err:
        return Check("secret key", FAIL, str(err), "see 'stridewise secret generate --help'")
    if not db_ready:
        return Check(
            "secret key",
            WARN,
            "key is well formed; stored credentials not checked (the database is not ready)",
            "fix the database check first",
        )
    with Session(engine) as session:
        rows = session.execute(select(LinkedAccount.id, LinkedAccount.credentials)).all()
    unreadable = []
    for account_id, token in rows:
        try:
            cipher.decrypt_json(token)
        except StridewiseError:
            unreadable.append(account_id)
    if unreadable:
        shown = ", ".join(str(i) for i in unreadable[:10])
        return Check(
            "secret key",
            FAIL,
            f"{len(unreadable)} of {len(rows)} stored credentials cannot be decrypted "
            f"(linked accounts {shown})",
            "add the key they were encrypted with after the current one "
            "(STRIDEWISE_SECRET_KEY=new,old), then run 'stridewise secret rotate'",
        )
    return Check("secret key", OK, f"decrypts all {len(rows)} stored credentials")


# --- providers ---------------------------------------------------------------


def _urls_check(name: str, settings: Settings, fields: tuple[str, ...]) -> Check:
    sandbox, plain, broken = [], [], []
    for field in fields:
        url = getattr(settings, field)
        host = _host(url)
        if host is None:
            broken.append(field)
        elif is_loopback(host):
            sandbox.append(field)
        elif not url.startswith("https://"):
            plain.append(field)
    if broken:
        return Check(
            name,
            FAIL,
            f"not an http(s) URL: {_env_names(broken)}",
            "set a full URL such as https://host, or unset it for the default",
        )
    real = "unset them to use the real provider's defaults"
    if sandbox:
        status = FAIL if _production(settings) else WARN
        return Check(
            name,
            status,
            f"sandbox (loopback) URLs: {_env_names(sandbox)}",
            real if _production(settings) else "fine for development; " + real,
        )
    if plain:
        status = FAIL if _production(settings) else WARN
        return Check(name, status, f"plain http (tokens in clear): {_env_names(plain)}", real)
    return Check(
        name,
        OK,
        "real URLs: " + ", ".join(sorted({_host(getattr(settings, f)) or "" for f in fields})),
    )


def check_google_urls(settings: Settings) -> Check:
    return _urls_check(
        "google-health URLs",
        settings,
        ("google_health_api_url", "google_oauth_authorize_url", "google_oauth_token_url"),
    )


def check_garmin_urls(settings: Settings) -> Check:
    return _urls_check(
        "garmin URLs", settings, ("garmin_api_url", "garmin_token_url", "garmin_sso_url")
    )


def check_google_client(settings: Settings) -> Check:
    has_id = bool(settings.google_client_id)
    has_secret = bool(_secret(settings.google_client_secret))
    if has_id and has_secret:
        return Check("google OAuth client", OK, f"client id {settings.google_client_id}")
    fix = f"create a Web application OAuth client ({PROVIDERS_DOC}) and set both"
    if has_id or has_secret:
        missing = "STRIDEWISE_GOOGLE_CLIENT_SECRET" if has_id else "STRIDEWISE_GOOGLE_CLIENT_ID"
        return Check("google OAuth client", FAIL, f"{missing} is not set", fix)
    return Check(
        "google OAuth client",
        WARN,
        "not configured: patients cannot link Fitbit or Pixel Watch",
        fix,
    )


def check_google_redirect(settings: Settings) -> Check:
    """The web flow's redirect (https in production) and the CLI's loopback one."""
    from stridewise.portal.google_flow import callback_url  # the web flow's own

    web = callback_url(settings)
    if _production(settings) and not web.startswith("https://"):
        return Check(
            "google redirect",
            FAIL,
            f"{web} is not https",
            "set STRIDEWISE_PUBLIC_URL to the https address patients reach",
        )
    if settings.google_redirect_port == 0:
        return Check(
            "google redirect",
            WARN,
            f"register {web}; 'stridewise link google-health' picks a random "
            "loopback port, which a Web application client refuses",
            "set STRIDEWISE_GOOGLE_REDIRECT_PORT (e.g. 8765) and register "
            "http://127.0.0.1:8765/ as well",
        )
    loopback = f"http://127.0.0.1:{settings.google_redirect_port}/"
    return Check("google redirect", OK, f"register {web} and {loopback}")


def check_webhook_secret(settings: Settings) -> Check:
    secret = _secret(settings.google_webhook_secret)
    endpoint = settings.public_url.rstrip("/") + WEBHOOK_PATH
    if not secret:
        return Check(
            "google webhook",
            WARN,
            "no STRIDEWISE_GOOGLE_WEBHOOK_SECRET: push "
            "notifications are off, polling alone finds new data",
            f"set it and register the subscriber at {endpoint} ({PROVIDERS_DOC})",
        )
    if len(secret) < MIN_WEBHOOK_SECRET:
        return Check(
            "google webhook",
            FAIL,
            f"STRIDEWISE_GOOGLE_WEBHOOK_SECRET is shorter than {MIN_WEBHOOK_SECRET} characters",
            "use a long random value, e.g. the output of 'stridewise secret generate'",
        )
    if secret.lower().startswith("bearer "):
        return Check(
            "google webhook",
            FAIL,
            "STRIDEWISE_GOOGLE_WEBHOOK_SECRET starts with 'Bearer ', which the receiver strips",
            "set only the token; give Google 'Bearer <token>' as the subscriber's secret",
        )
    if settings.google_webhook_public_key:
        try:
            key = load_pem_public_key(settings.google_webhook_public_key.encode())
        except ValueError:
            key = None
        if not (isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"):
            return Check(
                "google webhook",
                FAIL,
                "STRIDEWISE_GOOGLE_WEBHOOK_PUBLIC_KEY is not a PEM P-256 public key",
                "paste Google's published key (PEM), or unset it",
            )
    return Check(
        "google webhook", OK, f"secret set; register {endpoint} with secret 'Bearer <the secret>'"
    )


# --- delivery and the web ----------------------------------------------------


def check_smtp(settings: Settings, timeout: float = 10.0) -> Check:
    """Connect, EHLO, STARTTLS or TLS as configured, log in if a user is set, then
    ``MAIL FROM`` the configured sender and ``RSET``: nothing is sent."""
    sender = parseaddr(settings.mail_from)[1]
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    if "@" not in sender:
        return Check(
            "smtp",
            FAIL,
            f"STRIDEWISE_MAIL_FROM {settings.mail_from!r} has no address",
            'set it like "Clinic <noreply@clinic.example>"',
        )
    context = ssl.create_default_context()
    try:
        if settings.smtp_security == "tls":
            client = smtplib.SMTP_SSL(
                settings.smtp_host, settings.smtp_port, timeout=timeout, context=context
            )
        else:
            client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        with client:
            client.ehlo()
            if settings.smtp_security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if settings.smtp_username:
                client.login(settings.smtp_username, _secret(settings.smtp_password))
            code, reply = client.mail(sender)
            client.rset()
    except smtplib.SMTPAuthenticationError as err:
        return Check(
            "smtp",
            FAIL,
            f"{where} refused the login of {settings.smtp_username!r} ({err.smtp_code})",
            "check STRIDEWISE_SMTP_USERNAME and _PASSWORD",
        )
    except smtplib.SMTPNotSupportedError as err:
        return Check(
            "smtp",
            FAIL,
            f"{where}: {err}",
            "check STRIDEWISE_SMTP_SECURITY (none, starttls or tls) and the port",
        )
    except ssl.SSLError as err:
        return Check(
            "smtp",
            FAIL,
            f"TLS with {where} failed ({type(err).__name__}: {err})",
            "the server needs a trusted certificate for STRIDEWISE_SMTP_HOST; "
            "check STRIDEWISE_SMTP_SECURITY and _PORT",
        )
    except (OSError, smtplib.SMTPException) as err:
        return Check(
            "smtp",
            FAIL,
            f"{where} is unreachable ({type(err).__name__}: {err})",
            "check STRIDEWISE_SMTP_HOST, _PORT and _SECURITY, and that the server is up",
        )
    if code != 250:
        text = reply.decode(errors="replace")
        return Check(
            "smtp",
            FAIL,
            f"{where} refused the sender {sender} ({code} {text})",
            "use a STRIDEWISE_MAIL_FROM address the server lets you send as",
        )
    if (
        _production(settings)
        and settings.smtp_security == "none"
        and not is_loopback(settings.smtp_host)
    ):
        return Check(
            "smtp",
            WARN,
            f"{where} accepts {sender}, but without encryption",
            "set STRIDEWISE_SMTP_SECURITY to starttls or tls",
        )
    return Check("smtp", OK, f"{where} accepts {sender} ({settings.smtp_security})")


def check_public_url(settings: Settings) -> Check:
    url = settings.public_url
    host = _host(url)
    if host is None:
        return Check(
            "public URL",
            FAIL,
            f"{url!r} is not an http(s) URL",
            "set STRIDEWISE_PUBLIC_URL like https://stridewise.clinic.example",
        )
    if _production(settings):
        if not url.startswith("https://"):
            return Check(
                "public URL",
                FAIL,
                f"{url} is plain http in production",
                "serve stridewise behind TLS and set an https STRIDEWISE_PUBLIC_URL",
            )
        if is_loopback(host):
            return Check(
                "public URL",
                FAIL,
                f"{url} is a loopback address in production",
                "set STRIDEWISE_PUBLIC_URL to the address patients reach",
            )
    return Check("public URL", OK, url)


# --- the scheduler -----------------------------------------------------------


def heartbeat_stale_after(settings: Settings) -> timedelta:
    """A worker beats on every tick and after each account of a long cycle; one
    silent for three ticks (or a whole lease, if longer) has stopped."""
    return timedelta(seconds=max(3 * settings.sync_tick_seconds, settings.sync_lease_seconds))


def check_scheduler(
    settings: Settings, engine: Engine, db_ready: bool, now: datetime | None = None
) -> Check:
    if not db_ready:
        return Check(
            "scheduler",
            WARN,
            "not checked (the database is not ready)",
            "fix the database check first",
        )
    with Session(engine) as session:
        latest = latest_heartbeat(session)
    if latest is None:
        return Check(
            "scheduler",
            WARN,
            "no worker has ticked yet",
            "start 'stridewise worker' (or 'stridewise serve')",
        )
    age = (now or utcnow()) - latest.last_tick_at
    ago = f"{int(age.total_seconds())} s ago"
    if age > heartbeat_stale_after(settings):
        return Check(
            "scheduler",
            FAIL,
            f"last tick {ago} ({latest.worker}): nothing is syncing",
            "start 'stridewise worker' or 'stridewise serve', or look at its logs",
        )
    return Check("scheduler", OK, f"last tick {ago} ({latest.worker})")


def run_checks(settings: Settings, engine: Engine) -> list[Check]:
    """Every check in the order an operator fixes them."""
    database = check_database(settings, engine)
    ready = database.status == OK
    return [
        database,
        check_secret_key(settings, engine, ready),
        check_public_url(settings),
        check_google_urls(settings),
        check_google_client(settings),
        check_google_redirect(settings),
        check_webhook_secret(settings),
        check_garmin_urls(settings),
        check_smtp(settings),
        check_scheduler(settings, engine, ready),
    ]


def failed(checks: list[Check]) -> bool:
    return any(c.status == FAIL for c in checks)
