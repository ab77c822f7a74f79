"""Real local receivers for the alert channel tests: an HTTP endpoint (webhook, Slack-shaped and
PagerDuty-shaped channels) that answers as told (2xx, 500, or never), and an SMTP server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from ridgeline.possim.asgi import Receive, Scope, Send, read_body, send_json
from tests.net import free_port


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpReceiver:
    """Records every request; answers `status`, or hangs until released when `hang` is set."""

    def __init__(self, status: int = 200, *, hang: bool = False) -> None:
        self.status = status
        self.hang = hang
        self.requests: list[Request] = []
        self.in_flight = 0
        self._arrived = asyncio.Event()
        self._release = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        headers = {key.decode().lower(): value.decode() for key, value in scope["headers"]}
        self.requests.append(Request(scope["path"], headers, body))
        self._arrived.set()
        if self.hang:
            self.in_flight += 1
            try:
                await self._release.wait()
            finally:
                self.in_flight -= 1
        await send_json(send, self.status, {"status": "ok" if self.status < 300 else "error"})

    def on(self, path: str) -> list[Request]:
        return [request for request in self.requests if request.path == path]

    async def wait_for(self, count: int, timeout_s: float = 5.0) -> list[Request]:
        async with asyncio.timeout(timeout_s):
            while len(self.requests) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.requests

    def release(self) -> None:
        self._release.set()


@dataclass
class SmtpRecorder:
    """aiosmtpd handler: keeps each accepted message and who logged in."""

    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.messages.append(message_from_bytes(content))
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(username: str, password: str) -> Iterator[tuple[int, SmtpRecorder]]:
    """An SMTP server on a free 127.0.0.1 port that takes AUTH PLAIN/LOGIN with these
    credentials (over plain text: loopback only) and records what it accepts."""
    recorder = SmtpRecorder()

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == username
            and auth_data.password.decode() == password
        ):
            recorder.logins.append(username)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    port = free_port()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield port, recorder
    finally:
        controller.stop()
