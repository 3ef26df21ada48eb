"""ProviderSet against two real fake providers: routing, the breaker and its cool-down."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
import pytest

from bot.config import ConfigError, Settings
from bot.fake_provider.app import FakeProvider
from bot.providers.base import Completed, Submitted, VideoRequest
from bot.providers.factory import make_providers
from tests.support.providers import collect, fast_scenario, make_image, make_settings

SUBMIT = "/v2/videos/generations"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def request() -> VideoRequest:
    return VideoRequest("waves", make_image(720, 1280), 10, "portrait", "sora-2")


async def test_breaker_skips_a_failing_provider_then_tries_it_after_the_cool_down(
    session: aiohttp.ClientSession,
) -> None:
    clock = Clock()
    async with (
        FakeProvider("generations", fast_scenario(error_forever=503)) as bad,
        FakeProvider("generations", fast_scenario()) as good,
    ):
        main = replace(make_settings(bad, max_retries=0), name="main")
        spare = replace(make_settings(good, max_retries=0), name="spare")
        providers = make_providers(session, [main, spare], threshold=2, cool_down=60.0, clock=clock)
        for expected_asks in (1, 2, 2):  # the third job skips main: its breaker is open
            events = await collect(providers.generate(request()))
            assert isinstance(events[-1], Completed)
            assert bad.recorder.count("POST", SUBMIT) == expected_asks
        assert providers.health()["main"]["ok"] is False
        submitted = [e for e in events if isinstance(e, Submitted)]
        assert submitted and submitted[0].provider == "spare"

        clock.now += 61  # the cool-down is over: main gets a trial again
        assert providers.health()["main"]["ok"] is True
        await collect(providers.generate(request()))
        assert bad.recorder.count("POST", SUBMIT) == 3
        assert good.recorder.submissions == 4 and bad.recorder.submissions == 0

        bad.scenario.error_forever = None  # main recovers: it takes the next job itself
        clock.now += 61
        events = await collect(providers.generate(request()))
        assert [e.provider for e in events if isinstance(e, Submitted)] == ["main"]
        assert providers.health()["main"] == {
            "ok": True,
            "failures": 0,
            "retry_in": 0.0,
            "trips": 2,
        }


async def test_a_refusal_of_the_request_itself_is_not_failed_over(
    session: aiohttp.ClientSession,
) -> None:
    async with (
        FakeProvider("generations", fast_scenario(submit_errors=[400])) as first,
        FakeProvider("generations", fast_scenario()) as second,
    ):
        providers = make_providers(
            session,
            [replace(make_settings(first), name="a"), replace(make_settings(second), name="b")],
        )
        events = await collect(providers.generate(request()))
        assert not isinstance(events[-1], Completed)  # a bad request is bad everywhere
        assert second.recorder.count("POST", SUBMIT) == 0


BASE = {"DISCORD_TOKEN": "t.o.k"}
TWO = {
    **BASE,
    "PROVIDERS": "main, backup-1",
    "PROVIDER_MAIN_PROTOCOL": "generations",
    "PROVIDER_MAIN_BASE_URL": "https://a.example/v1",
    "PROVIDER_MAIN_API_KEY": "k1",
    "PROVIDER_BACKUP_1_PROTOCOL": "videos",
    "PROVIDER_BACKUP_1_BASE_URL": "https://b.example",
    "PROVIDER_BACKUP_1_API_KEY": "k2",
    "PROVIDER_BACKUP_1_AUTH_SCHEME": "raw",
    "PROVIDER_JOB_TIMEOUT": "900",
}


def test_providers_read_their_own_settings_and_share_the_timing_ones() -> None:
    settings = Settings.from_env(TWO)
    main, backup = settings.all_providers
    assert (main.label, main.protocol, main.base_url) == (
        "main",
        "generations",
        "https://a.example",
    )
    assert (backup.label, backup.auth_scheme, backup.api_key) == ("backup-1", "raw", "k2")
    assert main.job_timeout == backup.job_timeout == 900  # PROVIDER_JOB_TIMEOUT for both
    assert settings.provider is main


@pytest.mark.parametrize(
    ("drop", "named"),
    [
        ("PROVIDER_BACKUP_1_API_KEY", "PROVIDER_BACKUP_1_API_KEY"),
        ("PROVIDER_MAIN_PROTOCOL", "PROVIDER_MAIN_PROTOCOL"),
        ("PROVIDER_BACKUP_1_BASE_URL", "PROVIDER_BACKUP_1_BASE_URL"),
    ],
)
def test_a_providers_entry_missing_a_setting_names_the_variable(drop: str, named: str) -> None:
    env = {k: v for k, v in TWO.items() if k != drop}
    with pytest.raises(ConfigError, match=rf"^{named} is not set"):
        Settings.from_env(env)


def test_without_providers_the_plain_settings_are_the_one_provider() -> None:
    env = {
        **BASE,
        "PROVIDER_PROTOCOL": "chat",
        "PROVIDER_BASE_URL": "https://c.example",
        "PROVIDER_API_KEY": "k",
        "PRICE_PER_SECOND": "*:0.1",
    }
    (only,) = Settings.from_env(env).all_providers
    assert (only.label, only.name, only.api_key) == ("chat", "", "k")
    with pytest.raises(ConfigError, match="PROVIDERS names 'A' twice"):
        Settings.from_env({**TWO, "PROVIDERS": "a, A"})
