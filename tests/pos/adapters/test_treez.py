from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from ridgeline.clock import FakeClock
from ridgeline.pos.adapters.treez import (
    PAGE_SIZE,
    TreezAdapter,
    TreezConfig,
    load_rsa_private_key,
    map_treez_product,
)
from ridgeline.pos.base import EndpointClass, InventoryLevel, PosOrderItem, PosOrderRequest
from ridgeline.pos.base import PosOrderStatus as Status
from ridgeline.pos.canonical import Category, Potency, PotencyUnit, StrainType
from ridgeline.pos.capabilities import OrderDedupe, OrderLookup
from ridgeline.pos.errors import (
    PosAuthFailed,
    PosNotFound,
    PosProtocolError,
    PosRejected,
    RecordInvalid,
)
from ridgeline.pos.registry import adapter_class
from tests.pos.fakes import ScriptedTransport, Sent, answers, reply

NOW = datetime(2026, 3, 14, 15, 9, 26, 535000, tzinfo=UTC)
BASE = "https://treez.example/dispensary/v3/green-leaf"


def treez_product(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "product_id": "6f1c2a9e-3b1d-4c55-9a0e-2f7d8e1b4c3a",
        "product_status": "ACTIVE",
        "last_updated_at": "2026-03-14T12:00:00.000Z",
        "sellable_quantity": 18,
        "category_type": "FLOWER",
        "product_configurable_fields": {
            "name": "Sour Diesel 3.5g",
            "uom": "GRAMS",
            "brand": "Sunday Goods",
            "amount": 3.5,
            "classification": "SATIVA",
            "total_mg_thc": 812.5,
            "total_mg_cbd": 3.1,
            "subtype": "EIGHTHS",
        },
        "pricing": {"price_type": "FLAT", "price_sell": 42.5, "tier_pricing_detail": []},
        "e_commerce": {
            "primary_image": "https://cdn.treez.io/img/sd.png",
            "hide_from_menu": False,
            "minimum_visible_inventory_level": 0,
        },
    }
    record.update(changes)
    return record


def with_fields(**changes: Any) -> dict[str, Any]:
    record = treez_product()
    record["product_configurable_fields"] = {**record["product_configurable_fields"], **changes}
    return record


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def make_adapter(rsa_key_pem: str, clock: FakeClock) -> Any:
    def build(transport: ScriptedTransport) -> TreezAdapter:
        config = TreezConfig.model_validate(
            {
                "base_url": "https://treez.example",
                "dispensary": "green-leaf",
                "certificate_id": "cert-77",
                "organization_id": "org-5",
                "private_key_pem": rsa_key_pem,
            }
        )
        return TreezAdapter(config, transport, clock)

    return build


def ok(data: Any) -> Any:
    return reply(200, {"resultCode": "SUCCESS", "data": data})


# -- mapping ---------------------------------------------------------------------------------


def test_maps_a_full_record() -> None:
    product = map_treez_product(treez_product())
    assert product.external_id == "6f1c2a9e-3b1d-4c55-9a0e-2f7d8e1b4c3a"
    assert product.sku is None
    assert product.name == "Sour Diesel 3.5g"
    assert product.brand == "Sunday Goods"
    assert product.category is Category.FLOWER
    assert product.vendor_category == "FLOWER"
    assert product.strain_type is StrainType.SATIVA
    assert product.thc == Potency(value=812.5, unit=PotencyUnit.MG)
    assert product.cbd == Potency(value=3.1, unit=PotencyUnit.MG)
    assert product.is_active is True
    assert product.image_urls == ["https://cdn.treez.io/img/sd.png"]
    assert product.pos_updated_at == datetime(2026, 3, 14, 12, tzinfo=UTC)
    [variant] = product.variants
    assert variant.external_id == product.external_id
    assert (variant.label, variant.weight_grams) == ("3.5 g", 3.5)
    assert variant.price_cents == 4250
    assert variant.quantity_available == 18


@pytest.mark.parametrize(
    ("category_type", "expected"),
    [
        ("FLOWER", Category.FLOWER),
        ("PREROLL", Category.PRE_ROLL),
        ("CARTRIDGE", Category.VAPE),
        ("EXTRACT", Category.CONCENTRATE),
        ("EDIBLE", Category.EDIBLE),
        ("BEVERAGE", Category.BEVERAGE),
        ("TINCTURE", Category.TINCTURE),
        ("TOPICAL", Category.TOPICAL),
        ("PILL", Category.CAPSULE),
        ("MERCH", Category.ACCESSORY),
        ("PLANT", Category.OTHER),
        (None, Category.OTHER),
    ],
)
def test_category_table(category_type: str | None, expected: Category) -> None:
    assert map_treez_product(treez_product(category_type=category_type)).category is expected


@pytest.mark.parametrize(
    ("classification", "expected"),
    [
        ("INDICA", StrainType.INDICA),
        ("SATIVA", StrainType.SATIVA),
        ("HYBRID", StrainType.HYBRID),
        ("CBD", StrainType.CBD),
        (None, StrainType.NONE),
    ],
)
def test_classification(classification: str | None, expected: StrainType) -> None:
    assert map_treez_product(with_fields(classification=classification)).strain_type is expected


@pytest.mark.parametrize(
    ("uom", "amount", "label", "grams"),
    [
        ("GRAMS", 1, "1 g", 1.0),
        ("GRAMS", 28, "28 g", 28.0),
        ("MILLIGRAMS", 100, "100 mg", 0.1),
        ("EACH", 1, "each", None),
        (None, None, "each", None),
    ],
)
def test_units(uom: str | None, amount: float | None, label: str, grams: float | None) -> None:
    [variant] = map_treez_product(with_fields(uom=uom, amount=amount)).variants
    assert (variant.label, variant.weight_grams) == (label, grams)


@pytest.mark.parametrize(
    ("status", "hidden", "active"),
    [("ACTIVE", False, True), ("DEACTIVATED", False, False), ("ACTIVE", True, False)],
)
def test_status_and_hide_from_menu(status: str, hidden: bool, active: bool) -> None:
    record = treez_product(
        product_status=status, e_commerce={"primary_image": None, "hide_from_menu": hidden}
    )
    product = map_treez_product(record)
    assert product.is_active is active
    assert product.image_urls == []


def test_missing_potency_and_stock() -> None:
    record = with_fields(total_mg_thc=None, total_mg_cbd=None)
    record.pop("sellable_quantity")
    product = map_treez_product(record)
    assert product.thc is None
    assert product.cbd is None
    assert product.variants[0].quantity_available is None


def test_price_from_price_sell_in_decimal() -> None:
    record = treez_product(pricing={"price_type": "TIER", "price_sell": "0.29"})
    assert map_treez_product(record).variants[0].price_cents == 29


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (treez_product(product_id=None), "product_id is missing"),
        (treez_product(product_id=""), "product_id is missing"),
        (treez_product(product_configurable_fields=None), "name is missing"),
        (treez_product(product_configurable_fields=["name"]), "must be an object"),
        (with_fields(name="  "), "name is missing"),
        (treez_product(pricing={"price_type": "FLAT"}), "price_sell (the price) is missing"),
        (treez_product(pricing={"price_sell": "free"}), "price_sell must be a number"),
        (treez_product(pricing={"price_sell": -3}), "price_sell must not be negative"),
        (with_fields(amount="eighth"), "amount must be a number"),
        (with_fields(total_mg_thc={"value": 1}), "total_mg_thc must be a number"),
        (treez_product(sellable_quantity="many"), "sellable_quantity must be a number"),
        (treez_product(e_commerce={"hide_from_menu": "no"}), "hide_from_menu must be true"),
        (treez_product(last_updated_at="14/03/2026"), "last_updated_at is not an ISO-8601"),
    ],
)
def test_malformed_records_are_invalid(record: dict[str, Any], reason: str) -> None:
    with pytest.raises(RecordInvalid) as caught:
        map_treez_product(record)
    assert reason in caught.value.reason
    assert caught.value.record is record


def test_negative_stock_reads_as_none_left() -> None:
    assert (
        map_treez_product(treez_product(sellable_quantity=-4)).variants[0].quantity_available == 0
    )


# -- config ----------------------------------------------------------------------------------


def test_config_validates_the_private_key(rsa_key_pem: str) -> None:
    base = {"dispensary": "green-leaf", "certificate_id": "c", "organization_id": "o"}
    config = TreezConfig.model_validate({**base, "private_key_pem": rsa_key_pem})
    assert config.base_url == "https://api-prod.treez.io"
    assert config.redacted()["private_key_pem"] == "********"
    assert "PRIVATE KEY" not in repr(config)

    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    small_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - refused below
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    for bad, message in [
        ("not a key", "not an unencrypted PEM private key"),
        (ec_pem, "must be an RSA key"),
        (small_pem, "at least 2048 bits"),
    ]:
        with pytest.raises(ValidationError, match=message):
            TreezConfig.model_validate({**base, "private_key_pem": bad})
    with pytest.raises(ValidationError):
        TreezConfig.model_validate(
            {**base, "dispensary": "../admin", "private_key_pem": rsa_key_pem}
        )


def test_registered() -> None:
    assert adapter_class("treez") is TreezAdapter
    assert issubclass(TreezAdapter, OrderLookup)
    assert not issubclass(TreezAdapter, OrderDedupe)


# -- auth --------------------------------------------------------------------------------------


def claims_of(sent: Sent, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    scheme, token = sent.headers["Authorization"].split(" ")
    assert scheme == "Bearer"
    decoded: dict[str, Any] = jwt.decode(
        token,
        key.public_key(),
        algorithms=["RS256"],
        audience=sent.url,
        options={"verify_exp": False, "verify_iat": False},  # ms, not s,
    )
    return decoded


async def test_every_request_carries_a_fresh_token(
    make_adapter: Any, rsa_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    transport = ScriptedTransport(
        answers(ok({"dispensary": "green-leaf", "name": "Green Leaf"}), ok({"product_list": []}))
    )
    treez = make_adapter(transport)
    identity = await treez.verify_credentials()
    assert (identity.location_id, identity.location_name) == ("green-leaf", "Green Leaf")
    clock.advance(12.25)
    await treez.fetch_products()
    first, second = transport.sent
    assert first.url == f"{BASE}/config/store"
    assert first.endpoint is EndpointClass.AUTH
    assert second.params == {}  # the whole URL is signed, so nothing is added to it later
    issued = int(NOW.timestamp() * 1000)
    assert claims_of(first, rsa_key) == {
        "aud": f"{BASE}/config/store",
        "iss": "cert-77",
        "oid": "org-5",
        "iat": issued,
        "exp": issued + 30000,
    }
    later = claims_of(second, rsa_key)
    assert later["aud"] == f"{BASE}/product/list/page/1/pagesize/500"
    assert later["iat"] == issued + 12250
    assert later["exp"] == later["iat"] + 30000


async def test_expired_token_refusal_is_an_auth_failure(make_adapter: Any) -> None:
    transport = ScriptedTransport(
        answers(reply(400, {"resultCode": "FAIL", "resultReason": "JWT_EXPIRED"}))
    )
    with pytest.raises(PosAuthFailed, match="JWT_EXPIRED"):
        await make_adapter(transport).verify_credentials()


# -- catalog ---------------------------------------------------------------------------------


def page_of(start: int, count: int) -> list[dict[str, Any]]:
    return [
        treez_product(
            product_id=f"p-{n}", last_updated_at=f"2026-03-{1 + n % 28:02d}T08:00:00.000Z"
        )
        for n in range(start, start + count)
    ]


async def test_pages_until_a_short_page(make_adapter: Any) -> None:
    transport = ScriptedTransport(
        answers(
            ok({"product_list": page_of(0, PAGE_SIZE)}),
            ok({"product_list": page_of(PAGE_SIZE, PAGE_SIZE)}),
            ok({"product_list": page_of(2 * PAGE_SIZE, 3)}),
        )
    )
    fetched = await make_adapter(transport).fetch_products()
    assert len(fetched.records) == 2 * PAGE_SIZE + 3
    assert fetched.full is True
    assert fetched.cursor == datetime(2026, 3, 28, 8, tzinfo=UTC)
    assert [s.url.removeprefix(BASE) for s in transport.sent] == [
        "/product/list/page/1/pagesize/500",
        "/product/list/page/2/pagesize/500",
        "/product/list/page/3/pagesize/500",
    ]


async def test_a_full_last_page_is_followed_by_an_empty_one(make_adapter: Any) -> None:
    transport = ScriptedTransport(
        answers(ok({"product_list": page_of(0, PAGE_SIZE)}), ok({"product_list": []}))
    )
    fetched = await make_adapter(transport).fetch_products()
    assert len(fetched.records) == PAGE_SIZE
    assert len(transport.sent) == 2


async def test_a_repeated_page_is_refused_not_paged_forever(make_adapter: Any) -> None:
    same = ok({"product_list": page_of(0, PAGE_SIZE)})
    transport = ScriptedTransport(lambda sent: same)
    with pytest.raises(PosProtocolError, match="repeated"):
        await make_adapter(transport).fetch_products()
    assert len(transport.sent) == 2


async def test_incremental_uses_the_last_updated_path(make_adapter: Any) -> None:
    transport = ScriptedTransport(answers(ok({"product_list": page_of(0, 2)})))
    since = datetime(2026, 3, 14, 12, 0, 30, tzinfo=UTC)
    fetched = await make_adapter(transport).fetch_products(since=since)
    [sent] = transport.sent
    assert sent.endpoint is EndpointClass.PRODUCTS_CHANGED
    assert (
        sent.url
        == f"{BASE}/product/list/lastUpdated/after/2026-03-14T11:59:30Z/page/1/pagesize/500"
    )
    assert fetched.full is False
    assert fetched.cursor == since  # the records are older than the cursor


@pytest.mark.parametrize(
    "answer",
    [
        reply(200, {"resultCode": "SUCCESS", "data": {"products": []}}),
        reply(200, {"resultCode": "SUCCESS", "data": {"product_list": [1]}}),
        reply(200, {"resultCode": "MAYBE"}),
        reply(200, raw=b"{"),
        reply(302, {}),
    ],
)
async def test_wrong_shapes_are_protocol_errors(make_adapter: Any, answer: Any) -> None:
    with pytest.raises(PosProtocolError):
        await make_adapter(ScriptedTransport(answers(answer))).fetch_products()


async def test_inventory_reads_sellable_quantity(make_adapter: Any) -> None:
    records = [
        treez_product(product_id="a", sellable_quantity=5),
        treez_product(product_id="b", sellable_quantity=0),
        treez_product(product_id="c", sellable_quantity=2.5),
    ]
    del records[1]["sellable_quantity"]
    transport = ScriptedTransport(answers(ok({"product_list": records})))
    levels = await make_adapter(transport).fetch_inventory()
    assert levels == [
        InventoryLevel("a", None, 5),
        InventoryLevel("b", None, 0),
        InventoryLevel("c", None, 2),
    ]
    assert transport.sent[0].endpoint is EndpointClass.INVENTORY
    assert transport.sent[0].url.endswith("/product/list/page/1/pagesize/500")


# -- orders ----------------------------------------------------------------------------------


def ticket(status: str = "AWAITING_PROCESSING", **changes: Any) -> dict[str, Any]:
    data = {
        "ticket_id": "t-9d2",
        "order_number": "100234",
        "order_status": status,
        "external_order_number": "RL-ABCDE23456",
    }
    data.update(changes)
    return data


async def test_submit_order(make_adapter: Any) -> None:
    transport = ScriptedTransport(answers(ok(ticket())))
    request = PosOrderRequest(
        reference="RL-ABCDE23456",
        idempotency_key="ignored",
        items=[PosOrderItem("p-1", "p-1", 3, 4250)],
        customer_name="Ana",
        customer_phone="+15550100",
    )
    receipt = await make_adapter(transport).submit_order(request)
    assert (receipt.pos_order_id, receipt.status, receipt.reference) == (
        "100234",
        Status.ACCEPTED,
        "RL-ABCDE23456",
    )
    [sent] = transport.sent
    assert (sent.method, sent.url, sent.idempotent) == (
        "POST",
        f"{BASE}/ticket/detailticket",
        False,
    )
    assert sent.json_body == {
        "type": "PICKUP",
        "order_source": "KIOSK",
        "external_order_number": "RL-ABCDE23456",
        "customer": {"name": "Ana", "phone": "+15550100"},
        "items": [{"product_id": "p-1", "quantity": 3}],
        "notes": "",
    }


async def test_refused_ticket_carries_the_reason(make_adapter: Any) -> None:
    transport = ScriptedTransport(
        answers(reply(400, {"resultCode": "FAIL", "resultReason": "INSUFFICIENT_INVENTORY"}))
    )
    request = PosOrderRequest("RL-1", "k", [PosOrderItem("p", "p", 1, 1)])
    with pytest.raises(PosRejected, match="INSUFFICIENT_INVENTORY"):
        await make_adapter(transport).submit_order(request)


async def test_find_order_by_reference(make_adapter: Any) -> None:
    transport = ScriptedTransport(
        answers(
            ok([ticket(external_order_number="RL-OTHER"), ticket(status="IN_PROGRESS")]),
            ok([]),
            reply(404, {"resultCode": "FAIL", "resultReason": "NOT_FOUND"}),
        )
    )
    treez = make_adapter(transport)
    found = await treez.find_order("RL-ABCDE23456")
    assert found is not None
    assert (found.pos_order_id, found.vendor_status) == ("100234", "IN_PROGRESS")
    assert await treez.find_order("RL-ABCDE23456") is None
    assert await treez.find_order("RL-ABCDE23456") is None
    assert transport.sent[0].url == f"{BASE}/ticket/externalordernumber/RL-ABCDE23456"
    assert transport.sent[0].endpoint is EndpointClass.ORDER_LOOKUP


@pytest.mark.parametrize(
    ("vendor", "ours"),
    [
        ("AWAITING_PROCESSING", Status.ACCEPTED),
        ("IN_PROGRESS", Status.ACCEPTED),
        ("PACKED_READY", Status.READY),
        ("OUT_FOR_DELIVERY", Status.READY),
        ("COMPLETED", Status.COMPLETED),
        ("CANCELED", Status.CANCELLED),
    ],
)
async def test_status_table(make_adapter: Any, vendor: str, ours: Status) -> None:
    transport = ScriptedTransport(answers(ok([ticket(vendor)])))
    receipt = await make_adapter(transport).order_status("100234")
    assert receipt.status is ours
    assert transport.sent[0].url == f"{BASE}/ticket/ordernumber/100234"


async def test_unknown_ticket(make_adapter: Any) -> None:
    transport = ScriptedTransport(answers(ok([]), ok([ticket("PREVIEW")])))
    treez = make_adapter(transport)
    with pytest.raises(PosNotFound):
        await treez.order_status("1")
    with pytest.raises(PosProtocolError, match="PREVIEW"):
        await treez.order_status("1")


async def test_cancel_finds_the_ticket_then_cancels_it(make_adapter: Any) -> None:
    transport = ScriptedTransport(answers(ok([ticket()]), ok(ticket("CANCELED"))))
    receipt = await make_adapter(transport).cancel_order("100234")
    assert receipt.status is Status.CANCELLED
    lookup, cancel = transport.sent
    assert lookup.endpoint is EndpointClass.ORDER_LOOKUP
    assert (cancel.endpoint, cancel.method, cancel.url) == (
        EndpointClass.ORDER_CANCEL,
        "POST",
        f"{BASE}/ticket/t-9d2/cancel",
    )


async def test_a_query_string_is_part_of_the_signed_audience(
    make_adapter: Any, rsa_key: rsa.RSAPrivateKey
) -> None:
    # No Treez call in the contract has a query yet; one that does must be signed with it.
    transport = ScriptedTransport(answers(ok({})))
    treez = make_adapter(transport)
    await treez._call(EndpointClass.PRODUCTS, "GET", "/product/search", query={"q": "a b&c"})
    [sent] = transport.sent
    assert sent.url == f"{BASE}/product/search?q=a+b%26c"
    assert sent.params == {}
    assert claims_of(sent, rsa_key)["aud"] == sent.url


def test_a_stores_key_is_loaded_once_however_many_adapters(rsa_key_pem: str) -> None:
    """Each job builds its adapter from the stored config; OpenSSL's key checks (tens of ms of
    CPU on the event loop) must not run each time."""
    base = {"dispensary": "green-leaf", "certificate_id": "c", "organization_id": "o"}
    load_rsa_private_key.cache_clear()
    for _ in range(3):
        config = TreezConfig.model_validate({**base, "private_key_pem": rsa_key_pem})
        TreezAdapter(config, ScriptedTransport(answers()), FakeClock())
    info = load_rsa_private_key.cache_info()
    assert (info.misses, info.hits) == (1, 5)
