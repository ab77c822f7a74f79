"""The `ridgeline` command line, run in-process against the test database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
import typer
from cryptography.fernet import Fernet
from sqlalchemy import select
from typer.core import TyperGroup
from typer.testing import CliRunner

from ridgeline.alerts.channels import ChannelCipher, WebhookConfig
from ridgeline.auth.credentials import digest
from ridgeline.cli import app
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models import AlertChannel, KioskApiKey, Operator, Role
from ridgeline.models.alert_channel import ChannelKind
from ridgeline.models.store import Store
from ridgeline.pos.adapters import DutchieConfig
from ridgeline.pos.credentials import CredentialCipher
from tests.factories import make_organization, make_store
from tests.net import free_port

runner = CliRunner()


@contextlib.contextmanager
def session_logging_kept() -> Iterator[None]:
    """A command configures logging for its process (`configure_logging`), writing to the
    runner's stream, which closes when it returns, at the command's level: put the session's
    configuration back after it, so that loggers cached earlier keep writing somewhere open,
    through the processors `structlog.testing.capture_logs` redirects, at the level `caplog`
    expects (later tests rely on all three)."""
    config = structlog.get_config()
    root = logging.getLogger()
    ours = [
        h for h in root.handlers if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    ]
    level = root.level
    yield
    structlog.configure(**config)
    others = [
        h for h in root.handlers if not isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    ]
    root.handlers[:] = [*others, *ours]
    root.setLevel(level)


@pytest.fixture(autouse=True)
def session_logging() -> Iterator[None]:
    with session_logging_kept():
        yield


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIDGELINE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RIDGELINE_ENV", "test")


def _last_json(output: str) -> dict[str, object]:
    line = [line for line in output.splitlines() if line.startswith("{")][-1]
    record: dict[str, object] = json.loads(line)
    return record


async def _operator(database: Database, email: str) -> Operator | None:
    async with database.transaction(write=False) as session:
        return await session.scalar(select(Operator).where(Operator.email == email))


def _command_paths(group: TyperGroup, prefix: tuple[str, ...] = ()) -> Iterator[list[str]]:
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            yield from _command_paths(command, (*prefix, name))
        else:
            yield [*prefix, name]


@pytest.mark.usefixtures("cli_env")
def test_every_command_explains_itself() -> None:
    commands: tuple[list[str], ...] = (
        [],
        ["serve"],
        ["worker"],
        ["migrate"],
        ["demo"],
        ["users", "create"],
        ["kiosks", "create"],
        ["kiosks", "create-key"],
        ["possim"],
        ["sync"],
        ["doctor"],
        ["cable-check"],
        ["pos", "rotate-credentials"],
        ["rotate-secrets"],
    )
    registered = typer.main.get_command(app)
    assert isinstance(registered, TyperGroup)
    assert sorted(_command_paths(registered)) == sorted(c for c in commands if c)  # none left out
    for command in commands:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "Usage" in result.output


@pytest.mark.usefixtures("cli_env")
async def test_users_create_makes_a_platform_admin_who_can_sign_in(database: Database) -> None:
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        [
            "users",
            "create",
            "--email",
            "Support@Example.com",
            "--role",
            "platform_admin",
            "--password",
            "a long enough password",
        ],
    )
    assert result.exit_code == 0, result.output
    assert _last_json(result.output)["role"] == "platform_admin"
    operator = await _operator(database, "support@example.com")
    assert operator is not None
    assert operator.role == Role.PLATFORM_ADMIN
    assert operator.organization_id is None


@pytest.mark.usefixtures("cli_env")
async def test_users_create_finds_the_organization_by_slug(database: Database) -> None:
    organization = await make_organization(database, "green-leaf")
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        [
            "users",
            "create",
            "--email",
            "ops@green.example",
            "--role",
            "org_admin",
            "--organization",
            "green-leaf",
            "--password",
            "a long enough password",
        ],
    )
    assert result.exit_code == 0, result.output
    operator = await _operator(database, "ops@green.example")
    assert operator is not None
    assert operator.organization_id == organization.id


@pytest.mark.usefixtures("cli_env")
async def test_users_create_reports_bad_input_and_changes_nothing(database: Database) -> None:
    for arguments, code in (
        (["--role", "emperor"], "VALIDATION_ERROR"),
        (["--role", "org_admin", "--organization", "missing-org"], "NOT_FOUND"),
        (["--role", "viewer", "--password", "short"], "VALIDATION_ERROR"),
    ):
        password = [] if "--password" in arguments else ["--password", "a long enough password"]
        result = await asyncio.to_thread(
            runner.invoke,
            app,
            ["users", "create", "--email", "x@example.com", *arguments, *password],
        )
        assert result.exit_code == 1, result.output
        assert code in result.output
    assert await _operator(database, "x@example.com") is None


@pytest.mark.usefixtures("cli_env")
async def test_kiosks_create_and_create_key(database: Database) -> None:
    store: Store = await make_store(database, await make_organization(database))
    created = await asyncio.to_thread(
        runner.invoke, app, ["kiosks", "create", "--store", str(store.id), "--name", "Door"]
    )
    assert created.exit_code == 0, created.output
    first = _last_json(created.output)
    assert str(first["api_key"]).startswith("rk_live_")

    rolled = await asyncio.to_thread(
        runner.invoke,
        app,
        ["kiosks", "create-key", str(first["kiosk_id"]), "--expire-existing-in-s", "0"],
    )
    assert rolled.exit_code == 0, rolled.output
    second = _last_json(rolled.output)
    async with database.transaction(write=False) as session:
        keys = {key.key_hash: key for key in await session.scalars(select(KioskApiKey))}
    old, new = keys[digest(str(first["api_key"]))], keys[digest(str(second["key"]))]
    assert old.expires_at is not None  # rolled: expires at once
    assert new.expires_at is None
    assert second["key_prefix"] == str(second["key"])[:14]


@pytest.mark.usefixtures("cli_env")
def test_migrate_creates_a_fresh_sqlite_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "nested" / "fresh.db"
    monkeypatch.setenv("RIDGELINE_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    first = runner.invoke(app, ["migrate"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["migrate"])
    assert again.exit_code == 0, again.output
    assert path.exists()


@pytest.mark.usefixtures("cli_env")
async def test_pos_credentials_rotate_to_the_newest_key(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    store = await make_store(database, await make_organization(database))
    config = DutchieConfig(base_url="http://127.0.0.1:9", api_key="k-1", consumer_key="c-1")
    async with database.transaction() as session:
        loaded = await session.get(Store, store.id)
        assert loaded is not None
        loaded.pos_provider = "dutchie"
        loaded.pos_config_encrypted = CredentialCipher([old_key]).encrypt(config)
        loaded.webhook_token_encrypted = CredentialCipher([old_key]).seal_secret("wh-token-1")

    monkeypatch.setenv("RIDGELINE_ENCRYPTION_KEYS", f"{new_key},{old_key}")
    result = await asyncio.to_thread(runner.invoke, app, ["pos", "rotate-credentials"])
    assert result.exit_code == 0, result.output
    assert _last_json(result.output) == {"rotated": 1, "unreadable": []}

    async with database.transaction(write=False) as session:
        rotated = await session.get(Store, store.id)
        assert rotated is not None
        assert rotated.pos_config_encrypted is not None
        # Readable with the new key alone: the old one can go.
        again = CredentialCipher([new_key]).decrypt(rotated.pos_config_encrypted, DutchieConfig)
        assert again == config
        # The store's webhook token is resealed with them.
        assert rotated.webhook_token_encrypted is not None
        token = CredentialCipher([new_key]).open_secret(rotated.webhook_token_encrypted)
        assert token == "wh-token-1"

    monkeypatch.setenv("RIDGELINE_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    lost = await asyncio.to_thread(runner.invoke, app, ["pos", "rotate-credentials"])
    assert lost.exit_code == 1
    assert _last_json(lost.output)["unreadable"] == [str(store.id)]


@pytest.mark.usefixtures("cli_env")
async def test_rotate_secrets_reseals_pos_credentials_and_channel_configs(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    organization = await make_organization(database)
    store = await make_store(database, organization)
    config = DutchieConfig(base_url="http://127.0.0.1:9", api_key="k-1", consumer_key="c-1")
    hook = WebhookConfig(url="https://hooks.example.com/x", secret="whsec-rotate-0123456789")
    async with database.transaction() as session:
        loaded = await session.get(Store, store.id)
        assert loaded is not None
        loaded.pos_provider = "dutchie"
        loaded.pos_config_encrypted = CredentialCipher([old_key]).encrypt(config)
        channel = AlertChannel(
            organization_id=organization.id,
            name="hook",
            kind=ChannelKind.WEBHOOK,
            config_encrypted=ChannelCipher([old_key]).encrypt(hook),
        )
        session.add(channel)

    monkeypatch.setenv("RIDGELINE_ENCRYPTION_KEYS", f"{new_key},{old_key}")
    result = await asyncio.to_thread(runner.invoke, app, ["rotate-secrets"])
    assert result.exit_code == 0, result.output
    assert _last_json(result.output) == {
        "pos_rotated": 1,
        "pos_unreadable": [],
        "channels_rotated": 1,
        "channels_unreadable": [],
    }
    async with database.transaction(write=False) as session:
        rotated = await session.get(AlertChannel, channel.id)
        assert rotated is not None
        # Readable with the new key alone: the old one can go.
        assert (
            ChannelCipher([new_key]).decrypt(rotated.config_encrypted, ChannelKind.WEBHOOK) == hook
        )

    monkeypatch.setenv("RIDGELINE_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    lost = await asyncio.to_thread(runner.invoke, app, ["rotate-secrets"])
    assert lost.exit_code == 1
    assert _last_json(lost.output)["channels_unreadable"] == [str(channel.id)]


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(
    ("taken", "setting"), [("api", "RIDGELINE_PORT"), ("simulator", "RIDGELINE_SIMULATOR_PORT")]
)
def test_demo_on_a_taken_port_names_the_port_and_the_setting(
    monkeypatch: pytest.MonkeyPatch, taken: str, setting: str
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        ports = {"api": free_port(), "simulator": free_port(), taken: busy}
        monkeypatch.setenv("RIDGELINE_HOST", "127.0.0.1")
        monkeypatch.setenv("RIDGELINE_PORT", str(ports["api"]))
        monkeypatch.setenv("RIDGELINE_SIMULATOR_PORT", str(ports["simulator"]))
        result = runner.invoke(app, ["demo"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert f"PORT_IN_USE: port {busy} on 127.0.0.1 is already in use" in message
    assert setting in message


@pytest.mark.usefixtures("cli_env")
def test_serve_on_a_taken_port_names_the_port_and_the_setting() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        result = runner.invoke(app, ["serve", "--host", "127.0.0.1", "--port", str(busy)])
    assert result.exit_code == 1, result.output
    message = " ".join(result.output.split())
    assert f"port {busy} on 127.0.0.1 is already in use" in message
    assert "--port or RIDGELINE_PORT" in message
