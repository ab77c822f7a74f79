"""Cursor paging over (created_at, id): stable under inserts, opaque to clients."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.api.schemas import Page, PageMeta
from ridgeline.db.base import EntityMixin
from ridgeline.errors import ValidationFailed

MAX_LIMIT = 200


M = TypeVar("M", bound=EntityMixin)


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int
    cursor: str | None


async def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`meta.next_cursor` of the previous page.")
    ] = None,
) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor)


@dataclass(frozen=True, slots=True)
class PageResult(Generic[M]):
    items: Sequence[M]
    next_cursor: str | None


def encode_cursor(created_at: datetime, item_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(item_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, item_id = json.loads(raw)
        if not isinstance(created, str) or not isinstance(item_id, str):
            raise TypeError("cursor parts must be strings")
        when = datetime.fromisoformat(created)
        if when.tzinfo is None:
            raise ValueError("naive cursor time")
        # Normalised here so that a time outside the UTC range fails now, not when bound.
        return when.astimezone(UTC), uuid.UUID(item_id)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValidationFailed.for_fields(
            [{"loc": ["query", "cursor"], "message": "Invalid cursor.", "type": "cursor"}]
        ) from exc


async def paginate(
    session: AsyncSession,
    statement: Select[M],
    model: type[M],
    page: PageRequest,
    *,
    newest_first: bool = False,
) -> PageResult[M]:
    """One page of `statement` in creation order (or newest first), by (created_at, id)."""
    created: Any = model.created_at
    ident: Any = model.id
    if page.cursor is not None:
        cursor_time, cursor_id = decode_cursor(page.cursor)
        if newest_first:
            statement = statement.where(
                or_(created < cursor_time, and_(created == cursor_time, ident < cursor_id))
            )
        else:
            statement = statement.where(
                or_(created > cursor_time, and_(created == cursor_time, ident > cursor_id))
            )
    order = (created.desc(), ident.desc()) if newest_first else (created, ident)
    statement = statement.order_by(*order).limit(page.limit + 1)
    rows = list((await session.scalars(statement)).all())
    if len(rows) <= page.limit:
        return PageResult(items=rows, next_cursor=None)
    last = rows[page.limit - 1]
    return PageResult(items=rows[: page.limit], next_cursor=encode_cursor(last.created_at, last.id))


S = TypeVar("S", bound=BaseModel)


def page_of(result: PageResult[Any], schema: type[S]) -> Page[S]:
    """The list envelope for one page, each item rendered through `schema`."""
    items = [schema.model_validate(item) for item in result.items]
    return Page[S](data=items, meta=PageMeta(next_cursor=result.next_cursor, count=len(items)))


PageDep = Annotated[PageRequest, Depends(page_request)]
