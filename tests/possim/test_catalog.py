"""Seeded catalogs: deterministic, realistic, and fast enough for 20,000 products."""

from __future__ import annotations

import time

import pytest

from ridgeline.possim.catalog import BRANDS, generate_catalog
from ridgeline.possim.credentials import make_identity
from ridgeline.possim.model import Category, Dialect, PotencyUnit
from ridgeline.possim.state import MAX_PRODUCTS, Simulator


def test_same_seed_gives_the_same_catalog() -> None:
    first = [p.summary() for p in generate_catalog(Dialect.TREEZ, 7, 300)]
    again = [p.summary() for p in generate_catalog(Dialect.TREEZ, 7, 300)]
    other = [p.summary() for p in generate_catalog(Dialect.TREEZ, 8, 300)]
    assert first == again
    assert first != other


def test_a_small_catalog_is_the_start_of_a_larger_one() -> None:
    small = [p.summary() for p in generate_catalog(Dialect.BLAZE, 3, 10)]
    large = [p.summary() for p in generate_catalog(Dialect.BLAZE, 3, 500)]
    assert large[:10] == small


def test_ids_take_each_dialects_shape() -> None:
    assert generate_catalog(Dialect.DUTCHIE, 1, 1)[0].product_id.isdigit()
    assert len(generate_catalog(Dialect.TREEZ, 1, 1)[0].product_id) == 36
    assert len(generate_catalog(Dialect.BLAZE, 1, 1)[0].product_id) == 24


def test_catalog_looks_like_a_dispensary_menu() -> None:
    products = generate_catalog(Dialect.FLOWHUB, 1, 3000)
    categories = {p.category for p in products}
    assert categories == set(Category)
    assert len({p.brand for p in products}) >= 35
    assert len(BRANDS) >= 40
    assert len({p.name for p in products}) > 1000
    assert any(p.quantity == 0 for p in products)
    assert any(not p.active for p in products)
    assert any(p.medical_only for p in products)
    assert any(p.image_url is None for p in products)
    flower = [p for p in products if p.category is Category.FLOWER]
    assert any(len(p.variants) >= 3 for p in flower)
    assert all(p.potency_unit is PotencyUnit.PERCENT for p in flower)
    edibles = [p for p in products if p.category is Category.EDIBLE]
    assert all(p.potency_unit is PotencyUnit.MILLIGRAMS for p in edibles)
    assert all(v.price_cents > 0 for p in products for v in p.variants)
    eighths = [v.price_cents for p in flower for v in p.variants if v.grams == 3.5]
    assert min(eighths) >= 1500
    assert max(eighths) <= 7000


def test_twenty_thousand_products_generate_quickly() -> None:
    started = time.perf_counter()
    products = generate_catalog(Dialect.DUTCHIE, 1, MAX_PRODUCTS)
    assert len({p.product_id for p in products}) == MAX_PRODUCTS
    assert time.perf_counter() - started < 5


def test_a_store_holds_at_most_twenty_thousand_products() -> None:
    with pytest.raises(ValueError, match="20000"):
        Simulator().add_store(Dialect.DUTCHIE, MAX_PRODUCTS + 1)


def test_credentials_are_reproducible_from_the_seed() -> None:
    one = make_identity(Dialect.TREEZ, 1, 2, "Harbor View")
    again = make_identity(Dialect.TREEZ, 1, 2, "Harbor View")
    other = make_identity(Dialect.TREEZ, 2, 2, "Harbor View")
    assert one.config("http://sim/treez") == again.config("http://sim/treez")
    assert one.config("http://sim/treez")["private_key_pem"].startswith("-----BEGIN PRIVATE KEY")
    assert one.certificate_id != other.certificate_id


def test_stores_cycle_through_the_dialects() -> None:
    sim = Simulator(seed=1)
    sim.seed_stores(6, 5)
    assert [s.id for s in sim.stores.values()] == [
        "dutchie-1",
        "treez-2",
        "blaze-3",
        "flowhub-4",
        "dutchie-5",
        "treez-6",
    ]
    assert len({s.name for s in sim.stores.values()}) == 6
