"""The simulator as an ASGI app, and `serve_simulator` to run it under uvicorn."""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx
import structlog
import uvicorn

from ridgeline.clock import Clock
from ridgeline.possim.asgi import Receive, Scope, Send, send_json
from ridgeline.possim.blaze import BlazeSpec
from ridgeline.possim.control import ControlApi
from ridgeline.possim.dutchie import DutchieSpec
from ridgeline.possim.flowhub import FlowhubSpec
from ridgeline.possim.gateway import DialectSpec, Gateway
from ridgeline.possim.model import Dialect
from ridgeline.possim.state import Simulator
from ridgeline.possim.treez import TreezSpec

log = structlog.get_logger(__name__)


def dialect_specs() -> dict[Dialect, DialectSpec]:
    return {
        Dialect.DUTCHIE: DutchieSpec(),
        Dialect.TREEZ: TreezSpec(),
        Dialect.BLAZE: BlazeSpec(),
        Dialect.FLOWHUB: FlowhubSpec(),
    }


class SimulatorApp:
    """Pure ASGI: `/_sim...` goes to the control API, each dialect prefix to its gateway.

    The simulator's state is `app.simulator`.
    """

    def __init__(self, simulator: Simulator, specs: Mapping[Dialect, DialectSpec]) -> None:
        self.simulator = simulator
        self.specs = dict(specs)
        self._control = ControlApi(simulator, self.specs).router()
        self._gateways = [(spec.prefix, Gateway(spec, simulator)) for spec in self.specs.values()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == "/_sim" or path.startswith("/_sim/"):
            await self._control(scope, receive, send)
            return
        for prefix, gateway in self._gateways:
            if path == prefix or path.startswith(prefix + "/"):
                await gateway(scope, receive, send)
                return
        await send_json(send, 404, {"error": "not found", "dialects": self._prefixes()})

    def _prefixes(self) -> list[str]:
        return [prefix for prefix, _ in self._gateways]

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.simulator.pusher.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_simulator_app(
    seed: int = 1,
    clock: Clock | None = None,
    *,
    stores: int = 0,
    products: int = 100,
    push_transport: httpx.AsyncBaseTransport | None = None,
) -> SimulatorApp:
    """A simulator with `stores` seeded stores (dutchie, treez, blaze, flowhub, dutchie, ...) of
    `products` products each; more stores can be added through `POST /_sim/stores`.

    `push_transport` routes webhooks and postbacks (default: real HTTP)."""
    simulator = Simulator(seed=seed, clock=clock, push_transport=push_transport)
    simulator.seed_stores(stores, products)
    return SimulatorApp(simulator, dialect_specs())


async def serve_simulator(host: str, port: int, *, stores: int, products: int, seed: int) -> None:
    """Run the simulator under uvicorn until interrupted (`ridgeline possim`)."""
    started = time.perf_counter()
    app = create_simulator_app(seed, stores=stores, products=products)
    root = f"http://{host}:{port}"
    for store in app.simulator.stores.values():
        log.info(
            "possim_store",
            store=store.id,
            dialect=store.dialect.value,
            products=len(store.products),
            base_url=store.base_url(root),
        )
    setup_s = round(time.perf_counter() - started, 2)
    log.info(
        "possim_ready",
        seed=seed,
        stores=stores,
        products=products,
        control=f"{root}/_sim/stores",
        setup_s=setup_s,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # the caller's logging set-up routes uvicorn's loggers
        access_log=False,
        lifespan="on",
        ws="none",
        timeout_graceful_shutdown=2,
    )
    await uvicorn.Server(config).serve()
