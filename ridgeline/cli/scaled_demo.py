"""`make scaled-demo`: the demo of `ridgeline demo`, run the scaled way on this machine's
PostgreSQL and Redis: a database of its own (`ridgeline_demo`), two `ridgeline serve`
processes and a `ridgeline worker` behind nginx (the site file of deploy/nginx, rendered), the
POS simulator in this process. One command; Ctrl-C stops everything, servers first.

    python -m ridgeline.cli.scaled_demo [--pg-url URL] [--redis-url URL] [--products N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from redis.asyncio import Redis
from redis.exceptions import RedisError
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from ridgeline.cli.children import stop_process
from ridgeline.cli.demo import (
    connect_demo_stores,
    seed_demo,
    serving,
    show_demo,
    simulator_stores,
    write_demo_file,
)
from ridgeline.cli.load_balancer import (
    TEMPLATE,
    NginxFiles,
    NginxMissing,
    render_site,
    require_nginx,
)
from ridgeline.cli.server import PortTaken, ensure_ports_free
from ridgeline.config import LogFormat, Settings
from ridgeline.db.migrate import upgrade
from ridgeline.monitoring.logging import configure_logging

DATABASE = "ridgeline_demo"
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
HOST = "127.0.0.1"
RUN_DIR = Path("var/scaled-demo")
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 40.0  # above the worker's 30 s shutdown grace


class DemoCannotStart(Exception):
    """Something the demo needs is missing; the message says what to do."""


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path


def create_database(admin_url: str) -> str:
    """The demo's own database on the server of `admin_url` (created when missing); its URL."""
    conninfo = (
        make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as connection:
            found = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if found is None:
                connection.execute(f'CREATE DATABASE "{DATABASE}"')
    except psycopg.OperationalError as error:
        raise DemoCannotStart(
            f"PostgreSQL does not answer at {make_url(admin_url).render_as_string()} ({error}); "
            "start it, or pass --pg-url"
        ) from error
    return make_url(admin_url).set(database=DATABASE).render_as_string(hide_password=False)


async def check_redis(url: str) -> None:
    client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as error:
        raise DemoCannotStart(
            f"Redis does not answer at {url} ({error}); start it, or pass --redis-url"
        ) from error
    finally:
        await client.aclose()


def child_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIDGELINE_")}
    env.update(
        {
            "RIDGELINE_DATABASE_URL": settings.database_url,
            "RIDGELINE_REDIS_URL": settings.redis_url or "",
            "RIDGELINE_RUN_WORKER_IN_PROCESS": "false",
            "RIDGELINE_PUBLIC_URL": settings.public_base_url,
            "RIDGELINE_FORWARDED_ALLOW_IPS": HOST,  # nginx, on this machine
            "RIDGELINE_LOG_FORMAT": "json",
        }
    )
    return env


async def start_child(name: str, command: list[str], env: dict[str, str] | None) -> Child:
    log_path = RUN_DIR / f"{name}.log"
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            *command,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches this process only; it stops them in order
        )
    return Child(name, process, log_path)


async def wait_ready(child: Child, url: str) -> None:
    """Until `url` answers 200; fails if the child exits or takes too long."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT_S
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            if child.process.returncode is not None:
                raise DemoCannotStart(f"{child.name} exited during start-up: see {child.log_path}")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(url)).status_code == 200:
                    return
            if loop.time() > deadline:
                raise DemoCannotStart(f"{child.name} was not ready in time: see {child.log_path}")
            await asyncio.sleep(0.2)


async def stop_child(child: Child) -> None:
    # nginx stops gracefully on SIGQUIT (SIGTERM is its fast stop); ours on SIGTERM.
    signum = signal.SIGQUIT if child.name == "nginx" else signal.SIGTERM
    await stop_process(child.process, signum=signum, timeout_s=STOP_TIMEOUT_S)


@contextlib.asynccontextmanager
async def scaled_processes(settings: Settings, front_port: int) -> AsyncIterator[list[Child]]:
    """A worker, two servers on the ports after the front door's, and nginx on the front door;
    stopped on the way out: the front door first, then the servers, then the worker."""
    env = child_env(settings)
    ridgeline = [sys.executable, "-m", "ridgeline"]
    children: list[Child] = []
    try:
        children.append(await start_child("worker", [*ridgeline, "worker"], env))
        server_ports = [front_port + 1, front_port + 2]
        for index, port in enumerate(server_ports):
            command = [*ridgeline, "serve", "--host", HOST, "--port", str(port)]
            children.append(await start_child(f"server-{index + 1}", command, env))
        for child, port in zip(children[1:], server_ports, strict=True):
            await wait_ready(child, f"http://{HOST}:{port}/readyz")
        files = NginxFiles((RUN_DIR / "nginx").resolve())
        site = render_site(
            TEMPLATE.read_text(),
            listen=f"{HOST}:{front_port}",
            upstreams=[f"{HOST}:{port}" for port in server_ports],
            log_dir=files.directory,
        )
        files.write(site)
        nginx = await start_child("nginx", files.command(), None)
        children.append(nginx)
        await wait_ready(nginx, f"http://{HOST}:{front_port}/readyz")
        yield children
    finally:
        for group in (children[3:], children[1:3], children[:1]):
            await asyncio.gather(*(stop_child(child) for child in group))


async def until_stopped(children: list[Child], console: Console) -> None:
    """Until Ctrl-C (or SIGTERM), or until one of the processes exits by itself."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    waits = {asyncio.create_task(child.process.wait()): child for child in children}
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopped, *waits], return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        if task in waits:
            child = waits[task]
            console.print(f"[red]{child.name} exited[/red]: see {child.log_path}")
    for task in [stopped, *waits]:
        task.cancel()
    console.print("Stopping: nginx, then the servers, then the worker ...")


def show_processes(settings: Settings, children: list[Child], console: Console) -> None:
    table = Table(title="Scaled demo: processes", show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("Front door (nginx)", settings.public_base_url)
    for child in children:
        table.add_row(child.name, f"pid {child.process.pid}, log {child.log_path}")
    table.add_row("PostgreSQL", make_url(settings.database_url).render_as_string())
    table.add_row("Redis", settings.redis_url or "")
    table.add_row("Stop", "Ctrl-C")
    console.print(table)


async def run_scaled_demo(
    console: Console, *, pg_admin_url: str, redis_url: str, products: int
) -> None:
    require_nginx()
    front_port = int(os.environ.get("RIDGELINE_PORT", "3000"))
    simulator_port = int(os.environ.get("RIDGELINE_SIMULATOR_PORT", "3100"))
    ensure_ports_free(
        HOST,
        {
            front_port: "RIDGELINE_PORT (nginx; the servers take the next two ports)",
            front_port + 1: "RIDGELINE_PORT (the first server: RIDGELINE_PORT + 1)",
            front_port + 2: "RIDGELINE_PORT (the second server: RIDGELINE_PORT + 2)",
            simulator_port: "RIDGELINE_SIMULATOR_PORT",
        },
    )
    await check_redis(redis_url)
    database_url = await asyncio.to_thread(create_database, pg_admin_url)
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        host=HOST,
        port=front_port,
        public_url=f"http://{HOST}:{front_port}",
        run_worker_in_process=False,
        log_format=LogFormat.CONSOLE,
    )
    configure_logging(settings)
    console.print(f"Migrating [bold]{DATABASE}[/bold] ...")
    await asyncio.to_thread(upgrade, database_url)
    root = f"http://{HOST}:{simulator_port}"
    simulator, pos_stores = simulator_stores(root, products)
    info = await seed_demo(settings, pos_stores, root)
    async with serving(simulator, HOST, simulator_port):
        await connect_demo_stores(settings, info, console)
        console.print("Starting a worker, two API servers and nginx ...")
        async with scaled_processes(settings, front_port) as children:
            show_demo(info, console)
            write_demo_file(info)
            show_processes(settings, children, console)
            await until_stopped(children, console)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ridgeline.cli.scaled_demo")
    parser.add_argument("--pg-url", default=PG_ADMIN_URL, help="a PostgreSQL server to use")
    parser.add_argument("--redis-url", default=REDIS_URL, help="the Redis to use")
    parser.add_argument("--products", type=int, default=300, help="products per store")
    args = parser.parse_args(argv)
    console = Console()
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(
            run_scaled_demo(
                console,
                pg_admin_url=args.pg_url,
                redis_url=args.redis_url,
                products=args.products,
            )
        )
    except (DemoCannotStart, NginxMissing, PortTaken) as error:
        console.print(f"[red]scaled demo:[/red] {error}")
        raise SystemExit(1) from error


if __name__ == "__main__":
    main()
