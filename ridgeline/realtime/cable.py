"""`/cable`: the WebSocket endpoint kiosks and the operators' dashboard connect to.

One coroutine per connection reads client commands in order; the hub delivers broadcasts and
the connection's writer task sends them. The handshake: origin check, subprotocol (echoed),
accept, then either a session restored by `sid` or authentication by token (query string or an
extra subprotocol), then `welcome`. See realtime-protocol.md and docs/realtime.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
import uuid
from collections.abc import Awaitable, Sequence
from typing import Any

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState

from ridgeline.api.dependencies import ServicesDep
from ridgeline.api.hygiene import AllowedHostsMiddleware
from ridgeline.auth import service as auth_service
from ridgeline.auth.credentials import KIOSK_KEY_PREFIX
from ridgeline.auth.principal import KioskPrincipal, OperatorPrincipal, Principal
from ridgeline.auth.usage import KioskKeyUsage
from ridgeline.config import Settings
from ridgeline.errors import RidgelineError
from ridgeline.models.kiosk import KioskKeyPurpose
from ridgeline.models.operator import Role
from ridgeline.monitoring.errors import log_unexpected
from ridgeline.realtime import protocol
from ridgeline.realtime.activity import KioskActivity
from ridgeline.realtime.channels import (
    CHANNELS,
    KIOSK_CHANNEL,
    STORE_CHANNEL,
    SubscriptionRefused,
    authorize_subscription,
)
from ridgeline.realtime.connection import Connection
from ridgeline.realtime.hub import Hub
from ridgeline.realtime.metrics import CONNECTS, SESSION_RESTORES, SUBSCRIBE_REJECTS
from ridgeline.realtime.protocol import Command, DisconnectReason, InvalidCommand
from ridgeline.services import Services

log = structlog.get_logger(__name__)

CABLE_PATH = "/cable"
MAX_APP_VERSION = 64
MAX_HEALTH_BYTES = 4096


def _origin_allowed(origin: str | None, allowed: list[str]) -> bool:
    # A kiosk app (not a browser) sends no Origin: its key alone lets it in.
    return origin is None or "*" in allowed or origin.rstrip("/") in allowed


def _principal_document(principal: Principal) -> dict[str, Any]:
    if isinstance(principal, KioskPrincipal):
        return {
            "kind": "kiosk",
            "kiosk_id": str(principal.kiosk_id),
            "store_id": str(principal.store_id),
            "organization_id": str(principal.organization_id),
            "key_id": str(principal.key_id),
            "purpose": principal.purpose.value,
        }
    return {
        "kind": "operator",
        "operator_id": str(principal.operator_id),
        "organization_id": str(principal.organization_id) if principal.organization_id else None,
        "role": principal.role.value,
        "family_id": str(principal.family_id),
        "store_ids": sorted(str(s) for s in principal.store_ids)
        if principal.store_ids is not None
        else None,
    }


def _principal_from(document: dict[str, Any]) -> Principal | None:
    try:
        if document["kind"] == "kiosk":
            return KioskPrincipal(
                kiosk_id=uuid.UUID(document["kiosk_id"]),
                store_id=uuid.UUID(document["store_id"]),
                organization_id=uuid.UUID(document["organization_id"]),
                key_id=uuid.UUID(document["key_id"]),
                purpose=KioskKeyPurpose(document.get("purpose", KioskKeyPurpose.KIOSK)),
            )
        store_ids = document.get("store_ids")
        organization_id = document.get("organization_id")
        return OperatorPrincipal(
            operator_id=uuid.UUID(document["operator_id"]),
            organization_id=uuid.UUID(organization_id) if organization_id else None,
            role=Role(document["role"]),
            family_id=uuid.UUID(document["family_id"]),
            store_ids=frozenset(uuid.UUID(s) for s in store_ids) if store_ids is not None else None,
        )
    except (KeyError, ValueError, TypeError):
        return None


class CableSession:
    """One connection's conversation: handshake, commands, and its end."""

    __slots__ = (
        "activity",
        "connection",
        "hub",
        "key_usage",
        "server_receive",
        "settings",
        "sid",
        "websocket",
    )

    def __init__(
        self, websocket: WebSocket, services: Services, server_receive: Receive | None = None
    ) -> None:
        self.websocket = websocket
        # The server's own `receive` (CableRoute's), until the handshake's leftovers are dropped.
        self.server_receive = server_receive
        self.hub: Hub = services.hub
        self.settings: Settings = services.settings
        self.activity: KioskActivity = services.kiosk_activity
        self.key_usage: KioskKeyUsage = services.kiosk_key_usage
        self.connection: Connection | None = None
        self.sid: str | None = None

    async def run(self) -> None:
        try:
            await self._converse()
        except Exception as error:
            # Logged here, once, with the connection's ids; not re-raised, or uvicorn would log
            # it again without them. The client gets 1011 (internal error), as uvicorn would.
            context = self.connection.log_context() if self.connection is not None else {}
            log_unexpected(log, "cable_connection_failed", error, **context)
            with contextlib.suppress(Exception):  # the socket may be gone already
                await self.websocket.close(code=1011)

    async def _converse(self) -> None:
        websocket = self.websocket
        offered = list(websocket.scope.get("subprotocols") or [])
        chosen = protocol.choose_subprotocol(offered)
        origin = websocket.headers.get("origin")
        if not _origin_allowed(origin, self.settings.cable_allowed_origins):
            CONNECTS.labels("origin_refused").inc()
            log.info("cable_connect_refused", reason="origin", origin=origin)
            await websocket.close(code=1008)  # before accept: the handshake gets a 403
            return
        if chosen is None or not self.hub.started:
            CONNECTS.labels("protocol_refused").inc()
            await websocket.close(code=1002)
            return
        await websocket.accept(subprotocol=chosen)
        restored = await self._restore(chosen)
        principal = restored[0] if restored else await self._authenticate(offered)
        if principal is None:
            CONNECTS.labels("unauthorized").inc()
            await self._refuse(DisconnectReason.UNAUTHORIZED)
            return
        client = websocket.client
        connection = Connection(
            principal=principal,
            protocol_name=chosen,
            send=websocket.send_text,
            # Not a method of this session: the session holds the connection, and a connection
            # holding the session back would leave both (and the socket's objects) in a
            # reference cycle once the socket closes, freed only by the collector's full passes.
            close=functools.partial(_close_socket, websocket),
            queue_max=self.settings.cable_send_queue_max,
            remote=f"{client.host}:{client.port}" if client else None,
        )
        self.connection = connection
        _forget_handshake(websocket, self.server_receive)
        self.server_receive = None
        self.hub.register(connection)
        CONNECTS.labels("restored" if restored else "accepted").inc()
        reason = "client_closed"
        # Every line from here on (and from the reader task, which copies the context) names
        # the connection, its kiosk and store.
        with structlog.contextvars.bound_contextvars(**connection.log_context()):
            try:
                await self._welcome(connection, restored[1] if restored else None)
                await self._joined(connection)
                reason = await self._until_closed(connection)
            finally:
                await self._left(connection, reason)

    async def _until_closed(self, connection: Connection) -> str:
        """Reads commands until the client leaves, or until the server closed the connection
        (too slow, remote, restart): a client that stopped reading must not keep it open. The
        reading is done in this task; the connection's close interrupts it (no task per
        connection waits for the close)."""
        task = asyncio.current_task()
        assert task is not None
        reading = True
        interrupted = False

        def closed_by_server() -> None:
            nonlocal interrupted
            if reading:
                interrupted = True
                task.cancel()

        connection.on_closed = closed_by_server
        if connection.closed.done():
            return connection.closing.value if connection.closing else "connection_lost"
        try:
            return await self._read_commands(connection)
        except asyncio.CancelledError:
            if not interrupted or task.uncancel() > 0:
                raise  # cancelled from outside (shutdown): not ours to absorb
        except Exception as error:
            # A command's handler raised: the connection ends; the kiosk reconnects.
            log_unexpected(log, "cable_command_failed", error)
        finally:
            reading = False
            connection.on_closed = None
        return connection.closing.value if connection.closing else "connection_lost"

    # --- handshake -----------------------------------------------------------------------------

    async def _authenticate(self, offered: list[str]) -> Principal | None:
        token = self.websocket.query_params.get("token") or protocol.token_from_subprotocols(
            offered
        )
        if not token:
            return None
        now = self.hub.clock.now()
        try:
            if token.startswith(KIOSK_KEY_PREFIX):
                # Cached, or read with the other keys of a connect storm (auth/service.py).
                return await self.hub.key_reader.authenticate(
                    token, now=now, key_usage=self.key_usage
                )
            async with self.hub.database.transaction(write=False) as session:
                return await auth_service.authenticate(
                    session, token, settings=self.settings, now=now, key_usage=self.key_usage
                )
        except RidgelineError as exc:
            log.info("cable_connect_refused", reason="unauthorized", code=exc.code)
            return None

    async def _restore(self, chosen: str) -> tuple[Principal, list[dict[str, Any]]] | None:
        """A session named by `sid` (query or X-ANYCABLE-RESTORE-SID), if still known and its
        principal may still act; its subscriptions come back without subscribe commands."""
        if chosen != protocol.PROTOCOL_EXT:
            return None
        sid = self.websocket.query_params.get("sid") or self.websocket.headers.get(
            "x-anycable-restore-sid"
        )
        if not sid:
            return None
        try:
            document = await self.hub.state.take_session(sid)
        except Exception:
            # Redis away: nothing to restore; the client's token lets it in as on a first connect.
            log.exception("cable_session_restore_failed")
            document = None
        principal = _principal_from(document.get("principal", {})) if document else None
        if document is None or principal is None:
            SESSION_RESTORES.labels("unknown").inc()
            return None
        async with self.hub.database.transaction(write=False) as session:
            valid = await auth_service.still_valid(session, principal, now=self.hub.clock.now())
        if not valid:
            SESSION_RESTORES.labels("revoked").inc()
            return None
        SESSION_RESTORES.labels("restored").inc()
        subscriptions = document.get("subscriptions")
        return principal, subscriptions if isinstance(subscriptions, list) else []

    async def _welcome(self, connection: Connection, restored: list[dict[str, Any]] | None) -> None:
        if not connection.reliable:
            connection.push(protocol.welcome())
            return
        self.sid = secrets.token_urlsafe(24)
        if restored is None:
            connection.push(protocol.welcome(self.sid))
            return
        restored_ids: list[str] = []
        for item in restored:
            identifier, epoch, offset = (
                item.get("identifier"),
                item.get("epoch"),
                item.get("offset"),
            )
            if not (
                isinstance(identifier, str) and isinstance(epoch, str) and isinstance(offset, int)
            ):
                continue
            try:
                grant = await authorize_subscription(
                    self.hub.database, connection.principal, protocol.parse_identifier(identifier)
                )
            except (SubscriptionRefused, InvalidCommand):
                continue
            subscription = await self.hub.subscribe(
                connection, identifier, grant, None, restored_offset=(epoch, offset)
            )
            if subscription is not None:
                restored_ids.append(identifier)
        connection.push(protocol.welcome(self.sid, restored_ids=restored_ids))

    async def _refuse(self, reason: DisconnectReason) -> None:
        with contextlib.suppress(Exception):  # the client may be gone already
            await self.websocket.send_text(protocol.disconnect(reason, reconnect=False))
            await self.websocket.close()

    # --- presence ------------------------------------------------------------------------------

    async def _joined(self, connection: Connection) -> None:
        principal = connection.principal
        if not isinstance(principal, KioskPrincipal):
            log.info("cable_connected", connection_id=connection.id, operator=True)
            return
        if connection.kiosk is None:  # a diagnostic key: the kiosk is not seen nor present
            log.info(
                "cable_connected",
                connection_id=connection.id,
                kiosk_id=str(principal.kiosk_id),
                diagnostic=True,
            )
            return
        log.info(
            "cable_connected",
            connection_id=connection.id,
            kiosk_id=str(principal.kiosk_id),
            store_id=str(principal.store_id),
            protocol=connection.protocol_name,
        )
        self.activity.seen(principal.kiosk_id)
        self.activity.presence(
            organization_id=principal.organization_id,
            store_id=principal.store_id,
            kiosk_id=principal.kiosk_id,
            connected=True,
            connection_id=connection.id,
        )
        try:
            await self.hub.state.join(self.hub.presence_entry(connection, connection.connected_at))
        except Exception:
            log.exception("cable_presence_join_failed")

    async def _left(self, connection: Connection, reason: str) -> None:
        if connection.closing is not None:
            reason = connection.closing.value
        if self.sid is not None:
            await self._save_session(connection)
        await self.hub.unregister(connection, reason)
        principal = connection.kiosk
        log.info(
            "cable_disconnected",
            connection_id=connection.id,
            reason=reason,
            kiosk_id=str(principal.kiosk_id) if principal else None,
        )
        if principal is not None:
            self.activity.seen(principal.kiosk_id)
            self.activity.presence(
                organization_id=principal.organization_id,
                store_id=principal.store_id,
                kiosk_id=principal.kiosk_id,
                connected=False,
                connection_id=connection.id,
                reason=reason,
            )
            try:
                await self.hub.state.leave(str(principal.store_id), connection.id)
            except Exception:
                log.exception("cable_presence_leave_failed")

    async def _save_session(self, connection: Connection) -> None:
        if self.sid is None or connection.closing in (
            DisconnectReason.UNAUTHORIZED,
            DisconnectReason.REMOTE,
        ):
            return
        document = {
            "principal": _principal_document(connection.principal),
            "subscriptions": [
                {"identifier": s.identifier, "epoch": s.epoch, "offset": s.offset}
                for s in connection.subscriptions.values()
            ],
        }
        try:
            await self.hub.state.save_session(self.sid, document, self.settings.cable_session_ttl_s)
        except Exception:
            log.exception("cable_session_save_failed")

    # --- commands ------------------------------------------------------------------------------

    async def _read_commands(self, connection: Connection) -> str:
        """Reads until the client leaves or the server closes; returns why it ended."""
        while True:
            event = await self.websocket.receive()
            if event["type"] == "websocket.disconnect":
                return "client_closed"
            text = event.get("text")
            if text is None:
                raw = event.get("bytes") or b""
                try:
                    text = raw.decode()
                except UnicodeDecodeError:
                    text = ""
            if connection.closing is not None:
                continue  # closing: the socket goes away shortly
            try:
                command = protocol.parse_command(text)
                await self._dispatch(connection, command)
            except InvalidCommand as exc:
                log.info("cable_invalid_command", connection_id=connection.id, error=str(exc))
                connection.disconnect(DisconnectReason.INVALID_REQUEST, reconnect=False)

    async def _dispatch(self, connection: Connection, command: Command) -> None:
        name = command.command
        if name == "pong":
            return
        if name == "subscribe":
            await self._subscribe(connection, command)
            return
        if name == "unsubscribe":
            self.hub.unsubscribe(connection, command.identifier)
            return
        subscription = connection.subscriptions.get(command.identifier)
        if name == "history":
            if subscription is None or command.history is None:
                connection.push(
                    protocol.reply(protocol.encode(command.identifier), "reject_history")
                )
                return
            await self.hub.replay(subscription, command.history)
            return
        if subscription is None:
            log.info("cable_command_unsubscribed", command=name, connection_id=connection.id)
            return
        if name == "message":
            await self._perform(connection, subscription.channel, command.data)
        elif name == "presence":
            await self._presence_info(connection, subscription.channel, subscription.identifier)
        # `join` / `leave`: a kiosk's presence follows its connection; nothing to record.

    async def _subscribe(self, connection: Connection, command: Command) -> None:
        identifier_json = protocol.encode(command.identifier)
        params: dict[str, Any] = {}
        try:
            params = protocol.parse_identifier(command.identifier)
            grant = await authorize_subscription(self.hub.database, connection.principal, params)
        except (SubscriptionRefused, InvalidCommand) as exc:
            channel = params.get("channel")
            SUBSCRIBE_REJECTS.labels(channel if channel in CHANNELS else "other").inc()
            log.info("cable_subscription_rejected", connection_id=connection.id, reason=str(exc))
            connection.push(protocol.reply(identifier_json, "reject_subscription"))
            return
        await self.hub.subscribe(connection, command.identifier, grant, command.history)

    async def _perform(self, connection: Connection, channel: str, data: dict[str, Any]) -> None:
        action = data.get("action")
        if channel == KIOSK_CHANNEL and action == "heartbeat":
            principal = connection.kiosk
            if principal is None:  # a diagnostic connection speaks for no kiosk's health
                log.info("cable_diagnostic_heartbeat_ignored", connection_id=connection.id)
                return
            version = data.get("app_version")
            health = data.get("health")
            if version is not None and (not isinstance(version, str) or len(version) > 64):
                version = None
            if not isinstance(health, dict) or len(protocol.encode(health)) > MAX_HEALTH_BYTES:
                health = None
            if version:
                connection.app_version = version
            self.activity.seen(principal.kiosk_id, app_version=version, health=health)
            return
        log.info("cable_unknown_action", channel=channel, action=str(action)[:64])

    async def _presence_info(self, connection: Connection, channel: str, identifier: str) -> None:
        principal = connection.principal
        identifier_json = protocol.encode(identifier)
        if channel != STORE_CHANNEL or not isinstance(principal, KioskPrincipal):
            connection.push(protocol.presence(identifier_json, {"type": "error"}))
            return
        entries = await self.hub.state.present(str(principal.store_id))
        kiosks: dict[str, dict[str, Any]] = {}
        for entry in entries:
            kiosks.setdefault(
                entry.kiosk_id,
                {"id": entry.kiosk_id, "info": {"app_version": entry.app_version}},
            )
        connection.push(
            protocol.presence(
                identifier_json,
                {"type": "info", "total": len(kiosks), "records": list(kiosks.values())},
            )
        )


async def _close_socket(websocket: WebSocket) -> None:
    """Closes the socket unless it is closed already. Raises nothing: when the client has
    dropped it meanwhile there is nothing left to close, and an exception raised out of here
    into `asyncio.wait_for` (Connection._close_after_flush) stays in a reference cycle, with
    every frame on its traceback: wait_for's frame holds the task that holds the exception."""
    if websocket.application_state is WebSocketState.DISCONNECTED:
        return
    with contextlib.suppress(Exception):
        await websocket.close()


def _forget_handshake(websocket: WebSocket, server_receive: Receive | None) -> None:
    """Drops what the handshake needed and the socket's hours of life do not: the request's
    headers in the ASGI scope (emptied in place, so every holder of the list sees it empty),
    and, under uvicorn's sans-I/O WebSocket protocol, the handshake's request and response
    objects it keeps (their headers parsed again). About 5 KiB a socket; thousands are open."""
    headers = websocket.scope.get("headers")
    if isinstance(headers, list):
        headers.clear()
    server_protocol = getattr(server_receive, "__self__", None)
    if (
        type(server_protocol).__name__ == "WebSocketsSansIOProtocol"
        and getattr(server_protocol, "handshake_complete", False) is True
    ):
        # Read only before the handshake completes (uvicorn 0.3x-0.5x); the accept is sent.
        # The request also stays referenced from the websockets parser's frame: its headers
        # are emptied in place.
        for leftover in ("request", "response"):
            message = getattr(server_protocol, leftover, None)
            headers = getattr(message, "headers", None)
            clear = getattr(headers, "clear", None)
            if callable(clear):
                clear()
            if message is not None:
                setattr(server_protocol, leftover, None)


async def cable_endpoint(websocket: WebSocket, services: ServicesDep) -> None:
    await CableSession(websocket, services).run()


class CableRoute:
    """ASGI middleware: a `/cable` WebSocket goes straight to its session instead of through
    the rest of the middleware stack, the router and dependency injection. Those pass a
    WebSocket through untouched, but each keeps a frame alive for as long as the socket is open:
    thousands of kiosks' sockets live for hours. `ridgeline serve` puts it outermost, around the
    whole app, with the allowed-hosts check of the app's own stack (`hosts`); the app also has
    it inside that check (for an app served some other way). The origin check is
    the session's own. `cable_endpoint` is the same route for FastAPI's own routing (an app
    built without this middleware)."""

    def __init__(
        self, app: ASGIApp, services: Services, *, hosts: Sequence[str] | None = None
    ) -> None:
        self.app = app
        self.services = services
        self._cable: ASGIApp = self._session
        if hosts is not None and "*" not in hosts:
            self._cable = AllowedHostsMiddleware(self._session, hosts=hosts)

    def _session(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine function: no frame of its own stays alive with the socket.
        return CableSession(WebSocket(scope, receive, send), self.services, receive).run()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == CABLE_PATH:
            await self._cable(scope, receive, send)
            return
        await self.app(scope, receive, send)
