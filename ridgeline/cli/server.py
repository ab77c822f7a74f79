"""Process entry points: the API server (with the embedded worker) and the standalone worker."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI
from websockets.exceptions import InvalidState

from ridgeline.app import app_services, create_app
from ridgeline.clock import SystemClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.jobs import Worker
from ridgeline.monitoring.exposition import MetricsExposition, MetricsListener
from ridgeline.monitoring.logging import redact_server_logs
from ridgeline.monitoring.performance import PerformanceMonitor
from ridgeline.pos.client import PosConnector
from ridgeline.realtime.backplane import announcing_commits, backplane_for
from ridgeline.realtime.cable import CableRoute
from ridgeline.realtime.gc_pacing import CollectorPacer
from ridgeline.realtime.hub import Hub
from ridgeline.realtime.loop_watch import LoopWatch
from ridgeline.tasks import job_registry, job_schedules, job_services

log = structlog.get_logger(__name__)


# uvicorn's own default, stated here because the nginx file depends on it.
KEEP_ALIVE_S = 5


class PortTaken(Exception):
    """A port this command must listen on is already in use."""

    def __init__(self, host: str, port: int, setting: str) -> None:
        self.host, self.port, self.setting = host, port, setting
        super().__init__(
            f"port {port} on {host} is already in use: stop what listens there, "
            f"or choose another port with {setting}"
        )


def ensure_ports_free(host: str, ports: dict[int, str]) -> None:
    """Raise `PortTaken` for the first of `ports` (port -> the setting that changes it) that
    cannot be bound on `host`, before anything has started, so that the user is told which port
    and which setting instead of meeting a traceback halfway through start-up."""
    for port, setting in ports.items():
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            try:
                probe.bind((host, port))
            except OSError as error:
                raise PortTaken(host, port, setting) from error


class RidgelineServer(uvicorn.Server):
    """uvicorn, with `/cable` clients told `server_restart` before their sockets close (uvicorn
    closes open connections before the app's lifespan shutdown runs)."""

    def __init__(
        self,
        config: uvicorn.Config,
        hub: Hub,
        *,
        loop_watch_ms: float | None = None,
        freeze_after_startup: bool = False,
        pacer: CollectorPacer | None = None,
    ) -> None:
        super().__init__(config)
        self._hub = hub
        self.freeze_after_startup = freeze_after_startup
        self.loop_watch = LoopWatch(loop_watch_ms / 1000) if loop_watch_ms else None
        self.pacer = pacer
        self._pacing = contextlib.AsyncExitStack()

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await self._serve_watched(sockets)
        finally:
            await self._pacing.aclose()

    async def _serve_watched(self, sockets: list[socket.socket] | None) -> None:
        watch = self.loop_watch
        if watch is None:
            await super().serve(sockets)
            return
        # SIGUSR1 logs the window so far and starts a new one (a benchmark brackets a phase).
        loop = asyncio.get_running_loop()
        watch.install()
        loop.add_signal_handler(signal.SIGUSR1, self._report_loop_watch, True)
        try:
            await super().serve(sockets)
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)
            self._report_loop_watch(False)
            watch.uninstall()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.freeze_after_startup:
            return
        # What start-up built (the app, its routes and models, the ORM's mappings: about 250,000
        # objects) lives as long as the process: frozen, the collector's full passes skip it.
        # Each pass otherwise walked all of it on the event loop (about 0.2 s on this machine),
        # and a reconnect storm's allocations set off several.
        gc.collect()
        gc.freeze()
        if self.pacer is not None:  # and from now on, what survives each full pass (timed)
            await self._pacing.enter_async_context(self.pacer.running())

    def _report_loop_watch(self, reset: bool) -> None:
        assert self.loop_watch is not None
        report = self.loop_watch.report(reset=reset)
        # A diagnostic someone switched on: logged at warning so every log level shows it.
        log.warning("loop_watch_report", **report.as_log())

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connections while the cable ones are told to go
        await self._hub.disconnect_all()
        for connection in list(self.server_state.connections):
            _tolerate_crossed_close(connection)
        await super().shutdown(sockets)


def _tolerate_crossed_close(connection: Any) -> None:
    """uvicorn's shutdown sends close 1012 on every open WebSocket, and raises `InvalidState`
    (ending the process with status 1, its other connections not shut down) for one whose
    client's close frame arrived first: the socket is already closing. Such a connection only
    needs its transport closed, as uvicorn does when it sent the close itself."""
    original = connection.shutdown

    def shutdown() -> None:
        try:
            original()
        except InvalidState:
            connection.transport.close()

    connection.shutdown = shutdown


def server_for(
    app: FastAPI, *, host: str, port: int, freeze_after_startup: bool = False
) -> RidgelineServer:
    """uvicorn set up for Ridgeline. `freeze_after_startup` (`ridgeline serve`'s processes, not
    servers started inside a test run) freezes what start-up built out of the collector's way,
    then what survives each full pass (`RIDGELINE_GC_FREEZE_SURVIVORS`, realtime/gc_pacing.py)."""
    redact_server_logs()
    settings = app_services(app).settings
    config = uvicorn.Config(
        # `/cable` sockets skip the app's stack and router (realtime/cable.py).
        CableRoute(app, app_services(app), hosts=settings.allowed_hosts),
        host=host,
        port=port,
        log_config=None,  # our logging set-up already routes uvicorn's loggers
        access_log=False,
        proxy_headers=True,
        # X-Forwarded-* only from the load balancer (docs/deployment.md#the-load-balancer).
        forwarded_allow_ips=settings.forwarded_allow_ips,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        # An idle kept-alive connection is closed after this long; a proxy in front must close
        # its idle ones sooner (deploy/nginx/ridgeline.conf: keepalive_timeout 4s).
        timeout_keep_alive=KEEP_ALIVE_S,
        lifespan="on",
        # The loop watch times asyncio's callbacks; uvloop (the default when installed) runs
        # its own in C, out of its reach.
        loop="asyncio" if settings.loop_watch_ms else "auto",
    )
    return RidgelineServer(
        config,
        app_services(app).hub,
        loop_watch_ms=settings.loop_watch_ms,
        freeze_after_startup=freeze_after_startup,
        pacer=(
            CollectorPacer(freeze_survivors=settings.gc_freeze_survivors)
            if freeze_after_startup
            else None
        ),
    )


def run_server(settings: Settings, *, host: str, port: int) -> None:
    ensure_ports_free(host, {port: "--port or RIDGELINE_PORT"})
    if settings.metrics_port:
        ensure_ports_free(settings.metrics_host, {settings.metrics_port: "RIDGELINE_METRICS_PORT"})
    server_for(create_app(settings), host=host, port=port, freeze_after_startup=True).run()


async def run_worker(settings: Settings, *, burst: bool, concurrency: int | None) -> None:
    if settings.metrics_port and not burst:
        ensure_ports_free(settings.metrics_host, {settings.metrics_port: "RIDGELINE_METRICS_PORT"})
    database = Database.from_settings(settings)
    if concurrency is not None:
        settings = settings.model_copy(update={"worker_concurrency": concurrency})
    connector = PosConnector(settings, database, SystemClock())
    worker = Worker.from_settings(
        settings,
        database,
        job_registry(),
        schedules=job_schedules(settings),
        services=job_services(connector),
    )
    try:
        async with announcing_commits(database, backplane_for(settings.redis_url)):
            if burst:
                done = await worker.run_until_idle()
                log.info("worker_burst_finished", jobs=done)
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            async with contextlib.AsyncExitStack() as stack:
                if settings.metrics_port is not None:
                    exposition = MetricsExposition(
                        database, SystemClock(), token=settings.metrics_token
                    )
                    listener = MetricsListener(
                        exposition, host=settings.metrics_host, port=settings.metrics_port
                    )
                    await stack.enter_async_context(listener.running())
                await stack.enter_async_context(
                    PerformanceMonitor(database, SystemClock(), "worker").running()
                )
                await worker.run(stop)
    finally:
        await connector.aclose()
        await database.dispose()
