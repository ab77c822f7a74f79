"""What a sync flags as missing for a profile: the measures its limits count, per category."""

from __future__ import annotations

from typing import Any

import pytest

from ridgeline.compliance.profiles import PROFILES
from ridgeline.compliance.service import missing_measures
from ridgeline.pos.canonical import CanonicalProduct


def product(category: str, grams: float | None, thc: dict[str, Any] | None) -> CanonicalProduct:
    return CanonicalProduct.model_validate(
        {
            "external_id": "p-1",
            "name": "Thing",
            "category": category,
            "thc": thc,
            "variants": [
                {"external_id": "v-1", "label": "one", "weight_grams": grams, "price_cents": 100}
            ],
        }
    )


@pytest.mark.parametrize(
    ("key", "category", "grams", "thc", "expected"),
    [
        ("california", "flower", None, None, ["variant v-1 has no weight"]),
        ("california", "flower", 3.5, None, []),
        ("california", "edible", None, None, []),  # California does not count edibles
        ("colorado", "edible", None, None, ["the product has no THC potency"]),
        ("colorado", "edible", None, {"value": 100, "unit": "mg"}, []),
        (
            "colorado",
            "edible",
            None,
            {"value": 5, "unit": "percent"},
            ["variant v-1 has no weight"],
        ),
        ("colorado", "topical", None, None, []),
        (
            "washington",
            "beverage",
            None,
            {"value": 10, "unit": "mg"},
            ["variant v-1 has no weight"],
        ),
        ("michigan", "accessory", None, None, []),
    ],
)
def test_the_measures_a_profile_counts_are_flagged_when_missing(
    key: str, category: str, grams: float | None, thc: dict[str, Any] | None, expected: list[str]
) -> None:
    assert missing_measures(PROFILES[key], product(category, grams, thc)) == expected
