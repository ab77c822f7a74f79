"""Small factories that build tenant data directly in the database, and sign operators in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from ridgeline.alerts.channels import ChannelCipher, OpsConfig
from ridgeline.auth.credentials import digest, display_prefix, new_kiosk_key
from ridgeline.auth.passwords import hash_password
from ridgeline.clock import Clock, SystemClock
from ridgeline.config import DEFAULT_ENCRYPTION_KEY
from ridgeline.db.engine import Database
from ridgeline.jobs import JobContext, JobServices, enqueue
from ridgeline.models import (
    AdminNotification,
    AlertChannel,
    AlertEscalationPolicy,
    AlertGroup,
    AlertSilence,
    Kiosk,
    KioskApiKey,
    Operator,
    OperatorStoreAccess,
    Order,
    OrderStatus,
    Organization,
    Product,
    RecoveryRun,
    RecoveryStatus,
    RecoveryTrigger,
    RfidTag,
    Role,
    Store,
    StoreConnectionState,
    SyncKind,
    SyncRun,
    SyncStatus,
    SyncTrigger,
)
from ridgeline.models.alert_channel import ChannelKind

PASSWORD = "correct horse battery staple"
# Hashing with Argon2 per factory call would dominate the suite's time.
_PASSWORD_HASH = hash_password(PASSWORD)


@dataclass
class Tenant:
    organization: Organization
    store: Store
    kiosk: Kiosk
    kiosk_key: str
    kiosk_key_id: uuid.UUID
    admin: Operator
    job_id: uuid.UUID  # a background job enqueued for the store
    product_id: uuid.UUID  # a product of the store
    rfid_tag: str  # an RFID tag of the store, pointing at that product
    sync_run_id: uuid.UUID  # a finished catalog sync run of the store
    order_id: uuid.UUID  # an order the kiosk took (no items, never submitted)
    alert_id: uuid.UUID  # an operator alert about the store
    recovery_run_id: uuid.UUID  # a finished manual recovery run of the store
    alert_channel_id: uuid.UUID  # an `ops` alert channel of the organization
    silence_id: uuid.UUID  # an alert silence of the organization, long expired (mutes nothing)
    # An escalation policy of the organization, covering `kiosk_keys_expiring` only (not the
    # default policy).
    escalation_policy_id: uuid.UUID
    alert_group_id: uuid.UUID  # the open notification group of `alert_id`


async def make_organization(database: Database, slug: str | None = None) -> Organization:
    slug = slug or f"org-{uuid.uuid4().hex[:8]}"
    async with database.transaction() as session:
        organization = Organization(name=slug.title(), slug=slug)
        session.add(organization)
    return organization


async def make_store(
    database: Database, organization: Organization, name: str = "Main St"
) -> Store:
    async with database.transaction() as session:
        store = Store(organization_id=organization.id, name=name)
        session.add(store)
    return store


async def make_kiosk(
    database: Database, store: Store, name: str = "Kiosk 1"
) -> tuple[Kiosk, str, uuid.UUID]:
    key = new_kiosk_key()
    async with database.transaction() as session:
        kiosk = Kiosk(organization_id=store.organization_id, store_id=store.id, name=name)
        session.add(kiosk)
        await session.flush()
        api_key = KioskApiKey(
            organization_id=store.organization_id,
            kiosk_id=kiosk.id,
            key_hash=digest(key),
            key_prefix=display_prefix(key),
            created_at=datetime.now(UTC),
        )
        session.add(api_key)
    return kiosk, key, api_key.id


async def make_operator(
    database: Database,
    role: Role,
    organization: Organization | None = None,
    *,
    email: str | None = None,
    stores: list[Store] | None = None,
) -> Operator:
    async with database.transaction() as session:
        operator = Operator(
            organization_id=organization.id if organization else None,
            email=email or f"{role.value}-{uuid.uuid4().hex[:8]}@example.com",
            role=role,
            password_hash=_PASSWORD_HASH,
        )
        session.add(operator)
        await session.flush()
        for store in stores or []:
            session.add(OperatorStoreAccess(operator_id=operator.id, store_id=store.id))
    return operator


async def make_tenant(database: Database, slug: str | None = None) -> Tenant:
    organization = await make_organization(database, slug)
    store = await make_store(database, organization)
    kiosk, key, key_id = await make_kiosk(database, store)
    admin = await make_operator(database, Role.ORG_ADMIN, organization)
    async with database.transaction() as session:
        job = await enqueue(session, "test.noop", {"store_id": str(store.id)}, clock=SystemClock())
        product = Product(
            organization_id=organization.id,
            store_id=store.id,
            external_id="p-1",
            name="House Flower",
            category="flower",
            content_hash="0" * 64,
        )
        session.add(product)
        await session.flush()
        tag = RfidTag(
            organization_id=organization.id,
            store_id=store.id,
            tag=f"E200{uuid.uuid4().hex[:12].upper()}",
            product_id=product.id,
        )
        session.add(tag)
        now = datetime.now(UTC)
        run = SyncRun(
            organization_id=organization.id,
            store_id=store.id,
            kind=SyncKind.FULL,
            trigger=SyncTrigger.OPERATOR,
            status=SyncStatus.SUCCEEDED,
            started_at=now,
            heartbeat_at=now,
            finished_at=now,
        )
        session.add(run)
        order = Order(
            organization_id=organization.id,
            store_id=store.id,
            kiosk_id=kiosk.id,
            reference=f"RL-{uuid.uuid4().hex[:10].upper()}",
            status=OrderStatus.RECEIVED,
            subtotal_cents=0,
            currency=store.currency,
            pos_idempotency_key=uuid.uuid4().hex,
            status_changed_at=now,
        )
        session.add(order)
        alert = AdminNotification(
            id=uuid.uuid4(),
            organization_id=organization.id,
            store_id=store.id,
            kind="sync_failed",
            title="Sync failed",
            message="a test alert",
            details={},
            created_at=now,
            updated_at=now,
        )
        group = AlertGroup(
            organization_id=organization.id,
            group_key="rule=sync_failed",
            rule="sync_failed",
            notified_channel_ids=[],
            created_at=now,
            updated_at=now,
        )
        session.add(group)
        await session.flush()
        alert.group_id = group.id
        session.add(alert)
        recovery = RecoveryRun(
            organization_id=organization.id,
            store_id=store.id,
            trigger=RecoveryTrigger.MANUAL,
            status=RecoveryStatus.SUCCEEDED,
            state_before=StoreConnectionState.UNCONFIGURED,
            cause="pos_not_configured",
            started_at=now,
            heartbeat_at=now,
            finished_at=now,
            steps=[],
        )
        session.add(recovery)
        channel = AlertChannel(
            organization_id=organization.id,
            name="Ops stream",
            kind=ChannelKind.OPS,
            config_encrypted=ChannelCipher([DEFAULT_ENCRYPTION_KEY]).encrypt(OpsConfig()),
        )
        session.add(channel)
        await session.flush()
        silence = AlertSilence(
            organization_id=organization.id,
            matchers=[{"label": "rule", "op": "=", "value": "sync_failed"}],
            starts_at=now - timedelta(days=2),
            ends_at=now - timedelta(days=1),
            comment="a test silence",
            created_by=f"operator:{admin.id}",
        )
        session.add(silence)
        policy = AlertEscalationPolicy(
            organization_id=organization.id,
            name="Key expiry",
            levels=[{"delay_s": 0, "channel_ids": [str(channel.id)]}],
            rules=["kiosk_keys_expiring"],
        )
        session.add(policy)
    assert job is not None
    return Tenant(
        organization,
        store,
        kiosk,
        key,
        key_id,
        admin,
        job.id,
        product.id,
        tag.tag,
        run.id,
        order.id,
        alert.id,
        recovery.id,
        channel.id,
        silence.id,
        policy.id,
        group.id,
    )


async def sign_in(client: httpx.AsyncClient, operator: Operator) -> dict[str, str]:
    """Authorization headers for `operator`."""
    response = await client.post(
        "/api/v1/auth/token", json={"email": operator.email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['access_token']}"}


async def platform_admin_headers(client: httpx.AsyncClient, database: Database) -> dict[str, str]:
    """Authorization headers for a new platform admin (support staff)."""
    return await sign_in(client, await make_operator(database, Role.PLATFORM_ADMIN))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def job_context(
    database: Database, clock: Clock, kind: str, *, max_attempts: int = 3
) -> JobContext:
    """The context a worker would hand a handler of `kind` on its first attempt, for calling
    the handler directly."""
    return JobContext(
        job_id=uuid.uuid4(),
        kind=kind,
        attempt=1,
        max_attempts=max_attempts,
        enqueued_at=clock.now(),
        worker_id="test",
        database=database,
        clock=clock,
        services=JobServices(),
    )
