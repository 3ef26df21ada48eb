"""The database layer: jobs, the per-member credit ledger and their migrations.

All SQL of the bot lives in this package. Use it as::

    async with Store.open(settings.database_path) as store:
        job = await store.reserve(...)
"""

from bot.db.errors import (
    BudgetExceeded,
    NotSubmittable,
    QuotaError,
    QuotaExceeded,
    RenderLimitExceeded,
    StoreBusy,
    StoreError,
    TooManyRunning,
)
from bot.db.guild_models import (
    AuditEntry,
    GuildSettings,
    MemberSettings,
    PolicySnapshot,
    SpendCap,
    Stats,
)
from bot.db.models import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    ActiveStatus,
    FinalStatus,
    Job,
    JobStatus,
    Usage,
)
from bot.db.store import Store

__all__ = [
    "ACTIVE_STATUSES",
    "FINAL_STATUSES",
    "ActiveStatus",
    "AuditEntry",
    "BudgetExceeded",
    "FinalStatus",
    "GuildSettings",
    "Job",
    "JobStatus",
    "MemberSettings",
    "NotSubmittable",
    "PolicySnapshot",
    "QuotaError",
    "QuotaExceeded",
    "RenderLimitExceeded",
    "SpendCap",
    "Stats",
    "Store",
    "StoreBusy",
    "StoreError",
    "TooManyRunning",
    "Usage",
]
