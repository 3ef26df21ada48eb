"""Fixtures shared by every test; the fakes themselves live in :mod:`tests.support`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

# The session's throwaway PostgreSQL server (TEST_DATABASE_URL, or one started here).
from tests.support.pg_fixtures import postgres_server  # noqa: F401


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """One client session per test, like the bot's one per process."""
    async with aiohttp.ClientSession() as client:
        yield client
