"""``stridewise doctor``: every check against a real failing condition (a wrong key,
an unmigrated or unreachable database, an SMTP port that refuses, a sender the
server refuses, sandbox URLs and plain http in production, a stale heartbeat),
and against the passing one."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select
from typer.testing import CliRunner

from core.clock import utcnow
from ingest.crypto import Cipher, generate_key
from ingest.db import make_engine, session_factory, transaction, upgrade
from ingest.linking import link_account
from ingest.ops_models import Heartbeat, WorkerHeartbeat, beat
from ingest.sync.engine import Sources
from stridewise import doctor
from stridewise.cli.main import app
from stridewise.doctor import FAIL, OK, WARN
from stridewise.jobs import sync_tick
from stridewise.settings import Settings
from stridewise.wiring import App
from tests.conftest import create_pg_database, drop_pg_database

SENDER = "noreply@clinic.example"


def make_settings(**values) -> Settings:
    return Settings(**{"mail_from": f"Clinic <{SENDER}>", **values})


def free_port() -> socket.socket:
    """A loopback port nobody listens on (held bound, so nobody takes it meanwhile)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


# --- SMTP on loopback (aiosmtpd) -----------------------------------------------


class Recorder:
    """Records the commands it sees; refuses one sender if told to."""

    def __init__(self, refuse: str | None = None) -> None:
        self.refuse = refuse
        self.commands: list[str] = []
        self.messages = 0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.commands.append(f"MAIL {address}")
        if address == self.refuse:
            return "550 5.7.1 not allowed to send as this address"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RSET(self, server, session, envelope):
        self.commands.append("RSET")
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages += 1
        return "250 OK"


def password_is(expected: str):
    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == expected.encode()
        return AuthResult(success=ok, handled=False)

    return authenticator


class SmtpServer:
    """aiosmtpd on 127.0.0.1, port 0, in its own event-loop thread."""

    def __init__(self, handler: Recorder, tls: ssl.SSLContext | None = None, **options) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def start():
            return await self.loop.create_server(
                lambda: SMTP(handler, hostname="mail.test", **options), "127.0.0.1", 0, ssl=tls
            )

        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(5)
        self.port = self.server.sockets[0].getsockname()[1]

    def close(self) -> None:
        async def stop():
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def smtp_server() -> Iterator:
    servers: list[SmtpServer] = []

    def start(handler: Recorder, **options) -> SmtpServer:
        servers.append(SmtpServer(handler, **options))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_smtp_accepting_the_sender_passes_and_nothing_is_sent(smtp_server):
    handler = Recorder()
    server = smtp_server(handler)
    check = doctor.check_smtp(make_settings(smtp_host="127.0.0.1", smtp_port=server.port))
    assert check.status == OK, check
    assert handler.commands == [f"MAIL {SENDER}", "RSET"]
    assert handler.messages == 0


def test_smtp_refusing_the_sender_fails(smtp_server):
    server = smtp_server(Recorder(refuse=SENDER))
    check = doctor.check_smtp(make_settings(smtp_host="127.0.0.1", smtp_port=server.port))
    assert check.status == FAIL
    assert f"refused the sender {SENDER} (550" in check.detail
    assert "STRIDEWISE_MAIL_FROM" in check.fix


def test_smtp_unreachable_port_fails():
    closed = free_port()
    try:
        port = closed.getsockname()[1]
        check = doctor.check_smtp(make_settings(smtp_host="127.0.0.1", smtp_port=port), timeout=2)
    finally:
        closed.close()
    assert check.status == FAIL
    assert "ConnectionRefusedError" in check.detail
    assert "STRIDEWISE_SMTP_HOST" in check.fix


def test_smtp_login_is_checked(smtp_server):
    server = smtp_server(Recorder(), authenticator=password_is("right"), auth_require_tls=False)
    common = {"smtp_host": "127.0.0.1", "smtp_port": server.port, "smtp_username": "clinic"}
    wrong = doctor.check_smtp(make_settings(**common, smtp_password="wrong"))
    assert wrong.status == FAIL and "refused the login of 'clinic' (535)" in wrong.detail
    right = doctor.check_smtp(make_settings(**common, smtp_password="right"))
    assert right.status == OK, right


def test_smtp_starttls_that_the_server_does_not_offer_fails(smtp_server):
    server = smtp_server(Recorder())
    check = doctor.check_smtp(
        make_settings(smtp_host="127.0.0.1", smtp_port=server.port, smtp_security="starttls")
    )
    assert check.status == FAIL and "STARTTLS" in check.detail


@pytest.fixture
def certificate(tmp_path) -> tuple[str, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: its file, and a server context using it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return str(cert_file), server


def test_smtp_starttls_and_tls_with_a_trusted_certificate_pass(smtp_server, certificate,
                                                              monkeypatch):  # fmt: skip
    cert_file, server_context = certificate
    monkeypatch.setenv("SSL_CERT_FILE", cert_file)  # the client trusts this one certificate
    starttls = smtp_server(Recorder(), tls_context=server_context)
    implicit = smtp_server(Recorder(), tls=server_context)
    for server, security in ((starttls, "starttls"), (implicit, "tls")):
        settings = make_settings(smtp_host="127.0.0.1", smtp_port=server.port,
                                 smtp_security=security)  # fmt: skip
        check = doctor.check_smtp(settings)
        assert check.status == OK and f"({security})" in check.detail, check


def test_smtp_starttls_with_an_untrusted_certificate_fails(smtp_server, certificate):
    _, server_context = certificate
    server = smtp_server(Recorder(), tls_context=server_context)
    settings = make_settings(smtp_host="127.0.0.1", smtp_port=server.port, smtp_security="starttls")
    check = doctor.check_smtp(settings)
    assert check.status == FAIL and check.detail.startswith("TLS with 127.0.0.1")
    assert "CERTIFICATE_VERIFY_FAILED" in check.detail


def test_smtp_sender_without_an_address_fails():
    check = doctor.check_smtp(make_settings(mail_from="stridewise"))
    assert check.status == FAIL and "has no address" in check.detail


# --- database and key ----------------------------------------------------------


def test_database_migrated_to_head_passes(db_url):
    check = doctor.check_database(make_settings(database_url=db_url), make_engine(db_url))
    assert check.status == OK, check


def test_database_not_migrated_or_behind_fails_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    engine = make_engine(url)
    upgrade(engine, "0001")  # some tables, not all heads
    check = doctor.check_database(make_settings(database_url=url), engine)
    assert check.status == FAIL and "behind" in check.detail
    assert check.fix == "run 'stridewise db upgrade'"


def test_missing_sqlite_file_fails_without_creating_it(tmp_path):
    path = tmp_path / "nothing-here.db"
    url = f"sqlite:///{path}"
    check = doctor.check_database(make_settings(database_url=url), make_engine(url))
    assert check.status == FAIL and "no database file" in check.detail
    assert not path.exists()


@pytest.mark.postgres
def test_database_not_migrated_fails_on_postgresql(pg_server):
    name = f"stridewise_doctor_{uuid.uuid4().hex[:8]}"
    url = create_pg_database(pg_server, name)
    engine = make_engine(url)
    try:
        assert doctor.check_database(make_settings(database_url=url), engine).status == FAIL
        upgrade(engine)
        assert doctor.check_database(make_settings(database_url=url), engine).status == OK
    finally:
        engine.dispose()
        drop_pg_database(pg_server, name)


@pytest.mark.postgres
def test_unreachable_postgresql_fails(pg_server):
    closed = free_port()
    try:
        url = f"postgresql+psycopg://postgres:hunter2@127.0.0.1:{closed.getsockname()[1]}/x"
        check = doctor.check_database(make_settings(database_url=url), make_engine(url))
    finally:
        closed.close()
    assert check.status == FAIL and "unreachable (OperationalError)" in check.detail
    assert "hunter2" not in check.detail


def _link_with(factory, key: str, patient: str) -> None:
    with transaction(factory) as session:
        link_account(session, Cipher(key), patient, "garmin", {"di_token": "t"})


def test_secret_key_must_decrypt_every_stored_credential(db_url, factory, patient):
    old, new = generate_key(), generate_key()
    _link_with(factory, old, patient)
    engine = make_engine(db_url)
    wrong = doctor.check_secret_key(make_settings(secret_key=new), engine, db_ready=True)
    assert wrong.status == FAIL
    assert "1 of 1 stored credentials cannot be decrypted" in wrong.detail
    assert "new,old" in wrong.fix
    rotated = doctor.check_secret_key(make_settings(secret_key=f"{new},{old}"), engine, True)
    assert rotated.status == OK and "all 1" in rotated.detail


def test_secret_key_missing_or_malformed_fails(db_url):
    engine = make_engine(db_url)
    assert doctor.check_secret_key(make_settings(), engine, True).status == FAIL
    bad = doctor.check_secret_key(make_settings(secret_key="not-a-key"), engine, True)
    assert bad.status == FAIL and "Fernet" in bad.detail


# --- URLs, OAuth, webhook --------------------------------------------------------


def test_sandbox_provider_urls_warn_in_development_and_fail_in_production():
    sandbox = {
        "google_health_api_url": "http://127.0.0.1:8765",
        "garmin_sso_url": "http://localhost:1",
    }
    assert doctor.check_google_urls(make_settings(**sandbox)).status == WARN
    assert doctor.check_garmin_urls(make_settings(**sandbox)).status == WARN
    google = doctor.check_google_urls(make_settings(env="production", **sandbox))
    assert google.status == FAIL and "STRIDEWISE_GOOGLE_HEALTH_API_URL" in google.detail
    assert doctor.check_garmin_urls(make_settings(env="production", **sandbox)).status == FAIL
    real = make_settings(env="production")
    assert doctor.check_google_urls(real).status == OK
    assert doctor.check_garmin_urls(real).status == OK


def test_plain_http_or_broken_provider_url_fails_in_production():
    plain = make_settings(env="production", garmin_api_url="http://connectapi.garmin.com")
    assert doctor.check_garmin_urls(plain).status == FAIL
    broken = make_settings(google_oauth_token_url="oauth2.googleapis.com/token")
    check = doctor.check_google_urls(broken)
    assert check.status == FAIL and "STRIDEWISE_GOOGLE_OAUTH_TOKEN_URL" in check.detail


def test_public_url_must_be_https_and_public_in_production():
    assert doctor.check_public_url(make_settings(env="production")).status == FAIL
    http = doctor.check_public_url(make_settings(env="production", public_url="http://sw.example"))
    assert http.status == FAIL and "plain http" in http.detail
    loop = make_settings(env="production", public_url="https://127.0.0.1")
    assert doctor.check_public_url(loop).status == FAIL
    good = make_settings(env="production", public_url="https://sw.clinic.example")
    assert doctor.check_public_url(good).status == OK
    assert doctor.check_public_url(make_settings()).status == OK  # development
    assert doctor.check_public_url(make_settings(public_url="sw.example")).status == FAIL


def test_google_client_needs_both_halves():
    assert doctor.check_google_client(make_settings()).status == WARN
    half = doctor.check_google_client(make_settings(google_client_id="id.apps"))
    assert half.status == FAIL and "STRIDEWISE_GOOGLE_CLIENT_SECRET" in half.detail
    both = make_settings(google_client_id="id.apps", google_client_secret="s")
    assert doctor.check_google_client(both).status == OK


def test_google_redirect_urls_to_register():
    live = make_settings(
        env="production", public_url="https://sw.example/", google_redirect_port=8765
    )
    check = doctor.check_google_redirect(live)
    assert check.status == OK
    assert "https://sw.example/link/google-health/callback" in check.detail
    assert "http://127.0.0.1:8765/" in check.detail
    http = make_settings(env="production", public_url="http://sw.example", google_redirect_port=1)
    assert doctor.check_google_redirect(http).status == FAIL
    random_port = doctor.check_google_redirect(make_settings())
    assert random_port.status == WARN and "STRIDEWISE_GOOGLE_REDIRECT_PORT" in random_port.fix


def _pem(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_webhook_secret_and_public_key():
    assert doctor.check_webhook_secret(make_settings()).status == WARN
    short = doctor.check_webhook_secret(make_settings(google_webhook_secret="Bearer x"))
    assert short.status == FAIL
    secret = generate_key()
    bearer = doctor.check_webhook_secret(make_settings(google_webhook_secret="Bearer " + secret))
    assert bearer.status == FAIL and "strips" in bearer.detail
    good = doctor.check_webhook_secret(make_settings(google_webhook_secret=secret))
    assert good.status == OK and "/webhooks/google-health" in good.detail
    p256 = _pem(ec.generate_private_key(ec.SECP256R1()))
    keyed = make_settings(google_webhook_secret=secret, google_webhook_public_key=p256)
    assert doctor.check_webhook_secret(keyed).status == OK
    for wrong in (_pem(rsa.generate_private_key(65537, 2048)), "not a key"):
        bad = make_settings(google_webhook_secret=secret, google_webhook_public_key=wrong)
        assert doctor.check_webhook_secret(bad).status == FAIL


# --- the scheduler's heartbeat ----------------------------------------------------


def test_scheduler_without_heartbeat_warns_then_a_real_tick_passes(db_url, factory):
    engine = make_engine(db_url)
    settings = make_settings(database_url=db_url)
    assert doctor.check_scheduler(settings, engine, True).status == WARN
    no_sources = Sources(lambda provider: pytest.fail("nothing is due: no adapter is built"))
    sync_tick(factory, settings, "host:1:abc", no_sources, threading.Event())
    check = doctor.check_scheduler(settings, engine, True)
    assert check.status == OK and "host:1:abc" in check.detail


def test_stale_heartbeat_fails(db_url, factory):
    engine = make_engine(db_url)
    settings = make_settings(database_url=db_url)
    now = utcnow()
    stale = now - doctor.heartbeat_stale_after(settings) - timedelta(seconds=1)
    beat(factory, "gone:1:x", stale)
    check = doctor.check_scheduler(settings, engine, True, now=now)
    assert (
        check.status == FAIL and "gone:1:x" in check.detail and "nothing is syncing" in check.detail
    )
    beat(factory, "alive:2:y", now - timedelta(seconds=5))  # another worker is fine
    assert doctor.check_scheduler(settings, engine, True, now=now).status == OK


def test_heartbeat_is_one_row_per_worker_and_throttled(factory):
    heartbeat = Heartbeat(factory, "w:1:a", every_s=3600)
    heartbeat()
    first = _heartbeats(factory)
    heartbeat()  # within every_s: no write
    assert _heartbeats(factory) == first
    beat(factory, "w:1:a")
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(WorkerHeartbeat)) == 1
    assert _heartbeats(factory)[0][1] > first[0][1]


def _heartbeats(factory) -> list[tuple]:
    with factory() as session:
        return session.execute(select(WorkerHeartbeat.worker, WorkerHeartbeat.last_tick_at)).all()


def test_a_failing_heartbeat_never_stops_the_tick(tmp_path):
    factory = session_factory(make_engine(f"sqlite:///{tmp_path / 'empty.db'}"))
    Heartbeat(factory, "w:1:a", every_s=1)()  # no table: logged, not raised


# --- the command ----------------------------------------------------------------


def test_doctor_command_exits_zero_when_nothing_fails(db_url, factory, smtp_server, patient):
    key = generate_key()
    _link_with(factory, key, patient)
    beat(factory, "w:1:a")
    server = smtp_server(Recorder())
    settings = make_settings(database_url=db_url, secret_key=key, smtp_host="127.0.0.1",
                             smtp_port=server.port)  # fmt: skip
    result = CliRunner().invoke(app, ["doctor"], obj=App(settings))
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 10 and not any(line.startswith("FAIL") for line in lines)
    assert any(line.startswith("ok   smtp:") for line in lines)


def test_doctor_command_exits_one_with_the_fix_when_a_check_fails(db_url):
    closed = free_port()
    try:
        port = closed.getsockname()[1]
        settings = make_settings(database_url=db_url, secret_key=generate_key(), env="production",
                                 smtp_host="127.0.0.1", smtp_port=port)  # fmt: skip
        result = CliRunner().invoke(app, ["doctor"], obj=App(settings))
    finally:
        closed.close()
    assert result.exit_code == 1
    assert "FAIL public URL: http://127.0.0.1:8000 is plain http in production" in result.output
    assert "FAIL smtp:" in result.output and "-> check STRIDEWISE_SMTP_HOST" in result.output


def test_the_webhook_verdict_matches_the_real_receivers_handshake(db_url):
    """What doctor passes, Google's verification handshake passes; what it fails, fails."""
    from fastapi.testclient import TestClient

    from stridewise.web.app import create_app

    token = generate_key()
    handshake = {"type": "verification"}
    for setting, verdict, with_secret in ((token, OK, 201), ("Bearer " + token, FAIL, 403)):
        settings = make_settings(database_url=db_url, secret_key=generate_key(),
                                 google_webhook_secret=setting)  # fmt: skip
        assert doctor.check_webhook_secret(settings).status == verdict
        with TestClient(create_app(App(settings))) as client:
            google = {"Authorization": f"Bearer {token}"}  # what Google sends
            answer = client.post(doctor.WEBHOOK_PATH, json=handshake, headers=google)
            assert answer.status_code == with_secret
            assert client.post(doctor.WEBHOOK_PATH, json=handshake).status_code == 401
