"""The Garmin adapter against the Garmin sandbox over real HTTP, storing on both
backends: what lands equals what Garmin says, absent data is not zero, chunking,
archived days, Garmin's own failures and token refresh. What every provider promises
(DST and travel days, today, late uploads, the shared error kinds) is
test_provider_contract.py."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from itertools import pairwise

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from garmin_support import NOW, link_patient, new_sandbox, new_user, sandbox_settings
from sqlalchemy import select

from adapters.garmin import GarminAdapter
from adapters.garmin.client import api_session
from core.errors import AuthRevoked, BadData, RateLimited, Transient
from core.source import DateWindow
from ingest.credentials import CredentialStore
from ingest.db import transaction
from ingest.models import DailyTotalRow, Device, StepIntervalRow
from ingest.store import write_batch
from sandbox.garmin import create_app
from sandbox.serve import serve_in_thread
from stridewise.providers import garmin_config

TODAY = date(2026, 3, 10)  # NOW in New York


@pytest.fixture(scope="module")
def served():
    sandbox = new_sandbox()
    with serve_in_thread(create_app(sandbox)) as base_url:
        yield sandbox, base_url


@pytest.fixture
def sandbox(served):
    return served[0]


@pytest.fixture
def settings(served, secret_key):
    return sandbox_settings(served[1], secret_key)


@pytest.fixture
def store(factory, cipher):
    return CredentialStore(factory, cipher)


def adapter_for(settings, store) -> GarminAdapter:
    return GarminAdapter(garmin_config(settings), store, clock=lambda: NOW)


def window(first: date, last: date = TODAY) -> DateWindow:
    return DateWindow(first, last)


def stats_from_sandbox(base_url: str, sandbox, user, first: date, last: date) -> dict:
    """``stats/steps/daily`` straight from the sandbox, as Garmin would answer it."""
    token = sandbox.issue_tokens(user.display_name)["di_token"]
    answer = httpx.get(
        f"{base_url}/usersummary-service/stats/steps/daily/{first}/{last}",
        headers={"Authorization": f"Bearer {token}"},
    )
    answer.raise_for_status()
    return {date.fromisoformat(r["calendarDate"]): r["totalSteps"] for r in answer.json()}


def by_day(intervals) -> dict[date, int]:
    sums: dict[date, int] = defaultdict(int)
    for interval in intervals:
        sums[interval.local_date] += interval.steps
    return dict(sums)


def test_synced_patient_equals_garmin(served, settings, store, factory, cipher):
    sandbox, base_url = served
    user = new_user()
    user.not_worn = {TODAY - timedelta(days=4)}
    account = link_patient(factory, cipher, sandbox, user)
    first = TODAY - timedelta(days=13)

    result = adapter_for(settings, store).fetch(account, window(first))
    with transaction(factory) as session:
        report = write_batch(session, result.batch)
    assert report.rejected == []

    with factory() as session:
        stored = {
            r.local_date: (r.steps, r.provisional)
            for r in session.scalars(
                select(DailyTotalRow).where(DailyTotalRow.patient_id == account.patient_id)
            )
        }
        rows = session.scalars(
            select(StepIntervalRow).where(StepIntervalRow.patient_id == account.patient_id)
        ).all()
        devices = session.scalars(
            select(Device.device).where(Device.patient_id == account.patient_id)
        ).all()
    garmin = stats_from_sandbox(base_url, sandbox, user, first, TODAY)
    assert {d: s for d, (s, _) in stored.items()} == {
        d: s for d, s in garmin.items() if s is not None
    }
    assert TODAY - timedelta(days=4) not in stored  # null is no data, not zero
    assert {d for d, (_, provisional) in stored.items() if provisional} == {TODAY}

    interval_sums: dict[date, int] = defaultdict(int)
    for row in rows:
        interval_sums[row.local_date] += row.steps
    complete_recent = [TODAY - timedelta(days=n) for n in range(1, 7)]
    for day in complete_recent:
        assert interval_sums.get(day, 0) == (garmin[day] or 0), day
    assert min(interval_sums) >= TODAY - timedelta(days=6)  # intraday only for 7 days
    assert {r.device for r in rows} == {"Forerunner 265"} and devices == ["Forerunner 265"]
    # devices, one stats chunk, a summary a day, a chart a day except the unworn one
    assert result.api_calls == 1 + 1 + 7 + 6


def test_windows_longer_than_28_days_are_chunked(served, settings, store, factory, cipher):
    sandbox, _ = served
    account = link_patient(factory, cipher, sandbox, new_user())
    first = TODAY - timedelta(days=59)
    before = len(sandbox.calls)

    result = adapter_for(settings, store).fetch(account, window(first))

    spans = [
        tuple(date.fromisoformat(p) for p in call.split("?")[0].split("/")[-2:])
        for call in sandbox.calls[before:]
        if "/stats/steps/daily/" in call
    ]
    assert [(b - a).days + 1 for a, b in spans] == [28, 28, 4]
    assert spans[0][0] == first and spans[-1][1] == TODAY
    assert all(later[0] == earlier[1] + timedelta(days=1) for earlier, later in pairwise(spans))
    assert {t.local_date for t in result.batch.daily_totals} == {
        first + timedelta(days=n) for n in range(60)
    }
    assert result.api_calls == len(sandbox.calls) - before


def test_future_days_are_not_asked_for(served, settings, store, factory, cipher):
    sandbox, _ = served
    account = link_patient(factory, cipher, sandbox, new_user())
    before = len(sandbox.calls)
    result = adapter_for(settings, store).fetch(
        account, window(TODAY + timedelta(days=1), TODAY + timedelta(days=5))
    )
    assert result.batch.daily_totals == [] and len(sandbox.calls) == before


def test_archived_days_keep_totals_without_intervals(served, secret_key, store, factory, cipher):
    sandbox, base_url = served  # the sandbox archives intraday older than 20 days
    account = link_patient(factory, cipher, sandbox, new_user())
    settings = sandbox_settings(base_url, secret_key, garmin_intraday_days=30)
    first = TODAY - timedelta(days=25)

    result = adapter_for(settings, store).fetch(account, window(first))

    archived = {first + timedelta(days=n) for n in range(5)}
    assert archived <= {t.local_date for t in result.batch.daily_totals}
    sums = by_day(result.batch.intervals)
    assert not archived & sums.keys()
    assert TODAY - timedelta(days=19) in sums
    assert result.skipped == []


def test_a_malformed_day_is_skipped_and_the_rest_kept(served, settings, store, factory, cipher):
    sandbox, _ = served
    user = new_user()
    user.fail("dailySummaryChart", 200, body="<html>upstream hiccup</html>")
    account = link_patient(factory, cipher, sandbox, user)

    result = adapter_for(settings, store).fetch(
        account, window(TODAY - timedelta(days=2), TODAY - timedelta(days=1))
    )

    assert len(result.skipped) == 1 and str(TODAY - timedelta(days=2)) in result.skipped[0]
    assert set(by_day(result.batch.intervals)) == {TODAY - timedelta(days=1)}
    assert len(result.batch.daily_totals) == 2


@pytest.mark.parametrize(
    ("path", "status", "body", "kind"),
    [
        ("deviceregistration", 500, None, Transient),
        ("stats/steps", 200, '{"calendarDate": "2026-03-01"}', BadData),
        ("usersummary/daily", 403, None, AuthRevoked),
    ],
)
def test_failures_come_out_as_shared_kinds(
    served, settings, store, factory, cipher, path, status, body, kind
):
    sandbox, _ = served
    user = new_user()
    user.fail(path, status, body=body)
    account = link_patient(factory, cipher, sandbox, user)

    with pytest.raises(kind):
        adapter_for(settings, store).fetch(account, window(TODAY - timedelta(days=1)))


def test_privacy_protected_account_needs_relink(served, settings, store, factory, cipher):
    sandbox, _ = served
    account = link_patient(factory, cipher, sandbox, new_user(privacy_protected=True))
    with pytest.raises(AuthRevoked):
        adapter_for(settings, store).fetch(account, window(TODAY))


def test_refreshed_tokens_are_stored(served, settings, store, factory, cipher):
    sandbox, _ = served
    user = new_user()
    account = link_patient(factory, cipher, sandbox, user)
    before = store.load(account.account_id)
    refreshes = sandbox.refreshes
    sandbox.expire_access_tokens(user.display_name)  # next call: 401, library refreshes

    result = adapter_for(settings, store).fetch(account, window(TODAY - timedelta(days=1)))

    after = store.load(account.account_id)
    assert result.batch.daily_totals and sandbox.refreshes == refreshes + 1
    assert after.version == before.version + 1
    assert after.data["di_token"] != before.data["di_token"]
    assert after.data["di_refresh_token"] != before.data["di_refresh_token"]
    assert set(after.data) == {"di_token", "di_refresh_token", "di_client_id"}
    # The stored tokens are the live ones: the next fetch needs no refresh.
    adapter_for(settings, store).fetch(account, window(TODAY))
    assert sandbox.refreshes == refreshes + 1 and store.load(account.account_id) == after


def test_refreshed_tokens_are_stored_even_when_the_fetch_fails(
    served, settings, store, factory, cipher
):
    sandbox, _ = served
    user = new_user()
    user.fail("stats/steps", 429)
    account = link_patient(factory, cipher, sandbox, user)
    before = store.load(account.account_id)
    sandbox.expire_access_tokens(user.display_name)

    with pytest.raises(RateLimited) as caught:
        adapter_for(settings, store).fetch(account, window(TODAY))

    assert caught.value.retry_after >= 3600  # Garmin sends no Retry-After, punishes retries
    assert store.load(account.account_id).data["di_token"] != before.data["di_token"]


def test_tokens_stored_meanwhile_are_not_overwritten(served, settings, store, factory, cipher):
    sandbox, _ = served
    user = new_user()
    account = link_patient(factory, cipher, sandbox, user)
    sandbox.expire_access_tokens(user.display_name)
    relinked = sandbox.issue_tokens(user.display_name)

    class RelinkDuringFetch(CredentialStore):
        """A relink lands between the fetch's load and its save."""

        def load(self, account_id):
            loaded = super().load(account_id)
            assert self.save_if_unchanged(account_id, relinked, loaded.version)
            return loaded

    adapter = GarminAdapter(
        garmin_config(settings), RelinkDuringFetch(factory, cipher), clock=lambda: NOW
    )
    adapter.fetch(account, window(TODAY))
    assert store.load(account.account_id).data == relinked


def test_revoked_refresh_token_means_relink(served, settings, store, factory, cipher):
    sandbox, _ = served
    user = new_user()
    account = link_patient(factory, cipher, sandbox, user)
    before = store.load(account.account_id)
    sandbox.revoke(user.display_name)

    with pytest.raises(AuthRevoked):
        adapter_for(settings, store).fetch(account, window(TODAY))
    assert store.load(account.account_id) == before


def test_imported_account_without_display_name_asks_the_profile(
    served, settings, store, factory, cipher
):
    sandbox, _ = served
    user = new_user()
    account = link_patient(factory, cipher, sandbox, user)
    imported = type(account)(account.account_id, account.patient_id, "garmin", None, None)
    before = len(sandbox.calls)

    result = adapter_for(settings, store).fetch(imported, window(TODAY - timedelta(days=1)))

    assert "socialProfile" in sandbox.calls[before]
    assert result.batch.intervals and result.api_calls == len(sandbox.calls) - before


def test_the_shared_data_session_keeps_no_cookie_between_accounts():
    """Every account's client sends its data calls through one pooled session, so a
    cookie one account's answer set must not ride along on the next account's call."""
    echo = FastAPI()

    @echo.get("/echo")
    def _echo(request: Request) -> JSONResponse:
        answer = JSONResponse({"cookie": request.headers.get("cookie")})
        answer.set_cookie("session", "account-one")
        return answer

    session = api_session()
    with serve_in_thread(echo) as base:
        first = session.get(base + "/echo", timeout=10)
        second = session.get(base + "/echo", timeout=10)
    assert first.cookies.get("session") == "account-one"  # the server did set one
    assert second.json() == {"cookie": None} and len(session.cookies) == 0
