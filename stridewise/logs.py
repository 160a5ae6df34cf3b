"""Structured logging: JSON lines in production, readable lines at a console.

Log lines carry ids (patient, account), never tokens, names or step values."""

from __future__ import annotations

import logging
import sys

import structlog

_SECRET_KEYS = {"token", "access_token", "refresh_token", "password", "credentials", "secret"}


def _drop_secrets(_logger, _method, event: dict) -> dict:
    for key in _SECRET_KEYS & event.keys():
        event[key] = "[redacted]"
    return event


def configure(log_format: str = "console", level: str = "INFO") -> None:
    renderer = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # Looked up per logger, not once: whoever swaps sys.stderr (a test runner, a
        # daemoniser) gets the lines.
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
