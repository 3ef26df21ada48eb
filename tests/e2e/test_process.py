"""`python -m bot` as a real process: starts from the environment, serves, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from bot.fake_provider import FakeProvider
from bot.fake_provider.scenario import Scenario
from tests.support.fake_discord import FakeDiscord
from tests.support.harness import KEY, photo_bytes


def environment(fake: FakeDiscord, provider_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVIDER_", "DISCORD_"))}
    env.update(fake.env())
    env.update(
        PROVIDER_PROTOCOL="generations",
        PROVIDER_BASE_URL=provider_url,
        PROVIDER_API_KEY=KEY,
        PROVIDER_POLL_INTERVAL="0.05",
        DATABASE_PATH=str(tmp_path / "data" / "bot.sqlite3"),
        PROGRESS_EDIT_INTERVAL="0.1",
        LOG_LEVEL="debug",
    )
    return env


async def test_process_serves_video_and_stops_on_sigterm(tmp_path: Path) -> None:
    scenario = Scenario(api_key=KEY, steps=4, step_delay=0.1)
    async with FakeProvider("generations", scenario) as provider, FakeDiscord() as fake:
        env = environment(fake, provider.url, tmp_path)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await fake.wait_for(
                lambda: fake.commands.names(fake.guilds[0].id) >= {"video", "quota"}, timeout=30
            )
            await fake.wait_until_connected(timeout=30)
            image = fake.upload(photo_bytes(), "photo.jpg")
            ix = await fake.slash("video", {"image": image, "prompt": "rain falls"})
            await fake.wait_for(lambda: ix.content is not None and "✅" in ix.content, timeout=30)
            assert ix.original is not None and len(ix.original.attachments) == 1
            db = tmp_path / "data" / "bot.sqlite3"
            assert db.stat().st_mode & 0o077 == 0  # not readable by others
        finally:
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), 15)
        assert time.monotonic() - started < 10
        assert proc.returncode == 0, err.decode()[-2000:]
        log = err.decode()
        assert fake.token not in log and KEY not in log
        assert "shutting down" in log


async def test_missing_setting_stops_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVIDER_", "DISCORD_"))}
    env.update(
        PROVIDER_PROTOCOL="videos", PROVIDER_BASE_URL="http://127.0.0.1:9", PROVIDER_API_KEY="k"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert lines == ["error: DISCORD_TOKEN is not set; see .env.example"]
    assert out == b""


async def start_bot(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=cwd, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def stop_bot(proc: asyncio.subprocess.Process) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0, err.decode()[-2000:]
    return err.decode()


async def test_sigterm_mid_job_then_restart_delivers_with_one_submission(tmp_path: Path) -> None:
    scenario = Scenario(api_key=KEY, steps=10, step_delay=0.3)
    async with FakeProvider("generations", scenario) as provider, FakeDiscord() as fake:
        env = environment(fake, provider.url, tmp_path)
        first = await start_bot(env, tmp_path)
        try:
            await fake.wait_for(lambda: fake.commands.names(fake.guilds[0].id), timeout=30)
            await fake.wait_until_connected(timeout=30)
            image = fake.upload(photo_bytes(), "photo.jpg")
            ix = await fake.slash("video", {"image": image, "prompt": "snow falls"})
            await fake.wait_for(lambda: provider.recorder.submissions == 1, timeout=30)
            await fake.wait_for(
                lambda: provider.recorder.count("GET", "/v2/videos") >= 1, timeout=30
            )
        finally:
            started = time.monotonic()
            await stop_bot(first)
        assert time.monotonic() - started < 10
        assert ix.content is not None and "✅" not in ix.content

        second = await start_bot(env, tmp_path)
        try:
            await fake.wait_for(lambda: ix.content is not None and "✅" in ix.content, timeout=30)
        finally:
            await stop_bot(second)
        assert provider.recorder.submissions == 1
        assert ix.original is not None and len(ix.original.attachments) == 1
