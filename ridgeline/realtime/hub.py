"""The hub: one per server process, it fans stream messages out to this process's connections.

Delivery starts from the database, never from the backplane. For each stream some local
connection follows, a *feed* remembers the offset it has read up to; a notice ("stream S is at
offset N": from a local commit, the backplane, or the periodic poll of stream positions) makes the
feed read the new messages once and offer each to every subscription. A subscription delivers a
message only if it is the next offset it owes its client, so each client sees every message once
and in order; a subscription that is behind (a history replay, a restored session, a gap) reads
what it misses from the database itself until it reaches the feed, then follows it again.

A connection and its send queue are in connection.py; a subscription and the state machine of its
catch-up (awaiting history, catching up, live) in subscription.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from ridgeline.auth import service as auth_service
from ridgeline.auth.key_cache import KioskKeyCache
from ridgeline.auth.principal import OperatorPrincipal
from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.realtime import protocol
from ridgeline.realtime.backplane import (
    Backplane,
    KioskDisconnect,
    KioskKeysChanged,
    Notice,
    PublishQueue,
    StreamAdvanced,
    publish_queued,
    stop_publisher,
)
from ridgeline.realtime.channels import Grant
from ridgeline.realtime.connection import CLOSE_GRACE_S, Connection
from ridgeline.realtime.history import StreamHistory
from ridgeline.realtime.metrics import (
    BROADCAST_LATENCY,
    CONNECTIONS,
    DISCONNECTS,
    HISTORY_MESSAGES,
    HISTORY_REJECTS,
    HISTORY_REPLAYS,
    MESSAGES_SENT,
    SUBSCRIPTIONS,
)
from ridgeline.realtime.protocol import DisconnectReason, HistoryRequest
from ridgeline.realtime.state import PRESENCE_REFRESH_S, CableState, PresenceEntry
from ridgeline.realtime.streams import HistoryUnavailable, StreamEntry
from ridgeline.realtime.subscription import (
    AWAITING_HISTORY,
    CATCHING_UP,
    LIVE,
    Subscription,
    SubscriptionState,
)

# How often live operator connections are checked against their sign-in (seconds).
OPERATOR_RECHECK_S = 15.0

log = structlog.get_logger(__name__)

# The ping round is spread over its interval in this many slices: a slice's connections get the
# round's one pre-encoded frame together, so 5,000 sockets are never pinged at once.
PING_SLICES = 30

# Deliveries a feed makes before it lets the event loop run other callbacks.
FAN_OUT_SLICE = 256
# Presence entries refreshed at a time.
PRESENCE_SLICE = 500

# A restored subscription waits this long for the client's `history` command before it resumes
# from the offset the session recorded.
RESTORE_HISTORY_WAIT_S = 5.0


# A feed keeps its last messages (encoded) so that a subscription a little behind (a kiosk
# reconnecting after a blip with `history`) catches up from memory, not with a database read each.
RECENT_ENTRIES = 256
# How long a stream with no subscriber left is still followed, its recent messages kept: a
# store's kiosks that all drop at once (a network blip, a restart elsewhere) come back within
# seconds, and each would otherwise catch up with its own database read.
FEED_LINGER_S = 60.0


@dataclass(eq=False)
class Feed:
    stream_id: str
    epoch: str
    offset: int  # read up to here (and offered to every subscription)
    target: int = 0  # the highest offset some notice announced
    subscriptions: set[Subscription] = field(default_factory=set)
    pump: asyncio.Task[None] | None = None
    recheck: bool = False  # the poll saw another epoch: read again to find out
    idle_since: float | None = None  # monotonic time its last subscription left
    # The last messages offered (entry, its payload's JSON), consecutive, ending at `offset`.
    recent: deque[tuple[StreamEntry, str]] = field(
        default_factory=lambda: deque(maxlen=RECENT_ENTRIES)
    )

    def recent_after(self, epoch: str, offset: int) -> list[tuple[StreamEntry, str]] | None:
        """The messages after (epoch, offset) up to the feed's offset, if all are in memory."""
        recent = self.recent
        if (
            epoch != self.epoch
            or not recent
            or recent[-1][0].offset != self.offset
            or recent[0][0].offset > offset + 1
        ):
            return None
        return [item for item in recent if item[0].offset > offset]


class Hub:
    def __init__(
        self,
        *,
        database: Database,
        backplane: Backplane,
        state: CableState,
        clock: Clock,
        ping_interval_s: float,
        poll_interval_s: float,
        queue_max: int,
        session_ttl_s: float,
        key_cache: KioskKeyCache | None = None,
    ) -> None:
        self.database = database
        self.backplane = backplane
        self.state = state
        self.clock = clock
        self.history = StreamHistory(database, clock)
        self.node = uuid.uuid4().hex[:12]
        self.ping_interval_s = ping_interval_s
        self.poll_interval_s = poll_interval_s
        self.queue_max = queue_max
        self.session_ttl_s = session_ttl_s
        # Kiosk keys that authenticated on `/cable` (auth/key_cache.py); the notices that close a
        # kiosk's connections or change its keys empty its entries in every process.
        self.key_cache = key_cache if key_cache is not None else KioskKeyCache(0)
        self.key_reader = auth_service.KioskKeyReader(database, self.key_cache)
        self.connections: dict[str, Connection] = {}
        self._feeds: dict[str, Feed] = {}
        self._feed_loads: dict[str, asyncio.Future[Feed]] = {}
        # Catch-up reads in flight by (stream, epoch, offset): subscriptions at one position
        # (a store's kiosks reconnecting together) share one read.
        self._missed_reads: dict[tuple[str, str, int], asyncio.Task[list[StreamEntry]]] = {}
        self.feed_linger_s = FEED_LINGER_S
        self._tasks: list[asyncio.Task[None]] = []
        self._publisher: asyncio.Task[None] | None = None
        self._publish_queue: PublishQueue = asyncio.Queue()
        self._background: set[asyncio.Task[Any]] = set()
        self.started = False

    # --- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.backplane.start(self.on_notice, self._backplane_reconnected)
        self.database.commit_listeners.append(self.on_commit)
        self._tasks = [
            asyncio.create_task(self._ping_loop(), name="cable-ping"),
            asyncio.create_task(self._poll_loop(), name="cable-poll"),
            asyncio.create_task(self._presence_loop(), name="cable-presence"),
            asyncio.create_task(self._operator_check_loop(), name="cable-operator-check"),
        ]
        self._publisher = asyncio.create_task(
            publish_queued(self._publish_queue, self.backplane), name="cable-publish"
        )
        self.started = True

    async def disconnect_all(self) -> None:
        """Every client is told `server_restart` (reconnect: true) and its socket closed."""
        connections = list(self.connections.values())
        for connection in connections:
            connection.disconnect(DisconnectReason.SERVER_RESTART, reconnect=True)
        if connections:
            await asyncio.wait(
                [asyncio.shield(c.closed) for c in connections],
                timeout=CLOSE_GRACE_S + 0.5,
            )

    async def stop(self) -> None:
        """Graceful shutdown: clients may reconnect to another process."""
        with contextlib.suppress(ValueError):
            self.database.commit_listeners.remove(self.on_commit)
        await self.disconnect_all()
        if self._publisher is not None:
            await stop_publisher(self._publish_queue, self._publisher)
        for task in [*self._tasks, *self._background]:
            task.cancel()
        for feed in self._feeds.values():
            if feed.pump is not None:
                feed.pump.cancel()
        await asyncio.gather(*self._tasks, *self._background, return_exceptions=True)
        await self.backplane.close()
        await self.state.close()
        self.started = False

    @property
    def streams_followed(self) -> int:
        return len(self._feeds)

    def _spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # --- connections ---------------------------------------------------------------------------

    def register(self, connection: Connection) -> None:
        self.connections[connection.id] = connection
        CONNECTIONS.labels(connection.protocol_name).inc()

    async def unregister(self, connection: Connection, reason: str) -> None:
        if self.connections.pop(connection.id, None) is None:
            return
        CONNECTIONS.labels(connection.protocol_name).dec()
        DISCONNECTS.labels(reason).inc()
        for identifier in list(connection.subscriptions):
            self.unsubscribe(connection, identifier)
        await connection.stop_writer()

    def connections_of_kiosk(self, kiosk_id: uuid.UUID) -> list[Connection]:
        return [c for c in self.connections.values() if c.key_of_kiosk == kiosk_id]

    # --- subscriptions -------------------------------------------------------------------------

    async def subscribe(
        self,
        connection: Connection,
        identifier: str,
        grant: Grant,
        history: HistoryRequest | None,
        *,
        restored_offset: tuple[str, int] | None = None,
    ) -> Subscription | None:
        """Follows the grant's stream; confirms; replays history when asked (and confirms that).
        A restored subscription starts paused at its recorded position, awaiting `history`."""
        if identifier in connection.subscriptions:
            return None  # a duplicate subscribe is ignored
        feed = await self._feed(grant.stream_id)
        if connection.closing is not None or connection.id not in self.connections:
            return None
        epoch, offset = feed.epoch, feed.offset
        state: SubscriptionState = LIVE
        if restored_offset is not None:
            epoch, offset = restored_offset
            state = AWAITING_HISTORY
        elif history is not None:
            state = CATCHING_UP  # live messages wait for the replay
        subscription = Subscription(
            connection, identifier, grant, epoch, offset, state=state, clock=self.clock
        )
        connection.subscriptions[subscription.identifier] = subscription  # the shared string
        feed.subscriptions.add(subscription)
        feed.idle_since = None
        SUBSCRIPTIONS.labels(grant.channel).inc()
        if restored_offset is not None:
            self._spawn(self._resume_unless_history(subscription))
            return subscription
        connection.push(protocol.reply(subscription.identifier_json, "confirm_subscription"))
        if history is not None:
            await self.replay(subscription, history)
        return subscription

    def unsubscribe(self, connection: Connection, identifier: str) -> None:
        subscription = connection.subscriptions.pop(identifier, None)
        if subscription is None:
            return
        SUBSCRIPTIONS.labels(subscription.channel).dec()
        feed = self._feeds.get(subscription.stream_id)
        if feed is None:
            return
        feed.subscriptions.discard(subscription)
        if not feed.subscriptions:
            # Still followed for `feed_linger_s` (see FEED_LINGER_S), then dropped by the poll.
            feed.idle_since = time.monotonic()

    def _drop_idle_feeds(self) -> None:
        """Stops following the streams nobody has subscribed to for `feed_linger_s`."""
        cutoff = time.monotonic() - self.feed_linger_s
        for stream_id, feed in list(self._feeds.items()):
            if feed.subscriptions or feed.idle_since is None or feed.idle_since > cutoff:
                continue
            if feed.pump is not None and not feed.pump.done():
                feed.pump.cancel()
            del self._feeds[stream_id]

    async def replay(self, subscription: Subscription, request: HistoryRequest) -> None:
        """Every message after the client's position, then `confirm_history`; or
        `reject_history` (and live messages from now on) when that cannot be done whole."""
        subscription.move(CATCHING_UP)
        identifier_json = subscription.identifier_json
        feed = self._feeds.get(subscription.stream_id)
        try:
            start = await self.history.start_of(subscription.stream_id, request)
            if feed is None or start[0] != feed.epoch or start[1] > feed.offset:
                # Another epoch, or a position the stream never reached (the feed reads up to
                # what is committed).
                current = await self.history.current(subscription.stream_id)
                if start[0] != current[0] or start[1] > current[1]:
                    raise HistoryUnavailable(subscription.stream_id, "unknown position")
            subscription.epoch, subscription.offset = start
            replayed = await self._catch_up(subscription)
        except HistoryUnavailable as exc:
            HISTORY_REJECTS.inc()
            log.info(
                "cable_history_rejected",
                stream_id=subscription.stream_id,
                reason=exc.reason,
                connection_id=subscription.connection.id,
            )
            if feed is not None and subscription in feed.subscriptions:
                subscription.epoch, subscription.offset = feed.epoch, feed.offset
            subscription.move(LIVE)
            subscription.connection.push(protocol.reply(identifier_json, "reject_history"))
            return
        HISTORY_REPLAYS.inc()
        HISTORY_MESSAGES.inc(replayed)
        subscription.connection.push(protocol.reply(identifier_json, "confirm_history"))

    async def _catch_up(self, subscription: Subscription) -> int:
        """Reads what the subscription misses from the database until it reaches its feed;
        raises HistoryUnavailable when the stream cannot replay from its position."""
        sent = 0
        subscription.move(CATCHING_UP)
        try:
            while True:
                feed = self._feeds.get(subscription.stream_id)
                if feed is None or subscription not in feed.subscriptions:
                    return sent  # unsubscribed meanwhile
                # Caught up once past what the feed has read and what notices announced: while
                # the feed's own read is in flight, the database has messages it lacks yet.
                caught_up = max(feed.offset, feed.target)
                if subscription.offset >= caught_up and subscription.epoch == feed.epoch:
                    subscription.move(LIVE)
                    return sent
                in_memory = None
                if subscription.offset < feed.offset:
                    in_memory = feed.recent_after(subscription.epoch, subscription.offset)
                if in_memory is not None:
                    # No await from here to the feed's offset: nothing can come in between.
                    for entry, payload_json in in_memory:
                        if subscription.deliver(entry, payload_json):
                            sent += 1
                    if subscription.connection.closing is not None:
                        return sent
                    continue
                entries = await self._missed(
                    subscription.stream_id, subscription.epoch, subscription.offset
                )
                if not entries:
                    # The feed is ahead of what this read saw committed: impossible unless the
                    # feed moved to a new epoch. Let the feed's own handling decide.
                    if subscription.epoch != feed.epoch:
                        raise HistoryUnavailable(subscription.stream_id, "epoch changed")
                    subscription.move(LIVE)
                    return sent
                for entry in entries:
                    if subscription.deliver(entry, protocol.encode(entry.message)):
                        sent += 1
                if subscription.connection.closing is not None:
                    return sent
        finally:
            if subscription.connection.closing is not None:
                subscription.move(LIVE)

    async def _missed(self, stream_id: str, epoch: str, offset: int) -> list[StreamEntry]:
        """The stream's messages after (epoch, offset), read once for every subscription that
        asks for the same position while the read is in flight."""
        key = (stream_id, epoch, offset)
        read = self._missed_reads.get(key)
        if read is None:
            read = asyncio.ensure_future(self.history.missed(stream_id, epoch, offset))
            self._missed_reads[key] = read
            read.add_done_callback(lambda _: self._missed_reads.pop(key, None))
        # Shielded: one waiter cancelled (its client left) does not cancel the others' read.
        return await asyncio.shield(read)

    async def _resume_unless_history(self, subscription: Subscription) -> None:
        await asyncio.sleep(RESTORE_HISTORY_WAIT_S)
        if subscription.state is not AWAITING_HISTORY:
            return  # the client asked for history meanwhile
        try:
            await self._catch_up(subscription)
        except HistoryUnavailable:
            self._history_lost(subscription)

    def _history_lost(self, subscription: Subscription) -> None:
        """The stream lost the history this client still needs. A reliable client is sent away
        to reconnect: its history request is then refused and it reloads over REST (never a
        silent gap). A plain ActionCable client only ever had best-effort delivery."""
        connection = subscription.connection
        if connection.reliable:
            connection.disconnect(DisconnectReason.SERVER_RESTART, reconnect=True)
            return
        feed = self._feeds.get(subscription.stream_id)
        if feed is not None:
            subscription.epoch, subscription.offset = feed.epoch, feed.offset
        subscription.move(LIVE)

    # --- feeds ---------------------------------------------------------------------------------

    async def _feed(self, stream_id: str) -> Feed:
        feed = self._feeds.get(stream_id)
        if feed is not None:
            return feed
        loading = self._feed_loads.get(stream_id)
        if loading is None:
            loading = asyncio.get_running_loop().create_future()
            self._feed_loads[stream_id] = loading
            try:
                epoch, offset = await self.history.current(stream_id)
            except BaseException as exc:
                del self._feed_loads[stream_id]
                loading.set_exception(exc)
                loading.exception()  # retrieved: waiters re-raise it themselves
                raise
            feed = self._feeds.get(stream_id) or Feed(stream_id, epoch, offset, offset)
            self._feeds[stream_id] = feed
            del self._feed_loads[stream_id]
            loading.set_result(feed)
            return feed
        return await asyncio.shield(loading)

    def on_commit(self, appended: Mapping[str, int]) -> None:
        """Commit listener: local subscribers hear at once; other processes via the backplane."""
        notices: list[Notice] = []
        for stream_id, offset in appended.items():
            self.advance(stream_id, offset)
            notices.append(StreamAdvanced(stream_id, offset))
        self._publish_queue.put_nowait(notices)

    def on_notice(self, notice: Notice) -> None:
        if isinstance(notice, StreamAdvanced):
            self.advance(notice.stream_id, notice.offset)
        elif isinstance(notice, KioskKeysChanged):
            self._forget_keys(notice.kiosk_id, None)
        elif isinstance(notice, KioskDisconnect):
            self._forget_keys(notice.kiosk_id, notice.key_id)
            self._disconnect_kiosk_locally(
                notice.kiosk_id, reconnect=notice.reconnect, key_id=notice.key_id
            )

    def advance(self, stream_id: str, offset: int) -> None:
        feed = self._feeds.get(stream_id)
        if feed is None or offset <= feed.target:
            return
        feed.target = offset
        self._pump(feed)

    def _pump(self, feed: Feed) -> None:
        if feed.pump is None or feed.pump.done():
            feed.pump = asyncio.create_task(self._pump_feed(feed))

    async def _pump_feed(self, feed: Feed) -> None:
        while feed.offset < feed.target or feed.recheck:
            feed.recheck = False
            try:
                entries = await self.history.after(feed.stream_id, feed.epoch, feed.offset)
            except HistoryUnavailable as exc:
                await self._reset_feed(feed, exc.reason)
                continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cable_feed_read_failed", stream_id=feed.stream_id)
                return  # the next notice or poll tries again
            if not entries:
                feed.target = feed.offset
                return
            await self._fan_out(feed, entries)

    async def _fan_out(self, feed: Feed, entries: list[StreamEntry]) -> None:
        now = time.time()
        delivered = 0
        for entry in entries:
            payload_json = protocol.encode(entry.message)
            if feed.recent and feed.recent[-1][0].offset != entry.offset - 1:
                feed.recent.clear()  # kept consecutive
            feed.recent.append((entry, payload_json))
            feed.offset = entry.offset
            feed.target = max(feed.target, entry.offset)
            at = entry.message.get("at")
            if isinstance(at, str):
                with contextlib.suppress(ValueError):
                    BROADCAST_LATENCY.observe(
                        max(0.0, now - datetime.fromisoformat(at).timestamp())
                    )
            sent = 0
            frames: dict[tuple[str, bool], str] = {}
            subscriptions = feed.subscriptions
            for subscription in list(subscriptions):
                if subscription.state is not LIVE or subscription not in subscriptions:
                    continue  # a catch-up reading the database delivers this one; or it left
                if subscription.deliver(entry, payload_json, frames):
                    sent += 1
                elif entry.offset > subscription.offset + 1 and (subscription.epoch == entry.epoch):
                    self._spawn(self._catch_up_or_lose(subscription))
                delivered += 1
                if delivered % FAN_OUT_SLICE == 0:
                    # Each delivery writes to its socket: thousands in one callback would hold
                    # the event loop for as long. A subscription that joins or catches up
                    # meanwhile is past this entry already, and `deliver` sends each offset once.
                    await asyncio.sleep(0)
            if sent:
                channel = next(iter(feed.subscriptions)).channel if feed.subscriptions else "?"
                MESSAGES_SENT.labels(channel).inc(sent)

    async def _catch_up_or_lose(self, subscription: Subscription) -> None:
        if subscription.state is not LIVE:
            return  # already catching up, or waiting for the client's history
        try:
            await self._catch_up(subscription)
        except HistoryUnavailable:
            self._history_lost(subscription)

    async def _reset_feed(self, feed: Feed, reason: str) -> None:
        epoch, offset = await self.history.current(feed.stream_id)
        log.warning(
            "cable_feed_reset", stream_id=feed.stream_id, reason=reason, epoch=epoch, offset=offset
        )
        feed.epoch, feed.offset, feed.target = epoch, offset, offset
        feed.recent.clear()
        for subscription in list(feed.subscriptions):
            if subscription.epoch != epoch:
                self._history_lost(subscription)

    async def _backplane_reconnected(self) -> None:
        # Notices published while the backplane was away are lost, key revocations among them.
        self.key_cache.clear()
        await self.catch_up_all()

    async def catch_up_all(self) -> None:
        """After the backplane was away: read every followed stream's position."""
        await self._poll_once()

    async def _poll_once(self) -> None:
        self._drop_idle_feeds()
        if not self._feeds:
            return
        for current in await self.history.positions(list(self._feeds)):
            feed = self._feeds.get(current.stream_id)
            if feed is None:
                continue
            if current.epoch != feed.epoch:
                feed.recheck = True
                self._pump(feed)
            elif current.offset > feed.offset:
                # Behind what is committed: a lost notice, or a read that failed earlier.
                feed.target = max(feed.target, current.offset)
                self._pump(feed)

    # --- background loops ----------------------------------------------------------------------

    async def _ping_loop(self) -> None:
        while True:
            await self.ping_round()

    async def ping_round(self) -> None:
        """One interval of ActionCable pings: every connection open when the round begins gets
        one frame, encoded once, within the interval. The connections are walked in
        `PING_SLICES` slices, one every interval / PING_SLICES, so the frames are spread over the
        interval instead of queued to every socket at once (a change frame never waits behind
        thousands of pings)."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        step = self.ping_interval_s / PING_SLICES
        connections = list(self.connections.values())
        frame = protocol.ping(int(time.time()))
        size = -(-len(connections) // PING_SLICES)  # ceiling
        for index in range(PING_SLICES):
            await asyncio.sleep(max(0.0, began + (index + 1) * step - loop.time()))
            for connection in connections[index * size : (index + 1) * size]:
                connection.push(frame)

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_s)
            try:
                await self._poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cable_poll_failed")

    async def backplane_publish(self, notices: list[Notice]) -> None:
        """Hands notices to this process's hub and sends them to the other processes."""
        for notice in notices:
            self.on_notice(notice)
        try:
            await self.backplane.publish(notices)
        except Exception:
            log.exception("cable_backplane_publish_failed")

    async def _presence_loop(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_REFRESH_S)
            await self.refresh_presence()

    async def refresh_presence(self) -> None:
        """Refreshes the presence entry of every kiosk connection, `PRESENCE_SLICE` at a time
        (5,000 entries built and stored in one go held the event loop for over 100 ms)."""
        connections = [c for c in self.connections.values() if c.kiosk_id]
        now = time.time()
        for start in range(0, len(connections), PRESENCE_SLICE):
            if start:
                await asyncio.sleep(0)
            entries = [
                self.presence_entry(c, now)
                for c in connections[start : start + PRESENCE_SLICE]
                if c.id in self.connections  # still open after the previous slice
            ]
            try:
                await self.state.refresh(entries)
            except Exception:
                log.exception("cable_presence_refresh_failed")
                return

    async def _operator_check_loop(self) -> None:
        while True:
            await asyncio.sleep(OPERATOR_RECHECK_S)
            try:
                await self.close_revoked_operators()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cable_operator_check_failed")

    async def close_revoked_operators(self) -> None:
        """Closes the connections of operators whose sign-in has ended since they connected
        (signed out, password changed, deactivated, deleted): `unauthorized`, no reconnect.
        A kiosk's revoked key is closed by its notice at once; operators' connections are few,
        so they are checked here instead of at each place that ends a sign-in."""
        operators = [
            connection
            for connection in self.connections.values()
            if isinstance(connection.principal, OperatorPrincipal)
        ]
        if not operators:
            return
        now = self.clock.now()
        async with self.database.transaction(write=False) as session:
            ended = [
                connection
                for connection in operators
                if not await auth_service.still_valid(session, connection.principal, now=now)
            ]
        for connection in ended:
            log.info("cable_operator_sign_in_ended", connection_id=connection.id)
            connection.disconnect(DisconnectReason.UNAUTHORIZED, reconnect=False)

    def presence_entry(self, connection: Connection, now: float) -> PresenceEntry:
        return PresenceEntry(
            connection_id=connection.id,
            kiosk_id=str(connection.kiosk_id),
            store_id=str(connection.store_id),
            node=self.node,
            connected_at=connection.connected_at,
            refreshed_at=now,
            app_version=connection.app_version,
            remote=connection.remote,
        )

    # --- remote operations ---------------------------------------------------------------------

    async def disconnect_kiosk(
        self, kiosk_id: uuid.UUID, *, reconnect: bool, key_id: uuid.UUID | None = None
    ) -> None:
        """Closes the kiosk's connections on every process; with `key_id`, only those that
        key opened."""
        notice = KioskDisconnect(str(kiosk_id), reconnect, None if key_id is None else str(key_id))
        await self.backplane_publish([notice])

    async def keys_changed(self, kiosk_id: uuid.UUID) -> None:
        """Every process forgets the kiosk's cached keys (a roll, a deletion)."""
        await self.backplane_publish([KioskKeysChanged(str(kiosk_id))])

    def _forget_keys(self, kiosk_id: str, key_id: str | None) -> None:
        try:
            kiosk = uuid.UUID(kiosk_id)
            key = uuid.UUID(key_id) if key_id is not None else None
        except ValueError:
            log.warning("cable_bad_key_notice", kiosk_id=kiosk_id[:64])
            self.key_cache.clear()
            return
        self.key_cache.forget_kiosk(kiosk, key)

    def _disconnect_kiosk_locally(
        self, kiosk_id: str, *, reconnect: bool, key_id: str | None = None
    ) -> None:
        for connection in list(self.connections.values()):
            if str(connection.key_of_kiosk) == kiosk_id and (
                key_id is None or str(connection.key_id) == key_id
            ):
                log.info("cable_kiosk_disconnected_remotely", kiosk_id=kiosk_id)
                connection.disconnect(DisconnectReason.REMOTE, reconnect=reconnect)
