"""Recording an operator's action in the audit trail, in the action's own transaction.

An endpoint that changes something calls `AuditTrail.record` once its service call has
returned: the event is added to the request's session, so the request's commit writes both
and a rollback neither. Snapshots are the action's before and after (a response schema or a
mapping); the event keeps the fields that differ, every secret replaced by `REDACTED`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, SecretStr
from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.api.pagination import PageRequest, PageResult
from ridgeline.audit import repository
from ridgeline.audit.repository import AuditFilter
from ridgeline.auth.principal import OperatorPrincipal
from ridgeline.clock import Clock
from ridgeline.db.tenancy import TenantScope
from ridgeline.models.audit import AuditEvent

REDACTED = "[redacted]"
# What our response schemas already answer in place of a secret (a channel's, a POS config's).
_MASKED = "********"
# Field names whose values are secrets wherever they appear, even as plain strings.
_SECRET_NAME = re.compile(
    r"password|secret|token|api_?key|private|credential|routing_key|consumer_key|^key$",
    re.IGNORECASE,
)
# Fields every row has that say nothing about the action.
_UNAUDITED = frozenset({"updated_at"})
# Events deleted per statement by the retention purge, so that no transaction holds long locks.
PURGE_BATCH = 1000

Snapshot = BaseModel | Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class AuditTrail:
    """The request's side of the trail: its session, clock, request id and client address."""

    session: AsyncSession
    clock: Clock
    request_id: str | None
    client_address: str | None

    async def record(
        self,
        caller: OperatorPrincipal,
        action: str,
        *,
        organization_id: uuid.UUID | None = None,
        store_id: uuid.UUID | None = None,
        target: uuid.UUID | str | None = None,
        before: Snapshot = None,
        after: Snapshot = None,
    ) -> AuditEvent:
        """Adds the event of `caller` doing `action`. The organization is the store's when a
        store is named and no organization given, else the caller's own."""
        if organization_id is None and store_id is not None:
            organization_id = await repository.store_organization(
                self.session, caller.scope, store_id
            )
        event = AuditEvent(
            organization_id=organization_id or caller.organization_id,
            store_id=store_id,
            actor_id=caller.operator_id,
            actor_role=caller.role.value,
            action=action,
            target_id=None if target is None else str(target),
            request_id=self.request_id,
            client_address=self.client_address,
            changes=changed_fields(snapshot(before), snapshot(after)),
            created_at=self.clock.now(),
        )
        self.session.add(event)
        return event

    async def record_kiosk(
        self,
        caller: OperatorPrincipal,
        action: str,
        kiosk: KioskLike,
        *,
        target: uuid.UUID | None = None,
        before: Snapshot = None,
        after: Snapshot = None,
    ) -> AuditEvent:
        """`record` for an action on a kiosk or one of its parts (`target`, e.g. its key): in
        the kiosk's store and organization."""
        return await self.record(
            caller,
            action,
            organization_id=kiosk.organization_id,
            store_id=kiosk.store_id,
            target=kiosk.id if target is None else target,
            before=before,
            after=after,
        )


class KioskLike(Protocol):
    """A kiosk row or its API view: what an event on it is filed under."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def organization_id(self) -> uuid.UUID: ...
    @property
    def store_id(self) -> uuid.UUID: ...


def snapshot(value: Snapshot) -> dict[str, Any]:
    """`value` as JSON-ready fields, secrets redacted."""
    if value is None:
        return {}
    fields = value.model_dump() if isinstance(value, BaseModel) else dict(value)
    redacted: dict[str, Any] = to_jsonable_python(redact(fields))
    return redacted


def redact(value: Any) -> Any:
    """`value` with every secret replaced: `SecretStr`s, fields named like a secret, and the
    mask our schemas already show for one."""
    if isinstance(value, SecretStr) or value == _MASKED:
        return REDACTED
    if isinstance(value, Mapping):
        return {
            name: REDACTED if _is_secret_name(name) and item is not None else redact(item)
            for name, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def _is_secret_name(name: object) -> bool:
    return isinstance(name, str) and _SECRET_NAME.search(name) is not None


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The fields whose value differs, each side with the ones it has (a creation has no
    before, a deletion no after)."""
    names = sorted((before.keys() | after.keys()) - _UNAUDITED)
    changed = [name for name in names if before.get(name, ...) != after.get(name, ...)]
    return {
        "before": {name: before[name] for name in changed if name in before},
        "after": {name: after[name] for name in changed if name in after},
    }


async def list_events(
    session: AsyncSession, scope: TenantScope, page: PageRequest, filters: AuditFilter
) -> tuple[PageResult[AuditEvent], dict[uuid.UUID, str]]:
    """One page of events, and the current email of each of their actors still on file."""
    result = await repository.list_events(session, scope, page, filters)
    emails = await repository.operator_emails(session, {event.actor_id for event in result.items})
    return result, emails


async def purge_events(session: AsyncSession, before: datetime) -> int:
    """Deletes one batch of events older than `before`; returns how many."""
    return await repository.delete_events_before(session, before, limit=PURGE_BATCH)


def retention_cutoff(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)
