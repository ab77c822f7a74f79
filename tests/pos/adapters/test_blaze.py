from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ridgeline.clock import FakeClock
from ridgeline.pos.adapters.blaze import (
    PAGE_SIZE,
    BlazeAdapter,
    BlazeConfig,
    map_blaze_product,
)
from ridgeline.pos.base import EndpointClass, InventoryLevel, PosOrderItem, PosOrderRequest
from ridgeline.pos.base import PosOrderStatus as Status
from ridgeline.pos.canonical import Category, Potency, PotencyUnit, StrainType
from ridgeline.pos.capabilities import OrderDedupe, OrderLookup
from ridgeline.pos.errors import PosNotFound, PosProtocolError, PosRejected, RecordInvalid
from ridgeline.pos.registry import adapter_class
from tests.pos.fakes import ScriptedTransport, Sent, answers, reply

NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)
MODIFIED = 1773489600000  # 2026-03-14T12:00:00Z
BASE = "https://blaze.example/api/v1/partner"


def blaze_product(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": "65f1a2b3c4d5e6f708192a3b",
        "sku": "BLZ-00042",
        "name": "Wedding Cake",
        "category": {"id": "cat-1", "name": "Flower"},
        "brand": "Alien Labs",
        "flowerType": "Indica",
        "cannabisType": "DEFAULT",
        "thc": 27.4,
        "cbd": 0.05,
        "potencyAmount": None,
        "weightPerUnit": "EIGHTH",
        "unitPrice": 55.0,
        "priceBreaks": [],
        "quantities": [
            {"inventoryId": "inv-floor", "quantity": 9},
            {"inventoryId": "inv-vault", "quantity": 4},
        ],
        "instock": True,
        "active": True,
        "deleted": False,
        "modified": MODIFIED,
        "assets": [{"publicURL": "https://assets.blaze.me/wc.jpg"}],
    }
    record.update(changes)
    return record


def adapter(transport: ScriptedTransport, clock: FakeClock | None = None) -> BlazeAdapter:
    config = BlazeConfig(
        base_url=BASE,
        partner_key="partner-1",
        api_key="shop-key-1",
    )
    return BlazeAdapter(config, transport, clock or FakeClock(NOW))


def page(values: list[dict[str, Any]], skip: int, total: int) -> Any:
    return reply(200, {"values": values, "skip": skip, "limit": PAGE_SIZE, "total": total})


# -- mapping ---------------------------------------------------------------------------------


def test_maps_a_full_record() -> None:
    product = map_blaze_product(blaze_product())
    assert product.external_id == "65f1a2b3c4d5e6f708192a3b"
    assert product.sku == "BLZ-00042"
    assert product.name == "Wedding Cake"
    assert product.brand == "Alien Labs"
    assert product.category is Category.FLOWER
    assert product.vendor_category == "Flower"
    assert product.strain_type is StrainType.INDICA
    assert product.thc == Potency(value=27.4, unit=PotencyUnit.PERCENT)
    assert product.cbd == Potency(value=0.05, unit=PotencyUnit.PERCENT)
    assert product.is_active is True
    assert product.image_urls == ["https://assets.blaze.me/wc.jpg"]
    assert product.pos_updated_at == datetime(2026, 3, 14, 12, tzinfo=UTC)
    [variant] = product.variants
    assert variant.external_id == product.external_id
    assert (variant.label, variant.weight_grams, variant.price_cents) == ("3.5 g", 3.5, 5500)
    assert variant.quantity_available == 13  # the sum of the inventories


def test_price_breaks_become_variants_sharing_the_stock() -> None:
    record = blaze_product(
        weightPerUnit="EIGHTH",
        unitPrice=45,
        priceBreaks=[
            {"name": "1/8th", "quantity": 3.5, "price": "45.00"},
            {"name": "1 Gram", "quantity": 1, "price": 14},
            {"name": "1/4th", "quantity": 7, "price": 85.5},
        ],
    )
    variants = map_blaze_product(record).variants
    assert [
        (v.external_id, v.label, v.weight_grams, v.price_cents, v.quantity_available)
        for v in variants
    ] == [
        ("65f1a2b3c4d5e6f708192a3b:break:3.5", "1/8th", 3.5, 4500, 13),
        ("65f1a2b3c4d5e6f708192a3b:break:1", "1 Gram", 1.0, 1400, 13),
        ("65f1a2b3c4d5e6f708192a3b:break:7", "1/4th", 7.0, 8550, 13),
    ]


def test_price_breaks_of_items_sold_each_have_no_weight() -> None:
    record = blaze_product(
        weightPerUnit="EACH",
        priceBreaks=[
            {"name": "Single", "quantity": 1, "price": 8},
            {"name": "3-pack", "quantity": 3, "price": 20},
        ],
    )
    variants = map_blaze_product(record).variants
    assert [(v.label, v.weight_grams, v.price_cents) for v in variants] == [
        ("Single", None, 800),
        ("3-pack", None, 2000),
    ]


@pytest.mark.parametrize(
    ("weight", "label", "grams"),
    [
        ("EACH", "each", None),
        ("HALF_GRAM", "0.5 g", 0.5),
        ("FULL_GRAM", "1 g", 1.0),
        ("EIGHTH", "3.5 g", 3.5),
        ("FOURTH", "7 g", 7.0),
        ("HALF_OUNCE", "14 g", 14.0),
        ("OUNCE", "28 g", 28.0),
        (None, "each", None),
        ("TWO_GRAMS", "two grams", None),
    ],
)
def test_weight_per_unit_table(weight: str | None, label: str, grams: float | None) -> None:
    [variant] = map_blaze_product(blaze_product(weightPerUnit=weight)).variants
    assert (variant.label, variant.weight_grams) == (label, grams)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Flower", Category.FLOWER),
        ("Pre-Roll", Category.PRE_ROLL),
        ("Vape", Category.VAPE),
        ("Concentrate", Category.CONCENTRATE),
        ("Edible", Category.EDIBLE),
        ("Drink", Category.BEVERAGE),
        ("Tincture", Category.TINCTURE),
        ("Topical", Category.TOPICAL),
        ("Capsule", Category.CAPSULE),
        ("Accessory", Category.ACCESSORY),
        ("Gear", Category.ACCESSORY),
        ("Seeds", Category.OTHER),
    ],
)
def test_category_table(name: str, expected: Category) -> None:
    assert map_blaze_product(blaze_product(category={"name": name})).category is expected


def test_missing_category_is_other() -> None:
    product = map_blaze_product(blaze_product(category=None))
    assert (product.category, product.vendor_category) == (Category.OTHER, None)


@pytest.mark.parametrize(
    ("flower_type", "expected"),
    [
        ("Indica", StrainType.INDICA),
        ("Sativa", StrainType.SATIVA),
        ("Hybrid", StrainType.HYBRID),
        ("CBD", StrainType.CBD),
        (None, StrainType.NONE),
    ],
)
def test_flower_type(flower_type: str | None, expected: StrainType) -> None:
    assert map_blaze_product(blaze_product(flowerType=flower_type)).strain_type is expected


def test_milligram_potency_from_potency_amount() -> None:
    record = blaze_product(
        category={"name": "Edible"},
        thc=0.0,
        cbd=0.0,
        potencyAmount={"thc": 100, "cbd": None},
        weightPerUnit="EACH",
        productSaleType="Medicinal",
    )
    product = map_blaze_product(record)
    assert product.thc == Potency(value=100, unit=PotencyUnit.MG)
    assert product.cbd == Potency(value=0, unit=PotencyUnit.PERCENT)
    assert product.is_medical_only is True


@pytest.mark.parametrize(
    ("changes", "active"),
    [
        ({"active": False}, False),
        ({"deleted": True}, False),
        ({"showInWidget": False}, False),
        ({"active": None}, True),
    ],
)
def test_inactive_or_deleted(changes: dict[str, Any], active: bool) -> None:
    assert map_blaze_product(blaze_product(**changes)).is_active is active


def test_brand_object_and_missing_optional_fields() -> None:
    record = blaze_product(brand={"id": "b1", "name": "Kiva"}, quantities=None, assets=None)
    record.pop("thc")
    product = map_blaze_product(record)
    assert product.brand == "Kiva"
    assert product.thc is None
    assert product.image_urls == []
    assert product.variants[0].quantity_available is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"id": None}, "id is missing"),
        ({"id": {"$oid": "x"}}, "id must be"),
        ({"name": ""}, "name is missing"),
        ({"unitPrice": None}, "unitPrice (the price) is missing"),
        ({"unitPrice": "55 dollars"}, "unitPrice must be a number"),
        ({"unitPrice": -5}, "unitPrice must not be negative"),
        ({"thc": "27%"}, "thc must be a number"),
        ({"category": "Flower"}, "category must be an object"),
        ({"priceBreaks": {"name": "Eighth"}}, "priceBreaks must be a list"),
        ({"priceBreaks": [{"name": "Eighth", "price": 40}]}, "positive quantity"),
        ({"priceBreaks": [{"name": "Eighth", "quantity": 0, "price": 40}]}, "positive quantity"),
        ({"priceBreaks": [{"quantity": 1, "price": 40}]}, "name is missing"),
        ({"priceBreaks": [{"name": "1g", "quantity": 1, "price": "x"}]}, "price must be a number"),
        (
            {"priceBreaks": [{"name": "1g", "quantity": 1, "price": 9}], "unitPrice": -9},
            "unitPrice must not be negative",
        ),
        (
            {
                "priceBreaks": [
                    {"name": "1g", "quantity": 1, "price": 9},
                    {"name": "Gram", "quantity": "1.0", "price": 8},
                ]
            },
            "two price breaks for a quantity of 1",
        ),
        ({"quantities": 12}, "quantities must be a list"),
        ({"quantities": [{"quantity": "lots"}]}, "quantity must be a number"),
        ({"modified": "2026-03-14"}, "modified must be epoch milliseconds"),
        ({"assets": ["https://x/y.jpg"]}, "assets must be a list of objects"),
        ({"active": "true"}, "active must be true or false"),
        ({"potencyAmount": {"thc": "lots"}}, "thc must be a number"),
    ],
)
def test_malformed_records_are_invalid(changes: dict[str, Any], reason: str) -> None:
    record = blaze_product(**changes)
    with pytest.raises(RecordInvalid) as caught:
        map_blaze_product(record)
    assert reason in caught.value.reason
    assert caught.value.record is record


def test_registered() -> None:
    assert adapter_class("blaze") is BlazeAdapter
    assert issubclass(BlazeAdapter, OrderLookup)
    assert not issubclass(BlazeAdapter, OrderDedupe)


# -- catalog ---------------------------------------------------------------------------------


def products(start: int, count: int) -> list[dict[str, Any]]:
    return [blaze_product(id=f"p{n}", modified=MODIFIED + n) for n in range(start, start + count)]


async def test_pages_by_skip_until_the_total() -> None:
    transport = ScriptedTransport(
        answers(
            page(products(0, PAGE_SIZE), 0, 1020),
            page(products(500, 480), 500, 1020),  # a short page mid-list: skip by what came
            page(products(980, 40), 980, 1020),
        )
    )
    fetched = await adapter(transport).fetch_products()
    assert len(fetched.records) == 1020
    assert fetched.cursor == datetime.fromtimestamp((MODIFIED + 1019) / 1000, tz=UTC)
    assert [s.params for s in transport.sent] == [
        {"skip": "0", "limit": "500"},
        {"skip": "500", "limit": "500"},
        {"skip": "980", "limit": "500"},
    ]
    sent = transport.sent[0]
    assert (sent.url, sent.endpoint) == (f"{BASE}/products", EndpointClass.PRODUCTS)
    assert (sent.headers["partner_key"], sent.headers["Authorization"]) == (
        "partner-1",
        "shop-key-1",
    )


async def test_an_overstated_total_stops_at_an_empty_page() -> None:
    transport = ScriptedTransport(answers(page(products(0, 3), 0, 10_000), page([], 3, 10_000)))
    fetched = await adapter(transport).fetch_products()
    assert len(fetched.records) == 3
    assert len(transport.sent) == 2


async def test_a_repeated_page_is_refused() -> None:
    transport = ScriptedTransport(lambda sent: page(products(0, PAGE_SIZE), 0, 5000))
    with pytest.raises(PosProtocolError, match="repeated"):
        await adapter(transport).fetch_products()
    assert len(transport.sent) == 2


async def test_a_page_listing_a_product_twice_is_refused() -> None:
    half = products(0, PAGE_SIZE // 2)
    transport = ScriptedTransport(answers(page(half + half, 0, 1000)))
    with pytest.raises(PosProtocolError, match="twice"):
        await adapter(transport).fetch_products()


async def test_incremental_asks_for_the_modified_window() -> None:
    transport = ScriptedTransport(answers(page(products(0, 2), 0, 2)))
    since = datetime(2026, 3, 14, 12, 1, tzinfo=UTC)
    fetched = await adapter(transport).fetch_products(since=since)
    [sent] = transport.sent
    assert (sent.url, sent.endpoint) == (
        f"{BASE}/products/modified",
        EndpointClass.PRODUCTS_CHANGED,
    )
    assert sent.params == {
        "startDate": str(MODIFIED),  # a minute before the cursor
        "endDate": str(int(NOW.timestamp() * 1000)),
        "skip": "0",
        "limit": "500",
    }
    assert fetched.cursor == since
    assert fetched.full is False


@pytest.mark.parametrize(
    "body",
    [
        {"values": [], "total": "many"},
        {"values": None, "total": 0},
        {"items": [], "total": 0},
        [blaze_product()],
    ],
)
async def test_wrong_shapes_are_protocol_errors(body: object) -> None:
    with pytest.raises(PosProtocolError):
        await adapter(ScriptedTransport(answers(reply(200, body)))).fetch_products()


async def test_inventory() -> None:
    transport = ScriptedTransport(
        answers(
            page([{"productId": "p1", "quantity": 5}, {"productId": "p2", "quantity": 0}], 0, 2)
        )
    )
    levels = await adapter(transport).fetch_inventory()
    assert levels == [InventoryLevel("p1", None, 5), InventoryLevel("p2", None, 0)]
    assert transport.sent[0].url == f"{BASE}/store/inventory/products"
    assert transport.sent[0].endpoint is EndpointClass.INVENTORY


# -- orders ----------------------------------------------------------------------------------


def cart(status: str = "Placed", **changes: Any) -> dict[str, Any]:
    data = {
        "id": "cart-77",
        "externalId": "RL-ABCDE23456",
        "status": status,
        "items": [],
        "total": 9,
    }
    data.update(changes)
    return data


def request() -> PosOrderRequest:
    return PosOrderRequest(
        reference="RL-ABCDE23456",
        idempotency_key="unused",
        items=[PosOrderItem("p1", "p1:break:3.5", 1, 4500), PosOrderItem("p2", "p2", 2, 1000)],
        customer_name="Lee",
        customer_phone="+15550199",
        notes="no bag",
    )


async def test_submit_prepares_then_submits_the_cart() -> None:
    transport = ScriptedTransport(
        answers(reply(200, {"values": []}), reply(200, cart("InProgress")), reply(200, cart()))
    )
    receipt = await adapter(transport).submit_order(request())
    assert (receipt.pos_order_id, receipt.status, receipt.vendor_status) == (
        "cart-77",
        Status.SUBMITTED,
        "Placed",
    )
    lookup, prepare, submit = transport.sent
    assert (lookup.url, lookup.params) == (
        f"{BASE}/store/carts",
        {"externalId": "RL-ABCDE23456"},
    )
    assert (prepare.url, prepare.idempotent) == (f"{BASE}/store/cart/prepare", False)
    assert prepare.json_body == {
        "externalId": "RL-ABCDE23456",
        "memo": "RL-ABCDE23456 no bag",
        "consumer": {"name": "Lee", "phone": "+15550199"},
        "items": [{"productId": "p1", "quantity": 1}, {"productId": "p2", "quantity": 2}],
    }
    assert (submit.method, submit.url) == ("POST", f"{BASE}/store/cart/submitCart/cart-77")


async def test_submit_finishes_a_cart_left_in_progress() -> None:
    transport = ScriptedTransport(
        answers(reply(200, {"values": [cart("InProgress")]}), reply(200, cart()))
    )
    receipt = await adapter(transport).submit_order(request())
    assert receipt.vendor_status == "Placed"
    assert [s.url.removeprefix(BASE) for s in transport.sent] == [
        "/store/carts",
        "/store/cart/submitCart/cart-77",
    ]


async def test_submit_returns_a_cart_already_placed() -> None:
    transport = ScriptedTransport(answers(reply(200, {"values": [cart("Accepted")]})))
    receipt = await adapter(transport).submit_order(request())
    assert receipt.status is Status.ACCEPTED
    assert len(transport.sent) == 1


async def test_refused_cart_carries_the_message() -> None:
    transport = ScriptedTransport(
        answers(reply(200, {"values": []}), reply(400, {"message": "Product p1 is out of stock"}))
    )
    with pytest.raises(PosRejected, match="out of stock"):
        await adapter(transport).submit_order(request())


async def test_find_order_skips_carts_not_yet_submitted() -> None:
    transport = ScriptedTransport(
        answers(
            reply(200, {"values": [cart("InProgress")]}),
            reply(200, {"values": [cart(externalId="RL-OTHER"), cart("Completed", id="c2")]}),
        )
    )
    blaze = adapter(transport)
    assert await blaze.find_order("RL-ABCDE23456") is None
    found = await blaze.find_order("RL-ABCDE23456")
    assert found is not None
    assert (found.pos_order_id, found.status, found.reference) == (
        "c2",
        Status.COMPLETED,
        "RL-ABCDE23456",
    )


@pytest.mark.parametrize(
    ("vendor", "ours"),
    [
        ("InProgress", Status.SUBMITTED),
        ("Placed", Status.SUBMITTED),
        ("Accepted", Status.ACCEPTED),
        ("Completed", Status.COMPLETED),
        ("Declined", Status.REJECTED),
        ("CanceledByConsumer", Status.CANCELLED),
        ("CanceledByDispensary", Status.CANCELLED),
    ],
)
async def test_status_table(vendor: str, ours: Status) -> None:
    transport = ScriptedTransport(answers(reply(200, cart(vendor))))
    receipt = await adapter(transport).order_status("cart-77")
    assert (receipt.status, receipt.vendor_status) == (ours, vendor)
    assert transport.sent[0].url == f"{BASE}/store/cart/cart-77"


async def test_cancel_and_unknown_cart() -> None:
    def handle(sent: Sent) -> Any:
        if sent.url.endswith("/cancelCart/cart-77"):
            return reply(200, cart("CanceledByConsumer"))
        return reply(404, {"message": "Cart not found"})

    transport = ScriptedTransport(handle)
    blaze = adapter(transport)
    cancelled = await blaze.cancel_order("cart-77")
    assert cancelled.status is Status.CANCELLED
    assert (transport.sent[0].method, transport.sent[0].endpoint) == (
        "DELETE",
        EndpointClass.ORDER_CANCEL,
    )
    with pytest.raises(PosNotFound, match="Cart not found"):
        await blaze.order_status("nope")
