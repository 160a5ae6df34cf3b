"""Provider sandboxes as the sync fault tests see them: one small "world" per
provider with the same verbs (link a patient, script a fault, say what should be
stored), so every fault test runs against each provider's real adapter over
loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sandbox.garmin import GarminSandbox, GarminUser
from sandbox.garmin import create_app as garmin_app
from sandbox.google_faults import Fault
from sandbox.google_health import GoogleSandboxState
from sandbox.google_health import create_app as google_app
from sandbox.google_health import sandbox_settings as google_settings
from sandbox.serve import serve_in_thread
from sandbox.walker import DayShape, Walker

WEAR_HOURS = (9, 12)  # a few hours of data a day keep hundreds of accounts fast


def upload_cutoff() -> datetime:
    """Data visible in the sandboxes: frozen an hour ago, so what a test expects does
    not move while it runs."""
    now = datetime.now(UTC) - timedelta(hours=1)
    return now.replace(minute=0, second=0, microsecond=0)


class GarminWorld:
    provider = "garmin"
    data_path = "/wellness-service"  # the calls that carry a sync's data
    token_path = "/di-oauth2-service/oauth/token"

    def __init__(self) -> None:
        self.sandbox = GarminSandbox(walker=Walker(seed=5))
        self.cutoff = upload_cutoff()
        self.users: dict[str, GarminUser] = {}

    def app(self):
        return garmin_app(self.sandbox)

    @contextmanager
    def serving(self, app=None) -> Iterator[dict]:
        """Run the sandbox (or ``app`` wrapping it); yields the settings that point
        the adapter at it."""
        with serve_in_thread(app or self.app()) as url:
            yield {
                "garmin_api_url": url,
                "garmin_sso_url": url,
                "garmin_token_url": url + self.token_path,
            }

    def link(self, patient_id: str, zone: str | None) -> tuple[dict, str]:
        name = f"dn-{patient_id}"
        user = GarminUser(f"{patient_id}@example.org", "pw", name, tz=zone or "UTC",
                          wear_hours=WEAR_HOURS, last_sync=self.cutoff)  # fmt: skip
        self.users[patient_id] = self.sandbox.add_user(user)
        return self.sandbox.issue_tokens(name), name

    def expected(self, patient_id: str, days: list[date]) -> dict[date, tuple[int, int]]:
        """Local day -> (intervals, steps) the adapter should store for the patient."""
        user = self.users[patient_id]
        out = {}
        for day in days:
            if self.sandbox.total(user, day) is None:
                continue
            steps = [
                b["steps"]
                for b in self.sandbox.buckets(user, day)
                if b["primaryActivityLevel"] != "none" or b["steps"]  # "none": no data
            ]
            out[day] = (len(steps), sum(steps))
        return out

    # -- faults ---------------------------------------------------------------
    def rate_limit(self, patient_id: str, times: int = 1) -> float | None:
        """Scripted 429s; returns the Retry-After the engine can see (None here:
        garminconnect 0.3.2 does not pass response headers on)."""
        self.users[patient_id].fail("/device-service", 429, times)
        return None

    def server_error(self, patient_id: str, times: int = 1) -> None:
        self.users[patient_id].fail("/usersummary-service/stats", 503, times)

    def malformed(self, patient_id: str, times: int = 1) -> None:
        self.users[patient_id].fail("/device-service", 200, times, body="<html>upstream error")

    def revoke(self, patient_id: str) -> None:
        self.sandbox.revoke(self.users[patient_id].display_name)

    def expire_tokens(self, patient_id: str) -> None:
        self.sandbox.expire_access_tokens(self.users[patient_id].display_name)

    def refreshes(self) -> int:
        return self.sandbox.refreshes


class GoogleWorld:
    provider = "google-health"
    data_path = "dataPoints"  # the calls that carry a sync's data

    def __init__(self) -> None:
        self.state = GoogleSandboxState(seed=5)
        self.cutoff = upload_cutoff()

    def app(self):
        return google_app(self.state)

    @contextmanager
    def serving(self, app=None) -> Iterator[dict]:
        with serve_in_thread(app or self.app()) as url:
            yield google_settings(url, self.state)

    def link(self, patient_id: str, zone: str | None) -> tuple[dict, str]:
        short = DayShape(wear_hours=WEAR_HOURS)
        days = [*local_days(zone, 8), local_days(zone, 1)[0] + timedelta(days=1)]
        user = self.state.add_user(patient_id, time_zone=zone or "UTC",
                                   shapes=dict.fromkeys(days, short),
                                   uploaded_through=self.cutoff)  # fmt: skip
        return self.state.stored_credentials(patient_id), user.health_user_id

    def expected(self, patient_id: str, days: list[date]) -> dict[date, tuple[int, int]]:
        user = self.state.users[patient_id]
        out = {}
        for day in days:
            points = self.state.day_points(user, day)
            if points:
                out[day] = (len(points), sum(p.steps for p in points))
        return out

    def _fault(self, patient_id: str, fault: Fault) -> None:
        self.state.users[patient_id].faults.append(fault)

    def rate_limit(self, patient_id: str, times: int = 1) -> float | None:
        self._fault(patient_id, Fault.rate_limited("7", path="dataPoints", times=times))
        return 7.0

    def server_error(self, patient_id: str, times: int = 1) -> None:
        self._fault(patient_id, Fault.server_error(503, path="dataPoints", times=times))

    def malformed(self, patient_id: str, times: int = 1) -> None:
        self._fault(patient_id, Fault.malformed_json(path="dataPoints", times=times))

    def revoke(self, patient_id: str) -> None:
        self.state.users[patient_id].revoked = True

    def expire_tokens(self, patient_id: str) -> None:
        for grant in self.state.access.values():
            if grant.person == patient_id:
                grant.expires = datetime.now(UTC) - timedelta(seconds=1)

    def refreshes(self) -> int:
        return self.state.calls["refresh"]


def local_days(zone: str | None, count: int) -> list[date]:
    """The last ``count`` local dates up to today, oldest first."""
    today = datetime.now(UTC).astimezone(ZoneInfo(zone or "UTC")).date()
    return [today - timedelta(days=n) for n in range(count - 1, -1, -1)]


WORLDS = {"garmin": GarminWorld, "google-health": GoogleWorld}
