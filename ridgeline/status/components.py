"""The components of the status page. The list is fixed here; `status_components` rows hold
what each one's evaluations found (status/service.py)."""

from __future__ import annotations

from dataclasses import dataclass

from ridgeline.models.status import ComponentStatus
from ridgeline.pos import registry


@dataclass(frozen=True, slots=True)
class ComponentSpec:
    key: str
    name: str
    description: str
    position: int
    # The `pos_provider` of the stores a POS integration's component judges.
    vendor: str | None = None


API = "api"
REALTIME = "realtime"
CATALOG_SYNC = "catalog_sync"
ORDER_SUBMISSION = "order_submission"


def _pos_components(first_position: int) -> tuple[ComponentSpec, ...]:
    """One component per installed POS adapter, named the vendor's way."""
    return tuple(
        ComponentSpec(
            f"pos_{name}",
            f"{registry.display_name(name)} integration",
            f"Stores on {registry.display_name(name)} POS.",
            first_position + offset,
            name,
        )
        for offset, name in enumerate(registry.adapter_names())
    )


COMPONENTS: tuple[ComponentSpec, ...] = (
    ComponentSpec(API, "API", "The REST API that kiosks and operators call.", 1),
    ComponentSpec(
        REALTIME, "Real-time updates", "Catalog, stock and order changes pushed to kiosks.", 2
    ),
    ComponentSpec(
        CATALOG_SYNC, "Catalog sync", "Products, prices and stock brought in from each POS.", 3
    ),
    ComponentSpec(
        ORDER_SUBMISSION, "Order submission", "Kiosk orders delivered to the store's POS.", 4
    ),
    *_pos_components(5),
)
BY_KEY = {spec.key: spec for spec in COMPONENTS}

# How bad each status is, for "the worse of two"; maintenance is not on this scale.
SEVERITY = {
    ComponentStatus.OPERATIONAL: 0,
    ComponentStatus.DEGRADED_PERFORMANCE: 1,
    ComponentStatus.PARTIAL_OUTAGE: 2,
    ComponentStatus.MAJOR_OUTAGE: 3,
}


def worse(first: ComponentStatus, second: ComponentStatus) -> ComponentStatus:
    """The worse of two statuses on the outage scale (maintenance counts as operational)."""
    return first if SEVERITY.get(first, 0) >= SEVERITY.get(second, 0) else second
