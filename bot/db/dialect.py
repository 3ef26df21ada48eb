"""Where SQLite and PostgreSQL differ, in one place.

The store's SQL is written once, in the dialect both accept (``CASE`` where
SQLite would sum booleans or call two-argument ``MIN``/``MAX``, which
PostgreSQL spells ``LEAST``/``GREATEST``; ``RETURNING``; ``ON CONFLICT``), with SQLite's ``?``
and ``:name`` placeholders. What remains different is here:

* placeholders: :func:`postgres_sql` rewrites them to ``$1, $2, ...`` once per
  statement (cached) and :func:`postgres_args` orders the values to match;
* locking: SQLite has one writer at a time (``BEGIN IMMEDIATE``), so plans'
  ``lock`` ops do nothing there; on PostgreSQL they are transaction-level
  advisory locks keyed by :func:`lock_key` (a member, a spending cap);
* the schema and its migrations: ``migrations/*.sql`` (SQLite, ``PRAGMA
  user_version``) and ``migrations/postgresql/*.sql`` (a ``schema_migrations``
  table under an advisory lock), numbered alike;
* errors: :func:`bot.db.errors.wrap_sqlite_error` and :func:`bot.db.errors.wrap_pg_error`;
* writes to several tables in one statement: PostgreSQL has data-modifying
  CTEs (``Backend.cte_writes``), SQLite does not, and a statement costs a round
  trip only on PostgreSQL; so the writes of a reservation and a settlement are
  pairs of constants in :mod:`bot.db.credit_queries`, each pair writing the same
  rows (PostgreSQL's for a whole batch of calls, see :mod:`bot.db.batcher`).

Dates need no difference: timestamps are epoch seconds and the quota ``day``
is computed in Python (:func:`bot.db.models.quota_day`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bot.db.plan import Params

# A string literal (skipped), a positional "?" or a named ":name" (not a "::" cast).
_TOKEN = re.compile(r"'(?:[^']|'')*'|\?|(?<!:):([A-Za-z_][A-Za-z0-9_]*)")

URL_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(location: str) -> bool:
    """True when ``location`` names a PostgreSQL server rather than a SQLite file."""
    return location.startswith(URL_SCHEMES)


def redact_url(url: str) -> str:
    """``url`` without its password, for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else "***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


@lru_cache(maxsize=1024)
def postgres_sql(sql: str) -> tuple[str, tuple[str, ...] | int]:
    """``sql`` with ``$n`` placeholders, and the parameter names in order (or the ``?`` count).

    A statement uses either ``?`` or ``:name`` throughout; a name used twice
    becomes one ``$n``.
    """
    names: dict[str, int] = {}
    positional = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal positional
        token = match.group(0)
        if token.startswith("'"):
            return token
        if token == "?":
            positional += 1
            return f"${positional}"
        name = match.group(1)
        if name not in names:
            names[name] = len(names) + 1
        return f"${names[name]}"

    text = _TOKEN.sub(replace, sql)
    if positional and names:
        raise ValueError("a statement must not mix ? and :name placeholders")
    return text, (tuple(names) if names else positional)


def postgres_args(sql: str, params: Params) -> tuple[str, list[Any]]:
    """The PostgreSQL text of ``sql`` and its arguments in ``$n`` order."""
    text, spec = postgres_sql(sql)
    if isinstance(spec, tuple):
        if not isinstance(params, Mapping):
            raise TypeError("named placeholders need a mapping of parameters")
        return text, [params[name] for name in spec]
    values = list(params.values()) if isinstance(params, Mapping) else list(params)
    if len(values) != spec:
        raise ValueError(f"statement has {spec} placeholders, got {len(values)} values")
    return text, values


def lock_key(kind: str, *ids: int | None) -> int:
    """A signed 64-bit advisory-lock key for ``kind`` and ids (``"member", user_id``).

    Hashed, because Discord ids already use all 64 bits; a collision only makes
    two unrelated transactions wait for each other, never lets one through.
    """
    text = ":".join([kind, *("-" if i is None else str(i) for i in ids)])
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def member_lock(user_id: int) -> int:
    """The key every transaction changing a member's credits takes."""
    return lock_key("member", user_id)


def cap_lock(scope: str, guild_id: int | None) -> int:
    """The key of a spending cap: the bot's (``guild_id`` None) or one server's."""
    return lock_key("cap", 0 if scope != "server" else 1, guild_id)
