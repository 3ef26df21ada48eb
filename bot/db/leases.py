"""Jobs shared by several processes: leases, the cross-process Cancel, slots, push hooks.

Part of :class:`~bot.db.store.Store`. Every unfinished job belongs to one live
process, named by its owner id (:func:`owner_id`), which renews the job's lease
while it runs it. When a process dies its leases expire, and another process
claims the jobs (:meth:`LeaseStore.claim_expired`) and resumes them from the
provider's task id. Claiming is exactly-once: on PostgreSQL the candidate rows
are locked with ``FOR UPDATE SKIP LOCKED`` (two claimers never wait for, nor
take, the same row); on SQLite the claim is one ``UPDATE ... RETURNING`` in a
``BEGIN IMMEDIATE`` transaction, which excludes every other writer, in this
process or another sharing the file.

A process that does not hold a job acts on it through the database: a Cancel
is a flag the holder reads when it renews (:meth:`LeaseStore.ask_cancel`); a
push-hook call is recorded by the hash of its token (:meth:`LeaseStore.fire_hook`)
and the issuing process picks it up (:meth:`LeaseStore.take_fired_hooks`); the
rendering slots of ``JOBS_MAX_CONCURRENT`` are taken by an atomic check of the
jobs holding one in every process (:meth:`LeaseStore.take_slot`).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from bot.db.base import StoreBase
from bot.db.dialect import lock_key
from bot.db.models import JOB_COLUMNS, Job, utc
from bot.db.plan import Plan, Row, all_rows, lock, run, scalar, single

_ACTIVE: Final = "('queued', 'submitted', 'running')"

# A lease is free to claim when it expired, or (never taken: a job just reserved,
# or from before leases) when the job is older than one lease.
_CLAIMABLE: Final = (
    f"status IN {_ACTIVE} AND ((lease_expires IS NOT NULL AND lease_expires < :now)"
    " OR (lease_expires IS NULL AND created_at < :stale))"
)
_CANDIDATES: Final = (
    f"SELECT id FROM jobs WHERE {_CLAIMABLE} ORDER BY created_at, id LIMIT :limit{{lock}}"
)
_CLAIM: Final = (
    "UPDATE jobs SET lease_owner = :owner, lease_expires = :until, slot_at = NULL"
    f" WHERE id IN ({_CANDIDATES}) RETURNING {JOB_COLUMNS}"
)
_TAKE: Final = (
    "UPDATE jobs SET lease_owner = :owner, lease_expires = :until"
    f" WHERE id = :job AND status IN {_ACTIVE}"
    " AND (lease_owner IS NULL OR lease_owner = :owner OR lease_expires < :now)"
)
_RENEW: Final = (
    "UPDATE jobs SET lease_expires = :until"
    f" WHERE lease_owner = :owner AND status IN {_ACTIVE}"
    " RETURNING id, cancel_requested_by, cancel_keeps_credit"
)
_RELEASE: Final = (
    "UPDATE jobs SET lease_owner = NULL, lease_expires = 0, slot_at = NULL"
    f" WHERE lease_owner = :owner AND status IN {_ACTIVE}"
)
_LEASED: Final = (
    f"SELECT {JOB_COLUMNS} FROM jobs WHERE lease_owner = ? AND status IN {_ACTIVE}"
    " ORDER BY created_at, id"
)
_HOLDER: Final = (
    "SELECT lease_owner FROM jobs WHERE id = ? AND status IN "
    f"{_ACTIVE} AND lease_owner IS NOT NULL AND lease_expires >= ?"
)
_ASK_CANCEL: Final = (
    "UPDATE jobs SET cancel_requested_by = :by, cancel_keeps_credit = :keep"
    f" WHERE id = :job AND status IN {_ACTIVE} AND cancel_requested_by IS NULL"
)
# Jobs holding a slot: only those whose lease lives (a dead process's jobs free
# theirs when their lease expires; the claimer takes a slot again).
_RUNNING: Final = (
    f"SELECT COUNT(*) FROM jobs WHERE status IN {_ACTIVE} AND slot_at IS NOT NULL"
    " AND lease_expires >= :now"
)
# Waiting jobs ahead of :job, in the order members asked (creation), in every process.
_AHEAD: Final = (
    f"SELECT COUNT(*) FROM jobs WHERE status IN {_ACTIVE} AND slot_at IS NULL"
    " AND lease_owner IS NOT NULL AND lease_expires >= :now AND (created_at, id) <"
    " (SELECT created_at, id FROM jobs WHERE id = :job)"
)
# Every waiting job of every process, first in line first (the positions members see).
_QUEUE: Final = (
    f"SELECT id FROM jobs WHERE status IN {_ACTIVE} AND slot_at IS NULL"
    " AND lease_owner IS NOT NULL AND lease_expires >= ? ORDER BY created_at, id"
)
_TAKE_SLOT: Final = f"UPDATE jobs SET slot_at = :now WHERE id = :job AND status IN {_ACTIVE}"
_FREE_SLOT: Final = "UPDATE jobs SET slot_at = NULL WHERE id = ?"
_SLOTS_LOCK: Final = lock_key("slots")

_ADD_HOOK: Final = "INSERT INTO job_hooks (token_hash, owner, created_at) VALUES (?, ?, ?)"
_FIRE_HOOK: Final = (
    "UPDATE job_hooks SET fired_at = :now WHERE token_hash = :hash AND fired_at IS NULL"
)
_HOOK_KNOWN: Final = "SELECT COUNT(*) FROM job_hooks WHERE token_hash = ?"
_TAKE_FIRED: Final = (
    "UPDATE job_hooks SET seen = 1 WHERE owner = ? AND fired_at IS NOT NULL AND seen = 0"
    " RETURNING token_hash"
)
_FORGET_HOOKS: Final = "DELETE FROM job_hooks WHERE created_at < ?"

HookAnswer = Literal["fired", "used", "unknown"]


def owner_id() -> str:
    """A unique name for this process: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def hook_hash(token: str) -> str:
    """What the database keeps of a hook token: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Renewed:
    """A job whose lease was renewed, and a Cancel another process asked for (if any)."""

    job_id: int
    cancel_by: int | None
    keep_credit: bool


class LeaseStore(StoreBase):
    """Leases on jobs and the actions that reach a job held by another process."""

    async def take_lease(
        self, job_id: int, owner: str, seconds: float, *, now: datetime | None = None
    ) -> bool:
        """Hold ``job_id`` for ``owner`` for ``seconds``; False if another live process holds it."""
        ts = utc(now).timestamp()
        params = {"owner": owner, "until": ts + seconds, "job": job_id, "now": ts}
        return await self._run(_TAKE, params) == 1

    async def renew_leases(
        self, owner: str, seconds: float, *, now: datetime | None = None
    ) -> list[Renewed]:
        """Extend every lease ``owner`` holds by ``seconds`` from now; return those jobs.

        Each comes with the Cancel another process recorded for it, so the
        holder acts on it at its next renewal.
        """
        until = utc(now).timestamp() + seconds
        rows: list[Row] = await self._write(
            lambda: single(all_rows(_RENEW, {"until": until, "owner": owner}))
        )
        return [Renewed(int(r[0]), r[1], bool(r[2])) for r in rows]

    async def claim_expired(
        self, owner: str, seconds: float, *, limit: int = 50, now: datetime | None = None
    ) -> list[Job]:
        """Take the unfinished jobs whose lease expired, for ``owner``; each goes to one claimer.

        A job never leased is claimable once it is older than ``seconds`` (the
        process that reserved it takes its lease at once). The claimed jobs
        give up the rendering slot they held: the claimer takes one again.
        """
        ts = utc(now).timestamp()
        skip = " FOR UPDATE SKIP LOCKED" if self.backend_name == "postgresql" else ""
        params = {
            "owner": owner,
            "until": ts + seconds,
            "now": ts,
            "stale": ts - seconds,
            "limit": limit,
        }
        rows: list[Row] = await self._write(
            lambda: single(all_rows(_CLAIM.format(lock=skip), params))
        )
        return sorted((Job.from_row(r) for r in rows), key=lambda j: (j.created_at, j.id))

    async def release_leases(self, owner: str, *, keep: Collection[int] = ()) -> int:
        """Give up the leases ``owner`` holds (a clean shutdown): claimable at once.

        The jobs in ``keep`` (whose runs are still ending: a late settlement may
        yet commit) keep their lease, which expires by itself: nobody claims a
        job that its run may still settle.
        """
        params: dict[str, object] = {"owner": owner}
        sql = _RELEASE
        if keep:
            names = [f"keep{i}" for i in range(len(keep))]
            params.update(zip(names, keep, strict=True))
            sql += " AND id NOT IN (" + ", ".join(f":{name}" for name in names) + ")"
        return await self._run(sql, params)

    async def leased_jobs(self, owner: str) -> list[Job]:
        """The unfinished jobs ``owner`` holds, oldest first."""
        return await self._jobs(_LEASED, (owner,))

    async def lease_holder(self, job_id: int, *, now: datetime | None = None) -> str | None:
        """The owner whose live lease holds ``job_id``, or None."""
        row = await self._one(_HOLDER, (job_id, utc(now).timestamp()))
        return None if row is None else str(row[0])

    async def ask_cancel(self, job_id: int, by: int, *, keep_credit: bool) -> bool:
        """Record a Cancel by member ``by`` for the job's holder; False if final or asked before."""
        params = {"by": by, "keep": int(keep_credit), "job": job_id}
        return await self._run(_ASK_CANCEL, params) == 1

    # ------------------------------------------------------------ slots

    async def take_slot(self, job_id: int, limit: int, *, now: datetime | None = None) -> bool:
        """Take a rendering slot for ``job_id`` if one is free and no job waits ahead of it.

        Counted across every process, under one lock (PostgreSQL's advisory
        lock; SQLite's single writer), so ``limit`` holds everywhere.
        """
        ts = utc(now).timestamp()

        def plan() -> Plan[bool]:
            yield lock(_SLOTS_LOCK)
            running = yield scalar(_RUNNING, {"now": ts})
            ahead = yield scalar(_AHEAD, {"now": ts, "job": job_id})
            if running + ahead >= limit:
                return False
            changed = yield run(_TAKE_SLOT, {"now": ts, "job": job_id})
            return bool(changed == 1)

        return await self._write(plan)

    async def free_slot(self, job_id: int) -> None:
        """``job_id`` no longer renders: its slot is free for the next job."""
        await self._run(_FREE_SLOT, (job_id,))

    async def slot_position(self, job_id: int, *, now: datetime | None = None) -> int:
        """1-based place of a waiting ``job_id`` among the waiting jobs of every process."""
        ahead = await self._scalar(_AHEAD, {"now": utc(now).timestamp(), "job": job_id})
        return ahead + 1

    async def slot_queue(self, *, now: datetime | None = None) -> list[int]:
        """The ids of the jobs waiting for a slot in every live process, first in line first."""
        rows = await self._all(_QUEUE, (utc(now).timestamp(),))
        return [int(r[0]) for r in rows]

    async def running_slots(self, *, now: datetime | None = None) -> int:
        """How many jobs hold a rendering slot in every live process."""
        return await self._scalar(_RUNNING, {"now": utc(now).timestamp()})

    # ------------------------------------------------------------ push hooks

    async def add_hook(self, token: str, owner: str, *, now: datetime | None = None) -> None:
        """Remember a hook ``owner`` issued (by its hash), so any process can take its call."""
        await self._run(_ADD_HOOK, (hook_hash(token), owner, utc(now).timestamp()))

    async def fire_hook(self, token: str, *, now: datetime | None = None) -> HookAnswer:
        """Record a call of the hook ``token``: ``fired`` once, ``used`` after, else ``unknown``."""
        params = {"now": utc(now).timestamp(), "hash": hook_hash(token)}

        def plan() -> Plan[HookAnswer]:
            changed = yield run(_FIRE_HOOK, params)
            if changed == 1:
                return "fired"
            known = yield scalar(_HOOK_KNOWN, (params["hash"],))
            return "used" if known else "unknown"

        return await self._write(plan)

    async def take_fired_hooks(self, owner: str) -> set[str]:
        """The hashes of ``owner``'s hooks called since the last look (each returned once)."""
        rows: list[Row] = await self._write(lambda: single(all_rows(_TAKE_FIRED, (owner,))))
        return {str(r[0]) for r in rows}

    async def forget_hooks(self, before: datetime) -> int:
        """Remove hooks issued before ``before`` (their jobs are long over)."""
        return await self._run(_FORGET_HOOKS, (utc(before).timestamp(),))
