"""Addresses operators point us at must be public (ridgeline/outbound.py): the policy's table,
then real HTTP and SMTP on 127.0.0.1 refused before any byte is sent, and allowed when the
deployment lists the network."""

from __future__ import annotations

import ipaddress
import uuid

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from ridgeline.alerts.channels import (
    ChannelConfig,
    EmailConfig,
    Notification,
    NotificationState,
    WebhookConfig,
)
from ridgeline.alerts.delivery import Outcome, send
from ridgeline.clock import FakeClock
from ridgeline.config import Environment, Settings
from ridgeline.models.alert_channel import ChannelKind
from ridgeline.outbound import DestinationRefused, OutboundPolicy, is_public
from ridgeline.pos.base import EndpointClass
from ridgeline.pos.http import HttpPools, HttpxTransport, PosConnectionFailed
from tests.alerts.receivers import HttpReceiver, smtp_server
from tests.possim.servers import running

REFUSED = [
    "127.0.0.1",  # loopback
    "10.1.2.3",  # private
    "172.16.0.1",
    "192.168.1.10",
    "169.254.169.254",  # link-local: the cloud metadata service
    "100.64.0.1",  # shared address space (carrier NAT)
    "0.0.0.0",
    "224.0.0.1",  # multicast
    "::1",
    "fc00::1",  # unique local
    "fe80::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:169.254.169.254",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"]

STRICT = OutboundPolicy(private_allowed=False)
LOOPBACK_LISTED = OutboundPolicy(
    private_allowed=False, allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),)
)


@pytest.mark.parametrize("address", REFUSED)
def test_private_and_special_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))
    assert not STRICT.allows(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


async def test_a_name_is_judged_by_what_it_resolves_to() -> None:
    with pytest.raises(DestinationRefused, match=r"localhost \((127\.0\.0\.1|::1)\)"):
        await STRICT.check("localhost")
    with pytest.raises(DestinationRefused):
        await STRICT.check("[::1]")
    await LOOPBACK_LISTED.check("127.0.0.1")  # a listed network is let through
    await STRICT.check("name.invalid")  # nothing to judge: the connection fails on its own


def test_the_default_follows_the_environment_and_settings_are_checked() -> None:
    assert OutboundPolicy.from_settings(Settings(env=Environment.DEVELOPMENT)).private_allowed
    assert OutboundPolicy.from_settings(Settings(env=Environment.TEST)).private_allowed
    production = Settings(
        env=Environment.PRODUCTION,
        secret_key="s" * 40,
        encryption_keys=["dGhpcyBpcyBub3QgdGhlIGRldmVsb3BtZW50IGtleSEhISE="],
        metrics_token="m" * 20,
    )
    assert not OutboundPolicy.from_settings(production).private_allowed
    listed = production.model_copy(update={"outbound_allowed_networks": ["10.20.0.0/16"]})
    assert OutboundPolicy.from_settings(listed).allows(ipaddress.ip_address("10.20.3.4"))
    assert not OutboundPolicy.from_settings(listed).allows(ipaddress.ip_address("10.21.0.1"))
    allowed = production.model_copy(update={"outbound_private_allowed": True})
    assert OutboundPolicy.from_settings(allowed).private_allowed
    assert Settings(outbound_allowed_networks="10.0.0.0/8, fd00::/8").outbound_allowed_networks == [
        "10.0.0.0/8",
        "fd00::/8",
    ]
    with pytest.raises(ValidationError, match="not a network"):
        Settings(outbound_allowed_networks="10.0.0.0/8,intranet")


async def test_a_pos_on_a_private_address_is_never_called() -> None:
    receiver = HttpReceiver(200)
    async with running(receiver, http="h11") as url:
        for policy, reached in ((STRICT, False), (LOOPBACK_LISTED, True)):
            pools = HttpPools(policy=policy)
            transport = HttpxTransport(pools, httpx.Timeout(5.0))
            try:
                if reached:
                    response = await transport.request(
                        EndpointClass.PRODUCTS, "GET", f"{url}/products", idempotent=True
                    )
                    assert response.status == 200
                else:
                    with pytest.raises(PosConnectionFailed, match="not a public address"):
                        await transport.request(
                            EndpointClass.PRODUCTS, "GET", f"{url}/products", idempotent=True
                        )
            finally:
                await pools.aclose()
            assert len(receiver.requests) == (1 if reached else 0)


async def _send(
    kind: ChannelKind, config: ChannelConfig, clock: FakeClock, policy: OutboundPolicy
) -> Outcome:
    notification = Notification(
        title="POS offline at Main St",
        message="The POS has not answered for 5 minutes.",
        severity="critical",
        state=NotificationState.FIRING,
        dedup_key="store_health:main:offline",
        at=clock.now(),
    )
    return await send(
        kind, config, notification, delivery_id=uuid.uuid4(), clock=clock, policy=policy
    )


def _assert_refused(outcome: Outcome) -> None:
    assert not outcome.ok
    assert outcome.error is not None
    assert "not a public address" in outcome.error


async def test_alert_channels_to_private_addresses_fail_with_the_reason(clock: FakeClock) -> None:
    receiver = HttpReceiver(200)
    async with running(receiver, http="h11") as url:
        config = WebhookConfig(url=f"{url}/hook", secret=SecretStr("s" * 20))
        _assert_refused(await _send(ChannelKind.WEBHOOK, config, clock, STRICT))
        assert receiver.requests == []
        sent = await _send(ChannelKind.WEBHOOK, config, clock, LOOPBACK_LISTED)
        assert sent.ok, sent.error
        assert len(receiver.requests) == 1

    with smtp_server("ridgeline", "smtp-password") as (port, recorder):
        mail = EmailConfig(
            host="127.0.0.1",
            port=port,
            security="none",
            username="ridgeline",
            password=SecretStr("smtp-password"),
            from_address="alerts@example.com",
            to_addresses=["ops@example.com"],
        )
        _assert_refused(await _send(ChannelKind.EMAIL, mail, clock, STRICT))
        assert recorder.messages == []
