"""One mapping from errors to answers: HTML pages for people, RFC 9457 problem
details (``application/problem+json``) under ``/api/``.

``NotFound`` is 404 and any other ``StridewiseError`` 422 (bad input a user can
fix); HTTP errors keep their status; anything else is a logged 500 that says
nothing of its cause."""

from __future__ import annotations

from http import HTTPStatus

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from core.errors import NotFound, StridewiseError
from stridewise.web.templating import render

log = structlog.get_logger("stridewise.web")
PROBLEM_TYPE = "application/problem+json"


class Problem(BaseModel):
    """RFC 9457 problem details, as the API answers every error."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict] | None = None


# For the OpenAPI document: what every API route may answer besides success.
PROBLEM_RESPONSES = {
    code: {"model": Problem, "content": {PROBLEM_TYPE: {}}, "description": HTTPStatus(code).phrase}
    for code in (401, 404, 422)
}


def route_of(request: Request) -> str:
    """The matched route's template (``/invite/{token}``), never the path itself:
    paths of patient pages carry one-time link tokens, which no log line may hold."""
    return getattr(request.scope.get("route"), "path", "unmatched")


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def problem(request: Request, status: int, detail: str | None, **extra) -> JSONResponse:
    body = Problem(
        title=HTTPStatus(status).phrase, status=status, detail=detail,
        instance=request.url.path, **extra,
    )  # fmt: skip
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_TYPE
    )


# Headings for people; API problems keep the HTTP phrase as their title.
_PAGE_TITLES = {404: "Page not found", 422: "That could not be done"}


def error_answer(
    request: Request, status: int, detail: str | None, headers: dict | None = None, **extra
) -> Response:
    if is_api(request):
        response = problem(request, status, detail, **extra)
    else:
        response = render(
            request, "error.html", status_code=status,
            title=_PAGE_TITLES.get(status, HTTPStatus(status).phrase), status=status,
            detail=_sentence(detail, status),
        )  # fmt: skip
    response.headers.update(headers or {})
    return response


def _sentence(detail: str | None, status: int) -> str | None:
    """The detail as a sentence for the page; none when it only repeats the status."""
    if not detail or detail == HTTPStatus(status).phrase:
        return None
    return detail[:1].upper() + detail[1:]


def install_error_handlers(app: FastAPI) -> None:
    async def not_found(request: Request, err: NotFound) -> Response:
        return error_answer(request, 404, str(err))

    async def invalid(request: Request, err: StridewiseError) -> Response:
        return error_answer(request, 422, str(err))

    async def http_error(request: Request, err: HTTPException) -> Response:
        if err.status_code == 401 and not is_api(request):
            # A person who is not signed in gets the sign-in form, still as a 401.
            return render(request, "therapist/login.html", status_code=401,
                          next=request.url.path, email="", error=None)  # fmt: skip
        detail = err.detail if isinstance(err.detail, str) else None
        return error_answer(request, err.status_code, detail, getattr(err, "headers", None))

    async def validation(request: Request, err: RequestValidationError) -> Response:
        errors = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"]} for e in err.errors()]
        detail = "; ".join(f"{'.'.join(e['loc'][1:]) or e['loc'][0]}: {e['msg']}" for e in errors)
        return error_answer(request, 422, detail, errors=errors if is_api(request) else None)

    async def unexpected(request: Request, err: Exception) -> Response:
        log.exception("web.unexpected", route=route_of(request), error_type=type(err).__name__)
        return error_answer(request, 500, "Something went wrong on our side.")

    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(StridewiseError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(Exception, unexpected)
