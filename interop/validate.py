"""Structural validation of FHIR resources with ``fhir.resources`` (its R4B models,
the closest it ships to R4 since 7.0): every exported resource passes through here, so
a builder bug stops the export instead of reaching an EHR."""

from __future__ import annotations

from functools import cache

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from core.errors import StridewiseError


@cache
def _model(resource_type: str):
    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError) as err:
        raise StridewiseError(f"{resource_type!r} is not a FHIR R4 resource type") from err


def problem(resource: object) -> str | None:
    """Why ``resource`` is not a valid FHIR resource, in one line, or ``None``."""
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        return "not a FHIR resource (no resourceType)"
    try:
        _model(resource["resourceType"]).model_validate(resource)
    except StridewiseError as err:
        return str(err)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "__root__")
        return f"{where or resource['resourceType']}: {first.get('msg', 'invalid')}"
    return None


def checked(resource: dict) -> dict:
    """``resource`` itself once it validates; an export never emits an invalid one."""
    reason = problem(resource)
    if reason:
        raise StridewiseError(
            f"invalid {resource.get('resourceType')} {resource.get('id')}: {reason}"
        )
    return resource
