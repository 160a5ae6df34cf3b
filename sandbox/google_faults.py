"""Scriptable misbehaviour for the Google Health sandbox, per account.

A test queues faults on a sandbox user; each API or token call whose path
matches takes the first matching fault (``times`` counts down), so a script
reads like the story it tells: "two 429s, then a slow answer, then fine".
"""

from __future__ import annotations

from dataclasses import dataclass

# HTTP status -> google.rpc.Code name, as Google's JSON error mapping spells it.
RPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    410: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass(slots=True)
class Fault:
    status: int | None = None  # answer with this status and a google.rpc.Status body
    retry_after: str | None = None  # the Retry-After header to send (429)
    delay_s: float = 0.0  # wait this long before answering (then answer normally)
    malformed: bool = False  # answer 200 with a body that is not JSON
    path: str = "/v4/"  # only calls whose URL path contains this (e.g. "/token")
    times: int = 1

    @classmethod
    def rate_limited(cls, retry_after: str | None = None, **kw) -> Fault:
        return cls(status=429, retry_after=retry_after, **kw)

    @classmethod
    def server_error(cls, status: int = 500, **kw) -> Fault:
        return cls(status=status, **kw)

    @classmethod
    def slow(cls, seconds: float, **kw) -> Fault:
        return cls(delay_s=seconds, **kw)

    @classmethod
    def malformed_json(cls, **kw) -> Fault:
        return cls(malformed=True, **kw)

    @classmethod
    def legacy_gone(cls, **kw) -> Fault:
        """What a legacy Fitbit Web API endpoint answers since 2026-11-02."""
        return cls(status=410, **kw)


def take_fault(faults: list[Fault], path: str) -> Fault | None:
    """Consume and return the first queued fault that applies to ``path``."""
    for fault in faults:
        if fault.path in path:
            fault.times -= 1
            if fault.times <= 0:
                faults.remove(fault)
            return fault
    return None


def rpc_error(code: int, message: str, reason: str | None = None) -> dict:
    """A ``google.rpc.Status`` error body as the Google APIs send it."""
    error: dict = {"code": code, "message": message, "status": RPC_STATUS.get(code, "UNKNOWN")}
    if reason:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "health.googleapis.com",
            }
        ]
    return {"error": error}
