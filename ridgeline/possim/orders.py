"""Orders at the POS: stock checks, stock taken and given back, each dialect's status machine."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from ridgeline.possim.model import Dialect, Order, OrderLine, Product


class OrderRejected(Exception):
    """The POS refuses the order (unknown product, not for sale, not enough stock): a 400."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"OrderRejected({self.message!r})"


class IllegalTransition(Exception):
    def __init__(self, dialect: Dialect, current: str, target: str) -> None:
        super().__init__(f"{dialect.value} order cannot move from {current} to {target}")
        self.current = current
        self.target = target

    def __repr__(self) -> str:
        return f"IllegalTransition({self.current!r} -> {self.target!r})"


@dataclass(frozen=True)
class StatusFlow:
    """A dialect's order statuses: a forward path (an order may skip ahead, never go back), exits
    (cancel, reject) allowed from any status that is not final, and which statuses hold stock."""

    path: tuple[tuple[str, ...], ...]  # each step may list equivalent statuses
    exits: frozenset[str]
    final: frozenset[str]
    holds_stock: frozenset[str]

    @property
    def statuses(self) -> frozenset[str]:
        return frozenset(s for step in self.path for s in step) | self.exits

    def _rank(self, status: str) -> int:
        return next(i for i, step in enumerate(self.path) if status in step)

    def can_move(self, current: str, target: str) -> bool:
        if target not in self.statuses or current in self.final or current == target:
            return False
        if target in self.exits:
            return True
        return current not in self.exits and self._rank(target) > self._rank(current)


FLOWS: Mapping[Dialect, StatusFlow] = {
    Dialect.DUTCHIE: StatusFlow(
        path=(("Submitted",), ("Processing",), ("Filled",), ("Complete",)),
        exits=frozenset({"Cancelled"}),
        final=frozenset({"Complete", "Cancelled"}),
        holds_stock=frozenset({"Submitted", "Processing", "Filled", "Complete"}),
    ),
    Dialect.TREEZ: StatusFlow(
        path=(
            ("AWAITING_PROCESSING",),
            ("IN_PROGRESS",),
            ("PACKED_READY",),
            ("OUT_FOR_DELIVERY",),
            ("COMPLETED",),
        ),
        exits=frozenset({"CANCELED"}),
        final=frozenset({"COMPLETED", "CANCELED"}),
        holds_stock=frozenset(
            {"AWAITING_PROCESSING", "IN_PROGRESS", "PACKED_READY", "OUT_FOR_DELIVERY", "COMPLETED"}
        ),
    ),
    Dialect.BLAZE: StatusFlow(
        path=(("InProgress",), ("Placed",), ("Accepted",), ("Completed",)),
        exits=frozenset({"Declined", "CanceledByConsumer", "CanceledByDispensary"}),
        final=frozenset({"Completed", "Declined", "CanceledByConsumer", "CanceledByDispensary"}),
        holds_stock=frozenset({"Placed", "Accepted", "Completed"}),
    ),
    Dialect.FLOWHUB: StatusFlow(
        path=(
            ("new",),
            ("inQueue",),
            ("started",),
            ("ready",),
            ("inTransit",),
            ("delivered", "sold"),
        ),
        exits=frozenset({"unableToComplete", "unableToVerify", "deleted"}),
        final=frozenset({"delivered", "sold", "unableToComplete", "unableToVerify", "deleted"}),
        holds_stock=frozenset(
            {"new", "inQueue", "started", "ready", "inTransit", "delivered", "sold"}
        ),
    ),
}


@dataclass(frozen=True)
class ItemRequest:
    """One line as a create request names it."""

    product_id: str
    quantity: int
    variant_id: str | None = None


def price_lines(products: Mapping[str, Product], items: Iterable[ItemRequest]) -> list[OrderLine]:
    """Turn requested items into priced lines; raise OrderRejected for what the POS would refuse."""
    lines: list[OrderLine] = []
    for item in items:
        product = products.get(item.product_id)
        if product is None:
            raise OrderRejected(f"Product {item.product_id} does not exist")
        if not product.active:
            raise OrderRejected(f"Product {item.product_id} is not available for sale")
        if item.quantity < 1:
            raise OrderRejected(f"Quantity for product {item.product_id} must be at least 1")
        variant = product.primary
        if item.variant_id is not None:
            found = product.variant(item.variant_id)
            if found is None:
                raise OrderRejected(
                    f"Variant {item.variant_id} does not belong to product {item.product_id}"
                )
            variant = found
        lines.append(
            OrderLine(
                product.product_id,
                item.variant_id,
                product.name,
                item.quantity,
                variant.price_cents,
            )
        )
    if not lines:
        raise OrderRejected("An order needs at least one item")
    check_stock(products, lines)
    return lines


def check_stock(products: Mapping[str, Product], lines: Iterable[OrderLine]) -> None:
    wanted: dict[str, int] = {}
    for line in lines:
        wanted[line.product_id] = wanted.get(line.product_id, 0) + line.quantity
    for product_id, quantity in wanted.items():
        product = products.get(product_id)
        available = product.quantity if product is not None else 0
        if quantity > available:
            raise OrderRejected(
                f"Not enough stock for product {product_id}: {quantity} requested, "
                f"{available} available"
            )


def take_stock(products: Mapping[str, Product], order: Order, now: datetime) -> None:
    """Check and take the order's stock (raises OrderRejected and takes nothing if short)."""
    if order.holds_stock:
        return
    check_stock(products, order.lines)
    for line in order.lines:
        product = products[line.product_id]
        product.quantity -= line.quantity
        product.stock_updated_at = now
    order.holds_stock = True


def release_stock(products: Mapping[str, Product], order: Order, now: datetime) -> None:
    if not order.holds_stock:
        return
    for line in order.lines:
        product = products.get(line.product_id)
        if product is not None:
            product.quantity += line.quantity
            product.stock_updated_at = now
    order.holds_stock = False


def move_order(
    dialect: Dialect, products: Mapping[str, Product], order: Order, target: str, now: datetime
) -> None:
    """Move an order to `target`, taking or giving back stock as the new status requires."""
    flow = FLOWS[dialect]
    if not flow.can_move(order.status, target):
        raise IllegalTransition(dialect, order.status, target)
    if target in flow.holds_stock:
        try:
            take_stock(products, order, now)
        except OrderRejected as exc:
            raise IllegalTransition(dialect, order.status, target) from exc
    else:
        release_stock(products, order, now)
    order.status = target
    order.updated_at = now
    order.history.append((target, now))


def parse_items(raw: object, *, id_key: str, variant_key: str | None = None) -> list[ItemRequest]:
    """Read `items` from a create request; a malformed list is refused like a bad order (400)."""
    if not isinstance(raw, list) or not raw:
        raise OrderRejected("items must be a non-empty list")
    items = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise OrderRejected("each item must be an object")
        product_id = entry.get(id_key)
        quantity = entry.get("quantity")
        if isinstance(product_id, bool) or not isinstance(product_id, str | int):
            raise OrderRejected(f"each item needs a {id_key}")
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise OrderRejected("each item needs an integer quantity")
        variant_id = entry.get(variant_key) if variant_key else None
        if variant_id is not None and not isinstance(variant_id, str):
            raise OrderRejected(f"{variant_key} must be a string")
        items.append(ItemRequest(str(product_id), quantity, variant_id))
    return items
