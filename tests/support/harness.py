"""The real bot (real discord.py, real SQLite) wired to a fake Discord and a fake provider.

``running_app`` starts everything for one test. ``running_world`` keeps the fakes and
the database file alive across several runs of the bot (``async with world.bot()``),
for restarts. Both capture every log record and, on exit, check that neither the
provider key nor the bot token reached Discord or the logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from bot.app import SoraBot
from bot.config import ProviderSettings, Settings
from bot.db import Store
from bot.db.connection import DEFAULT_BUSY_TIMEOUT
from bot.fake_provider import FakeProvider
from bot.fake_provider.scenario import Scenario
from bot.providers.factory import make_provider
from bot.ui.edits import EditBudget
from tests.support.fake_discord import FakeDiscord, FakeInteraction
from tests.support.fake_discord.harness import running_bot

KEY = "sk-e2e-provider-key-31337"
KEPT = " (credit kept: no refund)"  # how the store's log tells a settle that kept the credit
PERCENT = re.compile(r"(\d{1,3})%")


def photo_bytes(size: tuple[int, int] = (1600, 1200), fmt: str = "JPEG") -> bytes:
    """A photo that is not the size any provider wants."""
    buf = io.BytesIO()
    Image.new("RGB", size, (40, 140, 90)).save(buf, fmt)
    return buf.getvalue()


def percents(ix: FakeInteraction) -> list[int]:
    """The percents shown by the progress edits, in order."""
    found = []
    for edit in ix.edits:
        match = PERCENT.search(edit.content.splitlines()[-1]) if edit.content else None
        if match and "✅" not in edit.content:
            found.append(int(match.group(1)))
    return found


class LogCapture(logging.Handler):
    """Keeps every log record of a test; ``event(text)`` is set when a message contains it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._waiters: list[tuple[str, asyncio.Event, asyncio.AbstractEventLoop]] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if not self._waiters:
            return
        message = record.getMessage()
        with self.lock:  # records may come from other threads (aiosqlite's)
            for waiter in [w for w in self._waiters if w[0] in message]:
                waiter[2].call_soon_threadsafe(waiter[1].set)
                self._waiters.remove(waiter)

    def event(self, text: str) -> asyncio.Event:
        """An event set when a record whose message contains ``text`` is logged from now on."""
        event = asyncio.Event()
        with self.lock:
            self._waiters.append((text, event, asyncio.get_running_loop()))
        return event

    def messages(self, logger: str = "") -> list[str]:
        """The messages logged by ``logger`` (a name prefix) so far."""
        return [r.getMessage() for r in self.records if r.name.startswith(logger)]

    def text(self) -> str:
        """Every record formatted, tracebacks included."""
        return "\n".join(self.format(r) for r in self.records)


@contextlib.contextmanager
def capturing_logs(level: int) -> Iterator[LogCapture]:
    """Capture the root logger at ``level`` (discord.py and aiosqlite at INFO at most)."""
    capture = LogCapture()
    root = logging.getLogger()
    quieter = [logging.getLogger(name) for name in ("discord", "aiosqlite")]
    old = [root.level, *(logger.level for logger in quieter)]
    root.addHandler(capture)
    root.setLevel(level)
    for logger in quieter:  # their DEBUG lines are noise here (and off in production)
        logger.setLevel(max(level, logging.INFO))
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        for logger, was in zip([root, *quieter], old, strict=True):
            logger.setLevel(was)


def leaked_secrets(fake: FakeDiscord, logs: LogCapture, *secrets: str) -> list[str]:
    """Where any of ``secrets`` appeared: a request the bot sent to Discord, or a log line."""
    found = []
    for request in fake.requests:
        sent = json.dumps([request.path, request.query, request.json], default=str)
        sent += "".join(f.filename + f.data.decode("latin-1") for f in request.files)
        found += [f"{request.method} {request.path}" for s in secrets if s in sent]
    text = logs.text()
    found += [f"log: {line}" for line in text.splitlines() if any(s in line for s in secrets)]
    return found


@dataclass
class App:
    """Everything a test drives or inspects."""

    discord: FakeDiscord
    provider: FakeProvider
    bot: SoraBot
    store: Store
    db: Path | None = None
    logs: LogCapture = field(default_factory=LogCapture)

    async def video(self, user: Any = None, **options: Any) -> FakeInteraction:
        """Dispatch `/video` with a photo (unless ``image`` is given) and a prompt."""
        if "image" not in options:
            options["image"] = self.discord.upload(photo_bytes(), "photo.jpg")
        options.setdefault("prompt", "the leaves start to move")
        return await self.discord.slash("video", options, user=user)

    async def finished(self, ix: FakeInteraction, timeout: float = 20) -> str:
        """Wait until the job's message shows its end; returns that content."""
        await self.discord.wait_for(
            lambda: ix.content is not None and ("✅" in ix.content or "❌" in ix.content),
            timeout=timeout,
        )
        assert ix.content is not None
        return ix.content

    async def refusal(self, ix: FakeInteraction) -> str:
        """Wait for an ephemeral answer to ``ix`` (a refusal); returns its text."""
        await self.discord.wait_for(lambda: ix.callback is not None)
        assert ix.callback is not None and ix.callback.ephemeral, ix.callback
        return str(ix.callback.data.get("content", ""))

    async def quota(self, user: Any = None) -> str:
        """The `/quota` answer for ``user``."""
        ix = await self.discord.slash("quota", {}, user=user)
        await self.discord.wait_for(lambda: ix.callback is not None)
        assert ix.callback is not None and ix.callback.ephemeral
        return str(ix.callback.data.get("content", ""))

    async def used(self, user: Any = None) -> int:
        """Credits ``user`` (default: the fake's member) has spent today, per the store."""
        member = user or self.discord.user
        usage = await self.store.usage(member.id, self.bot.settings.quota_per_day)
        return usage.used

    def rows(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        """Run a read-only query on the database file (a second, read-only connection)."""
        assert self.db is not None, "App.db is needed for direct queries"
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as conn:
            conn.row_factory = sqlite3.Row
            return conn.execute(sql, params).fetchall()

    def ledger(self, job_id: int) -> list[tuple[str, int]]:
        """The job's ledger rows as ``(kind, amount)``, oldest first."""
        rows = self.rows("SELECT kind, amount FROM ledger WHERE job_id = ? ORDER BY id", job_id)
        return [(row["kind"], row["amount"]) for row in rows]

    def jobs(self, user: Any = None) -> list[sqlite3.Row]:
        """Every job row (of ``user`` when given), oldest first."""
        if user is None:
            return self.rows("SELECT * FROM jobs ORDER BY id")
        return self.rows("SELECT * FROM jobs WHERE user_id = ? ORDER BY id", user.id)

    def settled(self, job_id: int) -> int:
        """How many times the store logged ending ``job_id`` (settle returned True)."""
        ends = {f"job {job_id} {status}" for status in ("completed", "failed", "cancelled")}
        ends.add(f"job {job_id} cancelled{KEPT}")
        return sum(1 for m in self.logs.messages("bot.db") if m in ends)

    def kept_credit(self) -> set[int]:
        """Jobs cancelled without a refund (the provider had them), as the store logged them."""
        ended = re.compile(rf"job (\d+) cancelled{re.escape(KEPT)}$")
        return {int(m[1]) for m in map(ended.match, self.logs.messages("bot.db")) if m}

    async def check_ledger(self) -> set[int]:
        """Every job is final and was settled once; credits spent are exactly the successes.

        A job cancelled once the provider had it keeps its credit (no refund row):
        those count as spent too. Returns their ids.
        """
        assert await self.store.unfinished_jobs() == []
        kept = self.kept_credit()
        spent: dict[int, int] = {}
        for job in self.jobs():
            charged = job["status"] == "completed" or job["id"] in kept
            assert job["status"] == "cancelled" or job["id"] not in kept, dict(job)
            refund = [] if charged else [("refund", -job["cost"])]
            assert self.ledger(job["id"]) == [("reserve", job["cost"]), *refund], dict(job)
            assert self.settled(job["id"]) == 1, dict(job)
            spent[job["user_id"]] = spent.get(job["user_id"], 0) + (job["cost"] if charged else 0)
        quota = self.bot.settings.quota_per_day
        for user_id, amount in spent.items():
            assert (await self.store.usage(user_id, quota)).used == amount, user_id
        return kept

    async def another_member_succeeds(self, name: str = "bob") -> FakeInteraction:
        """A different member's `/video` runs to a delivered video (the bot still serves)."""
        ix = await self.video(user=self.discord.add_user(name), prompt=f"{name}'s kite rises")
        content = await self.finished(ix)
        assert "✅" in content and "kite rises" in content, content
        assert ix.original is not None and len(ix.original.attachments) == 1
        return ix


def bot_settings(fake: FakeDiscord, provider: FakeProvider, db: Path, **overrides: Any) -> Settings:
    """Fast settings for tests: tiny poll and edit intervals.

    Keys of ``overrides`` that are ``ProviderSettings`` fields (``job_timeout``,
    ``request_timeout``...) go to the provider settings, the rest to ``Settings``.
    """
    protocol = provider.app[_protocol_key()]
    provider_fields = set(ProviderSettings.__dataclass_fields__)
    for_provider = {k: v for k, v in overrides.items() if k in provider_fields}
    provider_settings = ProviderSettings(
        protocol=protocol,
        base_url=provider.url,
        api_key=KEY,
        poll_interval=0.02,
        poll_max_interval=0.05,
        retry_backoff=0.01,
        max_retries=2,
    )
    settings = Settings(
        discord_token=fake.token,
        discord_api_base_url=fake.api_base,  # attachments live on the fake's (trusted) origin
        provider=replace(provider_settings, **for_provider),
        database_path=str(db),
        progress_interval=0.02,
        edit_budget=EditBudget.unlimited(),  # the fake enforces no limit unless a test asks
    )
    return replace(settings, **{k: v for k, v in overrides.items() if k not in provider_fields})


def _protocol_key() -> Any:
    from bot.fake_provider.app import PROTOCOL_KEY

    return PROTOCOL_KEY


@dataclass
class World:
    """The fakes, the database file and the captured logs, across runs of the bot."""

    discord: FakeDiscord
    provider: FakeProvider
    db: Path
    logs: LogCapture
    overrides: dict[str, Any]

    @contextlib.asynccontextmanager
    async def bot(
        self, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT, **overrides: Any
    ) -> AsyncIterator[App]:
        """One run of the real bot with its own session and store; leaving it closes the bot."""
        settings = bot_settings(self.discord, self.provider, self.db, **self.overrides, **overrides)
        async with (
            aiohttp.ClientSession() as session,
            Store.open(settings.database_location, busy_timeout=busy_timeout) as store,
        ):
            bot = SoraBot(
                settings=settings,
                session=session,
                store=store,
                provider=make_provider(session, settings.provider),
                guild_ready_timeout=0.1,
            )
            async with running_bot(bot, self.discord):
                yield App(self.discord, self.provider, bot, store, self.db, self.logs)
        assert session.closed


@contextlib.asynccontextmanager
async def running_world(
    tmp_path: Path,
    protocol: str = "generations",
    scenario: Scenario | None = None,
    *,
    log_level: int = logging.DEBUG,
    **overrides: Any,
) -> AsyncIterator[World]:
    """Start the fake provider and the fake Discord; check for leaked secrets at the end."""
    scenario = scenario or Scenario(api_key=KEY, steps=4, step_delay=0.05)
    with capturing_logs(log_level) as logs:
        async with FakeProvider(protocol, scenario) as provider, FakeDiscord() as fake:
            yield World(fake, provider, tmp_path / "bot.sqlite3", logs, overrides)
            assert not fake.internal_errors
        assert leaked_secrets(fake, logs, KEY, fake.token) == []


@contextlib.asynccontextmanager
async def running_app(
    tmp_path: Path,
    protocol: str = "generations",
    scenario: Scenario | None = None,
    *,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    **overrides: Any,
) -> AsyncIterator[App]:
    """Start the fake provider, the fake Discord and the real bot; close all afterwards."""
    async with (
        running_world(tmp_path, protocol, scenario, **overrides) as world,
        world.bot(busy_timeout=busy_timeout) as app,
    ):
        yield app
