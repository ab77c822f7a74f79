from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ridgeline.clock import FakeClock
from ridgeline.pos.adapters.flowhub import (
    FlowhubAdapter,
    FlowhubConfig,
    group_variant_rows,
    map_flowhub_product,
)
from ridgeline.pos.base import EndpointClass, InventoryLevel, PosOrderItem, PosOrderRequest
from ridgeline.pos.base import PosOrderStatus as Status
from ridgeline.pos.canonical import Category, Potency, PotencyUnit, StrainType
from ridgeline.pos.capabilities import OrderDedupe, OrderLookup
from ridgeline.pos.errors import PosAuthFailed, PosProtocolError, PosRejected, RecordInvalid
from ridgeline.pos.registry import adapter_class
from tests.pos.fakes import ScriptedTransport, Sent, answers, reply

NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)


def flowhub_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "productId": "prd_7Kx2",
        "variantId": "var_35",
        "sku": "GG4-35",
        "productName": "Gorilla Glue #4",
        "brand": "Cookies",
        "category": "Flower",
        "speciesName": "Hybrid",
        "strainName": "Gorilla Glue #4",
        "cannabinoidInformation": [
            {"name": "THC", "lowerRange": 24.1, "upperRange": 27.3, "unitOfMeasure": "%"},
            {"name": "CBD", "lowerRange": 0, "upperRange": 0.2, "unitOfMeasure": "%"},
        ],
        "priceInMinorUnits": 4500,
        "productWeight": 3.5,
        "productUnitOfMeasure": "g",
        "quantity": 12,
        "productUpdatedAt": "2026-03-14T09:30:00.000Z",
    }
    row.update(changes)
    return row


def grouped(*rows: dict[str, Any]) -> dict[str, Any]:
    [record] = group_variant_rows(list(rows))
    return record


def config(**changes: Any) -> FlowhubConfig:
    values: dict[str, Any] = {
        "base_url": "https://flowhub.example",
        "client_id": "client-1",
        "api_key": "key-1",
        "location_id": "loc-9",
        "oauth_client_id": "oauth-1",
        "oauth_client_secret": "shh",
        "audience": "https://api.flowhub.co",
    }
    values.update(changes)
    return FlowhubConfig.model_validate(values)


def ok(data: Any) -> Any:
    return reply(200, {"status": "success", "data": data})


def token(value: str = "tok-1", life: int = 3600) -> Any:
    return reply(200, {"access_token": value, "token_type": "Bearer", "expires_in": life})


# -- mapping ---------------------------------------------------------------------------------


def test_groups_variant_rows_into_one_product() -> None:
    rows = [
        flowhub_row(),
        flowhub_row(productId="prd_other", variantId="var_x"),
        flowhub_row(variantId="var_7", productWeight=7, priceInMinorUnits=8000, quantity=3),
        flowhub_row(productId=None, variantId="var_orphan"),
    ]
    records = group_variant_rows(rows)
    assert [r["productId"] for r in records] == ["prd_7Kx2", "prd_other", None]
    assert [v["variantId"] for v in records[0]["variants"]] == ["var_35", "var_7"]


def test_maps_a_product_with_its_variants() -> None:
    record = grouped(
        flowhub_row(),
        flowhub_row(
            variantId="var_7",
            sku="GG4-7",
            productWeight=7,
            priceInMinorUnits=8000,
            quantity=3,
            productUpdatedAt="2026-03-14T10:00:00Z",
        ),
    )
    product = map_flowhub_product(record)
    assert product.external_id == "prd_7Kx2"
    assert product.name == "Gorilla Glue #4"
    assert product.brand == "Cookies"
    assert product.category is Category.FLOWER
    assert product.vendor_category == "Flower"
    assert product.strain_type is StrainType.HYBRID
    assert product.thc == Potency(value=27.3, unit=PotencyUnit.PERCENT)  # the upper range
    assert product.cbd == Potency(value=0.2, unit=PotencyUnit.PERCENT)
    assert product.sku is None  # the variants' skus differ
    assert product.pos_updated_at == datetime(2026, 3, 14, 10, tzinfo=UTC)
    assert [(v.external_id, v.label, v.weight_grams, v.price_cents, v.quantity_available)
            for v in product.variants] == [
        ("var_35", "3.5 g", 3.5, 4500, 12),
        ("var_7", "7 g", 7.0, 8000, 3),
    ]  # fmt: skip


def test_a_single_row_maps_too() -> None:
    product = map_flowhub_product(flowhub_row())
    assert product.sku == "GG4-35"
    assert len(product.variants) == 1


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        ("Flower", Category.FLOWER),
        ("Pre-Rolls", Category.PRE_ROLL),
        ("Vapes", Category.VAPE),
        ("Cartridges", Category.VAPE),
        ("Concentrates", Category.CONCENTRATE),
        ("Edibles", Category.EDIBLE),
        ("Beverages", Category.BEVERAGE),
        ("Tinctures", Category.TINCTURE),
        ("Topicals", Category.TOPICAL),
        ("Capsules", Category.CAPSULE),
        ("Accessories", Category.ACCESSORY),
        ("Clones", Category.OTHER),
        (None, Category.OTHER),
    ],
)
def test_category_table(category: str | None, expected: Category) -> None:
    assert map_flowhub_product(grouped(flowhub_row(category=category))).category is expected


@pytest.mark.parametrize(
    ("species", "expected"),
    [
        ("Indica", StrainType.INDICA),
        ("Sativa", StrainType.SATIVA),
        ("Hybrid", StrainType.HYBRID),
        ("CBD", StrainType.CBD),
        (None, StrainType.NONE),
    ],
)
def test_species(species: str | None, expected: StrainType) -> None:
    assert map_flowhub_product(grouped(flowhub_row(speciesName=species))).strain_type is expected


def test_edible_in_milligrams_sold_each() -> None:
    row = flowhub_row(
        category="Edibles",
        cannabinoidInformation=[
            {"name": "THC", "lowerRange": 95, "upperRange": 100, "unitOfMeasure": "mg"},
            {"name": "CBN", "lowerRange": 5, "upperRange": 5, "unitOfMeasure": "mg"},
        ],
        productWeight=None,
        productUnitOfMeasure="ea",
        priceInMinorUnits=1999,
    )
    product = map_flowhub_product(grouped(row))
    assert product.thc == Potency(value=100, unit=PotencyUnit.MG)
    assert product.cbd is None
    [variant] = product.variants
    assert (variant.label, variant.weight_grams, variant.price_cents) == ("each", None, 1999)


def test_repeated_variant_rows_keep_the_latest() -> None:
    product = map_flowhub_product(
        grouped(flowhub_row(quantity=1), flowhub_row(quantity=9, priceInMinorUnits=4000))
    )
    [variant] = product.variants
    assert (variant.quantity_available, variant.price_cents) == (9, 4000)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"variantId": None}, "variantId is missing"),
        ({"variantId": ["v"]}, "variantId must be"),
        ({"productName": None}, "productName is missing"),
        ({"priceInMinorUnits": None}, "priceInMinorUnits (the price) is missing"),
        ({"priceInMinorUnits": 45.5}, "whole number of cents"),
        ({"priceInMinorUnits": "4500c"}, "priceInMinorUnits must be a number"),
        ({"priceInMinorUnits": -100}, "must not be negative"),
        ({"cannabinoidInformation": {"THC": 20}}, "cannabinoidInformation must be a list"),
        (
            {"cannabinoidInformation": [{"name": "THC", "upperRange": "high"}]},
            "upperRange must be a number",
        ),
        ({"quantity": "some"}, "quantity must be a number"),
        ({"productUpdatedAt": "last tuesday"}, "productUpdatedAt is not an ISO-8601"),
    ],
)
def test_malformed_rows_are_invalid(changes: dict[str, Any], reason: str) -> None:
    record = grouped(flowhub_row(**changes))
    with pytest.raises(RecordInvalid) as caught:
        map_flowhub_product(record)
    assert reason in caught.value.reason
    assert caught.value.record is record


@pytest.mark.parametrize(
    "record",
    [
        {"productId": None, "variants": [flowhub_row(productId=None)]},
        {"productId": "prd_7Kx2", "variants": []},
        {"productId": "prd_7Kx2", "variants": "var_35"},
        {"productId": "prd_7Kx2", "variants": [flowhub_row(), flowhub_row(productId="prd_x")]},
        {"productId": "prd_7Kx2", "variants": [flowhub_row(), flowhub_row(productName=12345)]},
    ],
)
def test_malformed_groups_are_invalid(record: dict[str, Any]) -> None:
    with pytest.raises(RecordInvalid):
        map_flowhub_product(record)


# -- config ----------------------------------------------------------------------------------


def test_registered_and_config() -> None:
    assert adapter_class("flowhub") is FlowhubAdapter
    assert issubclass(FlowhubAdapter, OrderLookup)
    assert not issubclass(FlowhubAdapter, OrderDedupe)
    settings = config(location_id=1042)
    assert settings.location_id == "1042"
    view = settings.redacted()
    assert view["api_key"] == view["oauth_client_secret"] == "********"
    assert view["client_id"] == "client-1"


# -- catalog ---------------------------------------------------------------------------------


async def test_catalog_is_one_call_with_key_headers() -> None:
    rows = [
        flowhub_row(productUpdatedAt="2026-03-14T09:00:00Z"),
        flowhub_row(variantId="var_7", productUpdatedAt="2026-03-14T11:00:00Z"),
        flowhub_row(productId="prd_b", variantId="var_b", productUpdatedAt="2026-03-13T11:00:00Z"),
    ]
    transport = ScriptedTransport(answers(ok(rows)))
    adapter = FlowhubAdapter(config(), transport, FakeClock(NOW))
    fetched = await adapter.fetch_products()
    assert [r["productId"] for r in fetched.records] == ["prd_7Kx2", "prd_b"]
    assert fetched.cursor == datetime(2026, 3, 14, 11, tzinfo=UTC)
    [sent] = transport.sent
    assert sent.url == "https://flowhub.example/v0/locations/loc-9/inventory"
    assert (sent.headers["clientId"], sent.headers["key"]) == ("client-1", "key-1")
    assert "Authorization" not in sent.headers


async def test_incremental_keeps_whole_products_changed_after_the_overlap() -> None:
    rows = [
        flowhub_row(productUpdatedAt="2026-03-14T09:00:00Z"),
        flowhub_row(variantId="var_7", productUpdatedAt="2026-03-14T11:59:30Z"),
        flowhub_row(productId="prd_b", variantId="var_b", productUpdatedAt="2026-03-14T11:58:00Z"),
        flowhub_row(productId="prd_c", variantId="var_c", productUpdatedAt=None),
    ]
    transport = ScriptedTransport(answers(ok(rows)))
    adapter = FlowhubAdapter(config(), transport, FakeClock(NOW))
    fetched = await adapter.fetch_products(since=datetime(2026, 3, 14, 12, 0, 30, tzinfo=UTC))
    assert fetched.full is False
    assert transport.sent[0].endpoint is EndpointClass.PRODUCTS_CHANGED
    changed = {r["productId"]: len(r["variants"]) for r in fetched.records}
    assert changed == {"prd_7Kx2": 2, "prd_c": 1}  # both variants travel with the change
    assert fetched.cursor == datetime(2026, 3, 14, 12, 0, 30, tzinfo=UTC)


async def test_inventory_per_variant() -> None:
    rows = [flowhub_row(), flowhub_row(variantId="var_7", quantity=0.5)]
    transport = ScriptedTransport(answers(ok(rows)))
    adapter = FlowhubAdapter(config(), transport, FakeClock(NOW))
    assert await adapter.fetch_inventory() == [
        InventoryLevel("prd_7Kx2", "var_35", 12),
        InventoryLevel("prd_7Kx2", "var_7", 0),
    ]
    assert transport.sent[0].endpoint is EndpointClass.INVENTORY


@pytest.mark.parametrize(
    "answer",
    [
        reply(200, {"status": "success", "data": {"items": []}}),
        reply(200, {"status": "success", "data": ["row"]}),
        reply(200, [flowhub_row()]),
        reply(200, raw=b"not json"),
    ],
)
async def test_wrong_shapes_are_protocol_errors(answer: Any) -> None:
    adapter = FlowhubAdapter(config(), ScriptedTransport(answers(answer)), FakeClock(NOW))
    with pytest.raises(PosProtocolError):
        await adapter.fetch_products()


async def test_verify_checks_the_location_and_the_oauth_client() -> None:
    locations = [
        {"locationId": "loc-1", "locationName": "Elsewhere", "licenseNumber": "L1"},
        {"locationId": "loc-9", "locationName": "Downtown", "licenseNumber": "L9"},
    ]
    transport = ScriptedTransport(answers(ok(locations), token()))
    identity = await FlowhubAdapter(config(), transport, FakeClock(NOW)).verify_credentials()
    assert (identity.location_id, identity.location_name) == ("loc-9", "Downtown")
    assert [s.endpoint for s in transport.sent] == [EndpointClass.AUTH, EndpointClass.AUTH]
    assert transport.sent[1].json_body == {
        "client_id": "oauth-1",
        "client_secret": "shh",
        "audience": "https://api.flowhub.co",
        "grant_type": "client_credentials",
    }


async def test_verify_refuses_keys_for_another_location() -> None:
    transport = ScriptedTransport(answers(ok([{"locationId": "loc-1", "locationName": "X"}])))
    with pytest.raises(PosAuthFailed, match="loc-9"):
        await FlowhubAdapter(config(), transport, FakeClock(NOW)).verify_credentials()


async def test_refused_oauth_client_is_an_auth_failure() -> None:
    transport = ScriptedTransport(
        answers(ok([{"locationId": "loc-9"}]), reply(400, {"error": "invalid_client"}))
    )
    with pytest.raises(PosAuthFailed, match="invalid_client"):
        await FlowhubAdapter(config(), transport, FakeClock(NOW)).verify_credentials()


# -- orders and the token ----------------------------------------------------------------------


def order_data(status: str = "new", order_id: str = "oa_1") -> dict[str, Any]:
    return {"orderId": order_id, "externalId": "RL-ABCDE23456", "status": status}


def request() -> PosOrderRequest:
    return PosOrderRequest(
        reference="RL-ABCDE23456",
        idempotency_key="unused",
        items=[PosOrderItem("prd_7Kx2", "var_35", 2, 4500)],
        customer_name="Kim",
        postback_url="https://ridgeline.example/pos/postback/abc",
    )


async def test_submit_order_with_a_bearer_token() -> None:
    transport = ScriptedTransport(answers(token(), ok(order_data())))
    receipt = await FlowhubAdapter(config(), transport, FakeClock(NOW)).submit_order(request())
    assert (receipt.pos_order_id, receipt.status, receipt.vendor_status) == (
        "oa_1",
        Status.ACCEPTED,
        "new",
    )
    fetch, create = transport.sent
    assert fetch.url == "https://flowhub.example/oauth/token"
    assert create.headers["Authorization"] == "Bearer tok-1"
    assert (create.url, create.idempotent) == (
        "https://flowhub.example/order-ahead/v0/create",
        False,
    )
    assert create.json_body == {
        "locationId": "loc-9",
        "orderType": "kiosk",
        "externalId": "RL-ABCDE23456",
        "postbackUrl": "https://ridgeline.example/pos/postback/abc",
        "customer": {"name": "Kim", "phone": None},
        "items": [{"productId": "prd_7Kx2", "variantId": "var_35", "quantity": 2}],
    }


async def test_token_is_cached_and_refreshed_near_expiry() -> None:
    clock = FakeClock(NOW)
    tokens = iter(["tok-1", "tok-2"])

    def handle(sent: Sent) -> Any:
        if sent.url.endswith("/oauth/token"):
            return token(next(tokens), life=3600)
        return ok(order_data("started"))

    transport = ScriptedTransport(handle)
    adapter = FlowhubAdapter(config(), transport, clock)
    await adapter.order_status("oa_1")
    clock.advance(3239)  # 10% of 3600 s is 360 s: still 361 s to go
    await adapter.order_status("oa_1")
    clock.advance(2)
    await adapter.order_status("oa_1")
    bearers = [s.headers.get("Authorization") for s in transport.sent if "orderStatus" in s.url]
    assert bearers == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


async def test_short_lived_tokens_refresh_a_minute_early() -> None:
    clock = FakeClock(NOW)
    transport = ScriptedTransport(
        lambda sent: token(life=300) if "oauth" in sent.url else ok(order_data())
    )
    adapter = FlowhubAdapter(config(), transport, clock)
    await adapter.order_status("oa_1")
    clock.advance(239)
    await adapter.order_status("oa_1")
    clock.advance(1)
    await adapter.order_status("oa_1")
    assert sum("oauth" in s.url for s in transport.sent) == 2


async def test_a_401_fetches_a_new_token_once() -> None:
    calls = {"status": 0}

    def handle(sent: Sent) -> Any:
        if sent.url.endswith("/oauth/token"):
            return token(f"tok-{sum('oauth' in s.url for s in transport.sent)}")
        calls["status"] += 1
        if sent.headers["Authorization"] == "Bearer tok-1":
            raise PosAuthFailed("revoked", endpoint=sent.endpoint, status=401)
        return ok(order_data("ready"))

    transport = ScriptedTransport(handle)
    receipt = await FlowhubAdapter(config(), transport, FakeClock(NOW)).order_status("oa_1")
    assert receipt.status is Status.READY
    assert calls["status"] == 2


async def test_a_second_401_gives_up() -> None:
    def handle(sent: Sent) -> Any:
        if sent.url.endswith("/oauth/token"):
            return token()
        raise PosAuthFailed("no", endpoint=sent.endpoint, status=401)

    transport = ScriptedTransport(handle)
    with pytest.raises(PosAuthFailed):
        await FlowhubAdapter(config(), transport, FakeClock(NOW)).order_status("oa_1")
    assert len(transport.sent) == 4  # token, call, token, call


async def test_a_403_is_not_retried() -> None:
    def handle(sent: Sent) -> Any:
        if sent.url.endswith("/oauth/token"):
            return token()
        raise PosAuthFailed("scope", endpoint=sent.endpoint, status=403)

    transport = ScriptedTransport(handle)
    with pytest.raises(PosAuthFailed):
        await FlowhubAdapter(config(), transport, FakeClock(NOW)).cancel_order("oa_1")
    assert len(transport.sent) == 2


@pytest.mark.parametrize(
    ("vendor", "ours"),
    [
        ("new", Status.ACCEPTED),
        ("started", Status.ACCEPTED),
        ("inQueue", Status.ACCEPTED),
        ("ready", Status.READY),
        ("inTransit", Status.READY),
        ("delivered", Status.COMPLETED),
        ("sold", Status.COMPLETED),
        ("unableToComplete", Status.REJECTED),
        ("unableToVerify", Status.REJECTED),
        ("deleted", Status.CANCELLED),
    ],
)
async def test_status_table(vendor: str, ours: Status) -> None:
    transport = ScriptedTransport(answers(token(), ok({"orderId": "oa_1", "status": vendor})))
    receipt = await FlowhubAdapter(config(), transport, FakeClock(NOW)).order_status("oa_1")
    assert (receipt.status, receipt.vendor_status) == (ours, vendor)
    assert transport.sent[1].url == "https://flowhub.example/order-ahead/v0/orderStatus/oa_1"


async def test_find_and_cancel() -> None:
    transport = ScriptedTransport(
        answers(
            token(),
            ok([{"orderId": "oa_0", "externalId": "RL-OTHER", "status": "new"}, order_data()]),
            ok([]),
            ok(order_data("deleted")),
        )
    )
    adapter = FlowhubAdapter(config(), transport, FakeClock(NOW))
    found = await adapter.find_order("RL-ABCDE23456")
    assert found is not None
    assert (found.pos_order_id, found.reference) == ("oa_1", "RL-ABCDE23456")
    assert await adapter.find_order("RL-ABCDE23456") is None
    cancelled = await adapter.cancel_order("oa_1")
    assert cancelled.status is Status.CANCELLED
    assert transport.sent[1].params == {"externalId": "RL-ABCDE23456"}
    assert (transport.sent[3].method, transport.sent[3].endpoint) == (
        "DELETE",
        EndpointClass.ORDER_CANCEL,
    )


async def test_refused_order_carries_the_message() -> None:
    transport = ScriptedTransport(
        answers(token(), reply(400, {"status": "error", "message": "Variant var_35 is sold out"}))
    )
    with pytest.raises(PosRejected, match="sold out"):
        await FlowhubAdapter(config(), transport, FakeClock(NOW)).submit_order(request())
