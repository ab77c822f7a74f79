"""Where Ridgeline may send what an operator points it at (OWASP API7:2023, server-side request
forgery).

Operators give us addresses we then call from inside the deployment: a store's POS base URL,
alert channels' webhook, Slack and PagerDuty URLs, an SMTP host. Pointed at 127.0.0.1, the cloud's
metadata service (169.254.169.254) or a host on the private network, each would make our
processes probe or call what only they can reach, and show the operator the answer (a POS
connection test, a channel test's error). So before connecting, the host is resolved and every
address it resolves to must be public, or in a network the deployment lists as allowed.

Outside production, private addresses are allowed by default (the demo's POS simulator and the
tests' receivers listen on 127.0.0.1); in production they are refused unless listed in
`RIDGELINE_OUTBOUND_ALLOWED_NETWORKS`. A name that resolves to a public address when checked
and to a private one when connected (DNS rebinding) is not covered: the check and the connection
resolve separately. Run the processes where the metadata service needs a token (IMDSv2) as well.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

from ridgeline.config import Environment, Settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class DestinationRefused(httpx.ConnectError):
    """The host resolves to an address we may not call. An `httpx.ConnectError`, so every
    caller already treats it as a failed connection (the POS client, alert deliveries), with
    this message as the reason shown to the operator."""


def is_public(address: Address) -> bool:
    """Routable on the internet: not loopback, private, link-local (the metadata service),
    shared (carrier NAT), reserved, multicast or unspecified."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address.is_global and not address.is_multicast and not address.is_unspecified


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    private_allowed: bool
    allowed_networks: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        allowed = settings.outbound_private_allowed
        if allowed is None:
            allowed = settings.env is not Environment.PRODUCTION
        networks = settings.outbound_allowed_networks  # checked by the settings
        return cls(allowed, tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    @classmethod
    def anything(cls) -> OutboundPolicy:
        return cls(private_allowed=True)

    def allows(self, address: Address) -> bool:
        return (
            self.private_allowed
            or is_public(address)
            or any(address in network for network in self.allowed_networks)
        )

    async def check(self, host: str) -> None:
        """Returns when every address `host` stands for may be called; `DestinationRefused`
        otherwise. A name that does not resolve is left to the connection to fail on."""
        if not self.private_allowed:
            literal = _literal(host)  # no thread for an address given as such
            self._judge(
                host, [literal] if literal is not None else await asyncio.to_thread(_resolve, host)
            )

    def check_blocking(self, host: str) -> None:
        """`check` for code running in a thread (the SMTP client)."""
        if not self.private_allowed:
            self._judge(host, _resolve(host))

    def _judge(self, host: str, addresses: list[Address]) -> None:
        for address in addresses:
            if not self.allows(address):
                shown = host if host == str(address) else f"{host} ({address})"
                raise DestinationRefused(
                    f"{shown} is not a public address: refused "
                    "(RIDGELINE_OUTBOUND_ALLOWED_NETWORKS lists private networks that may be "
                    "called)"
                )


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _resolve(host: str) -> list[Address]:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return []
    addresses = []
    for *_, sockaddr in found:
        try:
            addresses.append(ipaddress.ip_address(str(sockaddr[0]).split("%")[0]))
        except ValueError:
            continue
    return addresses


class GuardedTransport(httpx.AsyncBaseTransport):
    """An HTTP transport that checks each request's host against the policy first."""

    def __init__(self, policy: OutboundPolicy, inner: httpx.AsyncBaseTransport) -> None:
        self.policy = policy
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            await self.policy.check(request.url.host)
        except DestinationRefused as exc:
            raise DestinationRefused(str(exc), request=request) from None
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
