"""Every answer the Google Health sandbox gives is checked against the schemas of
the discovery document bundled with google-api-python-client (``health.v4.json``):
unknown fields, wrong types, bad enums and malformed int64/duration/time strings
all fail. Routes are checked against the document's paths and methods."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import googleapiclient
import httpx
import pytest

from sandbox.google_faults import Fault
from sandbox.google_health import (
    ACTIVITY_SCOPE,
    GoogleSandboxState,
    create_app,
    sandbox_settings,
)
from sandbox.serve import serve_in_thread

DOC = json.loads(
    (Path(googleapiclient.__file__).parent / "discovery_cache/documents/health.v4.json").read_text()
)
SCHEMAS = DOC["schemas"]
STEPS_PATH = "/v4/users/me/dataTypes/steps/dataPoints"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
FORMATS = {
    "int64": re.compile(r"^-?\d+$"),
    "google-duration": re.compile(r"^-?\d+(\.\d{1,9})?s$"),
    "google-datetime": RFC3339,
}
RPC_CODES = {"INVALID_ARGUMENT", "UNAUTHENTICATED", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED"}
RPC_CODES |= {"INTERNAL", "UNAVAILABLE", "NOT_FOUND", "DEADLINE_EXCEEDED"}


def problems(value: object, schema: dict, where: str = "$") -> list[str]:
    if "$ref" in schema:
        return problems(value, SCHEMAS[schema["$ref"]], where)
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: expected an object"]
        found = []
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                found += problems(item, properties[key], f"{where}.{key}")
            elif "additionalProperties" in schema:
                found += problems(item, schema["additionalProperties"], f"{where}.{key}")
            else:
                found.append(f"{where}.{key}: not in the schema")
        return found
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where}: expected an array"]
        return [
            p
            for n, item in enumerate(value)
            for p in problems(item, schema["items"], f"{where}[{n}]")
        ]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: expected a string, got {value!r}"]
        if "enum" in schema and value not in schema["enum"]:
            return [f"{where}: {value!r} is not one of the enum"]
        pattern = FORMATS.get(schema.get("format", ""))
        if pattern and not pattern.match(value):
            return [f"{where}: {value!r} is not a {schema['format']}"]
        return []
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected an integer, got {value!r}"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{where}: expected a boolean"]
    if kind == "any":
        return []
    raise AssertionError(f"schema type {kind!r} not handled at {where}")


def error_problems(body: object) -> list[str]:
    """Google's JSON error envelope: ``{"error": Status + "status"}``."""
    if not isinstance(body, dict) or set(body) != {"error"}:
        return ["not an error envelope"]
    error = dict(body["error"])
    status = error.pop("status", None)
    found = [] if status in RPC_CODES else [f"unknown status {status!r}"]
    return found + problems(error, {"$ref": "Status"}, "$.error")


def test_the_validator_catches_what_it_should():
    good = {
        "count": "12",
        "interval": {"startTime": "2026-01-01T00:00:00Z", "startUtcOffset": "0s"},
    }
    assert problems(good, {"$ref": "Steps"}) == []
    assert problems({"count": 12}, {"$ref": "Steps"}) == ["$.count: expected a string, got 12"]
    assert problems({"count": "1x"}, {"$ref": "Steps"}) == ["$.count: '1x' is not a int64"]
    assert problems({"extra": 1}, {"$ref": "Steps"}) == ["$.extra: not in the schema"]
    bad_enum = {"recordingMethod": "GUESSED"}
    assert problems(bad_enum, {"$ref": "DataSource"}) == [
        "$.recordingMethod: 'GUESSED' is not one of the enum"
    ]
    offset = {"interval": {"startUtcOffset": "1h"}}
    assert problems(offset, {"$ref": "Steps"}) == [
        "$.interval.startUtcOffset: '1h' is not a google-duration"
    ]


def test_routes_follow_the_discovery_document():
    state = GoogleSandboxState()
    app = create_app(state)
    routes = {
        (method, route.path) for route in app.routes for method in getattr(route, "methods", ())
    }
    users = DOC["resources"]["users"]
    points = users["resources"]["dataTypes"]["resources"]["dataPoints"]["methods"]
    used = [users["methods"]["getIdentity"], users["methods"]["getSettings"]]
    used += [points[name] for name in ("list", "reconcile", "dailyRollUp")]
    for method in used:
        path = "/" + method["flatPath"].replace("{usersId}", "{user}").replace(
            "{dataTypesId}", "steps"
        )
        assert (method["httpMethod"], path) in routes, path


@pytest.fixture(scope="module")
def answers() -> list[tuple[str, int, object]]:
    """(what, status, body) for a run over every endpoint, quirk and fault."""
    state = GoogleSandboxState(seed=3)
    user = state.add_user("ana", time_zone="America/New_York")
    user.manual[date(2026, 3, 7)] = 1500
    user.travel[date(2026, 3, 9)] = "Asia/Kolkata"  # a +05:30 offset
    user.empty_pages = 1
    collected: list[tuple[str, int, object]] = []
    with serve_in_thread(create_app(state)) as base, httpx.Client(base_url=base) as http:
        urls = sandbox_settings(base, state)
        token = state.issue_tokens("ana")
        auth = {"Authorization": f"Bearer {token['access_token']}"}

        def keep(what: str, response: httpx.Response) -> dict:
            body = response.json()
            collected.append((what, response.status_code, body))
            return body

        keep("Identity", http.get("/v4/users/me/identity", headers=auth))
        keep("Settings", http.get("/v4/users/me/settings", headers=auth))
        for kind, path in (
            ("ListDataPointsResponse", ""),
            ("ReconcileDataPointsResponse", ":reconcile"),
        ):
            params = {
                "filter": 'steps.interval.civil_start_time >= "2026-03-07" AND '
                'steps.interval.civil_start_time < "2026-03-10"',
                "pageSize": "1000",
            }
            if path:
                params["dataSourceFamily"] = "users/me/dataSourceFamilies/google-wearables"
            while True:
                body = keep(kind, http.get(STEPS_PATH + path, params=params, headers=auth))
                if "nextPageToken" not in body:
                    break
                params["pageToken"] = body["nextPageToken"]
        physical = {
            "filter": 'steps.interval.start_time >= "2026-03-08T06:00:00Z" AND '
            'steps.interval.start_time < "2026-03-08T08:00:00Z"'
        }
        keep("ListDataPointsResponse", http.get(STEPS_PATH, params=physical, headers=auth))
        rollup = {
            "range": {
                "start": {"date": {"year": 2026, "month": 2, "day": 20}},
                "end": {"date": {"year": 2026, "month": 3, "day": 12}},
            },
            "windowSizeDays": 1,
            "pageSize": 7,
        }
        while True:
            body = keep(
                "DailyRollUpDataPointsResponse",
                http.post(STEPS_PATH + ":dailyRollUp", json=rollup, headers=auth),
            )
            if "nextPageToken" not in body:
                break
            rollup["pageToken"] = body["nextPageToken"]

        too_long = {
            "range": {**rollup["range"], "start": {"date": {"year": 2025, "month": 1, "day": 1}}}
        }
        keep("error", http.post(STEPS_PATH + ":dailyRollUp", json=too_long, headers=auth))
        keep("error", http.get(STEPS_PATH, params={"filter": "steps > 3"}, headers=auth))
        keep("error", http.get("/v4/users/me/identity", headers={"Authorization": "Bearer nope"}))
        narrow = state.issue_tokens("ana", scopes=(ACTIVITY_SCOPE,))
        narrow_auth = {"Authorization": f"Bearer {narrow['access_token']}"}
        keep("error", http.get("/v4/users/me/settings", headers=narrow_auth))
        user.faults += [Fault.rate_limited("5"), Fault.server_error(), Fault.legacy_gone()]
        for _ in range(3):
            keep("error", http.get("/v4/users/me/identity", headers=auth))

        client = {"client_id": state.client_id, "client_secret": state.client_secret}
        refresh = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"], **client}
        keep("token", http.post(urls["google_oauth_token_url"], data=refresh))
        keep("oauth-error", http.post(urls["google_oauth_token_url"], data=refresh))
    return collected


def test_every_data_answer_matches_its_schema(answers):
    data = [(what, status, body) for what, status, body in answers if what[0].isupper()]
    assert {what for what, _, _ in data} == {
        "Identity",
        "Settings",
        "ListDataPointsResponse",
        "ReconcileDataPointsResponse",
        "DailyRollUpDataPointsResponse",
    }
    for what, status, body in data:
        assert status == 200, (what, body)
        assert problems(body, {"$ref": what}) == [], what
    lists = [body for what, _, body in data if what == "ListDataPointsResponse"]
    assert lists[0] == {"dataPoints": [], "nextPageToken": lists[0]["nextPageToken"]}
    assert sum(len(body["dataPoints"]) for body in lists) > 1000  # several real pages
    methods = {p["dataSource"]["recordingMethod"] for body in lists for p in body["dataPoints"]}
    assert methods == {"MANUAL", "PASSIVELY_MEASURED"}


def test_every_error_is_a_google_rpc_status(answers):
    errors = [(status, body) for what, status, body in answers if what == "error"]
    assert [status for status, _ in errors] == [400, 400, 401, 403, 429, 500, 410]
    for _, body in errors:
        assert error_problems(body) == []


def test_oauth_answers_follow_rfc_6749(answers):
    (token,) = [body for what, _, body in answers if what == "token"]
    assert set(token) == {"access_token", "expires_in", "refresh_token", "scope", "token_type"}
    assert isinstance(token["expires_in"], int) and token["token_type"] == "Bearer"
    (error,) = [(status, body) for what, status, body in answers if what == "oauth-error"]
    assert error == (
        400,
        {"error": "invalid_grant", "error_description": error[1]["error_description"]},
    )
