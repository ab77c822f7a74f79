"""The error answers every operation can give, listed by status in the OpenAPI schema (added to
what FastAPI generates, the way rate_limits.py adds 429). `4XX` and `5XX` stay as the catch-all
for codes particular to a route (409, 410 ...); these are the ones that follow from the shape of
the operation itself (docs/errors.md)."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI

from ridgeline.auth.dependencies import PUBLIC_MARK

_ENVELOPE = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
_DESCRIPTIONS = {
    "400": "`MALFORMED_JSON` (the body is not JSON or not UTF-8) or `INVALID_HOST`.",
    "401": "`AUTHENTICATION_REQUIRED`, `INVALID_TOKEN`, `TOKEN_EXPIRED` or `TOKEN_REVOKED`.",
    "403": "`FORBIDDEN`: this caller may not do this.",
    "404": "`NOT_FOUND`: no such object, or not one this caller can see.",
    "413": "`PAYLOAD_TOO_LARGE`: the body is over `RIDGELINE_MAX_BODY_BYTES`.",
    "415": "`UNSUPPORTED_MEDIA_TYPE`: the body is not JSON.",
    "422": "`VALIDATION_ERROR`: a parameter or the body is not valid (`details.fields`).",
}


def _statuses(operation: dict[str, Any]) -> list[str]:
    parameters = operation.get("parameters", [])
    body = "requestBody" in operation
    statuses = ["400"]
    if not operation.get(PUBLIC_MARK):
        statuses += ["401", "403"]
    if any(parameter.get("in") == "path" for parameter in parameters):
        statuses.append("404")
    if body:
        statuses += ["413", "415"]
    if body or parameters:
        statuses.append("422")
    return statuses


def document_errors(app: FastAPI) -> None:
    """Every operation lists the error statuses its shape gives: 401/403 when it needs a
    caller, 404 with an id in its path, 413/415 with a body, 422 with any input, 400 always
    (a `Host` not allowed). A status the route documents itself is left as it is."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.setdefault("responses", {})
                    for status in _statuses(operation):
                        responses.setdefault(
                            status,
                            {
                                "description": _DESCRIPTIONS[status],
                                "content": copy.deepcopy(_ENVELOPE),
                            },
                        )
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]
