"""Several providers behind the one :class:`~bot.providers.base.Provider` interface.

:class:`ProviderSet` holds the providers of ``PROVIDERS`` in order of preference.
Members are offered the union of their models (the first provider serving a
model name decides its options). A job goes to the first provider serving its
model; when that provider fails the job *before accepting it* (unreachable,
429 or 5xx after its own retries, 401/402/403), the next provider serving the
same model with the same picture size takes it, for the same credit. Once a
provider has accepted a job (``Submitted``, or any progress) it is never sent
elsewhere: that would pay twice.

A provider that keeps failing is skipped for a cool-down (:class:`Breaker`), and
tried again afterwards. The set remembers which provider took each task, so
resume and cancel reach that one (after a restart, from the job's stored
``provider`` column: :meth:`ProviderSet.adopt`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from typing import Protocol as TypingProtocol

from bot.config import ProviderSettings, Settings
from bot.i18n import msg
from bot.providers.base import (
    Capabilities,
    Event,
    Failed,
    ModelSpec,
    Provider,
    Submitted,
    VideoRequest,
)
from bot.providers.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderOutOfCredit,
    ProviderRateLimited,
    ProviderUnavailable,
    UnsupportedOption,
)
from bot.providers.push import HookRegistry

log = logging.getLogger(__name__)

FAILURES_TO_OPEN = 3  # consecutive failures before a provider is skipped
COOL_DOWN = 60.0  # seconds a failing provider is skipped before it is tried again


class Breaker:
    """A simple circuit breaker: open after ``threshold`` failures in a row, for ``cool_down``.

    Once the cool-down is over the provider gets a trial again; one more failure
    opens it at once, a success closes it. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        *,
        threshold: int = FAILURES_TO_OPEN,
        cool_down: float = COOL_DOWN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cool_down = cool_down
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.trips = 0  # how many times it opened

    @property
    def open(self) -> bool:
        """Whether the provider is being skipped right now."""
        return self.opened_at is not None and self.clock() - self.opened_at < self.cool_down

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a trial through (0 when closed)."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.cool_down - (self.clock() - self.opened_at))

    def failure(self) -> bool:
        """Count a failure; True when this one opened the breaker."""
        self.failures += 1
        trial = self.opened_at is not None  # the cool-down had passed: one strike is enough
        if trial or self.failures >= self.threshold:
            was_open = self.open
            self.opened_at = self.clock()
            if not was_open:
                self.trips += 1
                return True
        return False

    def success(self) -> None:
        """The provider accepted a job: close the breaker."""
        self.failures = 0
        self.opened_at = None


@dataclass
class Member:
    """One configured provider and its breaker."""

    settings: ProviderSettings
    provider: Provider
    breaker: Breaker

    @property
    def label(self) -> str:
        """The provider's name (the PROVIDERS entry, else its protocol)."""
        return self.settings.label


def never_accepted(error: ProviderError) -> bool:
    """Whether ``error`` proves the provider did not take the job, so another may.

    An HTTP refusal (401/402/403, 429 or 5xx once the retries are spent) or a
    connection that never opened. A request that timed out after it was sent
    may have been accepted, so it is not failed over.
    """
    if isinstance(error, ProviderAuthError | ProviderOutOfCredit | ProviderRateLimited):
        return True
    if not isinstance(error, ProviderUnavailable):
        return False
    if error.status is not None:
        return error.status >= 500 or error.status == 429
    text = str(error)
    return "cannot reach the provider" in text or "ConnectionTimeoutError" in text


class ProviderSet:
    """The configured providers as one :class:`Provider` (see the module docstring)."""

    def __init__(self, members: Sequence[Member]) -> None:
        if not members:
            raise ValueError("a ProviderSet needs at least one provider")
        self.members = list(members)
        self.name = self.members[0].provider.name  # the preferred protocol, stored at admission
        self.owners: dict[str, Member] = {}  # task id -> the provider that accepted it
        self.withheld: frozenset[str] = frozenset()  # models not offered: no price known
        self.failovers = 0
        self.capabilities = self._union()

    @classmethod
    def of(cls, pairs: Iterable[tuple[ProviderSettings, Provider]], **breaker: Any) -> ProviderSet:
        """A set of ``(settings, provider)`` pairs, each with a new :class:`Breaker`."""
        return cls([Member(s, p, Breaker(**breaker)) for s, p in pairs])

    # ------------------------------------------------------------------ capabilities

    def _union(self) -> Capabilities:
        specs: dict[str, ModelSpec] = {}
        for member in self.members:
            for spec in member.provider.capabilities.models:
                if spec.name not in self.withheld:
                    specs.setdefault(spec.name, spec)
        return Capabilities(
            models=tuple(specs.values()),
            # A job can be left rendering over a restart only if its provider resumes;
            # which one took it is known per job, so only an all-resumable set says so.
            resumable=all(m.provider.capabilities.resumable for m in self.members),
            cancellable=any(m.provider.capabilities.cancellable for m in self.members),
        )

    def serving(self, model: str) -> list[Member]:
        """The providers offering ``model``, in order of preference."""
        return [m for m in self.members if _spec(m, model) is not None]

    def withhold(self, models: Iterable[str]) -> None:
        """Stop offering ``models`` (e.g. no price is known for them)."""
        self.withheld = frozenset(models)
        self.capabilities = self._union()

    async def refresh(self) -> bool:
        """Read every catalogue again; True when what members are offered changed."""
        before = self.capabilities
        for member in self.members:
            refresh = getattr(member.provider, "refresh", None)
            if refresh is not None:
                await refresh()
        self.capabilities = self._union()
        return self.capabilities != before

    def catalogue_prices(self) -> dict[str, Decimal]:
        """Per-second prices from the providers' catalogues (the preferred provider's first)."""
        prices: dict[str, Decimal] = {}
        for member in reversed(self.members):
            read = getattr(member.provider, "catalogue_prices", None)
            if read is not None:
                prices.update(read())
        return prices

    def use_hooks(self, hooks: HookRegistry) -> None:
        """Push completion for every provider that can pass a hook URL."""
        for member in self.members:
            use = getattr(member.provider, "use_hooks", None)
            if use is not None:
                use(hooks)

    # ------------------------------------------------------------------ jobs

    def candidates(self, request: VideoRequest) -> list[Member]:
        """Who may take ``request``: serving its model with the same picture size and options.

        Providers whose breaker is open go last: they are skipped while another
        can take the job, never left out when none can.
        """
        size = (request.image.width, request.image.height) if request.image else None
        fit = []
        for member in self.members:
            spec = _spec(member, request.model)
            if spec is None or not _accepts(spec, request, size):
                continue
            fit.append(member)
        return [m for m in fit if not m.breaker.open] + [m for m in fit if m.breaker.open]

    async def generate(self, request: VideoRequest) -> AsyncIterator[Event]:
        """Submit to the first provider that accepts; fail over only before acceptance."""
        candidates = self.candidates(request)
        if not candidates:
            yield Failed(
                UnsupportedOption(msg("No provider offers {model} any more.", model=request.model))
            )
            return
        previous: Member | None = None
        for index, member in enumerate(candidates):
            if previous is not None:
                self.failovers += 1
                log.warning("job handed from provider %s to %s", previous.label, member.label)
            events = aiter(member.provider.generate(request))
            last = index == len(candidates) - 1
            first = True
            async for event in events:
                if first and isinstance(event, Failed) and never_accepted(event.error):
                    if member.breaker.failure():
                        log.warning(
                            "provider %s skipped for %.0fs after repeated failures",
                            member.label,
                            member.breaker.cool_down,
                        )
                    log.warning("provider %s did not take the job: %s", member.label, event.error)
                    if not last:
                        break
                if first:
                    first = False
                    if not isinstance(event, Failed):
                        member.breaker.success()
                if isinstance(event, Submitted):
                    self.owners[event.task_id] = member
                    yield Submitted(event.task_id, provider=member.label)
                else:
                    yield event
            else:
                return  # the stream ended: its end event went out
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()
            previous = member

    def owner(self, task_id: str) -> Member:
        """The provider that took ``task_id`` (the preferred one when unknown)."""
        return self.owners.get(task_id, self.members[0])

    def adopt(self, task_id: str, *, provider: str | None, protocol: str) -> bool:
        """After a restart: route ``task_id`` to the provider that took it; False if gone.

        Jobs from before several providers record no provider name: the first
        provider of their protocol takes them.
        """
        for member in self.members:
            named = provider is not None and member.label == provider
            legacy = provider is None and member.provider.name == protocol
            if named or legacy:
                if not member.provider.capabilities.resumable:
                    return False
                self.owners[task_id] = member
                return True
        return False

    def resume(self, task_id: str) -> AsyncIterator[Event]:
        """Poll ``task_id`` at the provider that took it."""
        return self.owner(task_id).provider.resume(task_id)

    async def cancel(self, task_id: str) -> None:
        """Cancel ``task_id`` at the provider that took it, where it can."""
        member = self.owner(task_id)
        if member.provider.capabilities.cancellable:
            await member.provider.cancel(task_id)

    def health(self) -> dict[str, dict[str, Any]]:
        """Each provider's breaker, for ``/healthz`` and metrics."""
        return {
            m.label: {
                "ok": not m.breaker.open,
                "failures": m.breaker.failures,
                "retry_in": round(m.breaker.retry_in(), 1),
                "trips": m.breaker.trips,
            }
            for m in self.members
        }


def _spec(member: Member, model: str) -> ModelSpec | None:
    try:
        return member.provider.capabilities.model(model)
    except UnsupportedOption:
        return None


def _accepts(spec: ModelSpec, request: VideoRequest, size: tuple[int, int] | None) -> bool:
    """Whether ``spec`` takes the request's options and a picture of ``size``."""
    caps = Capabilities(models=(spec,), resumable=False)
    try:
        caps.validate(
            model=spec.name,
            duration=request.duration,
            orientation=request.orientation,
            hd=request.hd,
        )
    except UnsupportedOption:
        return False
    return size is None or spec.size(request.orientation, request.hd) == size


class StoredJob(TypingProtocol):
    """What :func:`resumes_here` reads of a stored job."""

    @property
    def provider_task_id(self) -> str | None:
        """The task id the provider gave the job."""
        ...

    @property
    def protocol(self) -> str:
        """The protocol stored when the job was accepted."""
        ...

    @property
    def provider(self) -> str | None:
        """The provider that took the job (None on jobs from before several providers)."""
        ...


def resumes_here(provider: Provider, job: StoredJob) -> bool:
    """Whether ``provider`` can pick ``job`` up again after a restart (and routes it there)."""
    if isinstance(provider, ProviderSet):
        task_id = job.provider_task_id
        return task_id is not None and provider.adopt(
            task_id, provider=job.provider, protocol=job.protocol
        )
    return job.protocol == provider.name


def provider_set(settings: Settings, provider: Provider) -> ProviderSet:
    """``provider`` as a :class:`ProviderSet` (a plain provider becomes a set of one)."""
    if isinstance(provider, ProviderSet):
        return provider
    return ProviderSet.of([(settings.provider, provider)])


def result_origin(provider: Provider, url: str | None, default: str) -> str:
    """The configured provider origin ``url`` is on (to trust its result link), else ``default``.

    With several providers a result link may sit on the backup's own origin.
    """
    if isinstance(provider, ProviderSet) and url:
        for member in provider.members:
            base = member.settings.base_url.rstrip("/")
            if url == base or url.startswith(base + "/"):
                return base
    return default
