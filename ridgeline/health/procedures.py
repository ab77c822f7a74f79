"""The recovery procedure for each cause of a store's state: a diagnosis and ordered steps,
each naming the endpoint or command that performs it (`GET /api/v1/stores/{id}/recovery`).
Steps marked automatic are what a recovery run does (recovery.py); the others need a person."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ridgeline.health.state import HealthCause
from ridgeline.models.health import StoreConnectionState


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    title: str
    how: str  # with {store} for the store's id
    automatic: bool = False


RESET = Step(
    "reset_connection",
    "Reset the connection: drop pooled connections, the cached adapter and its tokens",
    "POST /api/v1/stores/{store}/pos/reset",
    automatic=True,
)
VERIFY = Step(
    "verify_credentials",
    "Verify the stored credentials can be read and are not refused",
    "GET /api/v1/stores/{store}/pos",
    automatic=True,
)
TEST = Step(
    "test_connection",
    "Test the connection: credentials accepted and the POS answers",
    "POST /api/v1/stores/{store}/pos/test",
    automatic=True,
)
SYNC = Step(
    "sync",
    "Sync the catalog and inventory (trigger `recovery`)",
    "POST /api/v1/stores/{store}/sync",
    automatic=True,
)
DRAIN = Step(
    "drain_orders",
    "Send the orders waiting in the store's queue, oldest first",
    "POST /api/v1/stores/{store}/recovery (runs every automatic step)",
    automatic=True,
)
RUN = Step(
    "run_recovery",
    "Or run every automatic step at once and follow the run",
    "POST /api/v1/stores/{store}/recovery, then GET /api/v1/stores/{store}/recovery-runs",
)

# The steps a run performs, by the state it starts from: error runs the guide's full
# procedure; offline is a reconnection (a probe of the POS, then catch up).
AUTOMATIC_STEPS = {
    StoreConnectionState.ERROR: (RESET, VERIFY, TEST, SYNC, DRAIN),
    StoreConnectionState.OFFLINE: (RESET, TEST, SYNC, DRAIN),
}
DEFAULT_STEPS = (RESET, VERIFY, TEST, SYNC, DRAIN)


@dataclass(frozen=True, slots=True)
class Procedure:
    diagnosis: str
    steps: tuple[Step, ...]


PROCEDURES: dict[HealthCause, Procedure] = {
    HealthCause.OK: Procedure("The POS connection is healthy; nothing to do.", ()),
    HealthCause.PAUSED_BY_OPERATOR: Procedure(
        "An operator paused the store: no automatic call goes to its POS and kiosks take no "
        "orders.",
        (
            Step(
                "resume", "Resume the store when it is ready", "POST /api/v1/stores/{store}/resume"
            ),
        ),
    ),
    HealthCause.POS_NOT_CONFIGURED: Procedure(
        "The store has no POS configured.",
        (
            Step(
                "configure",
                "Save the POS provider and credentials (starts a recovery run)",
                "PUT /api/v1/stores/{store}/pos",
            ),
            TEST,
            SYNC,
        ),
    ),
    HealthCause.CREDENTIALS_REFUSED: Procedure(
        "The POS refused the store's credentials (401/403). Retrying cannot fix this, so no "
        "automatic call uses them until new ones are saved.",
        (
            Step("log_in", "Log in to the POS admin panel", "the POS vendor's back office"),
            Step("api_settings", "Navigate to its API settings", "the POS vendor's back office"),
            Step(
                "regenerate",
                "Regenerate the API credentials (or restore the missing permission)",
                "the POS vendor's back office",
            ),
            Step(
                "update_credentials",
                "Update the credentials here: this starts a recovery run at once",
                "PUT /api/v1/stores/{store}/pos",
            ),
            Step(
                "test_connection",
                "Test the connection (a permission restored at the POS, with the same "
                "credentials: run the recovery instead, which tests and resumes)",
                "POST /api/v1/stores/{store}/pos/test",
            ),
            RUN,
        ),
    ),
    HealthCause.POS_UNREACHABLE: Procedure(
        "Nothing has reached the POS for longer than the offline threshold: timeouts or "
        "refused connections. Reconnection runs automatically with backoff.",
        (
            Step(
                "check_network",
                "Check the network and the POS vendor's status page; check base_url",
                "GET /api/v1/stores/{store}/pos (settings and latest calls)",
            ),
            RESET,
            TEST,
            SYNC,
            DRAIN,
            RUN,
        ),
    ),
    HealthCause.BREAKER_OPEN: Procedure(
        "The circuit breaker opened on failing calls; kiosks use the last good catalog and "
        "orders wait. Recovery runs automatically with backoff.",
        (RESET, VERIFY, TEST, SYNC, DRAIN, RUN),
    ),
    HealthCause.BREAKER_FORCED_OPEN: Procedure(
        "An operator forced the circuit breaker open: nothing reaches the POS until it is reset.",
        (
            Step(
                "reset_breaker",
                "Reset the breaker when the POS may be called again",
                'POST /api/v1/stores/{store}/pos/breaker {"action": "reset"}',
            ),
            TEST,
            SYNC,
            DRAIN,
        ),
    ),
    HealthCause.FAILURE_RATE: Procedure(
        "A raised share of calls fail but the POS still serves most of them: kiosks fall back "
        "where a call fails, orders retry. Watch; act if it turns to error.",
        (
            Step(
                "inspect_calls",
                "Look at the failing calls (status, error, endpoint)",
                "GET /api/v1/stores/{store}/pos",
            ),
            Step(
                "check_vendor",
                "Check the POS vendor's status page",
                "the POS vendor's status page",
            ),
            RESET,
            TEST,
        ),
    ),
    HealthCause.RATE_LIMITED: Procedure(
        "The POS is rate limiting this store (429): calls wait for its Retry-After.",
        (
            Step(
                "slow_down",
                "Lengthen the sync intervals of this store",
                "PUT /api/v1/stores/{store}/sync-state",
            ),
            Step(
                "check_other_clients",
                "Check whether another integration shares the store's API key and limit",
                "the POS vendor's back office",
            ),
        ),
    ),
    HealthCause.SLOW_CALLS: Procedure(
        "Calls to the POS are slow: pages and orders take longer, syncs may time out.",
        (
            Step(
                "inspect_calls",
                "Look at the call durations by endpoint",
                "GET /api/v1/stores/{store}/pos",
            ),
            Step(
                "timeouts",
                "Raise timeout_s in the store's POS settings if the POS is slow but working",
                "PUT /api/v1/stores/{store}/pos",
            ),
            TEST,
        ),
    ),
    HealthCause.SYNC_FAILING: Procedure(
        "Sync runs fail while calls to the POS succeed: the data, the mapping or a truncated "
        "answer is the likely cause.",
        (
            Step(
                "sync_logs",
                "Read the failed runs' errors",
                "GET /api/v1/stores/{store}/sync-runs?status=failed",
            ),
            Step(
                "quarantine",
                "Look at the quarantined records",
                "GET /api/v1/stores/{store}/sync-issues",
            ),
            Step(
                "mapping",
                "Check the field mapping",
                "GET /api/v1/stores/{store}/sync-state (field_mapping), PUT to change it",
            ),
            SYNC,
        ),
    ),
}


def procedure_for(cause: str) -> Procedure:
    return PROCEDURES[HealthCause(cause)]


def render(step: Step, store_id: uuid.UUID) -> str:
    return step.how.replace("{store}", str(store_id))
