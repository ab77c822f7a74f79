"""The processes a chaos run (bench/chaos.py) places its orders through, and the disruptions it
inflicts on them while the kiosks are busy.

- `EmbeddedPipeline`: one `ridgeline serve` running its worker in process; the server is
  SIGKILLed and started again `kills` times.
- `ScaledPipeline`: scaled mode as deployed (docs/deployment.md): nginx (the site file of
  deploy/nginx, rendered) in front of two `ridgeline serve` processes without a worker, two
  `ridgeline worker` processes, all on one PostgreSQL database and a private `redis-server`.
  A server and a worker are each SIGKILLed and started again `kills` times (alternating: server,
  worker, server, ...; the two servers and the two workers take turns), and Redis is SIGKILLed
  and started again on the same port once, half-way through. Kiosks talk to nginx only.

Every disruption happens once the kiosks have had a given number of orders answered: the points
are spread evenly over the first `kill_window` of the orders, so requests, submissions and jobs
are in flight each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ridgeline.cli.children import stop_process
from ridgeline.cli.load_balancer import TEMPLATE, NginxFiles, render_site, require_nginx

REPO_ROOT = Path(__file__).resolve().parents[1]
RIDGELINE = (sys.executable, "-m", "ridgeline")
REDIS_SERVER = "/usr/bin/redis-server"
HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
# How long a killed process (or Redis) stays down before it is started again.
DOWN_S = 0.5
REDIS_DOWN_S = 1.0
# nginx sends a server that failed a connection nothing for this long, then tries it again; short,
# so that a restarted server takes traffic again soon (the template's default is 5 s).
NGINX_FAIL_TIMEOUT_S = 1

Log = Callable[[str], None]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This environment without any RIDGELINE_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIDGELINE_")}
    env.update(extra)
    return env


class Progress:
    """How many orders the kiosks have had answered; the killer waits on it."""

    def __init__(self, total: int, log: Log | None = None) -> None:
        self.total = total
        self.log = log
        self.answered = 0
        self.changed = asyncio.Event()

    def tick(self) -> None:
        self.answered += 1
        self.changed.set()
        if self.log is not None and self.answered % max(1, self.total // 10) == 0:
            self.log(f"  {self.answered}/{self.total} orders answered")

    async def until(self, answered: int) -> None:
        while self.answered < answered:
            self.changed.clear()
            await self.changed.wait()


def disruption_points(total: int, window: float, events: int) -> list[int]:
    """After how many answered orders each of `events` disruptions happens: evenly spread over
    the first `window` of `total` orders."""
    return [max(1, int(total * window * (n + 1) / (events + 1))) for n in range(events)]


class Process:
    """A child process with its output in a log file (`python -m ridgeline ...` by default)."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        env: dict[str, str] | None,
        log_path: Path,
        *,
        program: Sequence[str] = RIDGELINE,
    ) -> None:
        self.name = name
        self.command = [*program, *args]
        self.env = env
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self.expected_down = False

    async def start(self) -> None:
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = await asyncio.create_subprocess_exec(
                *self.command,
                cwd=REPO_ROOT,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )

    @property
    def exited(self) -> bool:
        """It was started and exited by itself (not stopped here)."""
        return self.process is not None and self.process.returncode is not None

    def tail(self, chars: int = 3000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- {self.name} log ({self.log_path}) ---\n{text[-chars:]}"

    async def wait_answering(self, url: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                if self.process is None or self.process.returncode is not None:
                    raise RuntimeError(f"{self.name} exited during start-up\n{self.tail()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(url)).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not answer {url}\n{self.tail()}")
                await asyncio.sleep(0.1)

    async def stop(self, *, kill: bool = False, signum: int = signal.SIGTERM) -> None:
        process, self.process = self.process, None
        if process is not None:
            signum = signal.SIGKILL if kill else signum
            await stop_process(process, signum=signum, timeout_s=STOP_TIMEOUT_S)


class RedisChild:
    """A private `redis-server` on a free loopback port, without persistence, that can be killed
    and started again on the same port (what a Redis restart looks like to its clients: every
    connection drops, and the data is gone)."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.process = Process(
            "redis",
            ["--save", "", "--appendonly", "no", "--port", str(self.port), "--bind", HOST],
            None,
            log_path,
            program=(REDIS_SERVER,),
        )

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    async def start(self) -> None:
        await self.process.start()
        client = Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        try:
            while True:
                if self.process.exited:
                    raise RuntimeError(f"redis-server exited\n{self.process.tail()}")
                with contextlib.suppress(RedisError, OSError):
                    if await client.ping():
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not answer\n{self.process.tail()}")
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    async def stop(self, *, kill: bool = False) -> None:
        await self.process.stop(kill=kill)


def require_redis_server() -> None:
    if not os.access(REDIS_SERVER, os.X_OK):
        raise RuntimeError(f"{REDIS_SERVER} is not installed (apt-get install redis-server)")


@dataclass
class Disruptions:
    """What the killer did during a run."""

    server_kills: int = 0
    worker_kills: int = 0
    redis_restarts: int = 0


class Pipeline(Protocol):
    @property
    def base_url(self) -> str:
        """Where the kiosks send their requests."""

    def describe(self) -> str: ...

    async def start(self) -> None: ...

    async def disrupt(
        self, progress: Progress, kills: int, kill_window: float, log: Log
    ) -> Disruptions:
        """SIGKILLs (and restarts) processes while the kiosks place orders."""

    def proxy_errors(self) -> Counter[int]:
        """The 5xx answers a load balancer in front gave of its own, by status (none: none)."""

    def crashed(self) -> list[str]:
        """The processes that exited by themselves, each with the end of its log."""

    async def stop(self) -> None: ...


class EmbeddedPipeline:
    """One `ridgeline serve` with its worker in process."""

    def __init__(self, env: dict[str, str], work_dir: Path) -> None:
        self.port = free_port()
        env = {**env, "RIDGELINE_PORT": str(self.port), "RIDGELINE_RUN_WORKER_IN_PROCESS": "true"}
        self.server = Process(
            "server",
            ["serve", "--host", HOST, "--port", str(self.port)],
            env,
            work_dir / "server.log",
        )

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def describe(self) -> str:
        return f"server (worker in process) at {self.base_url}"

    async def start(self) -> None:
        await self.server.start()
        await self.server.wait_answering(f"{self.base_url}/readyz")

    async def disrupt(
        self, progress: Progress, kills: int, kill_window: float, log: Log
    ) -> Disruptions:
        """SIGKILLs the server `kills` times and starts it again on the same port at once."""
        done = Disruptions()
        began = time.monotonic()
        for point in disruption_points(progress.total, kill_window, kills):
            await progress.until(point)
            await asyncio.sleep(0.2)  # mid-flight: requests and submissions are running
            await self.server.stop(kill=True)
            done.server_kills += 1
            log(
                f"  killed the server (SIGKILL) after {progress.answered} answered orders, "
                f"at {time.monotonic() - began:.1f} s"
            )
            await asyncio.sleep(DOWN_S)
            await self.server.start()
            await self.server.wait_answering(f"{self.base_url}/readyz")
            log("  server restarted")
        return done

    def proxy_errors(self) -> Counter[int]:
        return Counter()

    def crashed(self) -> list[str]:
        return [self.server.tail()] if self.server.exited else []

    async def stop(self) -> None:
        await self.server.stop()


Role = Literal["server", "worker", "redis"]


def scaled_plan(kills: int) -> list[tuple[Role, int]]:
    """The disruptions of a scaled run in order: `kills` of a server and `kills` of a worker,
    alternating (server 1, worker 1, server 2, worker 2, server 1, ...), and one Redis restart
    half-way through."""
    plan: list[tuple[Role, int]] = []
    for n in range(kills):
        plan += [("server", n % 2), ("worker", n % 2)]
    plan.insert(len(plan) // 2, ("redis", 0))
    return plan


class ScaledPipeline:
    """nginx in front of two `ridgeline serve` (no worker in process), two `ridgeline worker`,
    and a private Redis."""

    def __init__(self, env: dict[str, str], work_dir: Path, *, servers: int = 2) -> None:
        require_nginx()
        require_redis_server()
        self.redis = RedisChild(work_dir / "redis.log")
        env = {
            **env,
            "RIDGELINE_REDIS_URL": self.redis.url,
            "RIDGELINE_RUN_WORKER_IN_PROCESS": "false",
            "RIDGELINE_FORWARDED_ALLOW_IPS": HOST,  # nginx, on this machine
            # While Redis is down each process keeps to its share of the POS rate limits: the
            # POS calls are the workers', two of them.
            "RIDGELINE_POS_RATE_LIMIT_SHARE": "0.5",
        }
        self.server_ports = [free_port() for _ in range(servers)]
        self.servers = [
            Process(
                f"server-{n + 1}",
                ["serve", "--host", HOST, "--port", str(port)],
                {**env, "RIDGELINE_PORT": str(port)},
                work_dir / f"server-{n + 1}.log",
            )
            for n, port in enumerate(self.server_ports)
        ]
        self.workers = [
            Process(f"worker-{n + 1}", ["worker"], env, work_dir / f"worker-{n + 1}.log")
            for n in range(2)
        ]
        self.port = free_port()
        self.files = NginxFiles(work_dir / "nginx")
        self.nginx = Process("nginx", [], None, self.files.error_log, program=self.files.command())

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def describe(self) -> str:
        return (
            f"nginx at {self.base_url} in front of {len(self.servers)} servers, "
            f"{len(self.workers)} workers, Redis at {self.redis.url}"
        )

    def _server_ready_url(self, index: int) -> str:
        return f"http://{HOST}:{self.server_ports[index]}/readyz"

    async def start(self) -> None:
        await self.redis.start()
        for process in [*self.servers, *self.workers]:
            await process.start()
        await asyncio.gather(
            *(
                server.wait_answering(self._server_ready_url(n))
                for n, server in enumerate(self.servers)
            )
        )
        site = render_site(
            TEMPLATE.read_text(),
            listen=f"{HOST}:{self.port}",
            upstreams=[f"{HOST}:{port}" for port in self.server_ports],
            log_dir=self.files.directory,
            fail_timeout_s=NGINX_FAIL_TIMEOUT_S,
        )
        self.files.write(site)
        await self.nginx.start()
        await self.nginx.wait_answering(f"{self.base_url}/readyz")

    async def disrupt(
        self, progress: Progress, kills: int, kill_window: float, log: Log
    ) -> Disruptions:
        done = Disruptions()
        began = time.monotonic()
        plan = scaled_plan(kills)
        points = disruption_points(progress.total, kill_window, len(plan))
        # A server takes seconds to start on a busy machine: the next disruption of another role
        # does not wait for it, but no server is killed before the last one killed is back.
        server_back: asyncio.Task[None] | None = None

        async def restarted(process: Process, url: str) -> None:
            await process.wait_answering(url)
            log(f"  {process.name} restarted and ready, at {time.monotonic() - began:.1f} s")

        try:
            for (role, index), point in zip(plan, points, strict=True):
                await progress.until(point)
                if role == "server" and server_back is not None:
                    await server_back
                await asyncio.sleep(0.2)  # mid-flight: requests, submissions, jobs are running
                elapsed = time.monotonic() - began
                when = f"after {progress.answered} answered orders, at {elapsed:.1f} s"
                if role == "redis":
                    await self.redis.stop(kill=True)
                    log(f"  killed Redis (SIGKILL) {when}")
                    await asyncio.sleep(REDIS_DOWN_S)
                    await self.redis.start()
                    done.redis_restarts += 1
                    log(f"  Redis restarted on port {self.redis.port} (empty)")
                    continue
                process = (self.servers if role == "server" else self.workers)[index]
                await process.stop(kill=True)
                log(f"  killed {process.name} (SIGKILL) {when}")
                await asyncio.sleep(DOWN_S)
                await process.start()
                if role == "server":
                    done.server_kills += 1
                    server_back = asyncio.create_task(
                        restarted(process, self._server_ready_url(index))
                    )
                else:
                    done.worker_kills += 1
                    log(f"  {process.name} restarted")
            if server_back is not None:
                await server_back
        finally:
            if server_back is not None and not server_back.done():
                server_back.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await server_back
        return done

    def proxy_errors(self) -> Counter[int]:
        """The 5xx answers nginx gave, by status (a 502 is a server that died mid-request)."""
        counts: Counter[int] = Counter()
        if self.files.access_log.exists():
            for line in self.files.access_log.read_text(errors="replace").splitlines():
                if match := re.search(r'" (5\d\d) ', line):
                    counts[int(match.group(1))] += 1
        return counts

    def crashed(self) -> list[str]:
        processes = [self.nginx, self.redis.process, *self.servers, *self.workers]
        return [process.tail() for process in processes if process.exited]

    async def stop(self) -> None:
        # The front door first, then the servers, then the workers (their SIGTERM gives their
        # jobs back), then Redis.
        await self.nginx.stop()  # SIGTERM: nginx's fast stop (the kiosks are done)
        await asyncio.gather(*(server.stop() for server in self.servers))
        await asyncio.gather(*(worker.stop() for worker in self.workers))
        await self.redis.stop()
