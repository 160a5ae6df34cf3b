"""What every provider adapter promises, run once over both sandboxes (Google Health
and Garmin, real HTTP on loopback) and both databases: DST and travel days, today's
partial day, a late upload, each error kind, an unreachable host; and that no
exception of a provider's libraries leaves an adapter untranslated.

A ``world`` is a linked account on one provider plus a way to script its sandbox
(clock, wear, travel, uploads, faults). Provider-specific behaviour (paging, token
rotation, chunking, archived days) stays in test_google_health.py and
test_garmin_adapter.py."""

from __future__ import annotations

import inspect
import threading
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import curl_cffi.requests.exceptions
import garminconnect
import garminconnect.exceptions
import google.auth.exceptions
import httpx
import pytest
import requests.exceptions
from garmin_support import link_patient, new_user
from sqlalchemy import func, select

from adapters.garmin import GarminAdapter
from adapters.garmin.errors import translated
from adapters.google_health import GoogleHealthAdapter
from core.errors import AuthRevoked, BadData, ProviderError, RateLimited, Transient
from core.source import AccountRef, DateWindow, FetchResult
from ingest.credentials import CredentialStore
from ingest.db import transaction
from ingest.linking import link_account
from ingest.models import StepIntervalRow, Therapist
from ingest.patients import add_patient
from ingest.store import write_batch
from sandbox.garmin import GarminSandbox
from sandbox.garmin import create_app as garmin_app
from sandbox.garmin import sandbox_settings as garmin_hosts
from sandbox.google_faults import Fault
from sandbox.google_health import GoogleSandboxState
from sandbox.google_health import create_app as google_app
from sandbox.google_health import sandbox_settings as google_hosts
from sandbox.serve import serve_in_thread
from sandbox.walker import DayShape, Walker
from stridewise.providers import garmin_config, google_config
from stridewise.settings import Settings

NEW_YORK, LONDON = "America/New_York", "Europe/London"
SPRING, FALL = date(2026, 3, 8), date(2026, 11, 1)  # New York: 23 and 25 hours
TODAY = date(2026, 3, 10)
NOW = datetime(2026, 3, 10, 15, 7, tzinfo=UTC)  # 11:07 in New York
HOUR = timedelta(hours=1)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def noon_utc(day: date) -> datetime:
    return datetime.combine(day, time(15, 7), UTC)


# One walker everywhere: the data, and so each test, is the same on every run.
WALKER_NAME = "P-contract"


def _patient(factory, zone: str) -> str:
    with transaction(factory) as session:
        session.add(Therapist(id="T1", name="Dr Gait", email="t1@example.org"))
        session.flush()
        add_patient(session, WALKER_NAME, "Pat", zone, "T1")
    return WALKER_NAME


class GoogleWorld:
    """A Google Health account linked as a finished consent leaves it."""

    provider = "google-health"

    def __init__(self, state: GoogleSandboxState, base_url: str, factory, cipher, http) -> None:
        self.state, self.base_url, self.http = state, base_url, http
        self.factory, self.cipher = factory, cipher
        self.now = NOW
        state.clock = lambda: self.now

    def link(self, zone: str) -> AccountRef:
        patient_id = _patient(self.factory, zone)
        self.user = self.state.add_user(patient_id, time_zone=zone)
        tokens = self.state.stored_credentials(patient_id)
        with transaction(self.factory) as session:
            account_id = link_account(session, self.cipher, patient_id, self.provider, tokens).id
        self.secrets = [tokens["token"], tokens["refresh_token"]]
        return AccountRef(account_id, patient_id, self.provider, self.user.health_user_id, zone)

    def wear_around_the_clock(self, on: list[date]) -> None:
        self.user.shapes.update({day: DayShape(wear_hours=(0, 24)) for day in on})

    def travel(self, day: date, zone: str) -> None:
        self.user.travel[day] = zone

    def upload_until(self, moment: datetime | None) -> None:
        self.user.uploaded_through = moment

    def fail(self, kind: str) -> None:
        self.user.faults.append(
            {
                "rate_limited": Fault.rate_limited(retry_after="30"),
                "server_error": Fault.server_error(503),
                "refused_request": Fault(status=400),
                "garbled_body": Fault.malformed_json(),
                "forbidden": Fault(status=403),
            }[kind]
        )

    def total(self, day: date) -> int | None:
        return self.state.rollup_total(self.user.person, day)

    def adapter(self, api_url: str | None = None) -> GoogleHealthAdapter:
        config = google_config(Settings(**google_hosts(api_url or self.base_url, self.state)))
        vault = CredentialStore(self.factory, self.cipher)
        return GoogleHealthAdapter(config, vault, self.http, clock=lambda: self.now)


class GarminWorld:
    """A Garmin account linked as a finished ``link garmin`` leaves it."""

    provider = "garmin"

    def __init__(self, sandbox: GarminSandbox, base_url: str, factory, cipher) -> None:
        self.sandbox, self.base_url = sandbox, base_url
        self.factory, self.cipher = factory, cipher
        self.now = NOW
        sandbox.clock = lambda: self.now

    def link(self, zone: str) -> AccountRef:
        self.user = new_user(tz=zone, person=WALKER_NAME)
        account = link_patient(self.factory, self.cipher, self.sandbox, self.user)
        stored = CredentialStore(self.factory, self.cipher).load(account.account_id).data
        self.secrets = [stored["di_token"], stored["di_refresh_token"]]
        return account

    def wear_around_the_clock(self, on: list[date]) -> None:
        self.user.wear_hours = (0, 24)  # Garmin's sandbox has one wear pattern for all days

    def travel(self, day: date, zone: str) -> None:
        self.user.zones[day] = zone

    def upload_until(self, moment: datetime | None) -> None:
        self.user.last_sync = moment

    def fail(self, kind: str) -> None:
        status, body = {
            "rate_limited": (429, None),
            "server_error": (503, None),
            "refused_request": (400, None),
            "garbled_body": (200, "not json at all"),
            "forbidden": (403, None),
        }[kind]
        self.user.fail("stats/steps", status, body=body)

    def total(self, day: date) -> int | None:
        return self.sandbox.total(self.user, day)

    def adapter(self, api_url: str | None = None) -> GarminAdapter:
        settings = Settings(**garmin_hosts(api_url or self.base_url))
        vault = CredentialStore(self.factory, self.cipher)
        return GarminAdapter(garmin_config(settings), vault, clock=lambda: self.now)


@pytest.fixture(scope="module")
def google_served():
    state = GoogleSandboxState(seed=11)
    with serve_in_thread(google_app(state)) as url:
        yield state, url


@pytest.fixture(scope="module")
def garmin_served():
    sandbox = GarminSandbox(walker=Walker(seed=11), archive_after_days=20)
    with serve_in_thread(garmin_app(sandbox)) as url:
        yield sandbox, url


@pytest.fixture(params=["google-health", "garmin"])
def world(request, factory, cipher):
    """A linked account on one provider and its sandbox to script."""
    if request.param == "garmin":
        yield GarminWorld(*request.getfixturevalue("garmin_served"), factory, cipher)
        return
    with httpx.Client(timeout=5.0) as http:
        yield GoogleWorld(*request.getfixturevalue("google_served"), factory, cipher, http)


def by_day(result: FetchResult) -> dict[date, int]:
    sums: dict[date, int] = defaultdict(int)
    for interval in result.batch.intervals:
        sums[interval.local_date] += interval.steps
    return dict(sums)


def totals(result: FetchResult) -> dict[date, int]:
    return {t.local_date: t.steps for t in result.batch.daily_totals}


def stored_days(factory, patient_id: str) -> dict[date, tuple[int, int]]:
    """(rows, steps) per local date as stored."""
    with factory() as session:
        rows = session.execute(
            select(StepIntervalRow.local_date, func.count(), func.sum(StepIntervalRow.steps))
            .where(StepIntervalRow.patient_id == patient_id)
            .group_by(StepIntervalRow.local_date)
        ).all()
    return {day: (count, steps) for day, count, steps in rows}


# -- calendars ----------------------------------------------------------------------
@pytest.mark.parametrize("day", [SPRING, FALL], ids=["spring-forward", "fall-back"])
def test_a_dst_day_keeps_every_interval_on_its_own_offset(world, factory, day):
    world.now = noon_utc(day + timedelta(days=2))
    account = world.link(NEW_YORK)
    world.wear_around_the_clock([day])

    result = world.adapter().fetch(account, DateWindow(day, day))

    zone = ZoneInfo(NEW_YORK)
    intervals = result.batch.intervals
    assert {i.utc_offset_s for i in intervals} == {-5 * 3600, -4 * 3600}  # both sides
    for interval in intervals:
        assert interval.utc_offset_s == interval.start.astimezone(zone).utcoffset().total_seconds()
        assert interval.local_date == day
    walls = [(i.start + timedelta(seconds=i.utc_offset_s)).replace(tzinfo=None) for i in intervals]
    one_am = datetime.combine(day, time(1))
    if day == SPRING:  # 02:00-03:00 never happened on the wearer's clock
        assert not any(one_am + HOUR <= wall < one_am + 2 * HOUR for wall in walls)
    else:  # 01:00-02:00 happened twice, once on each offset
        repeated = {
            i.utc_offset_s
            for i, w in zip(intervals, walls, strict=True)
            if one_am <= w < one_am + HOUR
        }
        assert repeated == {-5 * 3600, -4 * 3600}
    assert by_day(result) == totals(result) == {day: world.total(day)}

    with transaction(factory) as session:
        assert write_batch(session, result.batch).rejected == []
    assert stored_days(factory, account.patient_id) == {day: (len(intervals), world.total(day))}


def test_travel_days_land_on_the_day_the_wearer_lived(world, factory):
    first = date(2026, 10, 20)
    tokyo, los_angeles, last = (first + timedelta(days=n) for n in (1, 2, 3))
    world.now = noon_utc(last + timedelta(days=1))
    account = world.link(LONDON)
    world.travel(tokyo, "Asia/Tokyo")
    world.travel(los_angeles, "America/Los_Angeles")

    result = world.adapter().fetch(account, DateWindow(first, last))

    expected = {day: world.total(day) for day in days(first, last)}
    assert by_day(result) == totals(result) == expected
    offsets = defaultdict(set)
    for interval in result.batch.intervals:
        offsets[interval.local_date].add(interval.utc_offset_s)
    assert offsets == {first: {3600}, tokyo: {9 * 3600}, los_angeles: {-7 * 3600}, last: {3600}}
    # On the patient's home clock some of the Tokyo day lies on the day before, and
    # some of the Los Angeles day on the day after: the day is the one they lived.
    home = ZoneInfo(LONDON)
    on = {day: [i.start.astimezone(home).date() for i in result.batch.intervals
                if i.local_date == day] for day in (tokyo, los_angeles)}  # fmt: skip
    assert min(on[tokyo]) < tokyo and max(on[los_angeles]) > los_angeles

    with transaction(factory) as session:
        write_batch(session, result.batch)
    assert {d: steps for d, (_, steps) in stored_days(factory, account.patient_id).items()} == {
        d: s for d, s in expected.items() if s
    }


def test_today_is_partial_and_provisional(world):
    account = world.link(NEW_YORK)
    uploaded = NOW - 2 * HOUR  # the watch last synced at 09:07 local
    world.upload_until(uploaded)

    result = world.adapter().fetch(account, DateWindow(TODAY - timedelta(days=3), TODAY))

    flags = {t.local_date: t.provisional for t in result.batch.daily_totals}
    assert flags[TODAY] is True
    assert [flags[TODAY - timedelta(days=n)] for n in (1, 2, 3)] == [False, False, False]
    today = [i for i in result.batch.intervals if i.local_date == TODAY]
    assert today and max(i.end for i in today) <= uploaded
    assert totals(result)[TODAY] == by_day(result)[TODAY] == world.total(TODAY) > 0


def test_a_late_upload_grows_the_days_on_the_next_read(world, factory):
    account = world.link(NEW_YORK)
    first = TODAY - timedelta(days=2)
    world.upload_until(datetime.combine(first, time(13), ZoneInfo(NEW_YORK)))
    adapter, window = world.adapter(), DateWindow(first, TODAY)

    early = adapter.fetch(account, window)
    partial = world.total(first)
    world.upload_until(None)  # the watch finally syncs
    late = adapter.fetch(account, window)

    assert totals(early) == {first: partial}
    assert totals(late) == {day: world.total(day) for day in days(first, TODAY)}
    assert totals(late)[first] > partial
    with transaction(factory) as session:
        write_batch(session, early.batch)
        again = write_batch(session, late.batch)
    assert again.totals_changed == 3 and again.intervals_changed > 0


# -- failures -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fault,kind",
    [
        ("rate_limited", RateLimited),
        ("server_error", Transient),
        ("refused_request", BadData),
        ("garbled_body", BadData),
        ("forbidden", AuthRevoked),
    ],
)
def test_each_failure_comes_out_as_one_shared_kind(world, fault, kind):
    account = world.link(NEW_YORK)
    world.fail(fault)
    with pytest.raises(kind) as caught:
        world.adapter().fetch(account, DateWindow(TODAY - timedelta(days=1), TODAY))
    if kind is RateLimited:  # Google says how long (Retry-After); Garmin gets a long pause
        assert caught.value.retry_after and caught.value.retry_after >= 30
    assert not any(secret in str(caught.value) for secret in world.secrets)


def test_an_unreachable_host_is_transient(world):
    account = world.link(NEW_YORK)
    with pytest.raises(Transient):
        world.adapter(api_url="http://127.0.0.1:9").fetch(account, DateWindow(TODAY, TODAY))


# -- no library error escapes ---------------------------------------------------------
def classes(module, base: type) -> list[type]:
    """Every exception class ``module`` exposes that derives from ``base``."""
    found = {o for o in vars(module).values() if inspect.isclass(o) and issubclass(o, base)}
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


HTTPX_ERRORS = classes(httpx, httpx.RequestError)
GOOGLE_AUTH_ERRORS = classes(google.auth.exceptions, google.auth.exceptions.GoogleAuthError)
GARMIN_ERRORS = sorted(
    {
        *classes(garminconnect, Exception),
        *classes(garminconnect.exceptions, Exception),
        *classes(requests.exceptions, requests.exceptions.RequestException),
        *classes(curl_cffi.requests.exceptions, curl_cffi.requests.exceptions.CurlError),
    },
    key=lambda c: f"{c.__module__}.{c.__qualname__}",
)


def name(cls: type) -> str:
    return f"{cls.__module__.split('.')[0]}.{cls.__qualname__}"


def test_the_error_lists_are_read_from_the_libraries():
    assert {httpx.DecodingError, httpx.TooManyRedirects, httpx.ConnectError} <= set(HTTPX_ERRORS)
    assert google.auth.exceptions.MalformedError in GOOGLE_AUTH_ERRORS
    assert garminconnect.GarminConnectInvalidFileFormatError in GARMIN_ERRORS
    assert requests.exceptions.ChunkedEncodingError in GARMIN_ERRORS
    assert len(HTTPX_ERRORS) > 15 and len(GOOGLE_AUTH_ERRORS) > 15 and len(GARMIN_ERRORS) > 40


def instance(cls: type, request: httpx.Request | None = None) -> Exception:
    if issubclass(cls, httpx.RequestError):
        return cls("injected", request=request)
    try:
        return cls("injected")
    except TypeError:  # the JSONDecodeErrors want (msg, doc, pos)
        return cls("injected", "{", 0)


class Raising(httpx.BaseTransport):
    """An httpx transport whose requests to ``path`` fail with ``error`` (the way a
    library error reaches the adapter from below)."""

    def __init__(self, error: type, path: str) -> None:
        self.error, self.path = error, path

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.path in request.url.path:
            raise instance(self.error, request)
        return httpx.Response(404)


def google_link(factory, cipher, patient: str, expired: bool) -> AccountRef:
    expiry = datetime(2000, 1, 1) if expired else datetime.now(UTC).replace(tzinfo=None) + HOUR
    tokens = {"token": "ya29.x", "refresh_token": "1//r", "client_id": "c", "client_secret": "s",
              "scopes": [], "expiry": expiry.isoformat() + "Z"}  # fmt: skip
    with transaction(factory) as session:
        account_id = link_account(session, cipher, patient, "google-health", tokens).id
    return AccountRef(account_id, patient, "google-health", None, NEW_YORK)


def fetch_through(transport: httpx.BaseTransport, factory, cipher, account: AccountRef) -> None:
    with httpx.Client(transport=transport) as http:
        config = google_config(Settings(**google_hosts("http://google.test", GoogleSandboxState())))
        adapter = GoogleHealthAdapter(config, CredentialStore(factory, cipher), http)
        adapter.fetch(account, DateWindow(TODAY, TODAY))


def assert_translated(caught: pytest.ExceptionInfo, cls: type) -> None:
    assert isinstance(caught.value, ProviderError)
    chain, link = [], caught.value
    while link is not None:
        chain.append(link)
        link = link.__cause__
    assert any(isinstance(e, cls) for e in chain), chain  # the cause is kept


@pytest.mark.parametrize("cls", HTTPX_ERRORS, ids=name)
@pytest.mark.parametrize("path", ["/v4/", "/token"], ids=["api-call", "token-refresh"])
def test_no_httpx_error_leaves_the_google_adapter(cls, path, factory, cipher, patient):
    account = google_link(factory, cipher, patient, expired=path == "/token")
    with pytest.raises(ProviderError) as caught:
        fetch_through(Raising(cls, path), factory, cipher, account)
    assert_translated(caught, cls)


@pytest.mark.parametrize("cls", GOOGLE_AUTH_ERRORS, ids=name)
def test_no_google_auth_error_leaves_the_google_adapter(cls, factory, cipher, patient):
    account = google_link(factory, cipher, patient, expired=True)
    with pytest.raises(ProviderError) as caught:
        fetch_through(Raising(cls, "/token"), factory, cipher, account)
    assert_translated(caught, cls)


@pytest.mark.parametrize("cls", GARMIN_ERRORS, ids=name)
def test_no_garmin_library_error_leaves_the_translation(cls):
    # Every call of the Garmin adapter into the library runs inside translated().
    with pytest.raises(ProviderError) as caught, translated():
        raise instance(cls)
    assert_translated(caught, cls)


def test_a_programming_error_is_not_disguised_as_a_provider_error():
    with pytest.raises(TypeError), translated():
        raise TypeError("a bug stays a bug")


class _BadGzip(BaseHTTPRequestHandler):
    """Answers every request with a body that claims gzip and is not."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", "9")
        self.end_headers()
        self.wfile.write(b"not gzip!")

    def log_message(self, *args) -> None:
        pass


def test_a_body_that_cannot_be_decoded_is_transient_not_internal(factory, cipher, patient):
    """Over real HTTP: httpx raises DecodingError, which used to escape the adapter."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BadGzip)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        account = google_link(factory, cipher, patient, expired=False)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with httpx.Client(timeout=5.0) as http:
            config = google_config(Settings(**google_hosts(base, GoogleSandboxState())))
            adapter = GoogleHealthAdapter(config, CredentialStore(factory, cipher), http)
            with pytest.raises(Transient) as caught:
                adapter.fetch(account, DateWindow(TODAY, TODAY))
    finally:
        server.shutdown()
        server.server_close()
    assert isinstance(caught.value.__cause__, httpx.DecodingError)
    assert "\n" not in str(caught.value)  # one plain line
