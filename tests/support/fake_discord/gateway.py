"""The gateway websocket: HELLO, heartbeats, IDENTIFY/READY, RESUME and dispatches.

Sharding as Discord does it (https://discord.com/developers/docs/topics/gateway#sharding):
IDENTIFY's ``shard`` field ``[shard_id, shard_count]`` makes a session receive
only the events of guilds with ``(guild_id >> 22) % shard_count == shard_id``
(READY's guild list and GUILD_CREATEs included); events without a guild (DMs)
go to shard 0. A session that sends no ``shard`` is shard 0 of 1: it gets all.
An impossible ``shard`` closes the connection with 4010 (Invalid shard).

discord.py 2.7 connects to ``/gateway?v=10&encoding=json&compress=zlib-stream``
(``zstd-stream`` when a zstd module is installed). Frames are then compressed
with one zlib stream per connection, each ending in a Z_SYNC_FLUSH, exactly as
``utils._ZlibDecompressionContext`` expects; without ``compress`` they go as
text.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from . import payloads
from .models import shard_of

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger(__name__)

INTENT_GUILDS = 1 << 0
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12


class _Encoder:
    """Serialises frames for one connection, compressing if it asked to."""

    def __init__(self, mode: str | None) -> None:
        self._zlib = zlib.compressobj() if mode == "zlib-stream" else None
        self._zstd: Callable[[bytes], bytes] | None = (
            _zstd_stream() if mode == "zstd-stream" else None
        )

    def encode(self, frame: dict[str, Any]) -> str | bytes:
        text = json.dumps(frame)
        if self._zlib is not None:
            return self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
        if self._zstd is not None:
            return self._zstd(text.encode())
        return text


def _zstd_stream() -> Callable[[bytes], bytes]:
    """One zstd stream, block-flushed per frame (discord.py asks for it when it can decode it)."""
    try:
        import zstandard
    except ImportError:
        zstd = importlib.import_module("compression.zstd")  # Python 3.14+

        compressor = zstd.ZstdCompressor()
        return lambda data: compressor.compress(data, mode=zstd.ZstdCompressor.FLUSH_BLOCK)
    stream = zstandard.ZstdCompressor().compressobj()
    return lambda data: stream.compress(data) + stream.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)


@dataclass
class Session:
    """A gateway session; it outlives a connection so that RESUME can replay."""

    id: str
    intents: int
    seq: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)  # dispatched frames, for replay
    connection: Connection | None = None
    shard: tuple[int, int] = (0, 1)  # IDENTIFY's [shard_id, shard_count]

    def receives(self, guild_id: int | None) -> bool:
        """Whether Discord sends this session the events of ``guild_id`` (``None``: a DM)."""
        shard_id, shard_count = self.shard
        return shard_of(guild_id, shard_count) == shard_id

    def events(self, name: str) -> list[dict[str, Any]]:
        """The ``d`` of every ``name`` dispatch this session was sent, oldest first."""
        return [frame["d"] for frame in self.sent if frame["t"] == name]


class Connection:
    """One websocket; frames are sent under a lock because the zlib stream is ordered."""

    def __init__(self, ws: web.WebSocketResponse, encoder: _Encoder) -> None:
        self.ws = ws
        self.encoder = encoder
        self.lock = asyncio.Lock()
        self.session: Session | None = None

    async def send(self, frame: dict[str, Any]) -> None:
        async with self.lock:
            if not self.ws.closed:
                data = self.encoder.encode(frame)
                if isinstance(data, bytes):
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(data)


class Gateway:
    """All sessions and connections of the fake's gateway."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.sessions: dict[str, Session] = {}
        self.connections: set[Connection] = set()
        self.heartbeat_interval_ms = 41250
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.presences: list[dict[str, Any]] = []
        self.compression: list[str | None] = []  # the ``compress`` query of each connection

    @property
    def ready_sessions(self) -> list[Session]:
        """Sessions with a live connection, i.e. ones that receive dispatches."""
        return [s for s in self.sessions.values() if s.connection is not None]

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """The ``/gateway`` websocket endpoint."""
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        mode = request.query.get("compress")
        self.compression.append(mode)
        conn = Connection(ws, _Encoder(mode))
        self.connections.add(conn)
        try:
            await conn.send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT and msg.type is not WSMsgType.BINARY:
                    break
                await self._on_frame(conn, json.loads(msg.data))
        finally:
            self.connections.discard(conn)
            session = conn.session
            if session is not None and session.connection is conn:
                session.connection = None
                # A 1000/1001 close ends the session for good (discord.py closes
                # with 1000 on Client.close()); anything else may RESUME.
                if ws.close_code in (1000, 1001):
                    self.sessions.pop(session.id, None)
            await self.fake.changed()
        return ws

    async def _on_frame(self, conn: Connection, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        data: Any = frame.get("d")
        if op == 1:
            await conn.send({"op": 11})
        elif op == 2:
            await self._identify(conn, data)
        elif op == 6:
            await self._resume(conn, data)
        elif op == 3:
            self.presences.append(data)
        elif op == 8:
            await self._request_members(conn, data)
        await self.fake.changed()

    async def _identify(self, conn: Connection, data: dict[str, Any]) -> None:
        self.identifies.append(data)
        if data.get("token") != self.fake.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        if "intents" not in data:
            await conn.ws.close(code=4013, message=b"Invalid intent(s).")
            return
        if data["intents"] & ~self.fake.allowed_intents:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard = _shard(data.get("shard", [0, 1]))
        if shard is None:
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return
        session = Session(id=secrets.token_hex(16), intents=data["intents"], shard=shard)
        self.sessions[session.id] = session
        self._attach(conn, session)
        fake = self.fake
        # Not the guilds the bot left, nor those of other shards.
        guilds = [g for g in fake.guilds if fake.in_guild(g) and session.receives(g.id)]
        ready = {
            "v": 10,
            "user": payloads.user(fake.bot_user),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": fake.gateway_url,
            "application": {"id": str(fake.application_id), "flags": fake.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "auth": {},
            "_trace": ['["fake-discord",{"micros":0}]'],
        }
        if "shard" in data:
            ready["shard"] = data["shard"]
        await self._dispatch(session, "READY", ready)
        for guild in guilds:
            await self._dispatch(
                session, "GUILD_CREATE", payloads.guild_create(guild, fake.bot_user)
            )

    async def _resume(self, conn: Connection, data: dict[str, Any]) -> None:
        self.resumes.append(data)
        session = self.sessions.get(data.get("session_id", ""))
        if session is None or data.get("token") != self.fake.token:
            await conn.send({"op": 9, "d": False})
            return
        self._attach(conn, session)
        last = data.get("seq") or 0
        for frame in session.sent:
            if frame["s"] > last:
                await conn.send(frame)
        await self._dispatch(session, "RESUMED", {})

    async def _request_members(self, conn: Connection, data: dict[str, Any]) -> None:
        guild = self.fake.find_guild(int(data["guild_id"]))
        if guild is None or conn.session is None:
            return
        members = payloads.guild_create(guild, self.fake.bot_user)["members"]
        chunk = {"guild_id": str(guild.id), "members": members, "chunk_index": 0, "chunk_count": 1}
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        await self._dispatch(conn.session, "GUILD_MEMBERS_CHUNK", chunk)

    def _attach(self, conn: Connection, session: Session) -> None:
        conn.session = session
        session.connection = conn

    async def _dispatch(self, session: Session, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.sent.append(frame)
        if session.connection is not None:
            await session.connection.send(frame)

    async def dispatch(
        self, event: str, data: dict[str, Any], *, guild_id: int | None, intent: int = 0
    ) -> int:
        """Send an event to every session of its guild's shard subscribed to ``intent``.

        ``guild_id`` is the guild the event is about (``None``: none, as for a
        DM, which goes to shard 0). Returns to how many sessions it went. A
        session between a dropped connection and its RESUME gets the event on
        RESUME, as with Discord's replay.
        """
        sessions = [
            s
            for s in self.sessions.values()
            if (not intent or s.intents & intent) and s.receives(guild_id)
        ]
        for session in sessions:
            await self._dispatch(session, event, data)
        return len(sessions)

    async def reconnect(self) -> None:
        """Send op 7 RECONNECT: discord.py closes and RESUMEs at ``resume_gateway_url``."""
        for conn in list(self.connections):
            await conn.send({"op": 7, "d": None})

    async def invalidate_sessions(self) -> None:
        """Send op 9 (not resumable) to every connection: discord.py re-IDENTIFYs."""
        for conn in list(self.connections):
            await conn.send({"op": 9, "d": False})
        self.sessions.clear()

    async def close(self) -> None:
        """Close every websocket (server shutdown)."""
        for conn in list(self.connections):
            await conn.ws.close(code=1001, message=b"fake discord shutting down")


def _shard(raw: Any) -> tuple[int, int] | None:
    """IDENTIFY's ``shard`` as ``(shard_id, shard_count)``, or ``None`` when it is impossible."""
    if not isinstance(raw, list) or len(raw) != 2:
        return None
    shard_id, shard_count = raw
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in raw):
        return None
    if shard_count < 1 or not 0 <= shard_id < shard_count:
        return None
    return shard_id, shard_count
