"""Push completion: hook tokens, the hook listener, and a job finished by push end to end."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import aiohttp
import pytest

from bot.config import ConfigError, Settings
from bot.fake_provider.generations import STATE_KEY
from bot.fake_provider.scenario import Scenario
from bot.providers.push import HookRegistry, HookServer
from tests.support.harness import KEY, running_app

BASE = "https://bot.example.com"


def free_port() -> int:
    """A port nobody listens on right now (the bot's hook URL must name it before binding)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_tokens_are_unguessable_bound_to_one_job_and_accepted_once() -> None:
    hooks = HookRegistry(BASE + "/")
    first, second = hooks.issue(), hooks.issue()
    assert first.url == f"{BASE}/hooks/{first.token}"
    assert len(first.token) >= 43 and first.token != second.token
    assert token_hidden(first)
    assert hooks.accept(first.token) == 204
    assert first.fired.is_set() and not second.fired.is_set()
    assert hooks.accept(first.token) == 410  # used
    assert hooks.accept("not-a-token") == 404  # never issued
    hooks.discard(second)  # the job ended by polling
    assert hooks.accept(second.token) == 410 and not second.fired.is_set()
    assert (hooks.accepted, hooks.refused, hooks.active) == (1, 3, 0)


def token_hidden(hook: object) -> bool:
    """The token never shows in a repr (which could end up in a log line)."""
    return "hooks/" not in repr(hook) and getattr(hook, "token", "") not in repr(hook)


def test_push_settings_are_read_and_checked() -> None:
    env = {
        "DISCORD_TOKEN": "t",
        "PROVIDER_PROTOCOL": "generations",
        "PROVIDER_BASE_URL": "https://api.example.com",
        "PROVIDER_API_KEY": "k",
    }
    plain = Settings.from_env(env)
    assert (plain.public_base_url, plain.hook_host, plain.hook_port) == (None, "0.0.0.0", 8090)
    pushed = Settings.from_env({**env, "PUBLIC_BASE_URL": BASE + "/", "HOOK_PORT": "9000"})
    assert (pushed.public_base_url, pushed.hook_port) == (BASE, 9000)
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        Settings.from_env({**env, "PUBLIC_BASE_URL": "bot.example.com"})


async def test_listener_accepts_once_and_refuses_unknown_and_reused_tokens() -> None:
    hooks = HookRegistry(BASE)
    server = HookServer(hooks, "127.0.0.1", 0)
    await server.start()
    try:
        hook = hooks.issue()
        url = f"http://127.0.0.1:{server.port}/hooks/"
        async with aiohttp.ClientSession() as session:
            statuses = []
            for token in (hook.token, hook.token, "x" * 43):
                async with session.post(url + token, json={"status": "SUCCESS"}) as resp:
                    statuses.append(resp.status)
            async with session.get(url + hook.token) as resp:
                statuses.append(resp.status)
        assert statuses == [204, 410, 404, 405]
        assert hook.fired.is_set()
    finally:
        await server.close()


async def test_push_completes_a_job_long_before_the_fallback_poll(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    scenario = Scenario(api_key=KEY, steps=4, step_delay=0.05)
    async with running_app(
        tmp_path,
        "generations",
        scenario,
        public_base_url=f"http://127.0.0.1:{port}",
        hook_host="127.0.0.1",
        hook_port=port,
        poll_interval=60.0,  # the fallback poll would come after a minute
        poll_max_interval=60.0,
        job_timeout=600.0,
    ) as app:
        ix = await app.video()
        content = await app.finished(ix, timeout=20)  # far less than the fallback's 60 s
        assert "✅" in content
        polls = app.provider.recorder.count("GET", "/v2/videos/generations/")
        assert polls == 1  # woken by the hook, one poll fetched the final state
        sent = app.provider.app[STATE_KEY].hooks_sent
        assert [h["status"] for h in sent] == [204]
        hook_url = sent[0]["url"]
        assert hook_url.startswith(f"http://127.0.0.1:{port}/hooks/")
        async with (
            aiohttp.ClientSession() as session,
            session.post(hook_url, json={}) as resp,
        ):
            assert resp.status == 410  # accepted once
        assert app.bot.jobs.hooks is not None and app.bot.jobs.hooks.active == 0
    token = hook_url.rsplit("/", 1)[1]
    assert all(token not in record.getMessage() for record in caplog.records)
