"""The success envelope and the list page shape shared by every endpoint."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    status: Literal["success"] = "success"
    data: T


class PageMeta(BaseModel):
    next_cursor: str | None
    count: int


class Page(BaseModel, Generic[T]):
    status: Literal["success"] = "success"
    data: list[T]
    meta: PageMeta


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: dict[str, object]


class ErrorEnvelope(BaseModel):
    """Documents the error body in OpenAPI; every error response has this shape."""

    status: Literal["error"] = "error"
    error: ErrorInfo


class RequestBody(BaseModel):
    """Base of request bodies: unknown fields are refused, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_nul(cls, value: object) -> object:
        # PostgreSQL cannot store NUL in text: refused here with the field's name (422), not
        # as a 500 from the database (the schema fuzz found it: docs/security.md#schema-fuzzing).
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


def _null_only_where_accepted(schema: dict[str, Any], model: type[Any]) -> None:
    """A partial update's fields are optional (`X | None = None`, absent meaning unchanged),
    which the generated schema shows as nullable; `null` itself is refused for every field
    outside `nullable_fields`, so the schema says so: those fields lose their null branch."""
    nullable: frozenset[str] = getattr(model, "nullable_fields", frozenset())
    for name, prop in schema.get("properties", {}).items():
        choices = prop.get("anyOf")
        if name in nullable or not isinstance(choices, list):
            continue
        kept = [choice for choice in choices if choice != {"type": "null"}]
        if len(kept) == len(choices):
            continue
        del prop["anyOf"]
        if len(kept) == 1:
            prop.update(kept[0])
        else:
            prop["anyOf"] = kept
        if prop.get("default", ...) is None:
            del prop["default"]


class PatchBody(RequestBody):
    """Base of partial updates: absent fields are left alone, and `null` is refused for
    fields that cannot be empty (instead of reaching the database as a NOT NULL violation)."""

    model_config = ConfigDict(json_schema_extra=_null_only_where_accepted)

    nullable_fields: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_null_for_required(cls, value: object, info: ValidationInfo) -> object:
        # A field validator, not a model one, so the error points at the field (`loc` ends in
        # its name) and a form can show it beside that field. Fields left out are not
        # validated, so only an explicit null is refused.
        if value is None and info.field_name not in cls.nullable_fields:
            raise ValueError(f"{info.field_name} cannot be null")
        return value

    def changes(self) -> dict[str, object]:
        return self.model_dump(exclude_unset=True)


def envelope(data: T) -> Envelope[T]:
    return Envelope[T](data=data)
