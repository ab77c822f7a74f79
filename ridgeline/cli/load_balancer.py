"""nginx in front of `ridgeline serve` processes, run without root: the site file rendered from
`deploy/nginx/ridgeline.conf` (the template operators install), inside a main configuration
that keeps the pid file, logs and temporary files in one directory. `make scaled-demo` and
`tests/deploy/test_load_balancer.py` start nginx this way."""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

NGINX = "/usr/sbin/nginx"  # Debian's `nginx` package
# The template lives in the checkout, beside the systemd units (deploy/), not in the package.
TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "ridgeline.conf"
PLACEHOLDER = re.compile(r"\{\{ (\w+) \}\}")


class NginxMissing(Exception):
    def __init__(self) -> None:
        super().__init__(
            f"{NGINX} is not installed: run `make install-nginx` (as root: apt-get install nginx)"
        )


def require_nginx() -> None:
    if not os.access(NGINX, os.X_OK):
        raise NginxMissing


def render_site(
    template: str,
    *,
    listen: str,
    upstreams: Sequence[str],
    log_dir: Path,
    fail_timeout_s: int = 5,
) -> str:
    """The template with its placeholders filled: `upstreams` are the servers' `host:port`."""
    lines = [
        f"server {address} max_fails=1 fail_timeout={fail_timeout_s}s;" for address in upstreams
    ]
    values = {
        "listen": listen,
        "upstream_servers": "\n    ".join(lines),
        "log_dir": str(log_dir),
    }

    def fill(match: re.Match[str]) -> str:
        return values[match.group(1)]  # a placeholder we do not know is a KeyError, loudly

    # Comments name the placeholders too: they stay as written.
    return "".join(
        line if line.lstrip().startswith("#") else PLACEHOLDER.sub(fill, line)
        for line in template.splitlines(keepends=True)
    )


@dataclass(frozen=True)
class NginxFiles:
    """Where one private nginx keeps everything (created by `write`)."""

    directory: Path

    @property
    def main_config(self) -> Path:
        return self.directory / "nginx.conf"

    @property
    def site(self) -> Path:
        return self.directory / "ridgeline.conf"

    @property
    def error_log(self) -> Path:
        return self.directory / "error.log"

    @property
    def access_log(self) -> Path:
        return self.directory / "ridgeline.access.log"

    def write(self, site: str, *, http_extra: str = "") -> None:
        """The site and a main configuration around it: in the foreground (the caller is the
        supervisor), one worker, every path in `directory`. `http_extra` is added to `http {}`."""
        temp = self.directory / "temp"
        temp.mkdir(parents=True, exist_ok=True)
        self.site.write_text(site)
        # As root nginx would switch its worker to `nobody`, which cannot reach a private
        # directory: keep the worker as the user who started it.
        user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
        temp_paths = "\n".join(
            f"    {kind}_temp_path {temp / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        self.main_config.write_text(
            f"{user}daemon off;\n"
            "worker_processes 1;\n"
            f"pid {self.directory / 'nginx.pid'};\n"
            f"error_log {self.error_log} notice;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            f"{temp_paths}\n"
            f"{http_extra}"
            f"    include {self.site};\n"
            "}\n"
        )

    def command(self) -> list[str]:
        """nginx in the foreground on this configuration (`-e`: not even its start-up error log
        goes to /var/log/nginx)."""
        return [
            NGINX,
            "-p",
            str(self.directory),
            "-e",
            str(self.error_log),
            "-c",
            str(self.main_config),
        ]
