"""Each adapter against the POS simulator over real HTTP: the two sides of docs/pos agree.

Read-only checks share one small store per dialect; anything that changes a store (orders,
catalog edits, faults) makes its own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ridgeline.clock import FakeClock
from ridgeline.pos.base import (
    PosOrderItem,
    PosOrderReceipt,
    PosOrderRequest,
    PosOrderStatus,
)
from ridgeline.pos.capabilities import OrderDedupe, OrderLookup, PosAdapter
from ridgeline.pos.errors import (
    PosAuthFailed,
    PosNotFound,
    PosProtocolError,
    PosRejected,
    PosUnavailable,
    RecordInvalid,
)
from tests.pos.simulator import DIALECTS, SimStore, create_store, new_reference, serving_simulator

SMALL = 40
LARGE = 1100  # more than two pages of 500 for the paged dialects

# What a fresh order reads as, and the "further along" status the test moves it to.
SUBMITTED = {
    "dutchie": PosOrderStatus.ACCEPTED,
    "treez": PosOrderStatus.ACCEPTED,
    "blaze": PosOrderStatus.SUBMITTED,
    "flowhub": PosOrderStatus.ACCEPTED,
}
PROGRESS = {
    "dutchie": ("Filled", PosOrderStatus.READY),
    "treez": ("PACKED_READY", PosOrderStatus.READY),
    "blaze": ("Accepted", PosOrderStatus.ACCEPTED),
    "flowhub": ("ready", PosOrderStatus.READY),
}


@pytest.fixture(scope="module")
def control() -> Iterator[httpx.Client]:
    with serving_simulator(seed=20260314) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def shared_stores(control: httpx.Client) -> dict[str, SimStore]:
    return {dialect: create_store(control, dialect, SMALL) for dialect in DIALECTS}


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def shared(shared_stores: dict[str, SimStore], dialect: str) -> SimStore:
    return shared_stores[dialect]


@pytest.fixture
def fresh(control: httpx.Client, dialect: str) -> SimStore:
    return create_store(control, dialect, SMALL)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, connect=2)) as client:
        yield client


def listed(store: SimStore) -> dict[str, dict[str, Any]]:
    """The simulator's products the dialect lists: Flowhub's inventory leaves out inactive ones."""
    return {p["id"]: p for p in store.products() if p["active"] or store.dialect != "flowhub"}


def modified_at(store: SimStore, product: dict[str, Any]) -> datetime:
    # BLAZE's `modified` moves on stock changes too; the others' only on catalog changes.
    stamps = [product["updated_at"]]
    if store.dialect == "blaze":
        stamps.append(product["stock_updated_at"])
    return max(datetime.fromisoformat(stamp) for stamp in stamps)


async def test_verify_credentials(shared: SimStore, http: httpx.AsyncClient) -> None:
    identity = await shared.adapter(http).verify_credentials()
    expected = {
        "dutchie": str(shared.summary.get("location_id")),
        "treez": shared.config.get("dispensary"),
        "blaze": shared.summary.get("shop_id"),
        "flowhub": shared.config.get("location_id"),
    }[shared.dialect]
    assert identity.location_id == expected
    assert identity.location_name == shared.summary["name"]


def bad_credentials(dialect: str, other_key_pem: str) -> list[dict[str, Any]]:
    return {
        "dutchie": [{"api_key": "0" * 32}, {"integrator_key": "not-the-integrator"}],
        "treez": [{"private_key_pem": other_key_pem}, {"certificate_id": "someone-else"}],
        "blaze": [{"api_key": "revoked"}, {"partner_key": "not-the-partner"}],
        "flowhub": [{"api_key": "revoked"}, {"oauth_client_secret": "wrong"}],
    }[dialect]


async def test_bad_credentials_are_refused(
    shared: SimStore, http: httpx.AsyncClient, rsa_key_pem: str
) -> None:
    for changes in bad_credentials(shared.dialect, rsa_key_pem):
        with pytest.raises(PosAuthFailed):
            await shared.adapter(http, **changes).verify_credentials()


async def test_full_catalog_maps_every_product(
    control: httpx.Client, dialect: str, http: httpx.AsyncClient
) -> None:
    store = create_store(control, dialect, LARGE)
    adapter = store.adapter(http)
    fetched = await adapter.fetch_products()
    expected = listed(store)
    assert fetched.full is True
    assert len(fetched.records) == len(expected)
    assert fetched.cursor == max(modified_at(store, p) for p in expected.values())
    mapped = [adapter.map_product(record) for record in fetched.records]
    assert {product.external_id for product in mapped} == set(expected)
    for product in mapped:
        sim = expected[product.external_id]
        assert product.name == sim["name"]
        assert product.category == sim["category"]
        assert product.strain_type == (sim["strain_type"] or "none").lower()
        assert product.variants[0].price_cents == sim["price_cents"]
        sizes = len(sim["variants"]) if dialect in ("blaze", "flowhub") else 1
        assert len(product.variants) == sizes
        if dialect != "flowhub":
            assert product.is_active == (sim["active"] and sim["online"])


async def test_incremental_fetch_returns_a_changed_product(
    fresh: SimStore, http: httpx.AsyncClient
) -> None:
    adapter = fresh.adapter(http)
    full = await adapter.fetch_products()
    assert full.cursor is not None
    target = next(p for p in fresh.products() if p["active"])
    new_price = target["price_cents"] + 123
    fresh.change_product(target["id"], price_cents=new_price)
    changed = await adapter.fetch_products(since=full.cursor)
    assert changed.full is False
    products = {p.external_id: p for p in map(adapter.map_product, changed.records)}
    assert products[target["id"]].variants[0].price_cents == new_price
    assert len(changed.records) < len(full.records)
    assert changed.cursor is not None
    assert changed.cursor > full.cursor


async def test_inventory_matches_the_stock(shared: SimStore, http: httpx.AsyncClient) -> None:
    levels = await shared.adapter(http).fetch_inventory()
    products = shared.products()
    if shared.dialect == "flowhub":
        assert {(lv.product_external_id, lv.variant_external_id): lv.quantity for lv in levels} == {
            (p["id"], v["id"]): p["quantity"]
            for p in products
            if p["active"]
            for v in p["variants"]
        }
        return
    expected = {p["id"]: p["quantity"] for p in products}
    if shared.dialect == "dutchie":  # zero stock is left out: absent means none
        expected = {pid: quantity for pid, quantity in expected.items() if quantity > 0}
    assert {lv.product_external_id: lv.quantity for lv in levels} == expected
    assert all(lv.variant_external_id is None for lv in levels)


async def order_for(store: SimStore, adapter: PosAdapter[Any], quantity: int) -> PosOrderRequest:
    """An order of an in-stock product, as the kiosk would build it from the synced catalog."""
    stocked = {p["id"] for p in store.products() if p["active"] and p["quantity"] >= quantity}
    fetched = await adapter.fetch_products()
    product = next(p for p in map(adapter.map_product, fetched.records) if p.external_id in stocked)
    variant = product.variants[0]
    return PosOrderRequest(
        reference=new_reference(),
        idempotency_key=str(uuid.uuid4()),
        items=[
            PosOrderItem(product.external_id, variant.external_id, quantity, variant.price_cents)
        ],
        customer_name="Contract Test",
        customer_phone="+15555550100",
        notes="contract test",
        postback_url="http://127.0.0.1:9/postback",
    )


def same_order(found: PosOrderReceipt | None, receipt: PosOrderReceipt) -> bool:
    return found is not None and (found.pos_order_id, found.status) == (
        receipt.pos_order_id,
        receipt.status,
    )


async def test_order_lifecycle(fresh: SimStore, http: httpx.AsyncClient) -> None:
    adapter = fresh.adapter(http)
    request = await order_for(fresh, adapter, quantity=2)
    receipt = await adapter.submit_order(request)
    assert receipt.status is SUBMITTED[fresh.dialect]
    if isinstance(adapter, OrderLookup):
        assert same_order(await adapter.find_order(request.reference), receipt)
    assert same_order(await adapter.order_status(receipt.pos_order_id), receipt)

    [sim_order] = fresh.orders(request.reference)["orders"]
    assert sim_order["create_requests"] == 1
    assert [(i["product_id"], i["quantity"]) for i in sim_order["items"]] == [
        (request.items[0].product_external_id, 2)
    ]
    vendor_status, ours = PROGRESS[fresh.dialect]
    fresh.move_order(sim_order["id"], vendor_status)
    progressed = await adapter.order_status(receipt.pos_order_id)
    assert (progressed.status, progressed.vendor_status) == (ours, vendor_status)

    cancelled = await adapter.cancel_order(receipt.pos_order_id)
    assert cancelled.status is PosOrderStatus.CANCELLED
    assert cancelled.pos_order_id == receipt.pos_order_id
    assert (await adapter.order_status(receipt.pos_order_id)).status is PosOrderStatus.CANCELLED
    assert len(fresh.orders(request.reference)["orders"]) == 1


async def test_a_lost_answer_never_makes_a_second_order(
    fresh: SimStore, http: httpx.AsyncClient
) -> None:
    adapter = fresh.adapter(http)
    request = await order_for(fresh, adapter, quantity=1)
    fresh.add_fault("order_submit", "drop_response_after_accept", count=1)
    with pytest.raises(PosUnavailable):
        await adapter.submit_order(request)
    if isinstance(adapter, OrderDedupe):
        # Dutchie: resubmitting with the same idempotency key returns the order it has.
        receipt = await adapter.submit_order(request)
    else:
        assert isinstance(adapter, OrderLookup)
        found = await adapter.find_order(request.reference)
        if fresh.dialect == "blaze":
            # The cart was prepared but never submitted: not an order yet, and submitting
            # again finishes that cart instead of preparing another.
            assert found is None
            receipt = await adapter.submit_order(request)
        else:
            assert found is not None
            receipt = found
    assert receipt.status is SUBMITTED[fresh.dialect]
    [sim_order] = fresh.orders(request.reference)["orders"]
    assert sim_order["status"] == receipt.vendor_status


async def test_dutchie_dedupes_a_resubmission(
    control: httpx.Client, http: httpx.AsyncClient
) -> None:
    store = create_store(control, "dutchie", SMALL)
    adapter = store.adapter(http)
    request = await order_for(store, adapter, quantity=1)
    first = await adapter.submit_order(request)
    again = await adapter.submit_order(request)
    assert again.pos_order_id == first.pos_order_id
    [sim_order] = store.orders(request.reference)["orders"]
    assert sim_order["idempotency_key"] == request.idempotency_key
    assert sim_order["create_requests"] == 2


async def test_an_unknown_product_is_rejected_with_the_pos_message(
    shared: SimStore, http: httpx.AsyncClient
) -> None:
    request = PosOrderRequest(
        reference=new_reference(),
        idempotency_key=str(uuid.uuid4()),
        items=[PosOrderItem("999999999", "999999999", 1, 100)],
    )
    with pytest.raises(PosRejected, match="999999999") as caught:
        await shared.adapter(http).submit_order(request)
    assert caught.value.status == 400


async def test_unknown_orders(shared: SimStore, http: httpx.AsyncClient) -> None:
    adapter = shared.adapter(http)
    with pytest.raises(PosNotFound):
        await adapter.order_status("999999")
    if isinstance(adapter, OrderLookup):
        assert await adapter.find_order(new_reference()) is None


async def test_records_that_break_the_schema_are_quarantined_one_by_one(
    fresh: SimStore, http: httpx.AsyncClient
) -> None:
    adapter = fresh.adapter(http)
    fresh.add_fault("products", "bad_records", count=1)
    fetched = await adapter.fetch_products()
    invalid = 0
    for record in fetched.records:
        try:
            adapter.map_product(record)
        except RecordInvalid:
            invalid += 1
    assert 1 <= invalid <= len(fetched.records) // 5


async def test_a_duplicated_page_is_never_taken_for_the_whole_catalog(
    control: httpx.Client, dialect: str, http: httpx.AsyncClient
) -> None:
    store = create_store(control, dialect, LARGE if dialect in ("treez", "blaze") else SMALL)
    adapter = store.adapter(http)
    store.add_fault("products", "duplicate_page", count=1)
    if dialect in ("treez", "blaze"):
        # A page served twice (or half a page twice) hides records: refuse the listing.
        with pytest.raises(PosProtocolError):
            await adapter.fetch_products()
    else:
        # A one-shot list with records repeated: duplicates collapse, nothing is lost.
        fetched = await adapter.fetch_products()
        assert len(fetched.records) == len(listed(store))


async def test_malformed_json_is_a_protocol_error(fresh: SimStore, http: httpx.AsyncClient) -> None:
    fresh.add_fault("inventory", "malformed_json", count=1)
    with pytest.raises(PosProtocolError):
        await fresh.adapter(http).fetch_inventory()


async def test_treez_refuses_a_token_signed_by_a_clock_that_is_off(
    control: httpx.Client, http: httpx.AsyncClient
) -> None:
    store = create_store(control, "treez", SMALL)
    behind = FakeClock(datetime.now(UTC) - timedelta(seconds=45))
    with pytest.raises(PosAuthFailed, match="JWT_EXPIRED"):
        await store.adapter(http, clock=behind).verify_credentials()


async def test_flowhub_fetches_a_new_token_after_a_401(
    control: httpx.Client, http: httpx.AsyncClient
) -> None:
    store = create_store(control, "flowhub", SMALL)
    adapter = store.adapter(http)
    request = await order_for(store, adapter, quantity=1)
    receipt = await adapter.submit_order(request)
    store.add_fault("order_status", "unauthorized", count=1)
    assert same_order(await adapter.order_status(receipt.pos_order_id), receipt)
    tokens = [
        r for r in store.requests() if r["method"] == "POST" and r["path"].endswith("/oauth/token")
    ]
    assert len(tokens) == 2
