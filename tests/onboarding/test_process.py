"""`sora-bot check`, `sora-bot setup` and `scripts/run` as an operator runs them: processes."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pexpect
from dotenv import dotenv_values

from bot.fake_provider import FakeProvider
from bot.onboarding.invite import invite_url
from tests.onboarding.support import KEY, TOKEN, scenario, settings_env
from tests.support.fake_discord import FakeDiscord

ROOT = Path(__file__).resolve().parents[2]


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without any bot setting, plus ``extra``."""
    prefixes = ("PROVIDER", "DISCORD_", "DATABASE_", "ALLOWED_")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**environ, **extra}


async def sora_bot(*args: str, cwd: Path, environ: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, cwd=cwd, env=environ,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_check_reads_dot_env_passes_and_prints_the_invite(tmp_path: Path) -> None:
    async with FakeDiscord(token=TOKEN) as discord, FakeProvider("videos", scenario()) as fake:
        env = settings_env(discord, fake, tmp_path)
        (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        code, out, err = await sora_bot("check", cwd=tmp_path, environ=clean_environ())
    assert code == 0, out + err
    assert f"({tmp_path / '.env'})" in out.splitlines()[0]
    assert f"Invite the bot to your server: {invite_url(discord.application_id)}" in out
    assert out.strip().endswith("All checks passed.")
    assert TOKEN not in out + err and KEY not in out + err


async def test_check_fails_with_one_line_per_problem_and_no_traceback(tmp_path: Path) -> None:
    hang = scenario(poll_delays=[3.0])
    async with (
        FakeDiscord(token="MTk5.OTk5.another-token") as discord,
        FakeProvider("generations", hang) as fake,
    ):
        environ = clean_environ(
            **settings_env(discord, fake, tmp_path, PROVIDER_REQUEST_TIMEOUT="0.3")
        )
        code, out, err = await sora_bot("check", cwd=tmp_path, environ=environ)
    assert code == 1
    failed = [line for line in out.splitlines() if line.startswith("✗")]
    assert len(failed) == 2
    assert failed[0].startswith("✗ Discord token: Discord rejected DISCORD_TOKEN")
    assert failed[1].startswith(f"✗ provider generations ({fake.url}): no answer")
    assert "2 checks failed" in out
    assert "Traceback" not in err and err.strip() == ""
    assert TOKEN not in out + err and KEY not in out + err


async def test_check_says_pass_and_fail_in_an_ascii_terminal(tmp_path: Path) -> None:
    environ = clean_environ(PYTHONIOENCODING="ascii", DATABASE_PATH=str(tmp_path / "db.sqlite3"))
    code, out, _ = await sora_bot("check", cwd=tmp_path, environ=environ)
    assert code == 1
    assert "FAIL Discord token: DISCORD_TOKEN is not set" in out
    assert "PASS database:" in out


async def test_setup_in_a_terminal_hides_the_secrets_and_writes_env(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env.example")
    async with FakeDiscord(token=TOKEN) as discord, FakeProvider("chat", scenario()) as fake:
        environ = clean_environ(
            DISCORD_API_BASE_URL=discord.api_base, DATABASE_PATH=str(tmp_path / "db.sqlite3")
        )
        child = pexpect.spawn(
            sys.executable, ["-m", "bot.cli", "setup"], cwd=str(tmp_path), env=environ,
            encoding="utf-8", timeout=30, dimensions=(40, 200),
        )  # fmt: skip
        child.logfile_read = screen = io.StringIO()  # everything the terminal showed
        try:
            steps = [
                ("Discord bot token", "not-a-token"),
                ("Discord bot token", TOKEN),
                (r"Protocol \(chat, generations, videos, openrouter\) \[videos\]: ", "chat"),
                ("Provider address", fake.url),
                ("Provider API key", KEY),
                (r"Model \[sora-2\]: ", ""),
                ("Your server id", ""),
            ]
            for prompt, answer in steps:
                await child.expect(prompt, async_=True)
                child.sendline(answer)
            await child.expect(pexpect.EOF, async_=True)
        finally:
            child.close()
    assert child.exitstatus == 0
    shown = screen.getvalue()
    assert "that is not a bot token" in shown
    assert "not-a-token" not in shown  # even a wrong token is never echoed
    assert TOKEN not in shown and KEY not in shown
    assert fake.url in shown  # plain answers echo as usual
    assert f"Add the bot to your server: {invite_url(discord.application_id)}" in shown
    values = dotenv_values(tmp_path / ".env")
    assert values["DISCORD_TOKEN"] == TOKEN and values["PROVIDER_API_KEY"] == KEY
    assert values["PROVIDER_PROTOCOL"] == "chat"
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600


def test_run_script_without_env_or_terminal_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "run", tmp_path / "scripts" / "run")
    result = subprocess.run(
        ["bash", str(tmp_path / "scripts" / "run")],
        check=False, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        env=clean_environ(PYTHON=sys.executable),
    )  # fmt: skip
    assert result.returncode == 2
    assert "run ./scripts/run in a terminal" in result.stderr
    assert "copy .env.example to .env and set DISCORD_TOKEN, PROVIDER_PROTOCOL" in result.stderr
    assert not (tmp_path / ".venv").exists()  # it stopped before installing anything
