"""`sora-bot setup`: answers in, a checked `.env` (0600) out; bad answers asked again."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from bot.config import Settings
from bot.fake_provider import FakeProvider
from bot.onboarding.invite import invite_url
from bot.onboarding.wizard import Wizard
from tests.onboarding.support import KEY, TOKEN, scenario
from tests.support.fake_discord import FakeDiscord

EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


@dataclass
class Scripted:
    """Plays the operator: answers in order; records prompts, hidden prompts and lines shown."""

    answers: Iterator[str]
    prompts: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    said: list[str] = field(default_factory=list)

    def ask(self, prompt: str) -> str:
        self.prompts.append(prompt)
        try:
            return next(self.answers)
        except StopIteration:  # out of answers: like a closed standard input
            raise EOFError from None

    def secret(self, prompt: str) -> str:
        self.hidden.append(prompt)
        return self.ask(prompt)

    def say(self, text: str) -> None:
        self.said.append(text)

    @property
    def transcript(self) -> str:
        return "\n".join(self.prompts + self.said)


def scripted(*answers: str) -> Scripted:
    return Scripted(iter(answers))


async def run_wizard(io: Scripted, folder: Path, discord: FakeDiscord) -> int:
    """The wizard in a worker thread (it blocks on its prompts, as in a terminal)."""
    environ = {"DISCORD_API_BASE_URL": discord.api_base}
    wizard = Wizard(io, folder, environ=environ)
    return await asyncio.to_thread(wizard.run)


def fresh_folder(tmp_path: Path) -> Path:
    """A checkout: .env.example, no .env; the database goes inside it."""
    (tmp_path / ".env.example").write_text(
        EXAMPLE.read_text().replace("DATABASE_PATH=data/", f"DATABASE_PATH={tmp_path}/data/")
    )
    return tmp_path


async def test_answers_become_a_checked_owner_only_env(tmp_path: Path) -> None:
    folder = fresh_folder(tmp_path)
    async with FakeDiscord(token=TOKEN) as discord, FakeProvider("generations", scenario()) as fake:
        io = scripted(TOKEN, "generations", fake.url + "/v2/", KEY, "", "")
        assert await run_wizard(io, folder, discord) == 0
    env_file = folder / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = dotenv_values(env_file)
    assert values["DISCORD_TOKEN"] == TOKEN
    assert values["PROVIDER_PROTOCOL"] == "generations"
    assert values["PROVIDER_BASE_URL"] == fake.url  # the tolerated /v2/ is dropped
    assert values["PROVIDER_API_KEY"] == KEY
    assert values["PROVIDER_MODEL"] == "sora-2"  # the default in brackets
    assert values["QUOTA_PER_DAY"] == "3"  # the rest of .env.example is kept...
    assert "# ---- Discord" in env_file.read_text()  # ...with its comments
    Settings.from_env({k: v for k, v in values.items() if v is not None})  # the bot accepts it
    # The secrets were asked without echo and never shown back.
    assert io.hidden == [io.prompts[0], io.prompts[3]]
    assert "Discord bot token" in io.hidden[0] and "API key" in io.hidden[1]
    assert TOKEN not in io.transcript and KEY not in io.transcript
    assert f"Add the bot to your server: {invite_url(discord.application_id)}" in io.said


async def test_bad_answers_are_asked_again_with_a_reason(tmp_path: Path) -> None:
    folder = fresh_folder(tmp_path)
    async with FakeDiscord(token=TOKEN) as discord, FakeProvider("videos", scenario()) as fake:
        io = scripted(
            "", "Bot " + TOKEN, "client-secret-not-a-token", TOKEN,
            "sora", "VIDEOS",
            "127.0.0.1", fake.url + "/v1/videos", fake.url,
            "", "sk has spaces", KEY,
            "sora-2, sora-2-pro", "",
            "my-server", "123456789012345678",
        )  # fmt: skip
        assert await run_wizard(io, folder, discord) == 0
    shown = "\n".join(io.said)
    for reason in (
        "the token is empty",
        "without 'Bot '",
        "that is not a bot token",
        "'sora' is not a protocol the bot speaks",
        "with its scheme",
        "give only the origin",
        "the API key is empty",
        "an API key has no spaces",
        "give one model name",
        "'my-server' is not a server id",
    ):
        assert reason in shown
    values = dotenv_values(folder / ".env")
    assert values["PROVIDER_PROTOCOL"] == "videos"
    assert values["PROVIDER_BASE_URL"] == fake.url
    assert values["DISCORD_GUILD_IDS"] == "123456789012345678"
    assert sum("Discord bot token" in p for p in io.prompts) == 4


async def test_an_existing_env_is_never_replaced_without_consent(tmp_path: Path) -> None:
    folder = fresh_folder(tmp_path)
    original = "DISCORD_TOKEN=mine\nQUOTA_PER_DAY=7\n"
    (folder / ".env").write_text(original)
    async with FakeDiscord(token=TOKEN) as discord:
        for answer in ("", "n", "no"):
            io = scripted("maybe", answer)
            assert await run_wizard(io, folder, discord) == 1
            assert "  answer y or n" in io.said
            assert "Left .env as it is" in "\n".join(io.said)
            assert (folder / ".env").read_text() == original


async def test_replacing_an_env_keeps_the_settings_not_asked_about(tmp_path: Path) -> None:
    folder = fresh_folder(tmp_path)
    old = f"# mine\nDISCORD_TOKEN={TOKEN}\nQUOTA_PER_DAY=7\nPROVIDER_PROTOCOL=chat\n"
    (folder / ".env").write_text(old + f"DATABASE_PATH={tmp_path}/db.sqlite3\n")
    (folder / ".env").chmod(0o644)
    async with FakeDiscord(token=TOKEN) as discord, FakeProvider("chat", scenario()) as fake:
        # Enter keeps the current token (never shown); the protocol default is the current one.
        io = scripted("y", "", "", fake.url, KEY, "", "")
        assert await run_wizard(io, folder, discord) == 0
    assert "[Enter keeps the current one]" in io.hidden[0]
    assert "[chat]" in io.prompts[2]
    values = dotenv_values(folder / ".env")
    assert values["QUOTA_PER_DAY"] == "7" and values["DISCORD_TOKEN"] == TOKEN
    assert (folder / ".env").read_text().startswith("# mine\n")
    assert stat.S_IMODE((folder / ".env").stat().st_mode) == 0o600


async def test_failed_checks_offer_to_change_the_answers(tmp_path: Path) -> None:
    folder = fresh_folder(tmp_path)
    async with FakeDiscord(token=TOKEN) as discord, FakeProvider("videos", scenario()) as fake:
        io = scripted(
            TOKEN, "videos", fake.url, "sk-wrong-key-999", "", "",  # the provider refuses the key
            "n",  # do not save: ask again, each answer as default
            "", "", "", KEY, "", "",
        )  # fmt: skip
        assert await run_wizard(io, folder, discord) == 0
    shown = "\n".join(io.said)
    assert "✗ provider videos" in shown and "PROVIDER_API_KEY" in shown
    assert "sk-wrong-key-999" not in shown
    assert dotenv_values(folder / ".env")["PROVIDER_API_KEY"] == KEY


async def test_saving_despite_failed_checks_is_the_operators_choice(tmp_path: Path) -> None:
    folder = fresh_folder(tmp_path)
    async with FakeDiscord(token="MTk5.OTk5.another-token") as discord:
        io = scripted(TOKEN, "openrouter", "", KEY, "", "", "y")
        assert await run_wizard(io, folder, discord) == 0
    values = dotenv_values(folder / ".env")
    # OpenRouter's defaults: its origin, its default model and its 10-30 s polling.
    assert values["PROVIDER_BASE_URL"] == "https://openrouter.ai"
    assert values["PROVIDER_MODEL"] == "google/veo-3.1"
    assert (values["PROVIDER_POLL_INTERVAL"], values["PROVIDER_POLL_MAX_INTERVAL"]) == ("10", "30")
    assert not any(line.startswith("Add the bot") for line in io.said)  # no application id
