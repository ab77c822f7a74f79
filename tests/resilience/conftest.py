from __future__ import annotations

import uuid

import pytest

from ridgeline.db.engine import Database
from tests.factories import make_organization, make_store


@pytest.fixture
async def store_id(database: Database) -> uuid.UUID:
    """A store whose breaker the test drives (the breaker row references it)."""
    store = await make_store(database, await make_organization(database))
    return store.id
