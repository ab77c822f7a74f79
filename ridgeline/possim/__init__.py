"""`ridgeline possim`: a POS simulator speaking the Dutchie, Treez, BLAZE and Flowhub dialects of
docs/pos, with seeded catalogs, a control API under `/_sim`, and injectable faults."""

from ridgeline.possim.app import SimulatorApp, create_simulator_app, serve_simulator
from ridgeline.possim.model import Dialect
from ridgeline.possim.state import Simulator, Store

__all__ = [
    "Dialect",
    "Simulator",
    "SimulatorApp",
    "Store",
    "create_simulator_app",
    "serve_simulator",
]
