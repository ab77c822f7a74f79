"""`ridgeline demo`: the POS simulator, a demo tenant with one store per POS dialect connected to
it, kiosks with API keys and an operator; written to var/demo.json for scripts, then served."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.app import create_app
from ridgeline.auth import kiosk_keys, operators
from ridgeline.auth import repository as auth_repository
from ridgeline.auth.passwords import verify_password
from ridgeline.auth.schemas import KioskKeyCreate, OperatorCreate, OperatorUpdate
from ridgeline.cli.admin import SYSTEM, organization_id_of
from ridgeline.cli.server import ensure_ports_free, server_for
from ridgeline.clock import SystemClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import NotFound
from ridgeline.models import Organization, Role
from ridgeline.models.sync import DEFAULT_CATALOG_INTERVAL_S, SyncKind
from ridgeline.pos import service as pos_service
from ridgeline.pos.base import Registration
from ridgeline.pos.client import PosConnector
from ridgeline.pos.credentials import CredentialCipher
from ridgeline.pos.registry import display_name, webhook_source
from ridgeline.pos.schemas import StorePosUpdate
from ridgeline.pos.service import run_connection_test
from ridgeline.possim import create_simulator_app
from ridgeline.possim.model import DIALECT_CYCLE
from ridgeline.stores import repository as stores_repository
from ridgeline.stores import service as stores_service
from ridgeline.stores.schemas import KioskCreate, OrganizationCreate, StoreCreate
from ridgeline.sync.command import run_sync_command
from ridgeline.sync.repository import store_for_system
from ridgeline.webhooks import registration
from ridgeline.webhooks.service import webhook_url

DEMO_SLUG = "demo-dispensary"
DEMO_EMAIL = "admin@demo.ridgeline.example"
DEMO_PASSWORD = "ridgeline-demo-password"  # noqa: S105  (development data, printed on purpose)
DEMO_SEED = 1
# One store per simulated POS, in the simulator's order of dialects: a part of town, then the POS
# as its adapter spells it ("Uptown (BLAZE)"). The demo starts the first four dialects' stores.
STORE_NAMES = {
    dialect.value: f"{place} ({display_name(dialect.value)})"
    for dialect, place in zip(
        DIALECT_CYCLE, ("Downtown", "Riverside", "Uptown", "Harbor"), strict=False
    )
}


def simulator_stores(simulator_root: str, products: int) -> tuple[Any, list[dict[str, Any]]]:
    """The demo's simulator app and its four stores as the control API lists them."""
    app = create_simulator_app(DEMO_SEED, stores=4, products=products)
    return app, [store.summary(simulator_root) for store in app.simulator.stores.values()]


async def seed_demo(
    settings: Settings, pos_stores: list[dict[str, Any]], simulator_root: str
) -> dict[str, Any]:
    """Create the demo tenant if missing (idempotent), point each store at its simulated POS, and
    issue each kiosk a fresh key: keys are stored only as hashes, so the ones printed on an
    earlier run cannot be shown again (and are expired now). Everything goes through the
    services the API uses, so the demo's data obeys the API's validation."""
    database = Database.from_settings(settings)
    cipher = CredentialCipher(settings.encryption_keys)
    now = SystemClock().now()
    stores, kiosks = [], []
    try:
        async with database.transaction() as session:
            organization = await _demo_organization(session)
            scope = TenantScope(organization_id=organization.id)
            await _demo_operator(session, organization.id, now=now)
            existing = {s.name: s for s in await session.scalars(stores_repository.stores(scope))}
            for sim_store in pos_stores:
                name = STORE_NAMES[sim_store["dialect"]]
                store = existing.get(name) or await stores_service.create_store(
                    session,
                    SYSTEM,
                    StoreCreate(
                        organization_id=organization.id, name=name, timezone="America/Denver"
                    ),
                )
                store, _ = await pos_service.configure(
                    session,
                    scope,
                    store.id,
                    StorePosUpdate(provider=sim_store["dialect"], config=sim_store["config"]),
                    cipher=cipher,
                    now=now,
                )
                kiosk = await session.scalar(stores_repository.kiosks(scope, store_id=store.id))
                if kiosk is None:
                    kiosk = await stores_service.create_kiosk(
                        session, scope, KioskCreate(store_id=store.id, name="Lobby Kiosk")
                    )
                key = await kiosk_keys.issue_key(
                    session, scope, kiosk.id, KioskKeyCreate(expire_existing_in_s=0), now=now
                )
                stores.append(
                    {
                        "id": str(store.id),
                        "name": store.name,
                        "pos_provider": store.pos_provider,
                        "simulator_store_id": sim_store["id"],
                    }
                )
                kiosks.append(
                    {
                        "id": str(kiosk.id),
                        "name": kiosk.name,
                        "store_id": str(store.id),
                        "api_key": key.key,
                    }
                )
    finally:
        await database.dispose()
    return {
        "base_url": f"http://{settings.host}:{settings.port}",
        "simulator": {"url": simulator_root, "control_url": f"{simulator_root}/_sim/stores"},
        "operator": {"email": DEMO_EMAIL, "password": DEMO_PASSWORD, "role": Role.ORG_ADMIN.value},
        "organization": {"id": str(organization.id), "slug": organization.slug},
        "stores": stores,
        "kiosks": kiosks,
    }


async def _demo_organization(session: AsyncSession) -> Organization:
    try:
        organization_id = await organization_id_of(session, DEMO_SLUG)
    except NotFound:
        return await stores_service.create_organization(
            session, OrganizationCreate(name="Demo Dispensary", slug=DEMO_SLUG)
        )
    return await stores_service.get_organization(session, SYSTEM.scope, organization_id)


async def _demo_operator(
    session: AsyncSession, organization_id: uuid.UUID, *, now: datetime
) -> None:
    """The demo's org admin, with the demo password (set again if it was changed)."""
    password = SecretStr(DEMO_PASSWORD)
    operator = await auth_repository.operator_by_email(session, DEMO_EMAIL)
    if operator is None:
        body = OperatorCreate(
            email=DEMO_EMAIL,
            password=password,
            name="Demo Admin",
            role=Role.ORG_ADMIN,
            organization_id=organization_id,
        )
        await operators.create_operator(session, SYSTEM, body)
    elif not verify_password(operator.password_hash, DEMO_PASSWORD):
        await operators.update_operator(
            session, SYSTEM, operator.id, OperatorUpdate(password=password), now=now
        )


async def check_connections(settings: Settings, info: dict[str, Any]) -> None:
    """Test each demo store's POS connection through the resilient client (the simulator must be
    running); the result goes into `info` for the table and var/demo.json."""
    database = Database.from_settings(settings)
    connector = PosConnector(settings, database, SystemClock())
    try:
        for entry in info["stores"]:
            async with database.transaction(write=False) as session:
                store = await store_for_system(session, uuid.UUID(entry["id"]))
            assert store is not None
            result = await run_connection_test(connector.adapter_for(store))
            entry["pos_connection"] = result.diagnosis
    finally:
        await connector.aclose()
        await database.dispose()


async def register_webhooks(settings: Settings, info: dict[str, Any]) -> None:
    """Have the simulated POSes push their changes to the demo API, as each registers its
    webhooks: through our own registration where the POS has an API for it, through the
    simulator's control API where a real one is set up in the vendor's portal. A POS that
    posts back per order, or pushes nothing, needs nothing here."""
    database = Database.from_settings(settings)
    clock = SystemClock()
    connector = PosConnector(settings, database, clock)
    control_url = info["simulator"]["control_url"]
    try:
        async with httpx.AsyncClient(timeout=10) as control:
            for entry in info["stores"]:
                store_id = uuid.UUID(entry["id"])
                source = webhook_source(entry["pos_provider"])
                how = source.webhook_registration if source is not None else None
                if how is Registration.API:
                    await registration.register(
                        database,
                        connector,
                        TenantScope.everything(),
                        store_id,
                        settings=settings,
                        clock=clock,
                    )
                elif how is Registration.VENDOR_PORTAL:
                    async with database.transaction(write=False) as session:
                        store = await stores_service.get_store(
                            session, TenantScope.everything(), store_id
                        )
                    # The simulator's control API plays the vendor's portal.
                    response = await control.post(
                        f"{control_url}/{entry['simulator_store_id']}/webhooks",
                        json={"url": webhook_url(settings, store, connector.cipher)},
                    )
                    response.raise_for_status()
                else:
                    continue
                entry["webhooks"] = "registered"
    finally:
        await connector.aclose()
        await database.dispose()


@contextlib.asynccontextmanager
async def serving(app: Any, host: str, port: int) -> AsyncIterator[uvicorn.Server]:
    """`app` served by uvicorn in this event loop until the block ends."""
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, ws="none")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it (e.g. the port is taken)
            raise RuntimeError("the POS simulator stopped during start-up")
        await asyncio.sleep(0.05)
    try:
        yield server
    finally:
        server.should_exit = True
        await task


async def connect_demo_stores(settings: Settings, info: dict[str, Any], console: Console) -> None:
    """With the simulator running: test each store's POS connection, run its first full sync
    with a progress bar (from then on a worker keeps every store in sync on its schedule), and
    have the POSes push their changes to us (within seconds, between syncs)."""
    await check_connections(settings, info)
    for store in info["stores"]:
        console.print(f"[bold]First sync of {store['name']}[/bold]")
        run = await run_sync_command(settings, uuid.UUID(store["id"]), SyncKind.FULL, console)
        store["first_sync"] = {"status": run.status.value, "products": run.fetched}
    await register_webhooks(settings, info)


async def run_demo(
    settings: Settings, console: Console, *, serve: bool, simulator_port: int, products: int
) -> dict[str, Any]:
    if serve:
        ensure_ports_free(
            settings.host,
            {
                settings.port: "RIDGELINE_PORT",
                simulator_port: "--simulator-port or RIDGELINE_SIMULATOR_PORT",
            },
        )
    root = f"http://{settings.host}:{simulator_port}"
    simulator, pos_stores = simulator_stores(root, products)
    info = await seed_demo(settings, pos_stores, root)
    if not serve:
        return info
    async with serving(simulator, settings.host, simulator_port):
        await connect_demo_stores(settings, info, console)
        show_demo(info, console)
        write_demo_file(info)
        await server_for(create_app(settings), host=settings.host, port=settings.port).serve()
    return info


def write_demo_file(info: dict[str, Any]) -> None:
    Path("var").mkdir(exist_ok=True)
    Path("var/demo.json").write_text(json.dumps(info, indent=2) + "\n")


def show_demo(info: dict[str, Any], console: Console) -> None:
    table = Table(title="Ridgeline demo", show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("API", info["base_url"] + "/api/v1")
    table.add_row("API docs", info["base_url"] + "/docs")
    table.add_row("Status page", info["base_url"] + "/status")
    table.add_row("POS simulator", info["simulator"]["control_url"])
    table.add_row("Operator", f"{info['operator']['email']} / {info['operator']['password']}")
    table.add_row("Organization", info["organization"]["id"])
    for store in info["stores"]:
        connection = store.get("pos_connection", "not tested")
        synced = store.get("first_sync")
        sync_text = (
            f"\nfirst sync: {synced['status']}, {synced['products']} products" if synced else ""
        )
        hooks = f"\nPOS webhooks: {store['webhooks']}" if store.get("webhooks") else ""
        # How a change made in the simulator reaches this store's kiosks (docs/sync.md#freshness).
        follows = (
            "pushed by the POS (seconds)"
            if store.get("webhooks")
            else f"polled every {DEFAULT_CATALOG_INTERVAL_S} s (within a minute)"
        )
        table.add_row(
            f"Store {store['name']}",
            f"{store['id']}\nPOS connection: {connection}{sync_text}{hooks}"
            f"\nPOS changes: {follows}",
        )
    for kiosk in info["kiosks"]:
        store_name = next(s["name"] for s in info["stores"] if s["id"] == kiosk["store_id"])
        table.add_row(f"Kiosk ({store_name})", f"{kiosk['id']}\nkey {kiosk['api_key']}")
    if info["kiosks"]:
        # The shopper's page of the first kiosk; the key rides in the fragment, which browsers
        # never send to a server (the page moves it out of the address bar).
        first = info["kiosks"][0]
        table.add_row("Kiosk page", f"{info['base_url']}/kiosk#key={first['api_key']}")
    table.add_row("Written to", "var/demo.json")
    console.print(table)
