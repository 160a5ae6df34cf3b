"""Browser security: cookie attributes, security headers, CSRF.

CSRF is a double submit bound by HMAC: every browser gets an ``HttpOnly`` cookie
holding a random secret, every form carries ``form_token(secret)`` in a hidden
``csrf_token`` field (templates: ``{{ csrf_field }}``), and every unsafe request
through a router guarded by :func:`csrf_protect` must match. A page from another
site can neither read the cookie nor compute the token."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stridewise.settings import Settings
from stridewise.web.signing import form_token, random_token, sign, unsign

CSRF_COOKIE = "sw_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
CSRF_MAX_AGE_S = 14 * 24 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# No inline script, no third-party anything: every script and style ships in the package.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


@dataclass(frozen=True)
class CookiePolicy:
    """Attributes every cookie of ours gets; ``Secure`` (and HSTS) behind https."""

    secure: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> CookiePolicy:
        return cls(secure=urlsplit(settings.public_url).scheme == "https")

    def set(self, response: Response, name: str, value: str, max_age_s: float | None) -> None:
        response.set_cookie(
            name,
            value,
            max_age=int(max_age_s) if max_age_s is not None else None,
            httponly=True,
            samesite="lax",
            secure=self.secure,
            path="/",
        )

    def clear(self, response: Response, name: str) -> None:
        response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=self.secure)


class BrowserSecurity:
    """ASGI middleware: gives each browser its CSRF secret (``request.state.csrf_secret``)
    and adds the security headers to every response."""

    def __init__(self, app: ASGIApp, key: bytes, cookies: CookiePolicy) -> None:
        self.app = app
        self.key = key
        self.cookies = cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        signed = request.cookies.get(CSRF_COOKIE)
        secret = unsign(self.key, signed, CSRF_MAX_AGE_S) if signed else None
        fresh = secret is None
        if fresh:
            secret = random_token()
        scope.setdefault("state", {})["csrf_secret"] = secret

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers.extend(self._headers(scope["path"]))
                if fresh:
                    cookie = Response()
                    self.cookies.set(cookie, CSRF_COOKIE, sign(self.key, secret), CSRF_MAX_AGE_S)
                    headers.extend((k, v) for k, v in cookie.raw_headers if k == b"set-cookie")
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _headers(self, path: str) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"DENY"),
        ]
        if not path.startswith("/docs"):  # Swagger UI needs its own script and style
            headers.append((b"content-security-policy", CSP.encode()))
        if self.cookies.secure:
            headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
        return headers


def csrf_token_for(request: Request) -> str:
    return form_token(request.app.state.signing_key, request.state.csrf_secret)


async def csrf_protect(request: Request) -> None:
    """Router dependency: unsafe methods need the form field (or header) matching
    this browser's CSRF cookie; 403 otherwise. Safe methods pass."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = (await request.form()).get(CSRF_FIELD)
    expected = csrf_token_for(request)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "This form has expired or did not come from stridewise. "
                                 "Go back, reload the page and try again.")  # fmt: skip
