from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from ridgeline.clock import FakeClock
from ridgeline.pos.adapters.dutchie import DutchieAdapter, DutchieConfig, map_dutchie_product
from ridgeline.pos.base import (
    EndpointClass,
    InventoryLevel,
    PosOrderItem,
    PosOrderRequest,
    PosOrderStatus,
)
from ridgeline.pos.canonical import Category, Potency, PotencyUnit, StrainType
from ridgeline.pos.capabilities import OrderDedupe, OrderLookup
from ridgeline.pos.errors import PosNotFound, PosProtocolError, PosRejected, RecordInvalid
from ridgeline.pos.registry import adapter_class
from tests.pos.fakes import ScriptedTransport, Sent, answers, reply

NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)


def dutchie_product(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "productId": 40122,
        "sku": "FLW-BD-35",
        "productName": "Blue Dream 3.5g",
        "onlineTitle": "Blue Dream | 3.5g Flower",
        "masterCategory": "Flower",
        "category": "Flower - Eighths",
        "brandName": "Pacific Stone",
        "strain": "Blue Dream",
        "strainType": "Hybrid",
        "thcContent": 24.6,
        "thcContentUnit": "%",
        "cbdContent": 0.1,
        "cbdContentUnit": "%",
        "price": 40.0,
        "recPrice": 35.0,
        "medPrice": 30.0,
        "netWeight": 3.5,
        "netWeightUnit": "g",
        "unitType": "Weight",
        "isActive": True,
        "onlineAvailable": True,
        "isMedicalOnly": False,
        "imageUrl": "https://images.dutchie.com/40122.jpg",
        "tags": ["staff pick", "new"],
        "lastModifiedDateUTC": "2026-03-14T12:00:00.250Z",
    }
    record.update(changes)
    return record


def adapter(transport: ScriptedTransport, **config: Any) -> DutchieAdapter:
    settings = {"base_url": "https://pos.example", "api_key": "loc-key", "consumer_key": "ck-1"}
    settings.update(config)
    return DutchieAdapter(DutchieConfig.model_validate(settings), transport, FakeClock(NOW))


# -- mapping ---------------------------------------------------------------------------------


def test_maps_a_full_record() -> None:
    product = map_dutchie_product(dutchie_product())
    assert product.external_id == "40122"
    assert product.sku == "FLW-BD-35"
    assert product.name == "Blue Dream 3.5g"
    assert product.brand == "Pacific Stone"
    assert product.category is Category.FLOWER
    assert product.vendor_category == "Flower"
    assert product.strain_type is StrainType.HYBRID
    assert product.thc == Potency(value=24.6, unit=PotencyUnit.PERCENT)
    assert product.cbd == Potency(value=0.1, unit=PotencyUnit.PERCENT)
    assert product.is_active is True
    assert product.is_medical_only is False
    assert product.image_urls == ["https://images.dutchie.com/40122.jpg"]
    assert product.tags == ["staff pick", "new"]
    assert product.pos_updated_at == datetime(2026, 3, 14, 12, 0, 0, 250000, tzinfo=UTC)
    [variant] = product.variants
    assert variant.external_id == "40122"
    assert variant.label == "3.5 g"
    assert variant.weight_grams == 3.5
    assert variant.price_cents == 3500  # recPrice wins over price
    assert variant.quantity_available is None  # stock comes from /inventory


@pytest.mark.parametrize(
    ("master", "expected"),
    [
        ("Flower", Category.FLOWER),
        ("Pre-Rolls", Category.PRE_ROLL),
        ("Vaporizers", Category.VAPE),
        ("Concentrates", Category.CONCENTRATE),
        ("Edibles", Category.EDIBLE),
        ("Beverages", Category.BEVERAGE),
        ("Tinctures", Category.TINCTURE),
        ("Topicals", Category.TOPICAL),
        ("Capsules", Category.CAPSULE),
        ("Accessories", Category.ACCESSORY),
        ("Apparel", Category.OTHER),
        (None, Category.OTHER),
    ],
)
def test_master_category_table(master: str | None, expected: Category) -> None:
    product = map_dutchie_product(dutchie_product(masterCategory=master))
    assert product.category is expected
    assert product.vendor_category == master


@pytest.mark.parametrize(
    ("strain", "expected"),
    [
        ("Indica", StrainType.INDICA),
        ("Sativa", StrainType.SATIVA),
        ("Hybrid", StrainType.HYBRID),
        ("CBD", StrainType.CBD),
        (None, StrainType.NONE),
        ("Indica-dominant", StrainType.NONE),
    ],
)
def test_strain_types(strain: str | None, expected: StrainType) -> None:
    assert map_dutchie_product(dutchie_product(strainType=strain)).strain_type is expected


@pytest.mark.parametrize(
    ("rec_price", "price", "cents"),
    [
        (35.0, 40.0, 3500),
        (None, 40.0, 4000),
        ("19.99", 25, 1999),
        (10.005, None, 1001),  # half up, from the decimal text, never float arithmetic
        (0.1, None, 10),
        (0, 12.5, 0),  # a zero recPrice is a price, not "unset"
    ],
)
def test_price_is_rec_price_else_price(rec_price: object, price: object, cents: int) -> None:
    product = map_dutchie_product(dutchie_product(recPrice=rec_price, price=price))
    assert product.variants[0].price_cents == cents


def test_unit_products_are_sold_each() -> None:
    product = map_dutchie_product(
        dutchie_product(
            masterCategory="Edibles", unitType="Unit", netWeight=100, netWeightUnit="mg"
        )
    )
    assert product.variants[0].label == "each"
    assert product.variants[0].weight_grams == 0.1


@pytest.mark.parametrize(
    ("weight", "unit", "label", "grams"),
    [
        (1, "g", "1 g", 1.0),
        (0.5, "g", "0.5 g", 0.5),
        (1, "oz", "1 oz", 28.3495),
        (500, "mg", "500 mg", 0.5),
        (None, None, "each", None),
    ],
)
def test_weight_labels(weight: float | None, unit: str | None, label: str, grams: float) -> None:
    product = map_dutchie_product(dutchie_product(netWeight=weight, netWeightUnit=unit))
    assert (product.variants[0].label, product.variants[0].weight_grams) == (label, grams)


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("%", PotencyUnit.PERCENT),
        ("mg", PotencyUnit.MG),
        ("MG", PotencyUnit.MG),
    ],
)
def test_potency_units(unit: str, expected: PotencyUnit) -> None:
    product = map_dutchie_product(dutchie_product(thcContent="10", thcContentUnit=unit))
    assert product.thc == Potency(value=10, unit=expected)


def test_potency_without_a_known_unit_is_left_out() -> None:
    product = map_dutchie_product(
        dutchie_product(thcContentUnit="mg/g", cbdContent=None, cbdContentUnit=None)
    )
    assert product.thc is None
    assert product.cbd is None


def test_name_falls_back_to_the_online_title() -> None:
    product = map_dutchie_product(dutchie_product(productName=""))
    assert product.name == "Blue Dream | 3.5g Flower"
    assert map_dutchie_product(dutchie_product(onlineTitle=None)).name == "Blue Dream 3.5g"


@pytest.mark.parametrize(
    "changes",
    [{"isActive": False}, {"onlineAvailable": False}],
)
def test_inactive_or_offline_products_are_inactive(changes: dict[str, Any]) -> None:
    assert map_dutchie_product(dutchie_product(**changes)).is_active is False


def test_sparse_record_maps_with_defaults() -> None:
    product = map_dutchie_product({"productId": 7, "productName": "Lighter", "price": 2})
    assert product.category is Category.OTHER
    assert product.strain_type is StrainType.NONE
    assert product.brand == ""
    assert product.is_active is True
    assert product.image_urls == []
    assert product.pos_updated_at is None
    assert product.variants[0].label == "each"


def test_naive_timestamps_are_utc() -> None:
    product = map_dutchie_product(dutchie_product(lastModifiedDateUTC="2026-03-14T12:00:00"))
    assert product.pos_updated_at == datetime(2026, 3, 14, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"productId": None}, "productId is missing"),
        ({"productId": True}, "productId must be"),
        ({"productId": 4.5}, "productId must be"),
        ({"productName": None, "onlineTitle": None}, "productName is missing"),
        ({"productName": 12}, "productName must be a string"),
        ({"productName": None, "onlineTitle": 12}, "onlineTitle must be a string"),
        ({"price": -40}, "price must not be negative"),  # even when recPrice is the one used
        ({"medPrice": "n/a"}, "medPrice must be a number"),
        ({"recPrice": None, "price": None}, "price"),
        ({"recPrice": "twelve"}, "recPrice must be a number"),
        ({"recPrice": -1}, "recPrice must not be negative"),
        ({"recPrice": True}, "recPrice must be a number"),
        ({"recPrice": "NaN"}, "recPrice must be a finite number"),
        ({"thcContent": "strong"}, "thcContent must be a number"),
        ({"netWeight": [3.5]}, "netWeight must be a number"),
        ({"tags": "new"}, "tags must be a list of strings"),
        ({"isActive": "yes"}, "isActive must be true or false"),
        ({"lastModifiedDateUTC": "yesterday"}, "lastModifiedDateUTC is not an ISO-8601 time"),
        ({"lastModifiedDateUTC": 1710417600}, "lastModifiedDateUTC must be"),
        ({"productName": "x" * 600, "onlineTitle": None}, "does not fit the canonical product"),
    ],
)
def test_malformed_records_are_invalid(changes: dict[str, Any], reason: str) -> None:
    record = dutchie_product(**changes)
    with pytest.raises(RecordInvalid) as caught:
        map_dutchie_product(record)
    assert reason in caught.value.reason
    assert caught.value.record == record


def test_adapter_map_product_rejects_non_objects() -> None:
    dutchie = adapter(ScriptedTransport(answers()))
    with pytest.raises(RecordInvalid, match="must be an object"):
        dutchie.map_product(["not", "a", "record"])  # type: ignore[arg-type]


# -- config and registration -------------------------------------------------------------------


def test_registered_and_config_redacts_secrets() -> None:
    assert adapter_class("dutchie") is DutchieAdapter
    assert issubclass(DutchieAdapter, OrderDedupe)
    config = DutchieConfig(
        api_key="secret-loc-key", consumer_key="secret-ck", integrator_key="secret-int"
    )
    assert config.base_url == "https://api.pos.dutchie.com"
    view = config.redacted()
    assert "secret" not in repr(config) + str(view)
    assert view["api_key"] == view["consumer_key"] == "********"


def test_config_needs_the_keys() -> None:
    with pytest.raises(ValidationError):
        DutchieConfig.model_validate({"api_key": "k"})


# -- wire behaviour ----------------------------------------------------------------------------


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_verify_credentials_reads_whoami() -> None:
    transport = ScriptedTransport(
        answers(
            reply(
                200,
                {
                    "LocationId": 1042,
                    "LocationName": "Ridgeline Main St",
                    "LicenseNumber": "C10-0000123",
                    "Scopes": ["Products", "Inventory", "PreOrder"],
                },
            )
        )
    )
    identity = await adapter(transport, integrator_key="int-key").verify_credentials()
    assert identity.location_id == "1042"
    assert identity.location_name == "Ridgeline Main St"
    assert identity.details["LicenseNumber"] == "C10-0000123"
    [sent] = transport.sent
    assert (sent.endpoint, sent.method, sent.url) == (
        EndpointClass.AUTH,
        "GET",
        "https://pos.example/whoami",
    )
    assert sent.headers["Authorization"] == basic("loc-key", "int-key")
    assert "ConsumerKey" not in sent.headers


async def test_full_fetch_reads_everything_and_sets_the_cursor() -> None:
    records = [
        dutchie_product(productId=1, lastModifiedDateUTC="2026-03-14T10:00:00Z"),
        dutchie_product(productId=2, lastModifiedDateUTC="2026-03-14T11:30:00.5Z"),
        dutchie_product(productId=3, lastModifiedDateUTC="garbage"),
    ]
    transport = ScriptedTransport(answers(reply(200, records)))
    fetched = await adapter(transport).fetch_products()
    assert fetched.full is True
    assert [r["productId"] for r in fetched.records] == [1, 2, 3]
    assert fetched.cursor == datetime(2026, 3, 14, 11, 30, 0, 500000, tzinfo=UTC)
    [sent] = transport.sent
    assert sent.endpoint is EndpointClass.PRODUCTS
    assert sent.params == {}  # no isActive filter: inactive products must reach the sync
    assert sent.headers["Authorization"] == basic("loc-key", "")


async def test_incremental_fetch_overlaps_by_six_minutes() -> None:
    """Dutchie publishes a change 1-5 minutes after the register: the fetch reaches back past
    that, so a change that shows late with an older modification time is still read."""
    transport = ScriptedTransport(answers(reply(200, [])))
    since = datetime(2026, 3, 14, 12, 0, 30, 900000, tzinfo=UTC)
    fetched = await adapter(transport).fetch_products(since=since)
    assert fetched.full is False
    assert fetched.records == []
    assert fetched.cursor == since  # nothing newer: the cursor stays
    [sent] = transport.sent
    assert sent.endpoint is EndpointClass.PRODUCTS_CHANGED
    assert sent.params == {"fromLastModifiedDateUTC": "2026-03-14T11:54:30Z"}


async def test_duplicate_records_in_one_answer_keep_the_latest() -> None:
    first = dutchie_product(productId=5, recPrice=10)
    again = dutchie_product(productId=5, recPrice=11)
    transport = ScriptedTransport(answers(reply(200, [first, again])))
    fetched = await adapter(transport).fetch_products()
    assert fetched.records == [again]


@pytest.mark.parametrize(
    "body",
    [{"products": []}, [1, 2], "nope"],
)
async def test_product_list_of_the_wrong_shape_is_a_protocol_error(body: object) -> None:
    transport = ScriptedTransport(answers(reply(200, body)))
    with pytest.raises(PosProtocolError):
        await adapter(transport).fetch_products()


async def test_non_json_is_a_protocol_error() -> None:
    transport = ScriptedTransport(answers(reply(200, raw=b"<html>maintenance</html>")))
    with pytest.raises(PosProtocolError):
        await adapter(transport).fetch_products()


async def test_inventory_sums_batches() -> None:
    rows = [
        {"productId": 1, "sku": "A", "quantityAvailable": 4, "batchId": "b1", "packageId": "p1"},
        {"productId": 1, "sku": "A", "quantityAvailable": 3, "batchId": "b2", "packageId": "p2"},
        {"productId": 2, "sku": "B", "quantityAvailable": 2.75, "quantityUnits": "g"},
        {"productId": 3, "sku": "C", "quantityAvailable": -2},
    ]
    transport = ScriptedTransport(answers(reply(200, rows)))
    levels = await adapter(transport).fetch_inventory()
    assert levels == [
        InventoryLevel("1", None, 7),
        InventoryLevel("2", None, 2),
        InventoryLevel("3", None, 0),
    ]
    assert transport.sent[0].endpoint is EndpointClass.INVENTORY


@pytest.mark.parametrize(
    "row",
    [{"sku": "A", "quantityAvailable": 1}, {"productId": 1, "quantityAvailable": "lots"}],
)
async def test_broken_inventory_rows_are_protocol_errors(row: dict[str, Any]) -> None:
    transport = ScriptedTransport(answers(reply(200, [row])))
    with pytest.raises(PosProtocolError):
        await adapter(transport).fetch_inventory()


def order(**changes: Any) -> PosOrderRequest:
    values: dict[str, Any] = {
        "reference": "RL-ABCDE23456",
        "idempotency_key": "idem-1",
        "items": [PosOrderItem("40122", "40122", 2, 3500)],
        "customer_name": "Sam",
        "notes": "pickup at 5",
    }
    values.update(changes)
    return PosOrderRequest(**values)


async def test_submit_order_sends_the_idempotency_key() -> None:
    transport = ScriptedTransport(
        answers(
            reply(200, {"PreOrderId": 88001, "Status": "Submitted", "IdempotencyKey": "idem-1"})
        )
    )
    receipt = await adapter(transport).submit_order(order())
    assert receipt.pos_order_id == "88001"
    assert receipt.status is PosOrderStatus.ACCEPTED
    assert receipt.vendor_status == "Submitted"
    assert receipt.reference == "RL-ABCDE23456"
    [sent] = transport.sent
    assert (sent.endpoint, sent.method, sent.idempotent) == (
        EndpointClass.ORDER_SUBMIT,
        "POST",
        True,
    )
    assert sent.headers["ConsumerKey"] == "ck-1"
    assert sent.json_body == {
        "customerId": None,
        "items": [{"productId": 40122, "quantity": 2}],
        "orderType": "Pickup",
        "notes": "RL-ABCDE23456 Sam pickup at 5",
        "idempotencyKey": "idem-1",
    }


async def test_refused_order_carries_the_pos_message() -> None:
    transport = ScriptedTransport(
        answers(reply(400, {"Message": "Insufficient inventory for product 40122"}))
    )
    with pytest.raises(PosRejected, match="Insufficient inventory") as caught:
        await adapter(transport).submit_order(order())
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("vendor", "ours"),
    [
        ("Submitted", PosOrderStatus.ACCEPTED),
        ("Processing", PosOrderStatus.ACCEPTED),
        ("Filled", PosOrderStatus.READY),
        ("Complete", PosOrderStatus.COMPLETED),
        ("Cancelled", PosOrderStatus.CANCELLED),
    ],
)
async def test_order_status_table(vendor: str, ours: PosOrderStatus) -> None:
    transport = ScriptedTransport(
        answers(reply(200, {"PreOrderId": 9, "Status": vendor, "LastModifiedDateUTC": "x"}))
    )
    receipt = await adapter(transport).order_status("9")
    assert (receipt.status, receipt.vendor_status) == (ours, vendor)
    assert transport.sent[0].params == {"PreOrderId": "9"}
    assert transport.sent[0].endpoint is EndpointClass.ORDER_STATUS


async def test_unknown_status_and_unknown_order() -> None:
    transport = ScriptedTransport(
        answers(
            reply(200, {"PreOrderId": 9, "Status": "Teleported"}),
            reply(404, {"Message": "PreOrder not found"}),
        )
    )
    dutchie = adapter(transport)
    with pytest.raises(PosProtocolError, match="Teleported"):
        await dutchie.order_status("9")
    with pytest.raises(PosNotFound, match="PreOrder not found"):
        await dutchie.order_status("10")


async def test_cancel_order() -> None:
    def handle(sent: Sent) -> Any:
        assert sent.json_body == {"PreOrderId": 88001}
        return reply(200, {"PreOrderId": 88001, "Status": "Cancelled"})

    transport = ScriptedTransport(handle)
    receipt = await adapter(transport).cancel_order("88001")
    assert receipt.status is PosOrderStatus.CANCELLED
    assert transport.sent[0].endpoint is EndpointClass.ORDER_CANCEL
    assert transport.sent[0].headers["ConsumerKey"] == "ck-1"


def test_find_order_is_not_how_dutchie_recovers() -> None:
    assert not isinstance(adapter(ScriptedTransport(answers())), OrderLookup)
