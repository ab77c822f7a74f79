"""Reading vendor records field by field, for the adapters' `map_product`.

Every reader raises `RecordInvalid` (naming the field) instead of letting a `KeyError`,
`TypeError` or `decimal.InvalidOperation` escape, so one malformed record is quarantined by the
sync and the others carry on. Unknown enum-like values (a category, a strain type) are not errors:
they map to `other` / `none` and the raw value is kept where the canonical model has room for it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from ridgeline.pos.canonical import (
    CanonicalProduct,
    Category,
    Potency,
    PotencyUnit,
    StrainType,
    dollars_to_cents,
)
from ridgeline.pos.errors import RecordInvalid

Record = Mapping[str, Any]

_STRAIN_TYPES = {
    "indica": StrainType.INDICA,
    "sativa": StrainType.SATIVA,
    "hybrid": StrainType.HYBRID,
    "cbd": StrainType.CBD,
}

_POTENCY_UNITS = {"%": PotencyUnit.PERCENT, "percent": PotencyUnit.PERCENT, "mg": PotencyUnit.MG}


def guarded(mapper: Callable[[Record], CanonicalProduct]) -> Callable[[object], CanonicalProduct]:
    """Make a vendor mapper end in `RecordInvalid` whatever goes wrong.

    The mappers check every field they read; this is the net under them, for the canonical
    model's own limits (a 600-character name) and for anything a mapper did not foresee."""

    @functools.wraps(mapper)
    def mapped(record: object) -> CanonicalProduct:
        if not isinstance(record, Mapping):
            kind = type(record).__name__
            raise RecordInvalid(f"a product record must be an object, not {kind}", record)
        try:
            return mapper(record)
        except RecordInvalid:
            raise
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
                for error in exc.errors()
            )
            raise RecordInvalid(f"does not fit the canonical product: {problems}", record) from exc
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            raise RecordInvalid(f"cannot be mapped: {type(exc).__name__}: {exc}", record) from exc

    return mapped


def section(record: Record, key: str) -> Record:
    """A nested object; missing or null reads as empty."""
    value = record.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RecordInvalid(f"{key} must be an object", record)
    return value


def identifier(record: Record, key: str, *, container: Record | None = None) -> str:
    """A required id: a non-empty string or an integer (ids are kept as strings)."""
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordInvalid(f"{key} is missing", container or record)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    raise RecordInvalid(f"{key} must be a non-empty string or an integer", container or record)


def required_text(record: Record, key: str, *, container: Record | None = None) -> str:
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordInvalid(f"{key} is missing", container or record)
    if not isinstance(value, str):
        raise RecordInvalid(f"{key} must be a string", container or record)
    return value.strip()


def optional_text(record: Record, key: str, *, container: Record | None = None) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordInvalid(f"{key} must be a string", container or record)
    return value.strip() or None


def optional_flag(
    record: Record, key: str, default: bool, *, container: Record | None = None
) -> bool:
    value = record.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RecordInvalid(f"{key} must be true or false", container or record)
    return value


def optional_number(record: Record, key: str, *, container: Record | None = None) -> Decimal | None:
    """A non-negative number, as a `Decimal` (never through float arithmetic). Numeric strings are
    accepted, since POS exports carry them; booleans, NaN and negatives are not."""
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RecordInvalid(f"{key} must be a number", container or record)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise RecordInvalid(f"{key} must be a number, not {value!r}", container or record) from None
    if not number.is_finite():
        raise RecordInvalid(f"{key} must be a finite number", container or record)
    if number < 0:
        raise RecordInvalid(f"{key} must not be negative", container or record)
    return number


def price_cents(record: Record, key: str, *, container: Record | None = None) -> int:
    """A required price in decimal dollars, as integer cents."""
    amount = optional_number(record, key, container=container)
    if amount is None:
        raise RecordInvalid(f"{key} (the price) is missing", container or record)
    return dollars_to_cents(amount)


def minor_units(record: Record, key: str, *, container: Record | None = None) -> int:
    """A required price already in cents: an integral, non-negative number."""
    amount = optional_number(record, key, container=container)
    if amount is None:
        raise RecordInvalid(f"{key} (the price) is missing", container or record)
    if amount != amount.to_integral_value():
        raise RecordInvalid(f"{key} must be a whole number of cents", container or record)
    return int(amount)


def stock(record: Record, key: str, *, container: Record | None = None) -> int | None:
    """Stock on hand in whole sellable units: fractions round down, and a negative count (a POS
    that let the shelf oversell) reads as none left rather than as a broken record."""
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RecordInvalid(f"{key} must be a number", container or record)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise RecordInvalid(f"{key} must be a number, not {value!r}", container or record) from None
    if not amount.is_finite():
        raise RecordInvalid(f"{key} must be a finite number", container or record)
    return max(0, int(amount.to_integral_value(rounding=ROUND_FLOOR)))


def potency(amount: Decimal | None, unit: PotencyUnit | None) -> Potency | None:
    if amount is None or unit is None:
        return None
    return Potency(value=float(amount), unit=unit)


def potency_unit(value: object) -> PotencyUnit | None:
    """`%`/`percent` or `mg`; anything else means the figure cannot be shown safely."""
    if not isinstance(value, str):
        return None
    return _POTENCY_UNITS.get(value.strip().lower())


def strain_type(value: object) -> StrainType:
    if not isinstance(value, str):
        return StrainType.NONE
    return _STRAIN_TYPES.get(value.strip().lower(), StrainType.NONE)


def category(table: Mapping[str, Category], value: str | None) -> Category:
    """The canonical category for a vendor's name (case-insensitive); unknown -> `other`."""
    if value is None:
        return Category.OTHER
    return table.get(value.strip().lower(), Category.OTHER)


def category_table(rows: Mapping[str, Category]) -> dict[str, Category]:
    return {vendor.lower(): ours for vendor, ours in rows.items()}


def timestamp(record: Record, key: str, *, container: Record | None = None) -> datetime | None:
    """An ISO-8601 time; a time without a zone is read as UTC (the vendors' fields are UTC)."""
    value = record.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordInvalid(f"{key} must be an ISO-8601 string", container or record)
    parsed = parse_iso(value)
    if parsed is None:
        raise RecordInvalid(f"{key} is not an ISO-8601 time: {value!r}", container or record)
    return parsed


def epoch_ms(record: Record, key: str, *, container: Record | None = None) -> datetime | None:
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordInvalid(f"{key} must be epoch milliseconds", container or record)
    return from_epoch_ms(value)


def parse_iso(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def from_epoch_ms(value: int) -> datetime | None:
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def string_list(record: Record, key: str) -> list[str]:
    value = record.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RecordInvalid(f"{key} must be a list of strings", record)
    return [item.strip() for item in value if item.strip()]
