"""Fixtures for the fake provider's own tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.support.fake_provider import KEY


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session that sends the fake's key as a Bearer token."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as client:
        yield client
