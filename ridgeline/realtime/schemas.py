"""What the kiosk remote-operation and `/cable` status endpoints read and answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, Field, model_validator

from ridgeline.api.schemas import RequestBody
from ridgeline.realtime import protocol

MAX_CONFIG_BYTES = 16 * 1024


class KioskCommandType(StrEnum):
    RELOAD = "reload"
    SHOW_MESSAGE = "show_message"
    UPDATE_CONFIG = "update_config"


class KioskCommandIn(RequestBody):
    type: KioskCommandType
    message: str | None = Field(default=None, min_length=1, max_length=500)
    duration_s: int | None = Field(default=None, ge=1, le=86_400)
    config: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _fields_of_type(self) -> Self:
        if self.type is KioskCommandType.SHOW_MESSAGE and self.message is None:
            raise ValueError("show_message needs a message")
        if self.type is not KioskCommandType.SHOW_MESSAGE and (
            self.message is not None or self.duration_s is not None
        ):
            raise ValueError("message and duration_s belong to show_message")
        if self.type is KioskCommandType.UPDATE_CONFIG:
            if not self.config:
                raise ValueError("update_config needs a non-empty config object")
            if len(protocol.encode(self.config)) > MAX_CONFIG_BYTES:
                raise ValueError(f"config is larger than {MAX_CONFIG_BYTES} bytes")
        elif self.config is not None:
            raise ValueError("config belongs to update_config")
        return self


class KioskCommandOut(BaseModel):
    command_id: uuid.UUID
    kiosk_id: uuid.UUID
    type: KioskCommandType
    issued_at: datetime
    stream_id: str
    offset: int
    connected: bool | None  # None: presence unknown right now (Redis away)


class DisconnectIn(RequestBody):
    # False: the kiosk app is told not to reconnect (until it restarts).
    reconnect: bool = True


class DisconnectOut(BaseModel):
    kiosk_id: uuid.UUID
    connections: int | None  # open connections told to close; None: presence unknown
    reconnect: bool


class CableStatusOut(BaseModel):
    node: str
    mode: str  # embedded (in-memory backplane) or scaled (Redis)
    backplane_connected: bool
    connections: int
    connections_by_protocol: dict[str, int]
    kiosk_connections: int
    operator_connections: int
    subscriptions_by_channel: dict[str, int]
    streams_followed: int
    ping_interval_s: float
    poll_interval_s: float
    send_queue_max: int
    allowed_origins: list[str]
