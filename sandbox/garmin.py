"""Garmin Connect played on loopback, for tests, the demo and the benchmark.

Serves what garminconnect 0.3.2 calls, in the shapes of ``providers.md`` §2:
the SSO mobile login and MFA endpoints, the DI OAuth token endpoint (service
ticket and refresh grants), socialProfile, user-settings, devices,
``stats/steps/daily`` (400 beyond 28 days, null totals on days without data),
``dailySummaryChart`` and ``usersummary/daily``, from a
:class:`~sandbox.garmin_state.GarminSandbox`.

Scriptable per user: faults on matching paths (any status, or a 200 with a
malformed body), expired access tokens (a 401 the library refreshes away), a
revoked refresh token, travel days (``zones``), days not worn, late uploads
(``last_sync`` in the past), privacy protection; and for the whole server,
rate-limited logins. Start with ``serve_in_thread(create_app(state))``.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from sandbox.garmin_state import (
    MAX_STATS_DAYS,
    GarminSandbox,
    GarminUser,
)

SSO_COOKIE = "GARMIN-SSO"
TOKEN_PATH = "/di-oauth2-service/oauth/token"


class _QuietUpgrades(logging.Filter):
    """curl_cffi (the library's login client) asks for HTTP/2 upgrades, which uvicorn
    refuses with a warning per request; the refusal is fine, the noise is not."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "upgrade request" not in message and "WebSocket library" not in message


logging.getLogger("uvicorn.error").addFilter(_QuietUpgrades())


def sandbox_settings(base_url: str) -> dict[str, str]:
    """The settings that point stridewise's Garmin adapter and login at a sandbox."""
    return {
        "garmin_api_url": base_url,
        "garmin_sso_url": base_url,
        "garmin_token_url": base_url + TOKEN_PATH,
    }


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


def create_app(state: GarminSandbox) -> FastAPI:
    app = FastAPI(title="Garmin Connect sandbox")

    @app.middleware("http")
    async def data_calls(request: Request, call_next):
        """Authenticate data calls and play the user's scripted faults."""
        path = request.url.path
        if not path.startswith(
            ("/userprofile-service", "/device-service", "/usersummary-service", "/wellness-service")
        ):
            return await call_next(request)
        state.calls.append(f"{path}?{request.url.query}")
        user = state.user_for(request.headers.get("authorization"))
        if user is None:
            return _error(401, "Unauthorized")
        fault = state.take_fault(user, path)
        if fault is not None:
            if fault.body is not None:
                return Response(fault.body, fault.status, media_type="application/json")
            return _error(fault.status, f"scripted fault {fault.status}")
        request.state.user = user
        return await call_next(request)

    def owner(request: Request, display_name: str | None = None) -> GarminUser:
        """The token's user; a display name in the path must be theirs (else 403)."""
        user: GarminUser = request.state.user
        if display_name is not None and display_name != user.display_name:
            raise HTTPException(403, "Forbidden")
        return user

    @app.get("/userprofile-service/socialProfile")
    def social_profile(request: Request) -> Any:
        user = owner(request)
        return {
            "displayName": user.display_name,
            "fullName": "Sandbox Walker",
            "userName": user.email,
            "id": 90001,
        }

    @app.get("/userprofile-service/userprofile/user-settings")
    def user_settings(request: Request) -> Any:
        return {"id": 90001, "userData": {"measurementSystem": "metric"}}

    @app.get("/device-service/deviceregistration/devices")
    def devices(request: Request) -> Any:
        return owner(request).devices

    @app.get("/usersummary-service/stats/steps/daily/{first}/{last}")
    def daily_steps(request: Request, first: date, last: date) -> Any:
        user = owner(request)
        span = (last - first).days + 1
        if span < 1 or span > MAX_STATS_DAYS:
            return _error(400, f"Date range must be 1 to {MAX_STATS_DAYS} days")
        rows = []
        for offset in range(span):
            day = first + timedelta(days=offset)
            total = state.total(user, day)
            rows.append(
                {
                    "calendarDate": day.isoformat(),
                    "totalSteps": total,
                    "totalDistance": round(total * 0.75) if total is not None else None,
                    "stepGoal": 7500,
                }
            )
        return rows

    @app.get("/wellness-service/wellness/dailySummaryChart/{display_name}")
    def summary_chart(request: Request, display_name: str, date: date) -> Any:
        return state.buckets(owner(request, display_name), date)

    @app.get("/usersummary-service/usersummary/daily/{display_name}")
    def daily_summary(request: Request, display_name: str, calendarDate: date) -> Any:
        return state.summary(owner(request, display_name), calendarDate)

    @app.post(TOKEN_PATH)
    async def token(request: Request) -> Any:
        form = {k: str(v) for k, v in (await request.form()).items()}
        granted = state.grant(form)
        if granted is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return granted

    def login_answer(body: dict) -> JSONResponse:
        user = next((u for u in state.users.values() if u.email == body.get("username")), None)
        if user is None or user.password != body.get("password"):
            return JSONResponse({"responseStatus": {"type": "INVALID_USERNAME_PASSWORD"}})
        if user.mfa_code is None:
            return JSONResponse(
                {
                    "responseStatus": {"type": "SUCCESSFUL"},
                    "serviceTicketId": state.ticket_for(user.display_name),
                }
            )
        answer = JSONResponse(
            {
                "responseStatus": {"type": "MFA_REQUIRED"},
                "customerMfaInfo": {"mfaLastMethodUsed": "email"},
            }
        )
        answer.set_cookie(SSO_COOKIE, state.start_mfa(user.display_name))
        return answer

    @app.post("/mobile/api/login")
    @app.post("/portal/api/login")
    async def login(request: Request) -> Any:
        state.logins += 1
        if state.rate_limit_logins:
            return _error(429, "Too Many Requests")
        return login_answer(await request.json())

    @app.post("/mobile/api/mfa/verifyCode")
    @app.post("/portal/api/mfa/verifyCode")
    async def verify_mfa(request: Request) -> Any:
        if state.rate_limit_logins:
            return _error(429, "Too Many Requests")
        cookie = request.cookies.get(SSO_COOKIE)
        user = state.finish_mfa(cookie)
        body = await request.json()
        if user is None or body.get("mfaVerificationCode") != user.mfa_code:
            return JSONResponse({"responseStatus": {"type": "INVALID_MFA_CODE"}})
        state.drop_mfa(cookie)
        return JSONResponse(
            {
                "responseStatus": {"type": "SUCCESSFUL"},
                "serviceTicketId": state.ticket_for(user.display_name),
            }
        )

    @app.get("/sso/embed")
    @app.get("/portal/sso/en-US/sign-in")
    def web_login() -> Any:
        # Garmin's web logins sit behind Cloudflare, which refuses scripted clients.
        return _error(429, "Too Many Requests")

    return app
