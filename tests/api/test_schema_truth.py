"""The OpenAPI schema says what the API accepts: a partial update's field shows as nullable
only where `null` is accepted, and the POS provider lists the installed dialects. (The schema
fuzz found both: it sent `null` where the schema allowed it and got 422.)"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ridgeline.api.schemas import PatchBody
from ridgeline.app import create_app
from ridgeline.config import Settings
from ridgeline.pos.registry import adapter_names


def _subclasses(base: type[PatchBody]) -> list[type[PatchBody]]:
    found: list[type[PatchBody]] = []
    for child in base.__subclasses__():
        found.append(child)
        found.extend(_subclasses(child))
    return found


def _allows_null(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "null" or {"type": "null"} in prop.get("anyOf", [])


def _patch_fields() -> list[tuple[type[PatchBody], str]]:
    create_app(Settings(env="test"))  # imports every router, so every body is defined
    return [(model, name) for model in _subclasses(PatchBody) for name in model.model_fields]


def test_every_partial_update_is_covered() -> None:
    models = {model.__name__ for model, _ in _patch_fields()}
    assert {"StoreUpdate", "KioskUpdate", "OperatorUpdate", "EnrichmentPatch"} <= models


@pytest.mark.parametrize(
    ("model", "name"), _patch_fields(), ids=lambda value: getattr(value, "__name__", value)
)
def test_a_field_shows_null_exactly_where_null_is_accepted(
    model: type[PatchBody], name: str
) -> None:
    prop = model.model_json_schema()["properties"][name]
    accepted = True
    try:
        model.model_validate({name: None})
    except ValidationError as error:
        accepted = not any(tuple(problem["loc"]) == (name,) for problem in error.errors())
    assert _allows_null(prop) == accepted, (model.__name__, name, prop)
    assert accepted == (name in model.nullable_fields)


def test_the_pos_provider_lists_the_installed_dialects() -> None:
    schema = create_app(Settings(env="test")).openapi()
    body = schema["components"]["schemas"]["StorePosUpdate"]
    assert body["properties"]["provider"]["enum"] == adapter_names()
    assert set(adapter_names()) == {"dutchie", "treez", "blaze", "flowhub"}
