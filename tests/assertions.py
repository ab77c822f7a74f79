"""Assertions on API responses shared by the HTTP tests."""

from __future__ import annotations

from typing import Any

import httpx


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the error envelope with this status and code; returns the body."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"status", "error"}, body
    assert body["status"] == "error"
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    assert body["error"]["details"]["request_id"] == response.headers["x-request-id"]
    return body


def data_of(response: httpx.Response, status: int = 200) -> Any:
    """The `data` of a success envelope with this status."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]


def field_locs(body: dict[str, Any]) -> list[list[str]]:
    """The `loc` of each failing field of a VALIDATION_ERROR body."""
    return [field["loc"] for field in body["error"]["details"]["fields"]]
