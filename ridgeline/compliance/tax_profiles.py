"""The state taxes shipped with each jurisdiction profile, as data: a store with a profile and no
tax settings of its own is taxed by these (docs/compliance.md#shipped-state-taxes cites each
figure). Local taxes differ by store and are never shipped: a store adds its own."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from ridgeline.compliance.profiles import CustomerType
from ridgeline.compliance.taxes import EVERY_CUSTOMER, Tax, TaxBasis, TaxKind, TaxSchedule
from ridgeline.pos.canonical import Category

ADULT_USE = frozenset({CustomerType.ADULT_USE})
MEDICAL = frozenset({CustomerType.MEDICAL})
# What cannabis taxes fall on: every category but accessories (not cannabis).
CANNABIS = frozenset(Category) - {Category.ACCESSORY}
ACCESSORIES = frozenset({Category.ACCESSORY})


def _percent(
    key: str,
    name: str,
    kind: TaxKind,
    rate: str,
    *,
    categories: frozenset[Category] | None = None,
    customers: frozenset[CustomerType] = EVERY_CUSTOMER,
    in_sales_tax_base: bool = False,
) -> Tax:
    return Tax(
        key,
        name,
        kind,
        TaxBasis.PRICE,
        Decimal(rate),
        categories=categories,
        customers=customers,
        in_sales_tax_base=in_sales_tax_base,
    )


CALIFORNIA = TaxSchedule(
    effective_from=date(2025, 10, 1),
    taxes=(
        _percent(
            "ca_cannabis_excise",
            "California cannabis excise tax",
            TaxKind.EXCISE,
            "15",
            categories=CANNABIS,
            in_sales_tax_base=True,
        ),
        _percent(
            "ca_sales",
            "California sales tax (statewide base)",
            TaxKind.SALES,
            "7.25",
            customers=ADULT_USE,
        ),
        # Patients are exempt on medicinal cannabis only: accessories are taxed.
        _percent(
            "ca_sales_medical_accessories",
            "California sales tax (accessories)",
            TaxKind.SALES,
            "7.25",
            categories=ACCESSORIES,
            customers=MEDICAL,
        ),
    ),
)

COLORADO = TaxSchedule(
    effective_from=date(2017, 7, 1),
    taxes=(
        _percent(
            "co_retail_marijuana_sales",
            "Colorado retail marijuana sales tax",
            TaxKind.SALES,
            "15",
            categories=CANNABIS,
            customers=ADULT_USE,
        ),
        _percent(
            "co_sales_medical",
            "Colorado state sales tax",
            TaxKind.SALES,
            "2.9",
            customers=MEDICAL,
        ),
        _percent(
            "co_sales_accessories",
            "Colorado state sales tax (accessories)",
            TaxKind.SALES,
            "2.9",
            categories=ACCESSORIES,
            customers=ADULT_USE,
        ),
    ),
)

MICHIGAN = TaxSchedule(
    effective_from=date(2019, 12, 1),
    taxes=(
        _percent(
            "mi_marihuana_excise",
            "Michigan marihuana retail excise tax",
            TaxKind.EXCISE,
            "10",
            categories=CANNABIS,
            customers=ADULT_USE,
            in_sales_tax_base=True,
        ),
        _percent("mi_sales", "Michigan sales tax", TaxKind.SALES, "6"),
    ),
)

WASHINGTON = TaxSchedule(
    effective_from=date(2024, 6, 6),
    taxes=(
        _percent(
            "wa_cannabis_excise",
            "Washington cannabis excise tax",
            TaxKind.EXCISE,
            "37",
            categories=CANNABIS,
            customers=ADULT_USE,
        ),
        _percent(
            "wa_sales", "Washington state sales tax", TaxKind.SALES, "6.5", customers=ADULT_USE
        ),
        _percent(
            "wa_sales_medical_accessories",
            "Washington state sales tax (accessories)",
            TaxKind.SALES,
            "6.5",
            categories=ACCESSORIES,
            customers=MEDICAL,
        ),
    ),
)

# Profile key -> its state taxes.
STATE_TAXES: Mapping[str, TaxSchedule] = {
    "california": CALIFORNIA,
    "colorado": COLORADO,
    "michigan": MICHIGAN,
    "washington": WASHINGTON,
}
