"""A `/video` request: what the member asked for, before and after a credit is reserved."""

from __future__ import annotations

from dataclasses import dataclass

from bot.db import Job
from bot.errors import UserError
from bot.i18n import DEFAULT_LOCALE, pick_locale
from bot.providers.base import Capabilities, ModelSpec, Orientation
from bot.providers.errors import UnsupportedOption
from bot.rules.costs import CostTable


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A validated `/video` request, before a credit is reserved."""

    user_id: int
    guild_id: int | None
    channel_id: int
    prompt: str
    model: ModelSpec
    duration: int
    orientation: Orientation
    hd: bool
    image_url: str
    image_size: int
    # The operator's rules (bot.jobs.admission): the member's role ids, the parent
    # of a thread, and the cost in credits (None: from COST_TABLE at admission).
    role_ids: tuple[int, ...] = ()
    parent_channel_id: int | None = None
    cost: int | None = None
    # The language of the job's public messages (the server's; see bot.i18n), kept
    # with its options so a message edited after a restart stays in it.
    locale: str = DEFAULT_LOCALE

    def credits(self, costs: CostTable) -> int:
        """What the job costs: its own cost when set, else the operator's table's."""
        if self.cost is not None:
            return self.cost
        return costs.credits(self.model.name, self.duration, self.hd)

    @property
    def options(self) -> dict[str, object]:
        """The options as stored with the job (with its cost when it is not 1 credit)."""
        options: dict[str, object] = {
            "model": self.model.name,
            "duration": self.duration,
            "orientation": self.orientation,
            "hd": self.hd,
        }
        if self.cost is not None and self.cost != 1:
            options["cost"] = self.cost
        if self.locale != DEFAULT_LOCALE:
            options["locale"] = self.locale
        return options


def request_from_job(job: Job, capabilities: Capabilities) -> JobRequest:
    """Rebuild a request from a stored job (for resuming and retrying).

    Raises :class:`UserError` when the job's model is no longer offered.
    """
    options = job.options
    try:
        spec = capabilities.model(str(options.get("model")))
    except UnsupportedOption as exc:
        raise UserError(exc.message) from None
    orientation: Orientation = (
        "landscape" if options.get("orientation") == "landscape" else "portrait"
    )
    return JobRequest(
        user_id=job.user_id,
        guild_id=job.guild_id,
        channel_id=job.channel_id,
        prompt=job.prompt,
        model=spec,
        duration=int(options.get("duration") or spec.default_duration),
        orientation=orientation,
        hd=bool(options.get("hd")),
        image_url=job.image_url or "",
        image_size=0,
        cost=job.cost,
        locale=pick_locale(str(options.get("locale") or DEFAULT_LOCALE)),
    )
