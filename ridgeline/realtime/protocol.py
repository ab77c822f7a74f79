"""The `/cable` wire format: ActionCable's JSON protocol and its reliable extension.

Frames the server sends are built as text here, once per message where possible: a broadcast to
thousands of kiosks serialises its payload once and splices it into each subscription's frame.
Identifiers are echoed exactly as the client sent them (clients match them with `===`).
See realtime-protocol.md for the contract.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

PROTOCOL_JSON = "actioncable-v1-json"
PROTOCOL_EXT = "actioncable-v1-ext-json"
PROTOCOL_UNSUPPORTED = "actioncable-unsupported"
KNOWN_PROTOCOLS = frozenset({PROTOCOL_JSON, PROTOCOL_EXT, PROTOCOL_UNSUPPORTED})

# A client frame larger than this is refused (commands are small; a kiosk never uploads).
MAX_FRAME_BYTES = 64 * 1024


class DisconnectReason(StrEnum):
    UNAUTHORIZED = "unauthorized"
    INVALID_REQUEST = "invalid_request"
    SERVER_RESTART = "server_restart"
    REMOTE = "remote"
    TOO_SLOW = "too_slow"


def choose_subprotocol(offered: Sequence[str]) -> str | None:
    """The extended protocol when offered, else plain JSON; None when the client offers neither."""
    if PROTOCOL_EXT in offered:
        return PROTOCOL_EXT
    if PROTOCOL_JSON in offered:
        return PROTOCOL_JSON
    return None


def token_from_subprotocols(offered: Sequence[str]) -> str | None:
    """A credential offered as an extra subprotocol (`consumer.addSubProtocol(token)`)."""
    extra = [p for p in offered if p not in KNOWN_PROTOCOLS]
    return extra[0] if extra else None


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def welcome(sid: str | None = None, *, restored_ids: Sequence[str] | None = None) -> str:
    frame: dict[str, Any] = {"type": "welcome"}
    if sid is not None:
        frame["sid"] = sid
    if restored_ids is not None:
        frame["restored"] = True
        frame["restored_ids"] = list(restored_ids)
    return _dump(frame)


def ping(unix_s: int) -> str:
    return f'{{"type":"ping","message":{int(unix_s)}}}'


def disconnect(reason: DisconnectReason, *, reconnect: bool) -> str:
    return _dump({"type": "disconnect", "reason": reason.value, "reconnect": reconnect})


def reply(identifier_json: str, kind: str) -> str:
    """confirm_subscription, reject_subscription, confirm_history, reject_history."""
    return f'{{"identifier":{identifier_json},"type":"{kind}"}}'


def message(identifier_json: str, payload_json: str) -> str:
    return f'{{"identifier":{identifier_json},"message":{payload_json}}}'


def reliable_message(
    identifier_json: str, payload_json: str, *, stream_id_json: str, epoch: str, offset: int
) -> str:
    return (
        f'{{"identifier":{identifier_json},"message":{payload_json},'
        f'"stream_id":{stream_id_json},"epoch":"{epoch}","offset":{offset}}}'
    )


def presence(identifier_json: str, payload: Mapping[str, Any]) -> str:
    return f'{{"type":"presence","identifier":{identifier_json},"message":{_dump(payload)}}}'


def encode(value: Any) -> str:
    """JSON text of a payload or identifier, compact, as spliced into frames."""
    return _dump(value)


class InvalidCommand(Exception):
    """A client frame we cannot act on; answered with a disconnect `invalid_request`."""


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    since: int | None
    # stream id -> (epoch, offset)
    streams: dict[str, tuple[str, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Command:
    command: str
    identifier: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    history: HistoryRequest | None = None
    presence: dict[str, Any] | None = None


COMMANDS = frozenset(
    {"subscribe", "unsubscribe", "message", "history", "pong", "join", "leave", "presence"}
)


def parse_command(text: str) -> Command:
    if len(text.encode()) > MAX_FRAME_BYTES:
        raise InvalidCommand("frame too large")
    try:
        frame = json.loads(text)
    except ValueError:
        raise InvalidCommand("frame is not JSON") from None
    if not isinstance(frame, dict):
        raise InvalidCommand("frame is not a JSON object")
    name = frame.get("command")
    if name not in COMMANDS:
        raise InvalidCommand(f"unknown command {name!r}")
    if name == "pong":
        return Command("pong")
    identifier = frame.get("identifier")
    if not isinstance(identifier, str) or not identifier:
        raise InvalidCommand("identifier must be a non-empty string")
    data: dict[str, Any] = {}
    if name == "message":
        raw = frame.get("data")
        try:
            parsed = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise InvalidCommand("data must be a JSON object encoded as a string")
        data = parsed
    history = _parse_history(frame.get("history")) if "history" in frame else None
    if name == "history" and history is None:
        raise InvalidCommand("history command without a history request")
    raw_presence = frame.get("presence")
    presence_info = raw_presence if isinstance(raw_presence, dict) else None
    return Command(name, identifier, data, history, presence_info)


def _parse_history(raw: Any) -> HistoryRequest | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidCommand("history must be an object")
    since = raw.get("since")
    if since is not None and (not isinstance(since, int | float) or isinstance(since, bool)):
        raise InvalidCommand("history.since must be unix seconds")
    streams: dict[str, tuple[str, int]] = {}
    raw_streams = raw.get("streams") or {}
    if not isinstance(raw_streams, dict):
        raise InvalidCommand("history.streams must be an object")
    for stream_id, position in raw_streams.items():
        if not isinstance(position, dict):
            raise InvalidCommand("a stream position must be an object")
        epoch, offset = position.get("epoch"), position.get("offset")
        if not isinstance(epoch, str) or not isinstance(offset, int) or isinstance(offset, bool):
            raise InvalidCommand("a stream position needs an epoch string and an integer offset")
        streams[str(stream_id)] = (epoch, offset)
    return HistoryRequest(int(since) if since is not None else None, streams)


def parse_identifier(identifier: str) -> dict[str, Any]:
    """The channel and parameters a subscription identifier names."""
    try:
        params = json.loads(identifier)
    except ValueError:
        raise InvalidCommand("identifier is not JSON") from None
    if not isinstance(params, dict) or not isinstance(params.get("channel"), str):
        raise InvalidCommand("identifier must be a JSON object naming a channel")
    return params
