"""fresh polling: stores still on the old default sync intervals (catalog 900 s, inventory
120 s) poll every 30 s, the new defaults (docs/sync.md, "Freshness")

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_STATES = sa.table(
    "store_sync_states",
    sa.column("catalog_interval_s", sa.Integer()),
    sa.column("inventory_interval_s", sa.Integer()),
)


def _move(column: str, old: int, new: int) -> None:
    target = _STATES.c[column]
    op.execute(_STATES.update().where(target == old).values({column: new}))


def upgrade() -> None:
    # A value equal to the old default is taken for the default, not an operator's choice.
    _move("catalog_interval_s", 900, 30)
    _move("inventory_interval_s", 120, 30)


def downgrade() -> None:
    _move("catalog_interval_s", 30, 900)
    _move("inventory_interval_s", 30, 120)
