"""The platform organization: where alerts about Ridgeline itself go (dead jobs, a job backlog,
and the process figures of the monitoring issue), as opposed to a retailer's stores.

It is an ordinary organization row with a slug no API request can take (`ridgeline.platform`:
slugs created over the API never contain a dot), made the first time a platform alert is
raised. Platform admins see it like any organization: they give it channels, an escalation
policy and silences with the same API, passing its `organization_id`.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.alerts import repository
from ridgeline.models.organization import Organization

PLATFORM_SLUG = "ridgeline.platform"
PLATFORM_NAME = "Ridgeline platform"


async def platform_organization_id(session: AsyncSession, *, create: bool) -> uuid.UUID | None:
    """The platform organization's id; made when missing and `create` is set."""
    found = await repository.organization_by_slug(session, PLATFORM_SLUG)
    while found is None and create:
        row = Organization(id=uuid.uuid4(), name=PLATFORM_NAME, slug=PLATFORM_SLUG)
        if await repository.add_if_absent(session, row):
            return row.id
        found = await repository.organization_by_slug(session, PLATFORM_SLUG)
    return found
