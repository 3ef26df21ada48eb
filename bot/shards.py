"""Which shard cluster owns a job, and the store as a cluster's job service sees it.

Discord sends a guild's interactions only to the shard
``(guild_id >> 22) % shard_count``, and DMs to shard 0
(https://discord.com/developers/docs/topics/gateway#sharding). So every job is
accepted, and run, by the process that holds its guild's shard. After a
restart, and in the reconciler's search for stray jobs, a cluster must carry on
only those jobs: another cluster's running job is not stray, and resuming it
would poll (or, if still queued, submit and bill) it twice. A job whose guild's
shard moved to this process (``SHARD_COUNT`` changed) is this process's now.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from bot.db import Store
from bot.db.models import Job


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """The shard that receives ``guild_id``'s events; ``None`` (a DM) is shard 0."""
    return 0 if guild_id is None else (guild_id >> 22) % shard_count


class ClusterStore:
    """A :class:`Store` whose ``unfinished_jobs`` are only those of this cluster's shards.

    Everything else (reservations, settlement, quotas, budgets) is the shared
    store's, unchanged: they are per member and per server, whichever process
    asks, and the database keeps them consistent across processes.
    """

    def __init__(self, store: Store, shard_ids: Collection[int], shard_count: int) -> None:
        self._store = store
        self.shard_ids = frozenset(shard_ids)
        self.shard_count = shard_count

    def owns(self, job: Job) -> bool:
        """Whether this cluster holds the shard of ``job``'s guild."""
        return shard_of(job.guild_id, self.shard_count) in self.shard_ids

    async def unfinished_jobs(self) -> list[Job]:
        """The unfinished jobs of this cluster's guilds (and DMs when it holds shard 0)."""
        return [job for job in await self._store.unfinished_jobs() if self.owns(job)]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
