"""`ridgeline demo`: a demo tenant that a newcomer (or a script, via var/demo.json) can use."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from ridgeline.auth import kiosk_keys
from ridgeline.auth.passwords import hash_password, verify_password
from ridgeline.auth.schemas import KioskKeyCreate
from ridgeline.clock import SystemClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.models import Kiosk, Operator, Organization, Role, Store

DEMO_SLUG = "demo-dispensary"
DEMO_EMAIL = "admin@demo.ridgeline.local"
DEMO_PASSWORD = "ridgeline-demo-password"  # noqa: S105  (development data, printed on purpose)
DEMO_STORE = "Downtown"
DEMO_KIOSKS = ("Front Counter Kiosk", "Lobby Kiosk")


async def seed_demo(settings: Settings) -> dict[str, Any]:
    """Create the demo tenant if missing (idempotent) and issue each demo kiosk a fresh key:
    keys are stored only as hashes, so the ones printed on an earlier run cannot be shown again."""
    database = Database(
        settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )
    now = SystemClock().now()
    try:
        async with database.transaction() as session:
            organization = await session.scalar(
                select(Organization).where(Organization.slug == DEMO_SLUG)
            )
            if organization is None:
                organization = Organization(name="Demo Dispensary", slug=DEMO_SLUG)
                session.add(organization)
                await session.flush()
            store = await session.scalar(
                select(Store).where(
                    Store.organization_id == organization.id, Store.name == DEMO_STORE
                )
            )
            if store is None:
                store = Store(
                    organization_id=organization.id, name=DEMO_STORE, timezone="America/Denver"
                )
                session.add(store)
                await session.flush()
            operator = await session.scalar(select(Operator).where(Operator.email == DEMO_EMAIL))
            if operator is None:
                operator = Operator(
                    organization_id=organization.id,
                    email=DEMO_EMAIL,
                    name="Demo Admin",
                    role=Role.ORG_ADMIN,
                    password_hash=hash_password(DEMO_PASSWORD),
                )
                session.add(operator)
            elif not verify_password(operator.password_hash, DEMO_PASSWORD):
                operator.password_hash = hash_password(DEMO_PASSWORD)
            kiosks = []
            for name in DEMO_KIOSKS:
                kiosk = await session.scalar(
                    select(Kiosk).where(Kiosk.store_id == store.id, Kiosk.name == name)
                )
                if kiosk is None:
                    kiosk = Kiosk(organization_id=organization.id, store_id=store.id, name=name)
                    session.add(kiosk)
                    await session.flush()
                key = await kiosk_keys.issue_key(
                    session,
                    TenantScope(organization_id=organization.id),
                    kiosk.id,
                    KioskKeyCreate(expire_existing_in_s=0),
                    now=now,
                )
                kiosks.append({"id": str(kiosk.id), "name": kiosk.name, "api_key": key.key})
    finally:
        await database.dispose()
    return {
        "base_url": f"http://{settings.host}:{settings.port}",
        "operator": {"email": DEMO_EMAIL, "password": DEMO_PASSWORD, "role": Role.ORG_ADMIN.value},
        "organization": {"id": str(organization.id), "slug": organization.slug},
        "stores": [{"id": str(store.id), "name": store.name}],
        "kiosks": kiosks,
    }


def show_demo(info: dict[str, Any], console: Console) -> None:
    table = Table(title="Ridgeline demo", show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("API", info["base_url"] + "/api/v1")
    table.add_row("API docs", info["base_url"] + "/docs")
    table.add_row("Operator", f"{info['operator']['email']} / {info['operator']['password']}")
    table.add_row("Organization", info["organization"]["id"])
    for store in info["stores"]:
        table.add_row(f"Store {store['name']}", store["id"])
    for kiosk in info["kiosks"]:
        table.add_row(f"Kiosk {kiosk['name']}", f"{kiosk['id']}\nkey {kiosk['api_key']}")
    table.add_row("Written to", "var/demo.json")
    console.print(table)
