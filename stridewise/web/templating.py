"""Jinja2 templates shipped in the package; every page gets ``csrf_field`` and the
signed-in therapist (when there is one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from stridewise.web.security import CSRF_FIELD, csrf_token_for

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"


def _page_context(request: Request) -> dict[str, Any]:
    token = csrf_token_for(request)
    return {
        "csrf_token": token,
        "csrf_field": Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(token)}">'),
        "therapist": getattr(request.state, "therapist", None),
    }


templates = Jinja2Templates(directory=TEMPLATES_DIR, context_processors=[_page_context])
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True


def render(request: Request, name: str, status_code: int = 200, **context: Any):
    """A page from ``templates/<name>``; ``status_code`` for error and invalid-form pages."""
    return templates.TemplateResponse(request, name, context, status_code=status_code)
