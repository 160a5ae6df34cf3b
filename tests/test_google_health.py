"""The Google Health adapter against the loopback sandbox, on SQLite and PostgreSQL:
linking, paging, provenance, Google's own error cases, token rotation (also two
workers at once) and credentials at rest. What every provider promises (DST and
travel days, today, late uploads, the shared error kinds) is test_provider_contract.py."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event, select, text
from typer.testing import CliRunner

from adapters.google_health import GoogleHealthAdapter, credentials_from_token_file
from adapters.google_health.consent import LinkFailed, follow_consent
from core.errors import AuthRevoked, RateLimited, Transient
from core.source import AccountRef, DateWindow
from ingest.credentials import CredentialStore
from ingest.db import transaction
from ingest.models import DailyTotalRow, LinkedAccount, Patient
from ingest.patients import add_patient, add_therapist
from sandbox.google_faults import Fault
from sandbox.google_health import GoogleSandboxState, create_app, sandbox_settings
from sandbox.serve import serve_in_thread
from sandbox.walker import DayShape
from stridewise.cli.main import app
from stridewise.linking.google import LinkedGoogleAccount, link_google_health
from stridewise.logs import configure
from stridewise.providers import google_config
from stridewise.settings import Settings
from stridewise.wiring import App, run_cycle

PATIENT = "p1"


@pytest.fixture
def state() -> GoogleSandboxState:
    return GoogleSandboxState(seed=11)


@pytest.fixture
def base_url(state):
    with serve_in_thread(create_app(state)) as url:
        yield url


@pytest.fixture
def settings(base_url, state, db_url, secret_key) -> Settings:
    return Settings(database_url=db_url, secret_key=secret_key, **sandbox_settings(base_url, state))


@pytest.fixture
def http():
    with httpx.Client(timeout=5.0) as client:
        yield client


@pytest.fixture
def clinic(factory):
    with transaction(factory) as session:
        add_therapist(session, "t1", "Ana", "ana@clinic.example")
        add_patient(session, PATIENT, "Sam", None, "t1")
    return factory


def link(clinic, cipher, settings, http, state, zone="America/New_York") -> LinkedGoogleAccount:
    state.users.setdefault(PATIENT, state.add_user(PATIENT, time_zone=zone))
    return link_google_health(
        clinic,
        cipher,
        google_config(settings),
        PATIENT,
        follow_consent(http),
        http=http,
        login_hint=PATIENT,
    )


def ref(linked: LinkedGoogleAccount, zone: str | None = None) -> AccountRef:
    return AccountRef(
        linked.account_id, PATIENT, "google-health", linked.health_user_id, zone or linked.timezone
    )


def adapter_for(settings, clinic, cipher, http, **kw) -> GoogleHealthAdapter:
    return GoogleHealthAdapter(google_config(settings), CredentialStore(clinic, cipher), http, **kw)


def stored(clinic, cipher, account_id: int) -> tuple[dict, int]:
    got = CredentialStore(clinic, cipher).load(account_id)
    return got.data, got.version


def expire_stored_token(clinic, cipher, account_id: int) -> None:
    data, version = stored(clinic, cipher, account_id)
    data["expiry"] = "2000-01-01T00:00:00Z"
    assert CredentialStore(clinic, cipher).save_if_unchanged(account_id, data, version)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# -- linking and the whole path ------------------------------------------------------
def test_link_stores_identity_zone_and_encrypted_tokens(clinic, cipher, settings, http, state):
    linked = link(clinic, cipher, settings, http, state)
    user = state.users[PATIENT]
    assert linked.health_user_id == user.health_user_id
    with clinic() as session:
        account = session.scalars(select(LinkedAccount)).one()
        assert account.external_user_id == user.health_user_id
        assert session.get(Patient, PATIENT).timezone == "America/New_York"
    data, _ = stored(clinic, cipher, linked.account_id)
    assert data["token"] in state.access and data["refresh_token"] in state.refresh
    assert data["token_uri"] == settings.google_oauth_token_url
    assert state.calls["code_exchange"] == 1


def test_link_keeps_a_patient_zone_already_set(clinic, cipher, settings, http, state):
    with transaction(clinic) as session:
        session.get(Patient, PATIENT).timezone = "Europe/Oslo"
    linked = link(clinic, cipher, settings, http, state, zone="Asia/Tokyo")
    assert linked.timezone == "Europe/Oslo"


def test_refused_consent_is_a_clear_error(clinic, cipher, settings, http, state):
    state.auto_create_users = False  # an unknown Google account: consent is denied
    with pytest.raises(LinkFailed, match="access_denied"):
        link_google_health(
            clinic,
            cipher,
            google_config(settings),
            PATIENT,
            follow_consent(http),
            http=http,
            login_hint="nobody",
        )
    with clinic() as session:
        assert session.scalars(select(LinkedAccount)).all() == []


def test_link_then_sync_shows_the_sandbox_daily_rollup_in_export(
    clinic, cipher, settings, http, state
):
    linked = link(clinic, cipher, settings, http, state)
    report = run_cycle(clinic, settings, "w1", patient_id=PATIENT, force=True)
    assert [r.outcome for r in report.results] == ["success"]
    assert report.api_calls <= 2 * report.results[0].window.days
    window = report.results[0].window
    expected = {
        day: state.rollup_total(PATIENT, day)
        for day in days(window.first, window.last)
        if state.rollup_total(PATIENT, day) is not None
    }
    assert len(expected) >= 25
    with clinic() as session:
        totals = dict(session.execute(select(DailyTotalRow.local_date, DailyTotalRow.steps)).all())
    assert totals == expected

    try:
        result = CliRunner().invoke(
            app,
            [
                *("export", "steps", "--patient", PATIENT, "--format", "json"),
                *("--from", str(window.first), "--to", str(window.last)),
            ],
            obj=App(settings),
            catch_exceptions=False,
        )
    finally:
        configure()  # the CLI pointed the log at the runner's (now closed) stderr
    assert result.exit_code == 0, result.output
    exported = json.loads(result.output)["days"]
    shown = {date.fromisoformat(d["date"]): d["daily_total_steps"] for d in exported}
    assert {day: shown[day] for day in expected} == expected
    assert linked.account_id == report.results[0].account_id


def test_a_sync_takes_the_credentials_its_claim_read(clinic, cipher, settings, http, state):
    link(clinic, cipher, settings, http, state)
    statements: list[str] = []
    engine = clinic.kw["bind"]

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        report = run_cycle(clinic, settings, "w1", patient_id=PATIENT, force=True)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [r.outcome for r in report.results] == ["success"]
    reads = [s for s in statements if "linked_accounts.credentials_version" in s]
    assert reads and all("JOIN patients" in s for s in reads)  # the claim's, no other


# -- what a fetch returns ---------------------------------------------------------------
def test_fetch_keeps_provenance_and_marks_manual_entries(clinic, cipher, settings, http, state):
    linked = link(clinic, cipher, settings, http, state)
    day = date(2026, 10, 14)
    state.users[PATIENT].manual[day] = 2345
    result = adapter_for(settings, clinic, cipher, http).fetch(ref(linked), DateWindow(day, day))
    manual = [i for i in result.batch.intervals if i.manual]
    assert [(i.steps, i.device) for i in manual] == [(2345, "FITBIT")]
    assert (manual[0].end - manual[0].start) == timedelta(minutes=30)
    worn = [i for i in result.batch.intervals if not i.manual]
    assert worn and {i.recording_method for i in worn} == {"PASSIVELY_MEASURED"}
    assert {i.device for i in worn} == {"Charge 6"}
    devices = {d.device: d for d in result.batch.devices}
    assert devices["Charge 6"].form_factor == "FITNESS_BAND"
    assert devices["Charge 6"].manufacturer == "Google"
    assert devices["FITBIT"].platform == "FITBIT"
    assert [(t.local_date, t.steps) for t in result.batch.daily_totals] == [
        (day, state.rollup_total(PATIENT, day))
    ]
    assert sum(i.steps for i in result.batch.intervals) == state.rollup_total(PATIENT, day)


@pytest.mark.parametrize("page_size,empty_pages", [(500, 0), (700, 2), (10000, 3)])
def test_paging_follows_every_token_including_empty_pages(
    clinic, cipher, settings, http, state, page_size, empty_pages
):
    linked = link(clinic, cipher, settings, http, state)
    state.users[PATIENT].empty_pages = empty_pages
    first, last = date(2026, 10, 1), date(2026, 10, 3)
    points = [p for d in days(first, last) for p in state.day_points(state.users[PATIENT], d)]
    narrow = settings.model_copy(update={"google_page_size": page_size})
    before = state.calls["list"]
    result = adapter_for(narrow, clinic, cipher, http).fetch(ref(linked), DateWindow(first, last))
    pages = -(-len(points) // page_size)
    assert state.calls["list"] - before == pages + empty_pages
    assert len(result.batch.intervals) == len(points)
    assert len({i.start for i in result.batch.intervals}) == len(points)  # no page read twice
    assert result.api_calls == pages + empty_pages + 1  # + one daily roll-up


def test_a_window_longer_than_90_days_splits_the_rollup(clinic, cipher, settings, http, state):
    linked = link(clinic, cipher, settings, http, state)
    first, last = date(2026, 6, 1), date(2026, 9, 8)  # 100 days
    worn = {first, first + timedelta(days=89), first + timedelta(days=90), last}
    state.users[PATIENT].shapes = {d: DayShape(worn=d in worn) for d in days(first, last)}
    before = state.calls["daily_rollup"]
    result = adapter_for(settings, clinic, cipher, http).fetch(ref(linked), DateWindow(first, last))
    assert state.calls["daily_rollup"] - before == 2
    assert {t.local_date: t.steps for t in result.batch.daily_totals} == {
        d: state.rollup_total(PATIENT, d) for d in worn
    }


# -- errors -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fault,kind,retry_after",
    [
        (Fault.rate_limited(retry_after="30"), RateLimited, 30.0),
        (Fault.rate_limited(), RateLimited, None),
        (Fault.server_error(500), Transient, None),
        (Fault.legacy_gone(), AuthRevoked, None),
        (Fault(status=401, times=2), AuthRevoked, None),
    ],
    ids=["429-retry-after", "429", "500", "410", "401-twice"],
)
def test_google_specific_failures_become_one_error_kind(
    clinic, cipher, settings, http, state, fault, kind, retry_after
):
    linked = link(clinic, cipher, settings, http, state)
    state.users[PATIENT].faults.append(replace(fault))  # a fresh copy per backend
    day = date(2026, 10, 5)
    with pytest.raises(kind) as caught:
        adapter_for(settings, clinic, cipher, http).fetch(ref(linked), DateWindow(day, day))
    if kind is RateLimited:
        assert caught.value.retry_after == retry_after
    assert "ya29" not in str(caught.value)  # never a token in a message


def test_a_slow_answer_is_transient(clinic, cipher, settings, state):
    with httpx.Client(timeout=5.0) as http:
        linked = link(clinic, cipher, settings, http, state)
    state.users[PATIENT].faults.append(Fault.slow(1.0))
    day = date(2026, 10, 5)
    with httpx.Client(timeout=0.3) as impatient, pytest.raises(Transient, match="timed out"):
        adapter_for(settings, clinic, cipher, impatient).fetch(ref(linked), DateWindow(day, day))


def test_one_401_refreshes_once_and_carries_on(clinic, cipher, settings, http, state):
    linked = link(clinic, cipher, settings, http, state)
    state.expire_access_tokens()  # the stored expiry still says fresh: only the 401 tells
    day = date(2026, 10, 5)
    result = adapter_for(settings, clinic, cipher, http).fetch(ref(linked), DateWindow(day, day))
    assert state.calls["refresh"] == 1 and result.batch.intervals
    assert stored(clinic, cipher, linked.account_id)[1] == 2


def test_bad_points_are_reported_and_the_good_kept(clinic, cipher, settings, http, state):
    linked = link(clinic, cipher, settings, http, state)
    good_interval = {
        "startTime": "2026-10-05T10:00:00Z",
        "startUtcOffset": "3600s",
        "endTime": "2026-10-05T10:01:00Z",
        "endUtcOffset": "3600s",
    }
    state.users[PATIENT].extra_points = [
        {"name": "neg", "steps": {"interval": good_interval, "count": "-5"}},
        {
            "name": "backwards",
            "steps": {
                "interval": {**good_interval, "endTime": "2026-10-05T09:59:00Z"},
                "count": "9",
            },
        },
        {"name": "no-interval", "steps": {"count": "9"}},
        {"name": "words", "steps": {"interval": good_interval, "count": "many"}},
        {
            "name": "offset",
            "steps": {"interval": {**good_interval, "startUtcOffset": "1h"}, "count": "1"},
        },
        "not an object",
    ]
    day = date(2026, 10, 5)
    result = adapter_for(settings, clinic, cipher, http).fetch(ref(linked), DateWindow(day, day))
    reasons = "\n".join(result.skipped)
    assert len(result.skipped) == 6
    for expected in (
        "negative count",
        "before it starts",
        "missing steps.interval",
        "not a whole number",
        "duration",
        "#5",
    ):
        assert expected in reasons
    points = state.day_points(state.users[PATIENT], day)
    assert len(result.batch.intervals) == len(points)


def test_revoked_consent_makes_the_link_need_relinking(clinic, cipher, settings, http, state):
    link(clinic, cipher, settings, http, state)
    state.users[PATIENT].revoked = True
    expire_stored = CredentialStore(clinic, cipher)
    account_id = clinic().scalars(select(LinkedAccount.id)).one()
    expire_stored_token(clinic, cipher, account_id)
    report = run_cycle(clinic, settings, "w1", patient_id=PATIENT, force=True)
    assert [(r.outcome, r.error_kind) for r in report.results] == [("failed", "auth_revoked")]
    with clinic() as session:
        assert session.get(LinkedAccount, account_id).status == "needs_relink"
    assert state.calls["refresh"] == 1  # refused once, re-read once, not retried in a loop
    assert expire_stored.load(account_id).version == 2


# -- tokens ---------------------------------------------------------------------------------
def test_an_expired_token_is_refreshed_saved_and_the_old_refresh_token_dies(
    clinic, cipher, settings, http, state
):
    linked = link(clinic, cipher, settings, http, state)
    expire_stored_token(clinic, cipher, linked.account_id)
    old, version = stored(clinic, cipher, linked.account_id)
    day = date(2026, 10, 5)
    adapter_for(settings, clinic, cipher, http).fetch(ref(linked), DateWindow(day, day))
    new, new_version = stored(clinic, cipher, linked.account_id)
    assert new_version == version + 1
    assert new["refresh_token"] != old["refresh_token"] and new["token"] != old["token"]
    assert datetime.fromisoformat(new["expiry"].rstrip("Z")) > datetime(2026, 1, 1)
    answer = http.post(
        settings.google_oauth_token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": old["refresh_token"],
            "client_id": state.client_id,
            "client_secret": state.client_secret,
        },
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_a_failing_token_endpoint_is_transient_and_keeps_the_tokens(
    clinic, cipher, settings, http, state
):
    linked = link(clinic, cipher, settings, http, state)
    expire_stored_token(clinic, cipher, linked.account_id)
    before = stored(clinic, cipher, linked.account_id)
    state.users[PATIENT].faults.append(Fault.server_error(503, path="/token", times=5))
    day = date(2026, 10, 5)
    with pytest.raises(Transient, match="token refresh failed"):
        adapter_for(settings, clinic, cipher, http).fetch(ref(linked), DateWindow(day, day))
    assert stored(clinic, cipher, linked.account_id) == before  # nothing lost, retry later


def test_two_workers_refresh_the_same_account_only_once(clinic, cipher, settings, state):
    with httpx.Client(timeout=5.0) as http:
        linked = link(clinic, cipher, settings, http, state)
    expire_stored_token(clinic, cipher, linked.account_id)
    state.users[PATIENT].faults.append(Fault.slow(0.4, path="/token", times=2))
    day = date(2026, 10, 5)
    results, errors = [], []

    def worker() -> None:
        with httpx.Client(timeout=5.0) as own_http:
            try:
                adapter = adapter_for(settings, clinic, cipher, own_http)
                results.append(adapter.fetch(ref(linked), DateWindow(day, day)))
            except Exception as err:  # collected and asserted below
                errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    assert state.calls["refresh"] == 1
    assert len(results) == 2 and all(r.batch.intervals for r in results)
    assert stored(clinic, cipher, linked.account_id)[1] == 3  # linked, expired, refreshed


class _RotatedElsewhere(CredentialStore):
    """Another worker rotated the refresh token at Google and saves it just as our
    refresh is refused (a seam, so the race is deterministic)."""

    def __init__(self, factory, cipher, http, settings, state) -> None:
        super().__init__(factory, cipher)
        self.pending: dict | None = None
        self._http, self._settings, self._state = http, settings, state
        self.loads = 0

    def refreshing(self, account_id):
        current = self.load(account_id)
        if self.pending is None:
            answer = self._http.post(
                self._settings.google_oauth_token_url,
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": current.data["refresh_token"],
                    "client_id": self._state.client_id,
                    "client_secret": self._state.client_secret,
                },
            ).json()
            expiry = datetime.now(UTC) + timedelta(hours=1)
            self.pending = {
                **current.data,
                "token": answer["access_token"],
                "refresh_token": answer["refresh_token"],
                "expiry": expiry.replace(tzinfo=None).isoformat() + "Z",
            }
            self._version = current.version
        return super().refreshing(account_id)

    def load(self, account_id):
        self.loads += 1
        if self.pending is not None and self.loads == 3:  # the re-read after invalid_grant
            self.save_if_unchanged(account_id, self.pending, self._version)
        return super().load(account_id)


def test_after_invalid_grant_the_stored_tokens_are_read_again(
    clinic, cipher, settings, http, state
):
    linked = link(clinic, cipher, settings, http, state)
    expire_stored_token(clinic, cipher, linked.account_id)
    store = _RotatedElsewhere(clinic, cipher, http, settings, state)
    day = date(2026, 10, 5)
    result = GoogleHealthAdapter(google_config(settings), store, http).fetch(
        ref(linked), DateWindow(day, day)
    )
    assert result.batch.intervals
    assert state.calls["refresh"] == 2  # the other worker's, and our refused one
    assert stored(clinic, cipher, linked.account_id)[0]["token"] == store.pending["token"]


def test_token_file_import_refreshes_through_the_configured_token_uri(
    clinic, cipher, settings, http, state
):
    from google.oauth2.credentials import Credentials

    from ingest.linking import link_account

    state.add_user(PATIENT)
    issued = state.issue_tokens(PATIENT)
    exported = Credentials(
        token=None,
        refresh_token=issued["refresh_token"],
        token_uri="https://oauth2.googleapis.com/token",  # what a real export holds
        client_id=state.client_id,
        client_secret=state.client_secret,
        scopes=issued["scope"].split(),
    ).to_json()
    credentials = credentials_from_token_file(exported)
    with transaction(clinic) as session:
        account_id = link_account(session, cipher, PATIENT, "google-health", credentials).id
    day = date(2026, 10, 5)
    account = AccountRef(account_id, PATIENT, "google-health", None, "Europe/London")
    result = adapter_for(settings, clinic, cipher, http).fetch(account, DateWindow(day, day))
    assert result.batch.intervals and state.calls["refresh"] == 1


@pytest.mark.parametrize(
    "text,problem",
    [
        ("not json", "not JSON"),
        ("[1]", "JSON object"),
        ('{"client_id": "c", "client_secret": "s"}', "refresh_token"),
        ('{"refresh_token": "r", "client_id": "c", "client_secret": "s", "scopes": []}', "granted"),
    ],
)
def test_bad_token_files_are_refused_with_a_reason(text, problem):
    from core.errors import StridewiseError

    with pytest.raises(StridewiseError, match=problem):
        credentials_from_token_file(text)


def test_tokens_are_not_readable_in_the_database(
    clinic, cipher, settings, http, state, engine, db_url
):
    linked = link(clinic, cipher, settings, http, state)
    expire_stored_token(clinic, cipher, linked.account_id)
    day = date(2026, 10, 5)
    adapter_for(settings, clinic, cipher, http).fetch(ref(linked), DateWindow(day, day))
    data, _ = stored(clinic, cipher, linked.account_id)
    secrets_ = [data["token"], data["refresh_token"], state.client_secret]
    secrets_ += list(state.retired_refresh)
    if engine.dialect.name == "sqlite":
        engine.dispose()
        path = Path(db_url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    else:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM linked_accounts")).all()
        raw = repr(rows).encode() + b"".join(
            bytes(v) for row in rows for v in row if isinstance(v, bytes | memoryview)
        )
    assert len(raw) > 1000
    for secret in secrets_:
        assert secret.encode() not in raw
