"""The POS's own total beside ours: Treez tickets and BLAZE carts answer a total (taxes included)
when the order is submitted; the order keeps it, and the operator's detail shows both and the
difference. Against the POS simulator over real HTTP, its store taxing at a rate of its own."""

from __future__ import annotations

import httpx
import pytest

from ridgeline.db.engine import Database
from ridgeline.jobs import Worker
from ridgeline.models import Store
from ridgeline.pos.client import PosConnector
from tests.assertions import data_of
from tests.factories import sign_in
from tests.orders.conftest import order_body, orderable, place, pos_shop

OUR_RATE = "10"
POS_BASIS_POINTS = 1025  # 10.25 %: the POS's rate is not the one the store set with us


@pytest.mark.parametrize("dialect", ["treez", "blaze"])
async def test_the_pos_total_is_kept_beside_ours(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
    dialect: str,
) -> None:
    shop = await pos_shop(database, connector, control, dialect)
    assert shop.sim.change(tax_basis_points=POS_BASIS_POINTS)["tax_basis_points"] == 1025
    async with database.transaction() as session:
        store = await session.get(Store, shop.store.id)
        assert store is not None
        store.tax_settings = {
            "schedules": [
                {
                    "effective_from": "2020-01-01",
                    "taxes": [{"key": "sales", "name": "Sales", "kind": "sales", "rate": OUR_RATE}],
                }
            ]
        }
    item = await orderable(database, shop.store)
    placed = data_of(await place(client, shop.kiosk, order_body(item.line(2))), 201)
    subtotal = item.price_cents * 2
    ours = subtotal + (subtotal * 10 + 50) // 100
    assert placed["total_cents"] == ours

    await worker.run_until_idle()

    admin = await sign_in(client, shop.tenant.admin)
    detail = data_of(
        await client.get(f"/api/v1/stores/{shop.store.id}/orders/{placed['id']}", headers=admin)
    )
    assert detail["status"] in ("submitted", "accepted")
    theirs = subtotal + (subtotal * POS_BASIS_POINTS + 5_000) // 10_000
    assert (detail["total_cents"], detail["pos_total_cents"]) == (ours, theirs)
    assert detail["pos_total_difference_cents"] == theirs - ours


async def test_a_pos_without_a_total_on_submission_shows_none(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
) -> None:
    # Flowhub answers an order's creation with its id and status only.
    shop = await pos_shop(database, connector, control, "flowhub")
    item = await orderable(database, shop.store)
    placed = data_of(await place(client, shop.kiosk, order_body(item.line(1))), 201)
    await worker.run_until_idle()
    admin = await sign_in(client, shop.tenant.admin)
    detail = data_of(
        await client.get(f"/api/v1/stores/{shop.store.id}/orders/{placed['id']}", headers=admin)
    )
    assert detail["pos_order_id"] is not None
    assert (detail["pos_total_cents"], detail["pos_total_difference_cents"]) == (None, None)
