"""Every ORM model, imported here so that `Base.metadata` knows all tables (Alembic reads it)."""

from ridgeline.models.alert_channel import AlertChannel, AlertDelivery, AlertDeliveryAttempt
from ridgeline.models.audit import AuditEvent
from ridgeline.models.catalog import Product, ProductEnrichment, ProductVariant, RfidTag
from ridgeline.models.circuit_breaker import CircuitBreakerState, CircuitState
from ridgeline.models.health import (
    RecoveryRun,
    RecoveryStatus,
    RecoveryTrigger,
    StoreConnectionState,
    StoreHealth,
    StoreHealthTransition,
)
from ridgeline.models.job import Job, JobStatus
from ridgeline.models.kiosk import Kiosk, KioskApiKey, KioskStatus
from ridgeline.models.notification import (
    AdminNotification,
    AlertEscalationPolicy,
    AlertEvent,
    AlertGroup,
    AlertRuleOverride,
    AlertSilence,
)
from ridgeline.models.operator import (
    Operator,
    OperatorStoreAccess,
    RefreshToken,
    Role,
    TokenFamily,
)
from ridgeline.models.order import (
    IdempotencyKey,
    IdempotencyStatus,
    Order,
    OrderItem,
    OrderStatus,
    OrderTransition,
    TransitionSource,
)
from ridgeline.models.organization import Organization
from ridgeline.models.pos_call import PosCall
from ridgeline.models.pos_event import PosEvent
from ridgeline.models.process_report import ProcessReport
from ridgeline.models.status import (
    ComponentStatus,
    IncidentImpact,
    IncidentKind,
    IncidentStatus,
    StatusComponent,
    StatusComponentChange,
    StatusIncident,
    StatusIncidentUpdate,
    StatusUptimeDay,
)
from ridgeline.models.store import Store
from ridgeline.models.stream import Stream, StreamMessage
from ridgeline.models.sync import (
    StoreSyncState,
    SyncIssue,
    SyncKind,
    SyncRun,
    SyncStatus,
    SyncTrigger,
)

__all__ = [
    "AdminNotification",
    "AlertChannel",
    "AlertDelivery",
    "AlertDeliveryAttempt",
    "AlertEscalationPolicy",
    "AlertEvent",
    "AlertGroup",
    "AlertRuleOverride",
    "AlertSilence",
    "AuditEvent",
    "CircuitBreakerState",
    "CircuitState",
    "ComponentStatus",
    "IdempotencyKey",
    "IdempotencyStatus",
    "IncidentImpact",
    "IncidentKind",
    "IncidentStatus",
    "Job",
    "JobStatus",
    "Kiosk",
    "KioskApiKey",
    "KioskStatus",
    "Operator",
    "OperatorStoreAccess",
    "Order",
    "OrderItem",
    "OrderStatus",
    "OrderTransition",
    "Organization",
    "PosCall",
    "PosEvent",
    "ProcessReport",
    "Product",
    "ProductEnrichment",
    "ProductVariant",
    "RecoveryRun",
    "RecoveryStatus",
    "RecoveryTrigger",
    "RefreshToken",
    "RfidTag",
    "Role",
    "StatusComponent",
    "StatusComponentChange",
    "StatusIncident",
    "StatusIncidentUpdate",
    "StatusUptimeDay",
    "Store",
    "StoreConnectionState",
    "StoreHealth",
    "StoreHealthTransition",
    "StoreSyncState",
    "Stream",
    "StreamMessage",
    "SyncIssue",
    "SyncKind",
    "SyncRun",
    "SyncStatus",
    "SyncTrigger",
    "TokenFamily",
    "TransitionSource",
]
