"""Seeded, realistic dispensary catalogs: the same seed always gives the same products.

Products are drawn one after another from one seeded generator, so a catalog of 10 products is
the first 10 of a catalog of 5,000 with the same seed, and products added later through the
control API continue the same stream. Timestamps of seeded products fall in 2025 (fixed, so they
do not depend on when the simulator starts); products added or edited later use the clock.
"""

from __future__ import annotations

import functools
import hashlib
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ridgeline.possim.model import Category, Dialect, PotencyUnit, Product, StrainType, Variant

CATALOG_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_CATALOG_SPAN_S = 300 * 24 * 3600

_I, _S, _H, _C = StrainType.INDICA, StrainType.SATIVA, StrainType.HYBRID, StrainType.CBD
STRAINS: tuple[tuple[str, StrainType], ...] = (
    ("Blue Dream", _H), ("OG Kush", _H), ("Sour Diesel", _S), ("Gelato #33", _H),
    ("Wedding Cake", _H), ("Gorilla Glue #4", _H), ("Granddaddy Purple", _I),
    ("Jack Herer", _S), ("Pineapple Express", _H), ("Northern Lights", _I), ("Green Crack", _S),
    ("Durban Poison", _S), ("Zkittlez", _I), ("Runtz", _H), ("Ice Cream Cake", _I),
    ("Purple Punch", _I), ("Mimosa", _S), ("Tangie", _S), ("Super Lemon Haze", _S),
    ("Trainwreck", _S), ("Bubba Kush", _I), ("Blueberry", _I), ("White Widow", _H),
    ("AK-47", _H), ("Strawberry Cough", _S), ("Chemdawg", _H), ("Do-Si-Dos", _I), ("MAC 1", _H),
    ("Apple Fritter", _H), ("Biscotti", _I), ("Sunset Sherbet", _I), ("Cherry Pie", _H),
    ("Headband", _H), ("Lemon Cherry Gelato", _H), ("Skywalker OG", _I), ("Forbidden Fruit", _I),
    ("Mango Haze", _S), ("Maui Wowie", _S), ("Acapulco Gold", _S), ("Harlequin", _C),
    ("ACDC", _C), ("Cannatonic", _C), ("Ringo's Gift", _C), ("Platinum Cookies", _H),
    ("Animal Mints", _H), ("Gary Payton", _H), ("Jealousy", _H), ("Pink Runtz", _H),
    ("Papaya", _I), ("Tropicana Cookies", _S), ("Slurricane", _I), ("Cereal Milk", _H),
    ("London Pound Cake", _I), ("Peanut Butter Breath", _H), ("Black Cherry Punch", _I),
    ("Garlic Cookies", _I), ("GMO", _I), ("Kush Mints", _H), ("Blue Zushi", _H),
    ("Permanent Marker", _I), ("Super Silver Haze", _S), ("Lemon Tree", _H), ("Grape Ape", _I),
    ("Hindu Kush", _I), ("Afghan Kush", _I), ("Master Kush", _I), ("Banana Kush", _H),
    ("Orange Creamsicle", _H), ("Golden Goat", _S), ("Strawberry Banana", _H),
    ("Triangle Kush", _I), ("Candyland", _S), ("Ghost Train Haze", _S), ("Cinderella 99", _S),
    ("Bruce Banner", _H), ("Chem 91", _H), ("Sour Tangie", _S), ("Lavender Jones", _H),
)  # fmt: skip

FLAVORS = (
    "Watermelon", "Sour Apple", "Blueberry", "Mango", "Strawberry Lemonade", "Blood Orange",
    "Black Cherry", "Pineapple", "Peach", "Raspberry", "Wild Berry", "Key Lime", "Passion Fruit",
    "Grape", "Pomegranate", "Tangerine", "Huckleberry", "Prickly Pear",
)  # fmt: skip

_GROWERS = (
    "High Desert Farms", "Emerald Bay Growers", "Cascade Cultivation", "Redwood Roots",
    "Sierra Sun", "Northern Harvest", "Lost Coast Farms", "True North Growers", "Canyon Creek",
    "Prairie Fire", "Golden Hour", "Big Sky Botanicals", "Riverbend Gardens", "Iron Horse",
    "Moonrise Cannabis",
)  # fmt: skip
_EXTRACTORS = (
    "Stone Mill Extracts", "Lumen Labs", "Cloud Nine Vapor", "Alpine Alchemy", "Glacier Extracts",
    "Amber Labs", "Solstice Solventless", "Driftwood",
)  # fmt: skip
_KITCHENS = (
    "Sweet Mary's Kitchen", "Honey Badger Edibles", "Kind Kitchen", "Tidal Wave Tonics",
    "Velvet Leaf", "Fox & Fern", "Wildflower Wellness", "Coastal Clouds", "Evergreen Organics",
    "Saltwater Sodas", "Blue Heron Botanicals",
)  # fmt: skip
_GEAR = (
    "Ember Glass", "Pilot Papers", "Dockside Supply", "Summit Gear", "Mesa Verde Goods",
    "Canyon Glassworks",
)  # fmt: skip
BRANDS: tuple[str, ...] = _GROWERS + _EXTRACTORS + _KITCHENS + _GEAR

_BRANDS_FOR: dict[Category, tuple[str, ...]] = {
    Category.FLOWER: _GROWERS,
    Category.PRE_ROLL: _GROWERS + _EXTRACTORS[:3],
    Category.VAPE: _EXTRACTORS + _GROWERS[:4],
    Category.CONCENTRATE: _EXTRACTORS + _GROWERS[4:7],
    Category.EDIBLE: _KITCHENS,
    Category.BEVERAGE: _KITCHENS[3:6] + _KITCHENS[9:10],
    Category.TINCTURE: _KITCHENS[4:9] + _KITCHENS[10:],
    Category.TOPICAL: _KITCHENS[4:9] + _KITCHENS[10:],
    Category.CAPSULE: _KITCHENS[6:9] + _KITCHENS[10:],
    Category.ACCESSORY: _GEAR,
    Category.OTHER: _GROWERS[:6],
}

# A dispensary menu's usual mix; "other" (clones, seeds) is rare, and exercises unknown-category
# handling in adapters.
_CATEGORY_WEIGHTS: tuple[tuple[Category, float], ...] = (
    (Category.FLOWER, 27), (Category.PRE_ROLL, 14), (Category.VAPE, 16),
    (Category.CONCENTRATE, 10), (Category.EDIBLE, 14), (Category.BEVERAGE, 4),
    (Category.TINCTURE, 3), (Category.TOPICAL, 3), (Category.CAPSULE, 2.5),
    (Category.ACCESSORY, 6), (Category.OTHER, 0.5),
)  # fmt: skip
_CATEGORIES = tuple(c for c, _ in _CATEGORY_WEIGHTS)
_CUMULATIVE = tuple(
    sum(w for _, w in _CATEGORY_WEIGHTS[: i + 1]) for i in range(len(_CATEGORY_WEIGHTS))
)

_TAGS = (
    "Staff Pick", "New", "Local", "Best Seller", "Limited", "Sale", "Small Batch", "Sungrown",
    "Solventless", "Vegan", "Sugar Free",
)  # fmt: skip

_PERCENT_CATEGORIES = {Category.FLOWER, Category.PRE_ROLL, Category.VAPE, Category.CONCENTRATE}
_MG_CATEGORIES = {
    Category.EDIBLE, Category.BEVERAGE, Category.TINCTURE, Category.CAPSULE, Category.TOPICAL,
}  # fmt: skip


@dataclass
class _Draft:
    """What a category recipe decides; the generator adds identity, stock and flags."""

    name: str
    subcategory: str
    strain: str | None
    strain_type: StrainType | None
    sizes: Sequence[tuple[str, float | None, int]]  # (label, grams, price in cents)
    thc: float | None = None
    cbd: float | None = None


def _dollars(rng: random.Random, low: int, high: int) -> int:
    """A shelf price in cents: whole dollars, sometimes .99 or .50."""
    dollars = rng.randint(low, high)
    ending = rng.random()
    if ending < 0.2:
        return dollars * 100 - 1
    if ending < 0.3:
        return dollars * 100 + 50
    return dollars * 100


def _grams_label(grams: float) -> str:
    return f"{grams:g}g"


def _strain(rng: random.Random) -> tuple[str, StrainType]:
    return rng.choice(STRAINS)


def _flower(rng: random.Random) -> _Draft:
    strain, kind = _strain(rng)
    suffix = rng.choices(("", " Smalls", " Shake"), weights=(85, 10, 5))[0]
    eighth = rng.randint(5, 13) * 500
    if suffix:
        eighth = max(1500, eighth - 1000)
    factors = {1.0: 0.34, 3.5: 1.0, 7.0: 1.85, 14.0: 3.4, 28.0: 6.2}
    if rng.random() < 0.65:
        grams = [3.5] + [
            g for g, p in ((1.0, 0.6), (7.0, 0.6), (14.0, 0.35), (28.0, 0.3)) if rng.random() < p
        ]
    else:
        grams = [rng.choice((3.5, 3.5, 3.5, 3.5, 7.0, 14.0, 28.0, 1.0))]
    sizes = [(_grams_label(g), g, round(eighth * factors[g] / 100) * 100) for g in grams]
    thc, cbd = (
        (round(rng.uniform(0.3, 6), 1), round(rng.uniform(8, 18), 1))
        if kind is StrainType.CBD
        else (round(min(34.0, max(12.0, rng.gauss(23, 4))), 1), round(rng.uniform(0, 0.8), 1))
    )
    subcategory = rng.choice(("Indoor", "Greenhouse", "Sun Grown", "Indoor", "Indoor"))
    return _Draft(strain + suffix, subcategory, strain, kind, sizes, thc, cbd)


def _pre_roll(rng: random.Random) -> _Draft:
    strain, kind = _strain(rng)
    label, sub, grams, low, high, thc_low, thc_high = rng.choice(
        (
            ("Pre-Roll", "Single", 1.0, 8, 15, 16, 30),
            ("Pre-Roll 0.5g", "Single", 0.5, 5, 9, 16, 30),
            ("Infused Pre-Roll", "Infused", 1.0, 15, 25, 32, 48),
            ("Pre-Roll 5-Pack", "Multipack", 2.5, 25, 40, 16, 30),
            ("Mini Joints 10-Pack", "Multipack", 3.5, 30, 45, 16, 30),
        )
    )
    price = _dollars(rng, low, high)
    thc = round(rng.uniform(thc_low, thc_high), 1)
    return _Draft(f"{strain} {label}", sub, strain, kind, [("each", grams, price)], thc, 0.1)


def _vape(rng: random.Random) -> _Draft:
    strain, kind = _strain(rng)
    label, grams, low, high = rng.choice(
        (
            ("Live Resin Cartridge", 1.0, 40, 60),
            ("Live Resin Cartridge", 0.5, 25, 35),
            ("Distillate Cartridge", 1.0, 25, 40),
            ("All-in-One Disposable", 0.5, 25, 40),
            ("All-in-One Disposable", 1.0, 40, 55),
            ("Live Rosin Pod", 0.5, 35, 50),
        )
    )
    name = f"{strain} {label} {_grams_label(grams)}"
    thc = round(rng.uniform(68, 92), 1)
    return _Draft(name, label, strain, kind, [("each", grams, _dollars(rng, low, high))], thc, 0.5)


def _concentrate(rng: random.Random) -> _Draft:
    strain, kind = _strain(rng)
    label, low, high = rng.choice(
        (
            ("Live Resin Badder", 30, 55), ("Live Resin Sugar", 30, 55), ("Shatter", 20, 35),
            ("Live Rosin", 50, 80), ("THCa Diamonds", 40, 70), ("Crumble", 20, 35), ("Wax", 20, 35),
        )
    )  # fmt: skip
    grams = rng.choice((1.0, 1.0, 1.0, 0.5))
    price = _dollars(rng, low, high) if grams == 1.0 else _dollars(rng, low // 2 + 5, high // 2 + 5)
    thc = round(rng.uniform(62, 90), 1)
    return _Draft(
        f"{strain} {label}", label, strain, kind, [(_grams_label(grams), grams, price)], thc, 0.2
    )


_CHOCOLATES = ("Dark", "Milk", "Salted Caramel", "Mint", "Espresso")
_MINTS = ("Peppermint", "Spearmint", "Cinnamon", "Wintergreen")


def _edible(rng: random.Random) -> _Draft:
    thc = float(rng.choice((100, 100, 100, 100, 50, 10)))
    ratio = rng.random() < 0.15
    kind, subject = rng.choice(
        (
            ("Gummies", f"{rng.choice(FLAVORS)} Gummies"),
            ("Gummies", f"{rng.choice(FLAVORS)} Gummies"),
            ("Chocolate", f"{rng.choice(_CHOCOLATES)} Chocolate Bar"),
            ("Mints", f"{rng.choice(_MINTS)} Mints"),
            ("Baked Goods", rng.choice(("Fudge Brownie", "Snickerdoodle Cookie", "Crispy Treat"))),
            ("Hard Candy", f"{rng.choice(FLAVORS)} Hard Candy"),
            ("Chews", f"{rng.choice(FLAVORS)} Chews"),
        )
    )  # fmt: skip
    price = {100.0: _dollars(rng, 15, 28), 50.0: _dollars(rng, 10, 16)}.get(thc) or _dollars(
        rng, 4, 7
    )
    name = f"{'1:1 ' if ratio else ''}{subject} {thc:g}mg"
    strain_type = StrainType.CBD if ratio else rng.choice((_I, _S, _H, None))
    return _Draft(
        name, kind, None, strain_type, [("each", None, price)], thc, thc if ratio else 0.0
    )


def _beverage(rng: random.Random) -> _Draft:
    thc = float(rng.choice((5, 10, 10, 25, 100)))
    kind = rng.choice(("Sparkling Water", "Seltzer", "Lemonade", "Iced Tea", "Shot"))
    price = _dollars(rng, 18, 25) if thc == 100 else _dollars(rng, 5, 12)
    name = f"{rng.choice(FLAVORS)} {kind} {thc:g}mg"
    return _Draft(name, kind, None, rng.choice((_S, _H, None)), [("each", None, price)], thc, 0.0)


def _tincture(rng: random.Random) -> _Draft:
    label, thc, cbd = rng.choice(
        (
            ("THC Tincture", 500.0, 0.0), ("THC Tincture", 1000.0, 0.0),
            ("1:1 Tincture", 300.0, 300.0), ("CBD Tincture", 50.0, 1000.0),
            ("Sleep Tincture", 500.0, 100.0),
        )
    )  # fmt: skip
    strain_type = StrainType.CBD if cbd >= thc else rng.choice((_I, _H))
    name = f"{label} {thc + cbd:g}mg 30ml"
    return _Draft(name, label, None, strain_type, [("each", None, _dollars(rng, 30, 75))], thc, cbd)


def _topical(rng: random.Random) -> _Draft:
    label = rng.choice(
        ("Relief Balm", "Cooling Lotion", "Roll-On", "Bath Soak", "Transdermal Patch")
    )
    thc = float(rng.choice((100, 250, 500)))
    cbd = float(rng.choice((0, 250, 500)))
    name = f"{label} {thc + cbd:g}mg"
    return _Draft(name, label, None, None, [("each", None, _dollars(rng, 15, 65))], thc, cbd)


def _capsule(rng: random.Random) -> _Draft:
    label = rng.choice(("Daytime Capsules", "Sleep Softgels", "Microdose Tablets", "Capsules"))
    each, count = rng.choice(((10, 20), (5, 30), (2.5, 40), (25, 10)))
    name = f"{label} {each:g}mg x {count}"
    strain_type = _I if "Sleep" in label else rng.choice((_S, _H))
    return _Draft(
        name,
        label.split()[-1],
        None,
        strain_type,
        [("each", None, _dollars(rng, 20, 55))],
        float(each * count),
        0.0,
    )


def _accessory(rng: random.Random) -> _Draft:
    label, sub, low, high = rng.choice(
        (
            ("510 Thread Battery", "Battery", 15, 30), ("King Size Rolling Papers", "Papers", 2, 5),
            ("Glass Spoon Pipe", "Glass", 15, 45), ("4-Piece Grinder", "Grinder", 12, 45),
            ("Smell-Proof Stash Jar", "Storage", 10, 30), ("Butane Lighter", "Lighter", 2, 5),
            ("Glass Water Pipe", "Glass", 40, 150), ("Rolling Tray", "Papers", 10, 25),
            ("Silicone Dab Mat", "Dab Tools", 8, 15), ("Hemp Wick", "Lighter", 4, 8),
        )
    )  # fmt: skip
    return _Draft(label, sub, None, None, [("each", None, _dollars(rng, low, high))])


def _other(rng: random.Random) -> _Draft:
    strain, kind = _strain(rng)
    if rng.random() < 0.5:
        return _Draft(
            f"{strain} Clone", "Clones", strain, kind, [("each", None, _dollars(rng, 15, 25))]
        )
    return _Draft(
        f"{strain} Seeds 5-Pack", "Seeds", strain, kind, [("each", None, _dollars(rng, 40, 80))]
    )


_RECIPES: dict[Category, Callable[[random.Random], _Draft]] = {
    Category.FLOWER: _flower,
    Category.PRE_ROLL: _pre_roll,
    Category.VAPE: _vape,
    Category.CONCENTRATE: _concentrate,
    Category.EDIBLE: _edible,
    Category.BEVERAGE: _beverage,
    Category.TINCTURE: _tincture,
    Category.TOPICAL: _topical,
    Category.CAPSULE: _capsule,
    Category.ACCESSORY: _accessory,
    Category.OTHER: _other,
}


def _digest(*parts: object, size: int) -> bytes:
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=size).digest()


def dialect_product_id(dialect: Dialect, seed: int, number: int) -> str:
    """A product id in the dialect's shape: Dutchie ints, Treez UUIDs, 24-hex ids elsewhere."""
    if dialect is Dialect.DUTCHIE:
        return str(100_000 + number)
    if dialect is Dialect.TREEZ:
        return str(uuid.UUID(bytes=_digest("treez", seed, number, size=16), version=4))
    return _digest(dialect.value, seed, number, size=12).hex()


def _variant_id(seed: int, number: int, index: int) -> str:
    return _digest("variant", seed, number, index, size=12).hex()


class CatalogGenerator:
    """Draws products for one store, in order; keep it to add more products later."""

    def __init__(self, dialect: Dialect, seed: int) -> None:
        self.dialect = dialect
        self.seed = seed
        self._rng = random.Random(f"possim-catalog:{seed}")  # noqa: S311 - test data, not secrets
        self._next_number = 1

    def generate(self, count: int) -> list[Product]:
        return [self.next_product() for _ in range(count)]

    def next_product(
        self, now: datetime | None = None, category: Category | None = None
    ) -> Product:
        """The next product of the stream; `now` stamps it (seeded products get 2025 dates) and
        `category` forces its category (name, brand and potency then fit that category)."""
        rng = self._rng
        number = self._next_number
        self._next_number += 1
        drawn = _CATEGORIES[_pick_weighted(rng.random() * _CUMULATIVE[-1])]
        category = category or drawn
        draft = _RECIPES[category](rng)
        brand = rng.choice(_BRANDS_FOR[category])
        updated_at = CATALOG_EPOCH + timedelta(seconds=rng.randrange(_CATALOG_SPAN_S))
        stock_updated_at = updated_at + timedelta(seconds=rng.randrange(30 * 24 * 3600))
        if now is not None:
            updated_at = stock_updated_at = now
        product_id = dialect_product_id(self.dialect, self.seed, number)
        flags = rng.random()
        return Product(
            number=number,
            product_id=product_id,
            sku=f"{_initials(brand)}-{category.value[:2].upper()}-{number:05d}",
            name=draft.name,
            brand=brand,
            category=category,
            category_pick=rng.randrange(2),
            subcategory=draft.subcategory,
            strain=draft.strain,
            strain_type=draft.strain_type,
            potency_unit=(
                PotencyUnit.PERCENT
                if category in _PERCENT_CATEGORIES
                else PotencyUnit.MILLIGRAMS
                if category in _MG_CATEGORIES
                else None
            ),
            thc=draft.thc,
            cbd=draft.cbd,
            variants=[
                Variant(_variant_id(self.seed, number, i), label, grams, price)
                for i, (label, grams, price) in enumerate(draft.sizes)
            ],
            sold_by_weight=category in (Category.FLOWER, Category.CONCENTRATE),
            quantity=0 if rng.random() < 0.08 else min(400, int(rng.expovariate(1 / 25)) + 1),
            active=not flags < 0.04,
            medical_only=0.04 <= flags < 0.07,
            online=not 0.07 <= flags < 0.11,
            image_url=(
                None if rng.random() < 0.12 else f"https://images.possim.test/p/{product_id}.jpg"
            ),
            tags=_tags(rng),
            batch_id=f"B{updated_at.year % 100:02d}{updated_at.month:02d}{updated_at.day:02d}"
            f"-{rng.randrange(1000):03d}",
            package_id=f"1A4{rng.getrandbits(84):021X}",
            updated_at=updated_at,
            stock_updated_at=stock_updated_at,
        )


def _tags(rng: random.Random) -> list[str]:
    count = rng.choice((0, 0, 1, 1, 2))
    return rng.sample(_TAGS, k=count) if count else []


def _pick_weighted(point: float) -> int:
    for index, bound in enumerate(_CUMULATIVE):
        if point < bound:
            return index
    return len(_CUMULATIVE) - 1


@functools.cache
def _initials(brand: str) -> str:
    letters = [word[0] for word in brand.replace("&", "").split() if word[0].isalpha()]
    return "".join(letters[:3]).upper()


def generate_catalog(dialect: Dialect, seed: int, count: int) -> list[Product]:
    """A store's seeded catalog of `count` products."""
    return CatalogGenerator(dialect, seed).generate(count)
