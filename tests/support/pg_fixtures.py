"""The pytest side of :mod:`tests.support.postgres`: the session's PostgreSQL server."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresUnavailable, start


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The server the tests use: ``TEST_DATABASE_URL``, or a throwaway cluster started here."""
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if url:
        yield url
        return
    try:
        cluster = start()
    except (PostgresUnavailable, subprocess.CalledProcessError) as exc:
        # Loudly: the PostgreSQL variants must never pass by not running.
        pytest.fail(f"cannot start a PostgreSQL cluster for the tests: {exc}", pytrace=False)
    try:
        yield cluster.url
    finally:
        cluster.stop()
