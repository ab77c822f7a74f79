"""What `/cable` keeps between connections and shares between processes: restorable sessions
(by `sid`) and presence (which kiosks are connected to a store, and since when).

Embedded mode keeps both in memory (one process serves every connection); scaled mode keeps them
in Redis so that a kiosk can restore its session on another process and operators see every
process's connections. Neither is durable truth: a lost session only means a normal reconnect
(subscribe again, replay history), and presence entries expire when their process stops
refreshing them.
"""

from __future__ import annotations

import hashlib
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

# A presence entry not refreshed for this long belongs to a process that died.
PRESENCE_STALE_S = 45.0
PRESENCE_REFRESH_S = 15.0


def redis_client(url: str) -> Redis:
    """A client that retries a command once on a new connection when its pooled one is dead:
    after Redis restarts, every pooled connection's next command fails otherwise (`from_url`
    leaves redis-py's retries off). Timeouts are not retried."""
    return Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=5,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )


def sid_digest(sid: str) -> str:
    """Sessions are stored under the hash of their sid, which is a credential."""
    return hashlib.sha256(sid.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PresenceEntry:
    connection_id: str
    kiosk_id: str
    store_id: str
    node: str
    connected_at: float  # unix seconds
    refreshed_at: float
    app_version: str | None = None
    remote: str | None = None

    def as_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> PresenceEntry:
        return cls(**json.loads(text))


class CableState(ABC):
    @abstractmethod
    async def save_session(self, sid: str, document: dict[str, Any], ttl_s: float) -> None: ...

    @abstractmethod
    async def take_session(self, sid: str) -> dict[str, Any] | None:
        """The session, removed (a sid restores once; the restored connection gets a new one)."""

    @abstractmethod
    async def join(self, entry: PresenceEntry) -> None: ...

    @abstractmethod
    async def leave(self, store_id: str, connection_id: str) -> None: ...

    @abstractmethod
    async def refresh(self, entries: Sequence[PresenceEntry]) -> None: ...

    @abstractmethod
    async def present(self, store_id: str) -> list[PresenceEntry]:
        """The store's live connections (stale entries of dead processes left out)."""

    @abstractmethod
    async def present_many(self, store_ids: Sequence[str]) -> dict[str, list[PresenceEntry]]:
        """`present` for several stores at once (one round trip where the state is remote):
        every store asked about is a key, with its live connections (maybe none)."""

    async def close(self) -> None:
        return None


class MemoryCableState(CableState):
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._sessions: dict[str, tuple[float, dict[str, Any]]] = {}
        self._presence: dict[str, dict[str, PresenceEntry]] = {}

    async def save_session(self, sid: str, document: dict[str, Any], ttl_s: float) -> None:
        now = self._monotonic()
        # Sessions are saved with one TTL, so the oldest are first: drop expired ones from the
        # front (a store's kiosks all disconnecting at once costs O(N), not O(N^2)).
        while self._sessions:
            oldest = next(iter(self._sessions))
            if self._sessions[oldest][0] > now:
                break
            del self._sessions[oldest]
        self._sessions[sid_digest(sid)] = (now + ttl_s, document)

    async def take_session(self, sid: str) -> dict[str, Any] | None:
        found = self._sessions.pop(sid_digest(sid), None)
        if found is None or found[0] <= self._monotonic():
            return None
        return found[1]

    async def join(self, entry: PresenceEntry) -> None:
        self._presence.setdefault(entry.store_id, {})[entry.connection_id] = entry

    async def leave(self, store_id: str, connection_id: str) -> None:
        entries = self._presence.get(store_id, {})
        entries.pop(connection_id, None)
        if not entries:
            self._presence.pop(store_id, None)

    async def refresh(self, entries: Sequence[PresenceEntry]) -> None:
        for entry in entries:
            await self.join(entry)

    async def present(self, store_id: str) -> list[PresenceEntry]:
        return sorted(self._presence.get(store_id, {}).values(), key=lambda e: e.connected_at)

    async def present_many(self, store_ids: Sequence[str]) -> dict[str, list[PresenceEntry]]:
        return {store_id: await self.present(store_id) for store_id in store_ids}


class RedisCableState(CableState):
    def __init__(self, url: str, *, prefix: str = "ridgeline:cable") -> None:
        self._redis = redis_client(url)
        self._prefix = prefix

    def _session_key(self, sid: str) -> str:
        return f"{self._prefix}:session:{sid_digest(sid)}"

    def _presence_key(self, store_id: str) -> str:
        return f"{self._prefix}:presence:{store_id}"

    async def save_session(self, sid: str, document: dict[str, Any], ttl_s: float) -> None:
        await self._redis.set(
            self._session_key(sid), json.dumps(document), px=max(1, int(ttl_s * 1000))
        )

    async def take_session(self, sid: str) -> dict[str, Any] | None:
        raw = await self._redis.getdel(self._session_key(sid))
        if raw is None:
            return None
        document = json.loads(raw)
        return document if isinstance(document, dict) else None

    async def join(self, entry: PresenceEntry) -> None:
        await self.refresh([entry])

    async def leave(self, store_id: str, connection_id: str) -> None:
        await self._redis.hdel(self._presence_key(store_id), connection_id)

    async def refresh(self, entries: Sequence[PresenceEntry]) -> None:
        if not entries:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for entry in entries:
                key = self._presence_key(entry.store_id)
                pipe.hset(key, entry.connection_id, entry.as_json())
                pipe.expire(key, int(PRESENCE_STALE_S * 4))
            await pipe.execute()

    async def present(self, store_id: str) -> list[PresenceEntry]:
        raw = await self._redis.hgetall(self._presence_key(store_id))
        cutoff = time.time() - PRESENCE_STALE_S
        entries = [PresenceEntry.from_json(value) for value in raw.values()]
        stale = [e.connection_id for e in entries if e.refreshed_at < cutoff]
        if stale:
            await self._redis.hdel(self._presence_key(store_id), *stale)
        live = [e for e in entries if e.refreshed_at >= cutoff]
        return sorted(live, key=lambda e: e.connected_at)

    async def present_many(self, store_ids: Sequence[str]) -> dict[str, list[PresenceEntry]]:
        """One pipelined round trip of HGETALLs, whatever the number of stores; stale entries
        are dropped from the answer and deleted in a second round trip only when there are
        some (as `present` does)."""
        wanted = list(dict.fromkeys(store_ids))
        if not wanted:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for store_id in wanted:
                pipe.hgetall(self._presence_key(store_id))
            answers: list[dict[bytes, bytes]] = await pipe.execute()
        cutoff = time.time() - PRESENCE_STALE_S
        found: dict[str, list[PresenceEntry]] = {}
        stale: dict[str, list[str]] = {}
        for store_id, raw in zip(wanted, answers, strict=True):
            entries = [PresenceEntry.from_json(value) for value in raw.values()]
            dead = [e.connection_id for e in entries if e.refreshed_at < cutoff]
            if dead:
                stale[store_id] = dead
            live = [e for e in entries if e.refreshed_at >= cutoff]
            found[store_id] = sorted(live, key=lambda e: e.connected_at)
        if stale:
            async with self._redis.pipeline(transaction=False) as pipe:
                for store_id, dead in stale.items():
                    pipe.hdel(self._presence_key(store_id), *dead)
                await pipe.execute()
        return found

    async def close(self) -> None:
        await self._redis.aclose()


def cable_state_for(redis_url: str | None) -> CableState:
    return RedisCableState(redis_url) if redis_url else MemoryCableState()
