"""The Garmin sandbox's state: users, their tokens and their steps, as Garmin would
hold them. :mod:`sandbox.garmin` serves it over HTTP; tests, the demo and
the benchmark script it directly (faults, travel, late uploads, revocation).

Steps come from the shared :class:`Walker`, summed into 15-minute buckets over
the local day (96, or 92/100 on DST days); a day without intraday data, or an
archived one, is Garmin's 95 ``none`` buckets; today stops at the last upload.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from core.clock import utcnow
from sandbox.walker import DayShape, Minute, Walker

BUCKET = timedelta(minutes=15)
EMPTY_DAY_BUCKETS = 95  # what Garmin really returns for a day without intraday data
MAX_STATS_DAYS = 28
CLIENT_ID = "GARMIN_CONNECT_MOBILE_ANDROID_DI_2025Q2"
SERVICE_TICKET_GRANT = "https://connectapi.garmin.com/di-oauth2-service/oauth/grant/service_ticket"


def default_devices() -> list[dict]:
    return [
        {
            "deviceId": 3442978123,
            "productDisplayName": "Forerunner 265",
            "primaryActivityTrackerIndicator": True,
            "deviceStatus": "active",
        },
        {
            "deviceId": 3310456001,
            "productDisplayName": "Edge 540",
            "primaryActivityTrackerIndicator": False,
            "deviceStatus": "active",
        },
    ]


@dataclass
class Fault:
    path: str  # applies to requests whose path contains this
    status: int
    times: int = 1
    body: str | None = None  # raw body; default a JSON error message


@dataclass
class GarminUser:
    email: str
    password: str
    display_name: str
    tz: str = "Europe/London"
    mfa_code: str | None = None  # None: Garmin asks for no code
    devices: list[dict] = field(default_factory=default_devices)
    zones: dict[date, str] = field(default_factory=dict)  # travel: the zone of a local day
    not_worn: set[date] = field(default_factory=set)
    wear_hours: tuple[int, int] = (7, 22)  # local hours the watch is on the wrist
    person: str | None = None  # the walker's name for this person; None: the display name
    last_sync: datetime | None = None  # the watch's last upload; None: 20 minutes ago
    privacy_protected: bool = False
    faults: list[Fault] = field(default_factory=list)

    def fail(self, path: str, status: int, times: int = 1, body: str | None = None) -> None:
        self.faults.append(Fault(path, status, times, body))

    def zone_on(self, day: date) -> str:
        return self.zones.get(day, self.tz)


def _jwt(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{secrets.token_urlsafe(32)}"


def _gmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + ".0"


def _local(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + ".0"


class GarminSandbox:
    """The sandbox's whole state; tests and the demo script it directly.

    ``clock`` is the data clock (what "today" and "last sync" mean); token expiry
    uses real time because the library checks it with ``time.time()``.
    """

    def __init__(
        self,
        walker: Walker | None = None,
        clock=utcnow,
        archive_after_days: int = 90,
        token_ttl_s: int = 3600,
    ) -> None:
        self.walker = walker or Walker(seed=2026)
        self.clock = clock
        self.archive_after_days = archive_after_days
        self.token_ttl_s = token_ttl_s
        self.users: dict[str, GarminUser] = {}
        self.rate_limit_logins = False
        self.calls: list[str] = []  # every data request's path and query, in order
        self.refreshes = 0  # successful refresh-token grants
        self.logins = 0  # password logins tried (Garmin counts them too)
        self._access: dict[str, tuple[str, float]] = {}  # token -> (display name, expiry)
        self._refresh: dict[str, str] = {}
        self._tickets: dict[str, str] = {}
        self._mfa: dict[str, str] = {}  # SSO cookie -> display name awaiting a code
        self._minutes: dict[tuple, list[Minute]] = {}
        self._lock = threading.Lock()

    # -- scripting -----------------------------------------------------------

    def add_user(self, user: GarminUser) -> GarminUser:
        self.users[user.display_name] = user
        return user

    def issue_tokens(self, display_name: str) -> dict:
        """A token store as a finished login leaves it (what linking stores)."""
        with self._lock:
            access, refresh = self._new_tokens(display_name)
        return {"di_token": access, "di_refresh_token": refresh, "di_client_id": CLIENT_ID}

    def expire_access_tokens(self, display_name: str) -> None:
        """The next data call gets a 401, which the library answers with a refresh."""
        with self._lock:
            for token, (name, _) in list(self._access.items()):
                if name == display_name:
                    self._access[token] = (name, 0.0)

    def revoke(self, display_name: str) -> None:
        """The user revoked access: refresh grants fail and access tokens are dead."""
        self.expire_access_tokens(display_name)
        with self._lock:
            for token, name in list(self._refresh.items()):
                if name == display_name:
                    del self._refresh[token]

    # -- tokens ---------------------------------------------------------------

    def _new_tokens(self, display_name: str) -> tuple[str, str]:
        expiry = time.time() + self.token_ttl_s
        access = _jwt(
            {
                "client_id": CLIENT_ID,
                "exp": int(expiry),
                "jti": secrets.token_hex(16),
                "scope": ["CONNECT_READ", "CONNECT_WRITE"],
            }
        )
        refresh = secrets.token_urlsafe(48)
        self._access[access] = (display_name, expiry)
        self._refresh[refresh] = display_name
        return access, refresh

    def user_for(self, authorization: str | None) -> GarminUser | None:
        token = (authorization or "").removeprefix("Bearer ")
        with self._lock:
            name, expiry = self._access.get(token, ("", 0.0))
        return self.users.get(name) if expiry > time.time() else None

    def grant(self, form: dict[str, str]) -> dict | None:
        with self._lock:
            if form.get("grant_type") == "refresh_token":
                name = self._refresh.pop(form.get("refresh_token", ""), None)
                self.refreshes += name is not None
            elif form.get("grant_type") == SERVICE_TICKET_GRANT:
                name = self._tickets.pop(form.get("service_ticket", ""), None)
            else:
                name = None
            if name is None:
                return None
            access, refresh = self._new_tokens(name)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": self.token_ttl_s,
            "refresh_token_expires_in": 7776000,
        }

    def ticket_for(self, display_name: str) -> str:
        ticket = f"ST-{secrets.token_hex(12)}-cas"
        with self._lock:
            self._tickets[ticket] = display_name
        return ticket

    def start_mfa(self, display_name: str) -> str:
        cookie = secrets.token_hex(16)
        with self._lock:
            self._mfa[cookie] = display_name
        return cookie

    def finish_mfa(self, cookie: str | None) -> GarminUser | None:
        with self._lock:
            name = self._mfa.get(cookie or "")
        return self.users.get(name) if name else None

    def drop_mfa(self, cookie: str | None) -> None:
        with self._lock:
            self._mfa.pop(cookie or "", None)

    # -- data -------------------------------------------------------------------

    def today(self, user: GarminUser) -> date:
        return self.clock().astimezone(ZoneInfo(user.tz)).date()

    def cutoff(self, user: GarminUser) -> datetime:
        """Data visible so far: up to the last upload, in whole 15-minute buckets."""
        synced = user.last_sync or self.clock() - timedelta(minutes=20)
        synced = synced.astimezone(UTC)
        return synced - timedelta(
            minutes=synced.minute % 15, seconds=synced.second, microseconds=synced.microsecond
        )

    def day_bounds(self, user: GarminUser, day: date) -> tuple[datetime, datetime, ZoneInfo]:
        zone = ZoneInfo(user.zone_on(day))
        start = datetime.combine(day, datetime.min.time(), zone)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
        return start.astimezone(UTC), end.astimezone(UTC), zone

    def minutes(self, user: GarminUser, day: date) -> list[Minute]:
        """The walker's minutes for the day that have been uploaded by now."""
        person = user.person or user.display_name
        key = (person, day, user.zone_on(day), day in user.not_worn, user.wear_hours)
        with self._lock:
            cached = self._minutes.get(key)
        if cached is None:
            shape = DayShape(worn=day not in user.not_worn, wear_hours=user.wear_hours)
            cached = self.walker.day(person, day, user.zone_on(day), shape)
            with self._lock:
                self._minutes[key] = cached
        cutoff = self.cutoff(user)
        return [m for m in cached if m.start_utc + timedelta(minutes=1) <= cutoff]

    def total(self, user: GarminUser, day: date) -> int | None:
        minutes = self.minutes(user, day)
        return sum(m.steps for m in minutes) if minutes else None

    def buckets(self, user: GarminUser, day: date) -> list[dict]:
        start, end, _ = self.day_bounds(user, day)
        minutes = self.minutes(user, day)
        archived = day < self.today(user) - timedelta(days=self.archive_after_days)
        if not minutes or archived:
            return [_bucket(start + i * BUCKET, None) for i in range(EMPTY_DAY_BUCKETS)]
        by_bucket: dict[datetime, list[int]] = {}
        for minute in minutes:
            slot = start + ((minute.start_utc - start) // BUCKET) * BUCKET
            by_bucket.setdefault(slot, []).append(minute.steps)
        stop = min(end, self.cutoff(user))
        out, slot = [], start
        while slot + BUCKET <= stop:
            steps = by_bucket.get(slot)
            out.append(_bucket(slot, sum(steps) if steps is not None else None))
            slot += BUCKET
        return out

    def summary(self, user: GarminUser, day: date) -> dict:
        start, end, zone = self.day_bounds(user, day)
        total = self.total(user, day)
        return {
            "userProfileId": 90001,
            "calendarDate": day.isoformat(),
            "totalSteps": total,
            "dailyStepGoal": 7500,
            "totalDistanceMeters": round(total * 0.75) if total is not None else None,
            "wellnessStartTimeGmt": _gmt(start),
            "wellnessStartTimeLocal": _local(start.astimezone(zone)),
            "wellnessEndTimeGmt": _gmt(end),
            "wellnessEndTimeLocal": _local(end.astimezone(zone)),
            "durationInMilliseconds": int((end - start).total_seconds() * 1000),
            "includesWellnessData": total is not None,
            "privacyProtected": user.privacy_protected,
            "lastSyncTimestampGMT": _gmt(self.cutoff(user)) if day == self.today(user) else None,
            "moderateIntensityMinutes": 0,
            "vigorousIntensityMinutes": 0,
        }

    def take_fault(self, user: GarminUser, path: str) -> Fault | None:
        with self._lock:
            for fault in user.faults:
                if fault.path in path and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None


def _bucket(start: datetime, steps: int | None) -> dict:
    if steps is None:
        level = "none"
    elif steps >= 1000:
        level = "highlyActive"
    elif steps >= 100:
        level = "active"
    else:
        level = "sedentary"
    return {
        "startGMT": _gmt(start),
        "endGMT": _gmt(start + BUCKET),
        "steps": steps or 0,
        "pushes": 0,
        "primaryActivityLevel": level,
        "activityLevelConstant": True,
    }
