"""The process's HTTP session has a connection for every job that may run at once."""

from __future__ import annotations

from dataclasses import replace

from bot.__main__ import client_session
from bot.config import ProviderSettings, Settings


async def test_connection_limit_follows_the_concurrent_job_limit() -> None:
    provider = ProviderSettings(protocol="chat", base_url="http://127.0.0.1:9", api_key="k")
    settings = Settings(discord_token="t", provider=provider)
    async with client_session(settings) as small:
        assert small.connector is not None and small.connector.limit == 100
    async with client_session(replace(settings, max_concurrent_jobs=500)) as big:
        # A streamed job holds its connection for minutes: 500 of them need 500.
        assert big.connector is not None and big.connector.limit >= 500
