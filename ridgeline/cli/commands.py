"""`ridgeline ...`: the command line for running, migrating and administering Ridgeline."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Annotated, Any

import typer
from pydantic import SecretStr, ValidationError
from rich.console import Console
from rich.table import Table

from ridgeline import __version__
from ridgeline.cli.admin import (
    create_kiosk,
    create_kiosk_key,
    create_operator,
    rotate_pos_credentials,
    rotate_secrets,
)
from ridgeline.cli.demo import run_demo, show_demo, write_demo_file
from ridgeline.cli.doctor import run_doctor_command
from ridgeline.cli.server import PortTaken, run_server, run_worker
from ridgeline.config import Settings
from ridgeline.db.migrate import head_revision, upgrade
from ridgeline.errors import RidgelineError
from ridgeline.models.sync import SyncKind, SyncStatus
from ridgeline.monitoring.logging import configure_logging
from ridgeline.monitoring.statsd import configure_statsd
from ridgeline.monitoring.tracing import configure_tracing
from ridgeline.possim import serve_simulator
from ridgeline.realtime.check import CableCheck
from ridgeline.sync.command import run_sync_command

app = typer.Typer(
    help="Ridgeline: keeps in-store kiosks live with their store's POS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
users_app = typer.Typer(help="Operator accounts.", no_args_is_help=True)
kiosks_app = typer.Typer(help="Kiosks and their API keys.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(kiosks_app, name="kiosks")
pos_app = typer.Typer(help="Stores' POS connections.", no_args_is_help=True)
app.add_typer(pos_app, name="pos")
console = Console(stderr=True)


def _settings(**overrides: object) -> Settings:
    """The environment's settings, with the command-line options given (they win) validated
    with them."""
    given = {name: value for name, value in overrides.items() if value is not None}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        console.print(f"[red]Invalid settings:[/red] {exc}")
        raise typer.Exit(2) from exc


def _fail(error: RidgelineError) -> typer.Exit:
    console.print(f"[red]{error.code}[/red]: {error.message} {error.details or ''}")
    return typer.Exit(1)


def _port_taken(error: PortTaken) -> typer.Exit:
    console.print(f"[red]PORT_IN_USE[/red]: {error}")
    return typer.Exit(1)


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        print(__version__)
        raise typer.Exit()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (RIDGELINE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (RIDGELINE_PORT, default 3000).")] = None,
) -> None:
    """Run the HTTP API and /cable. In embedded mode (no RIDGELINE_REDIS_URL) the same process
    also runs the background worker; in scaled mode run `ridgeline worker` beside it."""
    settings = _settings(host=host, port=port)
    configure_logging(settings)
    configure_statsd(settings)
    configure_tracing(settings, role="embedded" if settings.worker_in_process else "api")
    try:
        run_server(settings, host=settings.host, port=settings.port)
    except PortTaken as error:
        raise _port_taken(error) from error


@app.command()
def worker(
    burst: Annotated[
        bool, typer.Option("--burst", help="Exit once no job is ready instead of waiting.")
    ] = False,
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs run at once (RIDGELINE_WORKER_CONCURRENCY).")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve this worker's /metrics on this port (RIDGELINE_METRICS_PORT)."),
    ] = None,
) -> None:
    """Run background jobs (syncs, order submission, schedules) from the database job table.
    Any number of workers can run against one database: each job is claimed by one of them."""
    settings = _settings(metrics_port=metrics_port)
    configure_logging(settings)
    configure_statsd(settings)
    configure_tracing(settings, role="worker")
    try:
        asyncio.run(run_worker(settings, burst=burst, concurrency=concurrency))
    except PortTaken as error:
        raise _port_taken(error) from error


@app.command()
def possim(
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 3100,
    stores: Annotated[
        int, typer.Option(help="Stores to create, cycling dutchie, treez, blaze, flowhub.")
    ] = 4,
    products: Annotated[int, typer.Option(help="Products per store (10 to 20,000).")] = 500,
    seed: Annotated[int, typer.Option(help="Same seed, same catalogs.")] = 1,
) -> None:
    """Run the POS simulator: all four POS dialects over HTTP, with seeded catalogs, a control
    API to change them, fault injection and recorded orders (docs/pos/simulator.md)."""
    settings = _settings()
    configure_logging(settings)
    asyncio.run(serve_simulator(host, port, stores=stores, products=products, seed=seed))


@app.command()
def sync(
    store: Annotated[str, typer.Argument(help="Store id.")],
    full: Annotated[bool, typer.Option("--full", help="A full catalog sync.")] = False,
    inventory: Annotated[bool, typer.Option("--inventory", help="Stock levels only.")] = False,
) -> None:
    """Sync one store's catalog from its POS now (incremental unless --full or --inventory),
    with a progress bar, and print the run's counts. Exits 1 if the run failed."""
    if full and inventory:
        console.print("[red]Choose --full or --inventory, not both.[/red]")
        raise typer.Exit(2)
    kind = SyncKind.FULL if full else SyncKind.INVENTORY if inventory else SyncKind.INCREMENTAL
    try:
        store_id = uuid.UUID(store)
    except ValueError as error:
        console.print(f"[red]Not a store id:[/red] {store}")
        raise typer.Exit(2) from error
    settings = _settings()
    configure_logging(settings)
    try:
        run = asyncio.run(run_sync_command(settings, store_id, kind, console))
    except RidgelineError as error:
        raise _fail(error) from error
    if run.status is SyncStatus.FAILED:
        raise typer.Exit(1)


@app.command()
def doctor(
    store: Annotated[str | None, typer.Argument(help="Store id (or --all).")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every store.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON document on stdout, nothing else.")
    ] = False,
    server: Annotated[
        str | None,
        typer.Option(
            help="The server whose /cable the round trip uses (default: "
            "RIDGELINE_PUBLIC_URL, else http://RIDGELINE_HOST:RIDGELINE_PORT)."
        ),
    ] = None,
) -> None:
    """Check one store (or every store) the way the troubleshooting guide does, in its order:
    credentials, POS reachable and its latency, rate-limit headroom, breaker, last syncs,
    quarantined records, field mapping, catalog staleness, a sample of price and stock
    discrepancies, kiosks online, a real-time round trip to a connected kiosk, queued and stuck
    orders. Each check says pass, warn, fail or skip, and what fixes a failure. Exits 0 when
    every store is healthy (no check failed), 1 otherwise, 2 on a usage error."""
    if (store is None) == (not every):
        console.print("[red]Give a store id or --all (not both).[/red]")
        raise typer.Exit(2)
    store_id = None
    if store is not None:
        try:
            store_id = uuid.UUID(store)
        except ValueError as error:
            console.print(f"[red]Not a store id:[/red] {store}")
            raise typer.Exit(2) from error
    settings = _settings()
    # The checks' findings are the output: INFO lines of every POS call would bury them.
    quiet = {} if "log_level" in settings.model_fields_set else {"log_level": "WARNING"}
    configure_logging(settings.model_copy(update=quiet))
    code = asyncio.run(
        run_doctor_command(settings, store_id, as_json=as_json, server_url=server, console=console)
    )
    raise typer.Exit(code)


@app.command("cable-check")
def cable_check(
    url: Annotated[str, typer.Argument(help="The server, e.g. https://ridgeline.example.com.")],
    key: Annotated[str, typer.Option("--key", help="The kiosk's API key (rk_live_...).")],
    origin: Annotated[
        str | None, typer.Option("--origin", help="Send this Origin, as a browser kiosk would.")
    ] = None,
) -> None:
    """Connect to /cable as the kiosk would and say which step fails: key, handshake,
    authentication, channels, heartbeat, server pings. Exits 1 on the first failure."""
    steps = asyncio.run(CableCheck(url, key, origin=origin).run())
    table = Table(title="/cable check")
    table.add_column("step")
    table.add_column("result")
    table.add_column("detail")
    for step in steps:
        result = "[green]ok[/green]" if step.ok else "[red]FAILED[/red]"
        table.add_row(step.name, result, step.detail)
    console.print(table)
    if not steps or not all(step.ok for step in steps):
        raise typer.Exit(1)


@app.command()
def migrate() -> None:
    """Bring the database schema to the latest migration (safe to run again)."""
    settings = _settings()
    upgrade(settings.database_url)
    console.print(f"database at migration [bold]{head_revision()}[/bold]")


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the servers after seeding.")
    ] = True,
    simulator_port: Annotated[
        int, typer.Option(help="Port of the POS simulator.", envvar="RIDGELINE_SIMULATOR_PORT")
    ] = 3100,
    products: Annotated[int, typer.Option(help="Products per simulated store.")] = 300,
) -> None:
    """Everything a newcomer needs: migrate, start the POS simulator (one store per POS dialect),
    create a demo organization with a store connected to each, a kiosk (with an API key) in each
    and an operator, test every POS connection, print it all, write it to var/demo.json, and
    serve the API on RIDGELINE_PORT (3000)."""
    settings = _settings()
    configure_logging(settings)
    configure_statsd(settings)
    configure_tracing(settings, role="embedded")
    upgrade(settings.database_url)
    try:
        info = asyncio.run(
            run_demo(
                settings,
                console,
                serve=serve_after,
                simulator_port=simulator_port,
                products=products,
            )
        )
    except PortTaken as error:
        raise _port_taken(error) from error
    if not serve_after:
        write_demo_file(info)
        show_demo(info, console)


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Sign-in email.")],
    role: Annotated[str, typer.Option(help="platform_admin, org_admin, store_manager or viewer.")],
    organization: Annotated[
        str | None, typer.Option(help="Organization id or slug (not for platform_admin).")
    ] = None,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    password: Annotated[
        str | None,
        typer.Option(help="At least 12 characters; asked for when omitted.", show_default=False),
    ] = None,
    store: Annotated[
        list[str] | None, typer.Option(help="Store id a store manager may act on (repeatable).")
    ] = None,
) -> None:
    """Create an operator account (the first platform admin is made this way)."""
    settings = _settings()
    secret = password or typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        created = asyncio.run(
            create_operator(
                settings,
                email=email,
                role=role,
                organization=organization,
                name=name,
                password=SecretStr(secret),
                store_ids=[uuid.UUID(s) for s in store or []],
            )
        )
    except RidgelineError as error:
        raise _fail(error) from error
    _print_record(created)


@kiosks_app.command("create")
def kiosks_create(
    store: Annotated[str, typer.Option(help="Store id.")],
    name: Annotated[str, typer.Option(help="Kiosk name shown to operators.")],
) -> None:
    """Register a kiosk in a store and issue its first API key (shown once)."""
    settings = _settings()
    try:
        created = asyncio.run(create_kiosk(settings, store_id=uuid.UUID(store), name=name))
    except RidgelineError as error:
        raise _fail(error) from error
    _print_record(created)


@kiosks_app.command("create-key")
def kiosks_create_key(
    kiosk: Annotated[str, typer.Argument(help="Kiosk id.")],
    expires_in_s: Annotated[
        int | None, typer.Option(help="Lifetime of the new key in seconds (default: no expiry).")
    ] = None,
    expire_existing_in_s: Annotated[
        int | None,
        typer.Option(help="Roll keys: the kiosk's current keys stop working after this long."),
    ] = None,
) -> None:
    """Issue a kiosk a new API key. The key is printed once and stored only as a hash."""
    settings = _settings()
    try:
        created = asyncio.run(
            create_kiosk_key(
                settings,
                kiosk_id=uuid.UUID(kiosk),
                expires_in_s=expires_in_s,
                expire_existing_in_s=expire_existing_in_s,
            )
        )
    except RidgelineError as error:
        raise _fail(error) from error
    _print_record(created)


@pos_app.command("rotate-credentials")
def pos_rotate_credentials() -> None:
    """Re-encrypt every store's POS credentials with the first key of RIDGELINE_ENCRYPTION_KEYS,
    after which the older keys can be removed. Exits 1 if some store's credentials cannot be read
    with any configured key (they are listed and left as they are)."""
    settings = _settings()
    result = asyncio.run(rotate_pos_credentials(settings))
    _print_record(result)
    if result["unreadable"]:
        raise typer.Exit(1)


@app.command("rotate-secrets")
def rotate_secrets_command() -> None:
    """Re-encrypt everything sealed with RIDGELINE_ENCRYPTION_KEYS (POS credentials and alert
    channel configs) under its first key, after which the older keys can be removed. Exits 1 if
    something cannot be read with any configured key (it is listed and left as it is)."""
    result = asyncio.run(rotate_secrets(_settings()))
    _print_record(result)
    if result["pos_unreadable"] or result["channels_unreadable"]:
        raise typer.Exit(1)


def _print_record(record: dict[str, Any]) -> None:
    table = Table(show_header=False)
    for key, value in record.items():
        table.add_row(key, str(value))
    console.print(table)
    print(json.dumps(record, default=str))


def main() -> None:
    app()
