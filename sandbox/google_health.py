"""A loopback stand-in for the Google Health API v4 and Google's OAuth endpoints.

Shapes follow the discovery document bundled with google-api-python-client
(``health.v4.json``); behaviour follows ``docs/providers.md`` section 1:

- OAuth: ``GET /o/oauth2/v2/auth`` consents at once (no login page) for the
  user named by ``login_hint`` and redirects with ``code`` and ``state``;
  ``POST /token`` exchanges a code (PKCE S256 checked) or a refresh token.
  Refresh tokens rotate: the old one then answers ``invalid_grant``.
- ``GET /v4/users/me/identity``, ``GET /v4/users/me/settings``.
- ``GET .../dataTypes/steps/dataPoints`` (list) and ``...:reconcile``: newest
  first, ``pageSize`` (default 1440, capped at 10000), opaque page tokens, and
  on request empty pages that still carry a token.
- ``POST .../dataPoints:dailyRollUp``: civil dates, end exclusive, at most 90
  days, pages of at most 90 windows.
- Errors are ``google.rpc.Status`` bodies; faults are scripted per user (see
  :mod:`sandbox.google_faults`).

Data comes from the shared :class:`~sandbox.walker.Walker`: one device
per user, the day's zone from ``travel`` (else the home zone), minutes a day
cannot hold because the previous day (in another zone) already covered them
are dropped, as a watch cannot count one minute twice.

Limits (deliberate): filters need both bounds; only the ``steps`` data type.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from sandbox.google_faults import Fault, rpc_error, take_fault
from sandbox.walker import DayShape, Walker

ACTIVITY_SCOPE = "https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly"
SETTINGS_SCOPE = "https://www.googleapis.com/auth/googlehealth.settings.readonly"
AUTHORIZE_PATH = "/o/oauth2/v2/auth"
TOKEN_PATH = "/token"
REVOKE_PATH = "/revoke"
DEFAULT_PAGE_SIZE = 1440
MAX_PAGE_SIZE = 10000
MAX_ROLLUP_DAYS = 90
MAX_ROLLUP_PAGE = 90
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    display_name: str = "Charge 6"
    form_factor: str = "FITNESS_BAND"
    manufacturer: str = "Google"
    platform: str = "FITBIT"


@dataclass(frozen=True, slots=True)
class Point:
    start: datetime
    end: datetime
    start_offset_s: int
    end_offset_s: int
    steps: int
    manual: bool = False

    @property
    def civil_date(self) -> date:
        return (self.start + timedelta(seconds=self.start_offset_s)).date()


@dataclass(slots=True)
class SandboxUser:
    person: str
    time_zone: str = "Europe/London"
    health_user_id: str = ""
    device: DeviceSpec = field(default_factory=DeviceSpec)
    travel: dict[date, str] = field(default_factory=dict)  # local day -> zone that day
    shapes: dict[date, DayShape] = field(default_factory=dict)
    manual: dict[date, int] = field(default_factory=dict)  # a logged walk at noon
    extra_points: list[dict] = field(default_factory=list)  # raw JSON added to list pages
    uploaded_through: datetime | None = None  # later minutes not synced yet (late sync)
    # Minute start (UTC) -> steps as the device later re-processed them (same keys,
    # other counts: a change that need not move the day's total).
    revised: dict[datetime, int] = field(default_factory=dict)
    empty_pages: int = 0  # listings start with this many empty pages carrying a token
    revoked: bool = False  # the user withdrew consent
    faults: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.health_user_id:
            digest = hashlib.sha256(self.person.encode()).hexdigest()
            self.health_user_id = str(int(digest[:15], 16))

    def zone_on(self, day: date) -> str:
        return self.travel.get(day, self.time_zone)


@dataclass(slots=True)
class _Grant:
    person: str
    scopes: tuple[str, ...]
    expires: datetime | None = None
    # authorization codes only
    redirect_uri: str = ""
    challenge: str = ""
    offline: bool = False


class GoogleSandboxState:
    """Everything the sandbox knows; tests script users and read counters here."""

    def __init__(
        self,
        seed: int = 7,
        client_id: str = "sandbox-client.apps.googleusercontent.com",
        client_secret: str = "sandbox-secret",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        token_lifetime_s: int = 3600,
        auto_create_users: bool = True,
    ) -> None:
        self.walker = Walker(seed)
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock = clock
        self.token_lifetime_s = token_lifetime_s
        self.auto_create_users = auto_create_users
        # Scopes the person unticks on the consent screen (granular consent).
        self.withheld_scopes: set[str] = set()
        self.users: dict[str, SandboxUser] = {}
        self.access: dict[str, _Grant] = {}
        self.refresh: dict[str, _Grant] = {}
        self.retired_refresh: set[str] = set()
        self.codes: dict[str, _Grant] = {}
        self.calls: Counter[str] = Counter()
        self._day_cache = lru_cache(maxsize=4096)(self._raw_day)
        self._points_cache = lru_cache(maxsize=4096)(self._all_points)

    # -- users and tokens -------------------------------------------------
    def add_user(self, person: str, **fields) -> SandboxUser:
        user = SandboxUser(person, **fields)
        self.users[person] = user
        return user

    def issue_tokens(self, person: str, scopes: tuple[str, ...] = (ACTIVITY_SCOPE, SETTINGS_SCOPE)):
        """Tokens for a user as a finished consent would give (benchmarks link this way)."""
        return self._token_response(person, scopes, offline=True)

    def stored_credentials(self, person: str) -> dict:
        """What a link stores after a finished consent: fresh tokens, in google-auth's
        authorized-user form (tests and benchmarks link this way)."""
        issued = self.issue_tokens(person)
        expiry = self.clock() + timedelta(seconds=issued["expires_in"])
        return {
            "token": issued["access_token"],
            "refresh_token": issued["refresh_token"],
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scopes": issued["scope"].split(),
            "expiry": expiry.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z",
        }

    def _token_response(self, person: str, scopes: tuple[str, ...], offline: bool) -> dict:
        access = "ya29.sbx-" + secrets.token_urlsafe(24)
        expires = self.clock() + timedelta(seconds=self.token_lifetime_s)
        self.access[access] = _Grant(person, scopes, expires)
        body = {
            "access_token": access,
            "expires_in": self.token_lifetime_s,
            "scope": " ".join(scopes),
            "token_type": "Bearer",
        }
        if offline:
            refresh = "1//sbx-" + secrets.token_urlsafe(32)
            self.refresh[refresh] = _Grant(person, scopes)
            body["refresh_token"] = refresh
        return body

    def expire_access_tokens(self) -> None:
        for grant in self.access.values():
            grant.expires = self.clock() - timedelta(seconds=1)

    # -- data ---------------------------------------------------------------
    def _raw_day(self, person: str, day: date, zone: str, shape: DayShape) -> tuple:
        return tuple(self.walker.day(person, day, zone, shape))

    def day_points(self, user: SandboxUser, day: date, with_manual: bool = True) -> list[Point]:
        """The points of one local day that have been uploaded by now."""
        visible_until = self.clock()
        if user.uploaded_through is not None:
            visible_until = min(visible_until, user.uploaded_through)
        manual = user.manual.get(day) if with_manual else None
        points = self._points_cache(
            user.person,
            day,
            user.zone_on(day),
            user.shapes.get(day, DayShape()),
            user.zone_on(day - timedelta(days=1)),
            user.shapes.get(day - timedelta(days=1), DayShape()),
            manual,
        )
        revised = user.revised
        return [
            replace(p, steps=revised[p.start]) if p.start in revised else p
            for p in points
            if p.end <= visible_until
        ]

    def _all_points(
        self,
        person: str,
        day: date,
        zone_name: str,
        shape: DayShape,
        zone_before: str,
        shape_before: DayShape,
        manual: int | None,
    ) -> tuple[Point, ...]:
        previous = self._day_cache(person, day - timedelta(days=1), zone_before, shape_before)
        covered_until = previous[-1].start_utc + MINUTE if previous else None
        zone = ZoneInfo(zone_name)
        points = []
        for minute in self._day_cache(person, day, zone_name, shape):
            if covered_until and minute.start_utc < covered_until:
                continue
            end = minute.start_utc + MINUTE
            end_offset = int(end.astimezone(zone).utcoffset().total_seconds())
            points.append(
                Point(minute.start_utc, end, minute.utc_offset_s, end_offset, minute.steps)
            )
        if manual is not None:
            start = datetime.combine(day, datetime.min.time(), zone).replace(hour=12)
            end = start + timedelta(minutes=30)
            points.append(
                Point(
                    start.astimezone(UTC),
                    end.astimezone(UTC),
                    int(start.utcoffset().total_seconds()),
                    int(end.utcoffset().total_seconds()),
                    manual,
                    manual=True,
                )
            )
        return tuple(points)

    def rollup_total(self, person: str, day: date, with_manual: bool = True) -> int | None:
        """What dailyRollUp says for ``day``; None when the day holds no data."""
        points = self.day_points(self.users[person], day, with_manual)
        return sum(p.steps for p in points) if points else None


# -- JSON shapes --------------------------------------------------------------
def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _civil(value: datetime, offset_s: int) -> dict:
    local = value + timedelta(seconds=offset_s)
    time = {
        key: part
        for key, part in (
            ("hours", local.hour),
            ("minutes", local.minute),
            ("seconds", local.second),
        )
        if part
    }
    return {"date": _civil_date(local.date()), "time": time}


def _civil_date(day: date) -> dict:
    return {"year": day.year, "month": day.month, "day": day.day}


def _interval(point: Point) -> dict:
    return {
        "startTime": _timestamp(point.start),
        "startUtcOffset": f"{point.start_offset_s}s",
        "endTime": _timestamp(point.end),
        "endUtcOffset": f"{point.end_offset_s}s",
        "civilStartTime": _civil(point.start, point.start_offset_s),
        "civilEndTime": _civil(point.end, point.end_offset_s),
    }


def _point_id(user: SandboxUser, point: Point) -> str:
    kind = "m" if point.manual else "d"
    stamp = int(point.start.timestamp())
    return f"users/{user.health_user_id}/dataTypes/steps/dataPoints/{kind}{stamp}"


def _data_point(user: SandboxUser, point: Point) -> dict:
    if point.manual:
        source = {"recordingMethod": "MANUAL", "platform": user.device.platform}
    else:
        source = {
            "recordingMethod": "PASSIVELY_MEASURED",
            "platform": user.device.platform,
            "device": {
                "displayName": user.device.display_name,
                "formFactor": user.device.form_factor,
                "manufacturer": user.device.manufacturer,
            },
        }
    return {
        "name": _point_id(user, point),
        "dataSource": source,
        "steps": {"interval": _interval(point), "count": str(point.steps)},
    }


def _reconciled_point(user: SandboxUser, point: Point) -> dict:
    return {
        "dataPointName": _point_id(user, point),
        "steps": {"interval": _interval(point), "count": str(point.steps)},
    }


# -- request parsing ------------------------------------------------------------
class _Answer(Exception):
    """Short-circuits a handler with a finished response."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _rpc(code: int, message: str, reason: str | None = None, headers: dict | None = None):
    return _Answer(JSONResponse(rpc_error(code, message, reason), code, headers=headers))


_CLAUSE = re.compile(r'^\s*steps\.interval\.(start_time|civil_start_time)\s*(>=|<)\s*"([^"]+)"\s*$')


@dataclass(frozen=True, slots=True)
class _Filter:
    civil: bool
    low: datetime  # naive local wall time when civil, aware UTC otherwise
    high: datetime

    def days(self) -> list[date]:
        first = self.low.date() - timedelta(days=0 if self.civil else 1)
        last = self.high.date() + timedelta(days=0 if self.civil else 1)
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def holds(self, point: Point) -> bool:
        if self.civil:
            local = (point.start + timedelta(seconds=point.start_offset_s)).replace(tzinfo=None)
            return self.low <= local < self.high
        return self.low <= point.start < self.high


def _parse_filter(text: str) -> _Filter:
    bounds: dict[str, datetime] = {}
    fields = set()
    for clause in text.split(" AND "):
        match = _CLAUSE.match(clause)
        if not match:
            raise _rpc(400, f"Invalid filter clause: {clause!r}", "INVALID_DATA_POINT_FILTER")
        name, op, literal = match.groups()
        fields.add(name)
        try:
            value = datetime.fromisoformat(literal)
        except ValueError as err:
            raise _rpc(
                400, f"Invalid time literal {literal!r}", "INVALID_DATA_POINT_FILTER"
            ) from err
        if name == "start_time":
            if value.tzinfo is None:
                raise _rpc(
                    400, "start_time needs an RFC 3339 timestamp", "INVALID_DATA_POINT_FILTER"
                )
            value = value.astimezone(UTC)
        elif value.tzinfo is not None:
            raise _rpc(400, "civil_start_time takes no offset", "INVALID_DATA_POINT_FILTER")
        bounds[op] = value
    if len(fields) != 1 or set(bounds) != {">=", "<"}:
        raise _rpc(
            400,
            "sandbox filters need one field with both >= and < bounds",
            "INVALID_DATA_POINT_FILTER",
        )
    return _Filter("civil_start_time" in fields, bounds[">="], bounds["<"])


def _page_size(raw: str | None, default: int, maximum: int) -> int:
    if raw in (None, ""):
        return default
    try:
        size = int(raw)
    except ValueError as err:
        raise _rpc(400, f"Invalid pageSize {raw!r}") from err
    if size < 0:
        raise _rpc(400, "pageSize must not be negative")
    return min(size or default, maximum)


def _encode_token(offset: int, empties: int, query: str) -> str:
    raw = json.dumps({"o": offset, "e": empties, "q": query}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, query: str) -> tuple[int, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset, empties, seen = int(data["o"]), int(data["e"]), data["q"]
    except (ValueError, KeyError, TypeError) as err:
        raise _rpc(400, "Invalid page token") from err
    if seen != query:
        raise _rpc(400, "Page token does not match the request's other fields")
    return offset, empties


def _query_key(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _civil_day(value: object, what: str) -> date:
    try:
        civil = value["date"]  # type: ignore[index]
        day = date(int(civil["year"]), int(civil["month"]), int(civil["day"]))
        time = value.get("time") or {}  # type: ignore[union-attr]
    except (TypeError, KeyError, ValueError) as err:
        raise _rpc(400, f"range.{what} needs a valid civil date") from err
    if any(time.get(key) for key in ("hours", "minutes", "seconds", "nanos")):
        raise _rpc(400, f"range.{what} must be aligned with the aggregation window")
    return day


# -- the app ----------------------------------------------------------------------
def create_app(state: GoogleSandboxState) -> FastAPI:
    app = FastAPI(title="Google Health API sandbox", openapi_url=None, docs_url=None)
    app.state.sandbox = state

    @app.exception_handler(_Answer)
    async def _answer(_: Request, exc: _Answer) -> Response:
        return exc.response

    async def apply_faults(user: SandboxUser, path: str) -> None:
        fault = take_fault(user.faults, path)
        if fault is None:
            return
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.malformed:
            raise _Answer(
                Response(b'{"dataPoints": [{"steps": ', 200, media_type="application/json")
            )
        if fault.status:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            message = "Quota exceeded" if fault.status == 429 else f"Sandbox fault {fault.status}"
            raise _rpc(fault.status, message, headers=headers)

    async def caller(request: Request) -> tuple[SandboxUser, tuple[str, ...]]:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        grant = state.access.get(token)
        if grant is None or grant.expires <= state.clock() or state.users[grant.person].revoked:
            raise _rpc(
                401,
                "Request had invalid authentication credentials.",
                "ACCESS_TOKEN_EXPIRED" if grant else "CREDENTIALS_MISSING",
            )
        user = state.users[grant.person]
        segment = request.path_params.get("user", "me")
        if segment not in ("me", user.health_user_id):
            raise _rpc(403, "The caller does not have permission", "PERMISSION_DENIED")
        await apply_faults(user, request.url.path)
        return user, grant.scopes

    def need(scopes: tuple[str, ...], scope: str) -> None:
        if scope not in scopes:
            raise _rpc(
                403,
                "Request had insufficient authentication scopes.",
                "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            )

    @app.get(AUTHORIZE_PATH)
    def authorize(
        client_id: str = "",
        redirect_uri: str = "",
        response_type: str = "",
        scope: str = "",
        oauth_state: str = Query("", alias="state"),
        code_challenge: str = "",
        code_challenge_method: str = "",
        access_type: str = "online",
        login_hint: str = "demo",
    ) -> Response:
        state.calls["authorize"] += 1
        if client_id != state.client_id:
            return PlainTextResponse("Error 401: invalid_client", 401)
        if not re.match(r"^http://(127\.0\.0\.1|localhost)(:\d+)?/", redirect_uri):
            return PlainTextResponse("Error 400: redirect_uri_mismatch", 400)
        if response_type != "code" or code_challenge_method != "S256" or not code_challenge:
            return PlainTextResponse("Error 400: invalid_request (code + PKCE S256 required)", 400)
        user = state.users.get(login_hint)
        if user is None:
            if not state.auto_create_users:
                return _redirect(redirect_uri, error="access_denied", state=oauth_state)
            user = state.add_user(login_hint)
        user.revoked = False
        code = "4/sbx-" + secrets.token_urlsafe(24)
        granted = " ".join(s for s in scope.split() if s not in state.withheld_scopes)
        state.codes[code] = _Grant(
            user.person,
            tuple(granted.split()),
            redirect_uri=redirect_uri,
            challenge=code_challenge,
            offline=access_type == "offline",
        )
        return _redirect(redirect_uri, code=code, state=oauth_state, scope=granted)

    @app.post(TOKEN_PATH)
    async def token(request: Request) -> Response:
        form = await request.form()
        if (
            form.get("client_id") != state.client_id
            or form.get("client_secret") != state.client_secret
        ):
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            state.calls["code_exchange"] += 1
            grant = state.codes.pop(str(form.get("code", "")), None)
            verifier = str(form.get("code_verifier", ""))
            if grant is None:
                return _oauth_error(400, "invalid_grant", "Malformed auth code.")
            if form.get("redirect_uri") != grant.redirect_uri:
                return _oauth_error(400, "redirect_uri_mismatch", "Bad Request")
            if _s256(verifier) != grant.challenge:
                return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
            return JSONResponse(state._token_response(grant.person, grant.scopes, grant.offline))
        if grant_type == "refresh_token":
            state.calls["refresh"] += 1
            old = str(form.get("refresh_token", ""))
            grant = state.refresh.get(old)
            if grant is not None:
                await apply_faults(state.users[grant.person], TOKEN_PATH)
            if grant is None or state.users[grant.person].revoked:
                return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
            del state.refresh[old]
            state.retired_refresh.add(old)
            return JSONResponse(state._token_response(grant.person, grant.scopes, offline=True))
        return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    @app.post(REVOKE_PATH)
    async def revoke(request: Request) -> Response:
        """Google's revoke endpoint: either token of a grant ends the whole grant."""
        token = str((await request.form()).get("token") or request.query_params.get("token", ""))
        grant = state.refresh.pop(token, None) or state.access.pop(token, None)
        if grant is None:
            return _oauth_error(400, "invalid_token", "Token expired or revoked")
        state.calls["revoke"] += 1
        for tokens in (state.refresh, state.access):
            for key in [k for k, g in tokens.items() if g.person == grant.person]:
                del tokens[key]
        return JSONResponse({})

    @app.get("/v4/users/{user}/identity")
    async def identity(who=Depends(caller)) -> dict:
        user, _ = who
        state.calls["identity"] += 1
        return {
            "name": "users/me/identity",
            "legacyUserId": user.health_user_id[-6:].upper(),
            "healthUserId": user.health_user_id,
        }

    @app.get("/v4/users/{user}/settings")
    async def settings(who=Depends(caller)) -> dict:
        user, scopes = who
        state.calls["settings"] += 1
        need(scopes, SETTINGS_SCOPE)
        now = state.clock()
        offset = int(now.astimezone(ZoneInfo(user.time_zone)).utcoffset().total_seconds())
        return {
            "name": f"users/{user.health_user_id}/settings",
            "timeZone": user.time_zone,
            "utcOffset": f"{offset}s",
            "distanceUnit": "DISTANCE_UNIT_KILOMETERS",
            "languageLocale": "en_GB",
        }

    def listing(user: SandboxUser, params, reconciled: bool) -> dict:
        raw_filter = params.get("filter", "")
        family = params.get("dataSourceFamily") or "users/me/dataSourceFamilies/all-sources"
        family_name = family.rsplit("/", 1)[-1]
        if family_name not in ("all-sources", "google-wearables", "google-sources"):
            raise _rpc(400, f"Unsupported data source family {family!r}")
        window = _parse_filter(raw_filter)
        size = _page_size(params.get("pageSize"), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        query = _query_key(raw_filter, family, size, reconciled)
        offset, empties = 0, 0
        if params.get("pageToken"):
            offset, empties = _decode_token(params["pageToken"], query)
        if empties < user.empty_pages:
            return {"dataPoints": [], "nextPageToken": _encode_token(offset, empties + 1, query)}
        with_manual = family_name != "google-wearables"
        points = [
            point
            for day in window.days()
            for point in state.day_points(user, day, with_manual)
            if window.holds(point)
        ]
        points.sort(key=lambda p: (p.start, not p.manual), reverse=True)
        shape = _reconciled_point if reconciled else _data_point
        page = [shape(user, point) for point in points[offset : offset + size]]
        if not reconciled and offset == 0:
            page = list(user.extra_points) + page
        body: dict = {"dataPoints": page}
        if offset + size < len(points):
            body["nextPageToken"] = _encode_token(offset + size, empties, query)
        return body

    @app.get("/v4/users/{user}/dataTypes/steps/dataPoints")
    async def list_points(request: Request, who=Depends(caller)) -> Response:
        user, scopes = who
        state.calls["list"] += 1
        need(scopes, ACTIVITY_SCOPE)
        return JSONResponse(listing(user, request.query_params, reconciled=False))

    @app.get("/v4/users/{user}/dataTypes/steps/dataPoints:reconcile")
    async def reconcile(request: Request, who=Depends(caller)) -> Response:
        user, scopes = who
        state.calls["reconcile"] += 1
        need(scopes, ACTIVITY_SCOPE)
        return JSONResponse(listing(user, request.query_params, reconciled=True))

    @app.post("/v4/users/{user}/dataTypes/steps/dataPoints:dailyRollUp")
    async def daily_rollup(request: Request, who=Depends(caller)) -> dict:
        user, scopes = who
        state.calls["daily_rollup"] += 1
        need(scopes, ACTIVITY_SCOPE)
        try:
            body = json.loads(await request.body())
            span = body["range"]
        except (ValueError, KeyError, TypeError) as err:
            raise _rpc(400, "range is required") from err
        first, end = _civil_day(span.get("start"), "start"), _civil_day(span.get("end"), "end")
        window_days = int(body.get("windowSizeDays") or 1)
        if not 0 < (end - first).days <= MAX_ROLLUP_DAYS or window_days < 1:
            raise _rpc(400, f"range must hold 1 to {MAX_ROLLUP_DAYS} days (end exclusive)")
        size = min(int(body.get("pageSize") or MAX_ROLLUP_PAGE), MAX_ROLLUP_PAGE)
        family = body.get("dataSourceFamily") or "users/me/dataSourceFamilies/all-sources"
        with_manual = not family.endswith("/google-wearables")
        query = _query_key(json.dumps(span, sort_keys=True), window_days, size, family)
        offset = _decode_token(body["pageToken"], query)[0] if body.get("pageToken") else 0
        windows = []
        start = first
        while start < end:
            stop = min(start + timedelta(days=window_days), end)
            days = [start + timedelta(days=n) for n in range((stop - start).days)]
            points = [p for day in days for p in state.day_points(user, day, with_manual)]
            if points:
                windows.append(
                    {
                        "civilStartTime": {"date": _civil_date(start), "time": {}},
                        "civilEndTime": {"date": _civil_date(stop), "time": {}},
                        "steps": {"countSum": str(sum(p.steps for p in points))},
                    }
                )
            start = stop
        answer: dict = {"rollupDataPoints": windows[offset : offset + size]}
        if offset + size < len(windows):
            answer["nextPageToken"] = _encode_token(offset + size, 0, query)
        return answer

    return app


def _redirect(uri: str, **params: str) -> RedirectResponse:
    separator = "&" if "?" in uri else "?"
    query = urlencode({key: value for key, value in params.items() if value})
    return RedirectResponse(f"{uri}{separator}{query}", status_code=302)


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sandbox_settings(base_url: str, state: GoogleSandboxState) -> dict:
    """The settings that point the Google Health adapter at a running sandbox."""
    return {
        "google_health_api_url": base_url,
        "google_oauth_authorize_url": base_url + AUTHORIZE_PATH,
        "google_oauth_token_url": base_url + TOKEN_PATH,
        "google_client_id": state.client_id,
        "google_client_secret": state.client_secret,
    }
