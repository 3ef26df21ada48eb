"""`sora-bot check` against the fake Discord and the fake providers, in process."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.fake_provider import FakeProvider
from bot.onboarding.checks import run_checks
from bot.onboarding.report import Report
from tests.onboarding.support import KEY, PROTOCOLS, TOKEN, scenario, settings_env
from tests.support.fake_discord import FakeDiscord


def text(report: Report) -> str:
    return "\n".join(f"{line.status} {line.subject}: {line.text}" for line in report.lines)


def failing(report: Report) -> list[str]:
    return [f"{line.subject}: {line.text}" for line in report.failures]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_everything_passes_and_nothing_is_submitted(protocol: str, tmp_path: Path) -> None:
    async with FakeDiscord(token=TOKEN) as discord, FakeProvider(protocol, scenario()) as fake:
        report = await run_checks(settings_env(discord, fake, tmp_path))
    assert report.passed, text(report)
    subjects = [line.subject for line in report.lines]
    assert subjects[:4] == ["settings", "Discord token", "application", "database"]
    assert subjects[4].startswith(f"provider {protocol} (")
    assert report.application_id == str(discord.application_id)
    assert (tmp_path / "data" / "bot.sqlite3").is_file()  # opened and migrated
    assert fake.recorder.submissions == 0  # a check never starts a (billed) video


async def test_chat_without_a_models_list_is_checked_with_a_refused_request(
    tmp_path: Path,
) -> None:
    async with FakeDiscord(token=TOKEN) as discord, FakeProvider("chat", scenario()) as fake:
        report = await run_checks(settings_env(discord, fake, tmp_path))
    assert report.passed, text(report)
    asked = [(r["method"], r["path"]) for r in fake.recorder.requests]
    assert asked == [("POST", "/v1/chat/completions")]  # after GET /v1/models got 404
    assert "answered 400 as expected" in text(report)


async def test_wrong_token_fails_naming_the_token(tmp_path: Path) -> None:
    async with (
        FakeDiscord(token="MTk5.OTk5.another-token") as discord,
        FakeProvider("videos", scenario()) as fake,
    ):
        report = await run_checks(settings_env(discord, fake, tmp_path))
    assert [line.subject for line in report.failures] == ["Discord token"]
    assert "DISCORD_TOKEN" in report.failures[0].text
    assert "Reset Token" in report.failures[0].text
    assert report.application_id is None
    assert any(line.subject.startswith("provider") and line.status == "ok" for line in report.lines)


async def test_malformed_token_gets_a_hint(tmp_path: Path) -> None:
    async with FakeDiscord(token=TOKEN) as discord, FakeProvider("videos", scenario()) as fake:
        report = await run_checks(
            settings_env(discord, fake, tmp_path, DISCORD_TOKEN="Bot " + TOKEN)
        )
    assert "without 'Bot '" in failing(report)[0]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_wrong_provider_key_fails_naming_the_provider(protocol: str, tmp_path: Path) -> None:
    async with FakeDiscord(token=TOKEN) as discord, FakeProvider(protocol, scenario()) as fake:
        env = settings_env(discord, fake, tmp_path, PROVIDER_API_KEY="sk-wrong-key-999")
        report = await run_checks(env)
    [line] = report.failures
    assert line.subject == f"provider {protocol} ({fake.url})"
    assert "PROVIDER_API_KEY" in line.text and "refused" in line.text


async def test_a_hanging_provider_gives_up_after_the_request_timeout(tmp_path: Path) -> None:
    hang = scenario(poll_delays=[3.0])  # answers the status query far too late
    async with FakeDiscord(token=TOKEN) as discord, FakeProvider("generations", hang) as fake:
        env = settings_env(discord, fake, tmp_path, PROVIDER_REQUEST_TIMEOUT="0.3")
        report = await run_checks(env)
    [line] = report.failures
    assert "no answer" in line.text and "0.3 s (PROVIDER_REQUEST_TIMEOUT)" in line.text


async def test_an_unreachable_provider_is_one_line(tmp_path: Path) -> None:
    async with FakeDiscord(token=TOKEN) as discord, FakeProvider("videos", scenario()) as fake:
        pass  # stopped: nothing listens on its port any more
    async with FakeDiscord(token=TOKEN) as discord:
        report = await run_checks(settings_env(discord, fake, tmp_path))
    [line] = report.failures
    assert "cannot reach it" in line.text and "PROVIDER_BASE_URL" in line.text


@pytest.mark.parametrize(
    ("public", "allowed", "warned"),
    [(True, "", True), (True, "123456789012345678", False), (False, "", False)],
)
async def test_public_bot_without_allowed_servers_is_a_warning(
    public: bool, allowed: str, warned: bool, tmp_path: Path
) -> None:
    async with FakeDiscord(token=TOKEN) as discord, FakeProvider("videos", scenario()) as fake:
        discord.bot_public = public
        report = await run_checks(settings_env(discord, fake, tmp_path, ALLOWED_GUILD_IDS=allowed))
    warnings = [line.text for line in report.lines if line.status == "warn"]
    assert report.passed  # a warning never fails the check
    assert bool(warnings) is warned
    if warned:
        assert "Public Bot" in warnings[0] and "ALLOWED_GUILD_IDS" in warnings[0]


async def test_code_grant_fails_because_the_invite_cannot_work(tmp_path: Path) -> None:
    async with FakeDiscord(token=TOKEN) as discord, FakeProvider("videos", scenario()) as fake:
        discord.bot_require_code_grant = True
        report = await run_checks(settings_env(discord, fake, tmp_path))
    assert failing(report) == [
        "application: Requires OAuth2 Code Grant is on, so the invite link cannot add the bot: "
        "turn it off (Developer Portal, Bot)"
    ]


async def test_missing_settings_still_check_the_rest(tmp_path: Path) -> None:
    async with FakeDiscord(token=TOKEN) as discord, FakeProvider("videos", scenario()) as fake:
        env = settings_env(discord, fake, tmp_path)
        del env["PROVIDER_PROTOCOL"]
        report = await run_checks(env)
    assert failing(report) == ["provider: PROVIDER_PROTOCOL is not set; see .env.example"]
    assert report.application_id == str(discord.application_id)  # Discord was still checked
    assert [line.subject for line in report.lines if line.status == "ok"] == [
        "Discord token",
        "application",
        "database",
    ]


async def test_a_database_that_cannot_open_names_the_setting(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    async with FakeDiscord(token=TOKEN) as discord, FakeProvider("videos", scenario()) as fake:
        env = settings_env(discord, fake, tmp_path, DATABASE_PATH=str(blocker / "bot.sqlite3"))
        report = await run_checks(env)
    [line] = report.failures
    assert line.subject == "database" and "DATABASE_PATH" in line.text


async def test_openrouter_model_missing_from_the_catalogue_fails(tmp_path: Path) -> None:
    async with FakeDiscord(token=TOKEN) as discord, FakeProvider("openrouter", scenario()) as fake:
        env = settings_env(discord, fake, tmp_path, PROVIDER_MODEL="acme/not-there")
        report = await run_checks(env)
    [line] = report.failures
    assert line.subject.startswith("provider openrouter") and "acme/not-there" in line.text
    assert KEY not in text(report)


async def test_each_of_several_providers_is_checked_under_its_own_name(tmp_path: Path) -> None:
    async with (
        FakeDiscord(token=TOKEN) as discord,
        FakeProvider("generations", scenario()) as main,
        FakeProvider("videos", scenario()) as backup,
    ):
        env = settings_env(discord, main, tmp_path)
        for key in ("PROVIDER_PROTOCOL", "PROVIDER_BASE_URL", "PROVIDER_API_KEY"):
            del env[key]
        env.update(
            PROVIDERS="main,backup-1",
            PROVIDER_MAIN_PROTOCOL="generations",
            PROVIDER_MAIN_BASE_URL=main.url,
            PROVIDER_MAIN_API_KEY=KEY,
            PROVIDER_BACKUP_1_PROTOCOL="videos",
            PROVIDER_BACKUP_1_BASE_URL=backup.url,
            PROVIDER_BACKUP_1_API_KEY="sk-wrong-key-999",
        )
        report = await run_checks(env)
    assert [line.subject for line in report.lines if line.status == "ok"][-1] == (
        f"provider main ({main.url})"
    )
    [line] = report.failures
    assert line.subject == f"provider backup-1 ({backup.url})"
    assert "PROVIDER_BACKUP_1_API_KEY" in line.text
