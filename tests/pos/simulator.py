"""The POS simulator over real HTTP, for the adapters' contract tests: a uvicorn server in a
background thread, stores made through the control API, and adapters built from the credentials
the simulator lists, exactly as an operator would paste them."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

import ridgeline.pos.adapters  # noqa: F401 - registers the four adapters
from ridgeline.clock import Clock, SystemClock
from ridgeline.pos.capabilities import PosAdapter
from ridgeline.pos.http import HttpPools, HttpxTransport
from ridgeline.pos.registry import adapter_class
from ridgeline.possim import create_simulator_app

DIALECTS = ("dutchie", "treez", "blaze", "flowhub")


@contextmanager
def serving_simulator(seed: int, clock: Clock | None = None) -> Iterator[str]:
    """The simulator on a free 127.0.0.1 port, on the system clock unless told otherwise (the
    adapters sign Treez tokens with theirs); yields its root URL."""
    app = create_simulator_app(seed=seed, clock=clock or SystemClock())
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        ws="none",
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="possim", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the simulator did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@dataclass
class SimStore:
    """One store at the simulator, seen through its control API."""

    control: httpx.Client
    summary: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.summary["id"])

    @property
    def dialect(self) -> str:
        return str(self.summary["dialect"])

    @property
    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = self.summary["config"]
        return config

    def products(self) -> list[dict[str, Any]]:
        response = self.control.get(f"/_sim/stores/{self.id}/products", params={"limit": 100_000})
        response.raise_for_status()
        products: list[dict[str, Any]] = response.json()["products"]
        return products

    def change_product(self, product_id: str, **change: Any) -> dict[str, Any]:
        response = self.control.patch(f"/_sim/stores/{self.id}/products/{product_id}", json=change)
        response.raise_for_status()
        product: dict[str, Any] = response.json()
        return product

    def change(self, **change: Any) -> dict[str, Any]:
        """The store's own settings (`PATCH /_sim/stores/{id}`: rate limit, taxes, ...)."""
        response = self.control.patch(f"/_sim/stores/{self.id}", json=change)
        response.raise_for_status()
        summary: dict[str, Any] = response.json()
        return summary

    def orders(self, reference: str | None = None) -> dict[str, Any]:
        params = {"reference": reference} if reference else {}
        response = self.control.get(f"/_sim/stores/{self.id}/orders", params=params)
        response.raise_for_status()
        orders: dict[str, Any] = response.json()
        return orders

    def requests(self) -> list[dict[str, Any]]:
        """What the store received, oldest first (the simulator keeps a bounded log)."""
        response = self.control.get(f"/_sim/stores/{self.id}/requests")
        response.raise_for_status()
        requests: list[dict[str, Any]] = response.json()["requests"]
        return requests

    def move_order(self, order_id: str, status: str) -> None:
        response = self.control.post(
            f"/_sim/stores/{self.id}/orders/{order_id}/status", json={"status": status}
        )
        response.raise_for_status()

    def add_fault(self, endpoint: str, kind: str, **options: Any) -> None:
        response = self.control.post(
            f"/_sim/stores/{self.id}/faults", json={"endpoint": endpoint, "kind": kind, **options}
        )
        response.raise_for_status()

    def adapter(
        self, http: httpx.AsyncClient, *, clock: Clock | None = None, **config_changes: Any
    ) -> PosAdapter[Any]:
        adapter_type = adapter_class(self.dialect)
        assert adapter_type is not None, f"no adapter registered for {self.dialect}"
        config = adapter_type.config_model.model_validate({**self.config, **config_changes})
        return adapter_type(config, HttpxTransport(HttpPools(client=http)), clock or SystemClock())


def create_store(control: httpx.Client, dialect: str, products: int) -> SimStore:
    response = control.post("/_sim/stores", json={"dialect": dialect, "products": products})
    response.raise_for_status()
    return SimStore(control, response.json())


def new_reference() -> str:
    """Ours: `RL-` and 10 base32 characters."""
    return "RL-" + base64.b32encode(uuid.uuid4().bytes).decode()[:10]
