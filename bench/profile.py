"""How big and how long each measurement is: the full run and ``--quick``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """The knobs of one bench run.

    ``job_seconds`` is how long each fake job renders; ``ramp_per_second`` how
    fast the N members type `/video` (a real burst: Discord's 3 s deadline for
    the first answer still applies to every one of them); ``poll_after_ms`` is
    the provider's polling hint (the reference client polls exactly that often).
    """

    sizes: tuple[int, ...] = (50, 200, 500)
    job_seconds: float = 20.0
    ramp_per_second: float = 50.0
    poll_after_ms: int = 1000
    edit_compare_size: int = 200  # N for scheduler vs naive edits (naive is slow at 500)
    poll_compare_size: int = 500  # N for our client vs the reference client
    chat_events_per_second: float = 3.0  # progress events of a streamed (chat) job
    push_size: int = 500
    sqlite_writers: int = 50
    sqlite_seconds: float = 3.0
    sqlite_users: int = 10
    # High enough that the members do not run out within the run: the writers
    # measure reservations, not refusals (the kept-credit check still applies).
    sqlite_daily_limit: int = 2000
    pg_processes: int = 4  # the PostgreSQL run spreads the same writers over this many
    credit_rounds: int = 3  # SQLite and PostgreSQL take turns this many times (median reported)
    failover_size: int = 500  # N for two bot processes, one killed midway (bench.failover)
    failover_lease: float = 3.0  # their JOB_LEASE_SECONDS
    progress_interval: float = 2.0
    timeout: float = 240.0  # per scenario, a safety net


FULL = Profile()
QUICK = Profile(
    sizes=(3,),
    job_seconds=2.0,
    ramp_per_second=50.0,
    edit_compare_size=3,
    poll_compare_size=3,
    chat_events_per_second=5.0,
    push_size=3,
    sqlite_writers=8,
    sqlite_seconds=0.3,
    sqlite_users=2,
    sqlite_daily_limit=5,
    pg_processes=2,
    credit_rounds=1,
    failover_size=4,
    failover_lease=1.5,
    progress_interval=0.5,
    timeout=90.0,
)
