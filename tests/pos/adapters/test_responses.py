from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ridgeline.pos.adapters.responses import (
    CatalogPages,
    failure,
    iso_z,
    next_cursor,
    overlap_start,
    vendor_message,
)
from ridgeline.pos.base import EndpointClass
from ridgeline.pos.errors import PosNotFound, PosProtocolError, PosRejected
from ridgeline.pos.registry import adapter_names
from tests.pos.fakes import reply

T0 = datetime(2026, 3, 14, 12, tzinfo=UTC)
T1 = datetime(2026, 3, 14, 13, tzinfo=UTC)


def test_importing_the_package_registers_all_four() -> None:
    import ridgeline.pos.adapters  # noqa: F401

    assert {"dutchie", "treez", "blaze", "flowhub"} <= set(adapter_names())


def test_pages_keep_one_copy_per_id_and_count_id_less_records_as_progress() -> None:
    pages = CatalogPages("id", EndpointClass.PRODUCTS)
    pages.add_page([{"id": 1, "v": "a"}, {"id": 2}])
    pages.add_page([{"id": 2, "v": "b"}, {"id": 3}, {"name": "no id"}])
    pages.add_page([{"id": 3}, {"name": "no id"}])  # nothing new by id, but id-less records
    assert pages.records == [
        {"id": 1, "v": "a"},
        {"id": 2, "v": "b"},
        {"id": 3},
        {"name": "no id"},
        {"name": "no id"},
    ]
    pages.add_page([])  # an empty page is not a repeat
    with pytest.raises(PosProtocolError, match="repeated"):
        pages.add_page([{"id": 1}])


def test_pages_stop_after_the_limit() -> None:
    pages = CatalogPages("id", EndpointClass.INVENTORY, max_pages=2)
    pages.add_page([{}])
    pages.add_page([{}])
    with pytest.raises(PosProtocolError, match="did not end") as caught:
        pages.add_page([{}])
    assert caught.value.endpoint == EndpointClass.INVENTORY


def test_cursor_arithmetic() -> None:
    assert next_cursor([None, T0, T1], None) == T1
    assert next_cursor([None], None) is None
    assert next_cursor([T0], T1) == T1  # never goes back
    assert next_cursor([], T0) == T0
    start = overlap_start(datetime(2026, 3, 14, 12, 0, 30, 999999, tzinfo=UTC), 60)
    assert iso_z(start) == "2026-03-14T11:59:30Z"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, PosRejected),
        (409, PosRejected),
        (422, PosRejected),
        (404, PosNotFound),
        (418, PosProtocolError),
        (302, PosProtocolError),
    ],
)
def test_failure_classification(status: int, kind: type[Exception]) -> None:
    error = failure(reply(status, {"message": "m"}), EndpointClass.ORDER_SUBMIT, "m")
    assert type(error) is kind
    assert error.status == status


def test_vendor_message_reads_the_body() -> None:
    assert (
        vendor_message(reply(400, {"Message": "Out of stock"}), ["message", "Message"])
        == "Out of stock"
    )
    assert vendor_message(reply(400, raw=b"Bad Request"), ["message"]) == "Bad Request"
    assert vendor_message(reply(400, raw=b""), ["message"]) == "HTTP 400"


def test_paged_listings_refuse_a_page_that_lists_an_id_twice() -> None:
    one_shot = CatalogPages("id", EndpointClass.PRODUCTS)
    one_shot.add_page([{"id": 1}, {"id": 2}, {"id": 1, "v": "again"}])
    assert one_shot.records == [{"id": 1, "v": "again"}, {"id": 2}]
    paged = CatalogPages("id", EndpointClass.PRODUCTS, paged=True)
    with pytest.raises(PosProtocolError, match="twice"):
        paged.add_page([{"id": 1}, {"id": 2}, {"id": 1}])
