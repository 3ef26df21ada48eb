"""Settings, read once from the environment (and ``.env``) into frozen objects.

Every variable is documented in ``.env.example`` and README.md. A missing or
wrong value raises :class:`ConfigError` naming the variable; the program turns
that into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from bot.rules.costs import CostTable, PriceTable, RuleError, parse_money
from bot.rules.policy import Limits
from bot.rules.prompt_filter import FilterError, PromptFilter

N = TypeVar("N", int, float)


def _plain(value: float) -> str:
    """``5``, ``0.5``, ``2147483648``: a bound as the operator would write it."""
    return f"{value:g}" if isinstance(value, float) else str(value)


Protocol = Literal["chat", "generations", "videos", "openrouter"]
PROTOCOLS: tuple[Protocol, ...] = ("chat", "generations", "videos", "openrouter")
# OpenRouter's own defaults: its current default video model, and the 10-30 s
# polling it recommends (https://openrouter.ai/docs/api/api-reference/videos).
OPENROUTER_MODEL = "google/veo-3.1"
OPENROUTER_POLL = (10.0, 30.0)  # PROVIDER_POLL_INTERVAL, PROVIDER_POLL_MAX_INTERVAL defaults


@dataclass(frozen=True, slots=True)
class EditBudget:
    """What the scheduler may spend: ``limit`` requests in any ``period`` seconds, per scope.

    Config owns it (``bot.ui.edits`` reads it) so settings never import the UI.
    Defaults sit below Discord's published and observed limits: 4/2 s per
    interaction token (Discord: 5), 40/s for bot-token requests (Discord: 50;
    final messages included, the rest is headroom), 24/min per channel (observed
    ~30). ``channel_reserve`` more per channel window are kept for a job's
    final messages (24 + 4 of ~30), so a channel its progress edits filled
    still takes a final at once. ``webhook_*`` caps interaction edits of all
    jobs together: not a Discord limit, it keeps the bot's own CPU and
    connections in proportion.
    """

    token_limit: int = 4
    token_period: float = 2.0
    global_limit: int = 40
    global_period: float = 1.0
    channel_limit: int = 24
    channel_period: float = 60.0
    webhook_limit: int = 100
    webhook_period: float = 1.0
    max_in_flight: int = 50
    channel_reserve: int = 4

    @classmethod
    def unlimited(cls) -> EditBudget:
        """No rate budgets at all (tests with tiny intervals); only the interval applies."""
        big = 1_000_000
        return cls(big, 1.0, big, 1.0, big, 1.0, big, 1.0, max_in_flight=1000)

    def shared(self, held: int, total: int) -> EditBudget:
        """The global bot-token budget of a process holding ``held`` of ``total`` shards.

        Discord's global limit counts every request made with the bot token,
        whichever process makes it, so shard clusters split it by their share
        of the shards: together they stay within it. Each keeps that share of
        the rate and of the burst (the limit shrinks, rounded down, to at
        least 1; the period shrinks with the rounding so the rate is exact).
        Interaction-token edits are not under the global limit: their budgets
        stay whole. Channel budgets stay whole too: a channel belongs to one
        guild, and so to one process.
        """
        if held >= total:
            return self
        rate = self.global_limit / self.global_period * held / total
        limit = max(1, int(rate * self.global_period))
        return replace(self, global_limit=limit, global_period=limit / rate)


class ConfigError(Exception):
    """A setting is missing or invalid. The message names the variable."""


class _Env:
    """Typed accessors over a mapping of environment variables."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str, default: str | None = None) -> str:
        value = self.env.get(name, "").strip()
        if value:
            return value
        if default is None:
            raise ConfigError(f"{name} is not set; see .env.example")
        return default

    def optional(self, name: str) -> str | None:
        return self.env.get(name, "").strip() or None

    def choice(self, name: str, choices: tuple[str, ...], default: str | None) -> str:
        value = self.text(name, default).lower()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)} (got {value!r})")
        return value

    def number(
        self, name: str, default: float, *, minimum: float = 0, maximum: float | None = None
    ) -> float:
        """A real number within ``[minimum, maximum]``."""
        return self._bounded(name, str(default), float, "a number", minimum, maximum)

    def integer(
        self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None
    ) -> int:
        """A whole number within ``[minimum, maximum]``."""
        return self._bounded(name, str(default), int, "a whole number", minimum, maximum)

    def _bounded(
        self,
        name: str,
        default: str,
        parse: Callable[[str], N],
        kind: str,
        minimum: float,
        maximum: float | None,
    ) -> N:
        raw = self.text(name, default)
        try:
            value = parse(raw)
        except ValueError:
            raise ConfigError(f"{name} must be {kind} (got {raw!r})") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {_plain(maximum)}" if maximum is not None else ""
            raise ConfigError(f"{name} must be at least {_plain(minimum)}{upper} (got {raw!r})")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.text(name, "true" if default else "false").lower()
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false (got {raw!r})")

    def csv(self, name: str) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.env.get(name, "").split(",") if p.strip())

    def ids(self, name: str, what: str = "ids") -> tuple[int, ...]:
        found: list[int] = []
        for raw in self.csv(name):
            if not raw.isdigit():
                raise ConfigError(f"{name} must be comma-separated {what} (got {raw!r})")
            found.append(int(raw))
        return tuple(found)

    def optional_integer(self, name: str, *, minimum: int = 0) -> int | None:
        return None if self.optional(name) is None else self.integer(name, 0, minimum=minimum)

    def money(self, name: str) -> int | None:
        """An optional amount of money, in micros (millionths of the currency unit)."""
        raw = self.optional(name)
        if raw is None:
            return None
        try:
            return parse_money(raw, name)
        except RuleError as exc:
            raise ConfigError(str(exc)) from None


def normalize_base_url(raw: str, name: str = "PROVIDER_BASE_URL") -> str:
    """The provider origin without a trailing slash or ``/v1`` (both are tolerated)."""
    url = raw.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must start with http:// or https:// (got {raw!r})")
    for suffix in ("/v1", "/v2"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url


@dataclass(frozen=True)
class ProviderSettings:
    """Everything the provider layer and ``sora-bot generate`` need."""

    protocol: Protocol
    base_url: str
    api_key: str = field(repr=False)
    model: str = "sora-2"
    models: tuple[str, ...] = ()
    auth_scheme: Literal["bearer", "raw"] = "bearer"
    chat_options: Literal["prompt", "model"] = "prompt"
    image_mode: Literal["inline", "url"] = "inline"
    image_fit: Literal["cover", "letterbox"] = "cover"
    image_max_bytes: int = 20 * 1024 * 1024
    image_max_pixels: int = 40_000_000
    request_timeout: float = 60.0
    job_timeout: float = 1800.0
    max_retries: int = 3
    poll_interval: float = 2.0
    poll_max_interval: float = 8.0
    retry_backoff: float = 1.0
    name: str = ""  # the entry of PROVIDERS; empty for the one plain PROVIDER_* provider

    @property
    def label(self) -> str:
        """The name logs, ``/healthz`` and metrics use: the PROVIDERS entry, else the protocol."""
        return self.name or self.protocol

    @property
    def auth_header(self) -> str:
        """The ``Authorization`` header value."""
        return self.api_key if self.auth_scheme == "raw" else f"Bearer {self.api_key}"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, name: str | None = None
    ) -> ProviderSettings:
        """Read the ``PROVIDER_*`` and ``IMAGE_*`` variables.

        With ``name`` (an entry of ``PROVIDERS``) the provider's own variables are
        ``PROVIDER_<NAME>_*``; its protocol, URL, key, models, auth and chat options
        must be its own, the timing settings default to the plain ``PROVIDER_*`` ones.
        """
        source = os.environ if environ is None else environ
        prefix = "PROVIDER_" if name is None else f"PROVIDER_{env_name(name)}_"
        env = _Env(source if name is None else _shared_view(source, prefix))

        def var(suffix: str) -> str:
            return prefix + suffix

        protocol = env.choice(var("PROTOCOL"), PROTOCOLS, None)
        openrouter = protocol == "openrouter"
        model = env.text(var("MODEL"), OPENROUTER_MODEL if openrouter else "sora-2")
        poll = OPENROUTER_POLL if openrouter else (2.0, 8.0)
        chat_options = env.choice(var("CHAT_OPTIONS"), ("auto", "prompt", "model"), "auto")
        if chat_options == "auto":
            # AITRE-style proxies (sora_video2) encode options in the model name.
            chat_options = "model" if model.startswith("sora_video") else "prompt"
        return cls(
            protocol=protocol,  # type: ignore[arg-type]
            base_url=normalize_base_url(env.text(var("BASE_URL")), var("BASE_URL")),
            api_key=env.text(var("API_KEY")),
            model=model,
            models=env.csv(var("MODELS")),
            auth_scheme=env.choice(var("AUTH_SCHEME"), ("bearer", "raw"), "bearer"),  # type: ignore[arg-type]
            chat_options=chat_options,  # type: ignore[arg-type]
            image_mode=env.choice(var("IMAGE_MODE"), ("inline", "url"), "inline"),  # type: ignore[arg-type]
            image_fit=env.choice("IMAGE_FIT", ("cover", "letterbox"), "cover"),  # type: ignore[arg-type]
            image_max_bytes=int(env.number("IMAGE_MAX_MB", 20, minimum=0.1) * 1024 * 1024),
            image_max_pixels=int(env.number("IMAGE_MAX_MEGAPIXELS", 40, minimum=0.1) * 1_000_000),
            request_timeout=env.number(var("REQUEST_TIMEOUT"), 60, minimum=0.1),
            job_timeout=env.number(var("JOB_TIMEOUT"), 1800, minimum=1),
            max_retries=env.integer(var("MAX_RETRIES"), 3, maximum=20),
            poll_interval=env.number(var("POLL_INTERVAL"), poll[0], minimum=0.01),
            poll_max_interval=env.number(var("POLL_MAX_INTERVAL"), poll[1], minimum=0.01),
            retry_backoff=env.number(var("RETRY_BACKOFF"), 1, minimum=0),
            name=name or "",
        )


# Settings a PROVIDERS entry may leave to the plain PROVIDER_* value (timing and image
# passing); the rest (protocol, URL, key, models, auth, chat options) are its own.
SHARED_PROVIDER_SETTINGS = (
    "IMAGE_MODE",
    "REQUEST_TIMEOUT",
    "JOB_TIMEOUT",
    "MAX_RETRIES",
    "POLL_INTERVAL",
    "POLL_MAX_INTERVAL",
    "RETRY_BACKOFF",
)
_PROVIDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


def env_name(name: str) -> str:
    """The part of ``PROVIDER_<NAME>_*`` for a PROVIDERS entry: upper case, ``-`` as ``_``."""
    return name.upper().replace("-", "_")


def _shared_view(source: Mapping[str, str], prefix: str) -> dict[str, str]:
    """``source`` where each shared ``<prefix>X`` left unset takes ``PROVIDER_X``."""
    view = dict(source)
    for suffix in SHARED_PROVIDER_SETTINGS:
        if not view.get(prefix + suffix, "").strip():
            view[prefix + suffix] = source.get("PROVIDER_" + suffix, "")
    return view


def providers_from_env(environ: Mapping[str, str]) -> tuple[ProviderSettings, ...]:
    """The providers in order of preference: ``PROVIDERS``, else the one ``PROVIDER_*``."""
    names = _Env(environ).csv("PROVIDERS")
    if not names:
        return (ProviderSettings.from_env(environ),)
    seen: set[str] = set()
    for name in names:
        if not _PROVIDER_NAME.match(name):
            raise ConfigError(
                f"PROVIDERS: {name!r} is not a name like 'main' or 'backup-1' "
                "(letters, digits, '-' and '_', at most 32)"
            )
        if env_name(name) in seen:
            raise ConfigError(f"PROVIDERS names {name!r} twice")
        seen.add(env_name(name))
    return tuple(ProviderSettings.from_env(environ, name=name) for name in names)


def _database_url(url: str | None) -> str | None:
    """DATABASE_URL checked: a ``postgresql://`` URL, or None when unset."""
    if not url:
        return None
    if not url.startswith(("postgresql://", "postgres://")):
        # Never echo the value: it may hold the database password.
        raise ConfigError("DATABASE_URL must start with postgresql:// (user:pass@host:port/dbname)")
    return url


@dataclass(frozen=True)
class Settings:
    """Everything ``python -m bot`` needs: Discord, provider, database, limits."""

    discord_token: str = field(repr=False)
    provider: ProviderSettings  # the preferred provider (the first of ``providers``)
    database_path: str = "data/sora-bot.sqlite3"
    # DATABASE_URL (postgresql://...) wins over database_path; out of repr: it holds a password.
    database_url: str | None = field(default=None, repr=False)
    database_pool_size: int = 10
    quota_per_day: int = 3
    guild_ids: tuple[int, ...] = ()
    max_concurrent_jobs: int = 3
    max_jobs_per_user: int = 1
    prompt_max_length: int = 1000
    progress_interval: float = 2.0
    log_level: str = "INFO"
    discord_api_base_url: str | None = None
    discord_gateway_url: str | None = None
    # The operator's toolkit; see README "Operator settings".
    owner_ids: tuple[int, ...] = ()
    cost_table: CostTable = field(default_factory=CostTable)
    price_table: PriceTable = field(default_factory=PriceTable)
    currency: str = "USD"
    budget_daily_credits: int | None = None
    budget_daily_micros: int | None = None
    budget_server_daily_credits: int | None = None
    budget_server_daily_micros: int | None = None
    refund_allowance_per_day: int = 2  # refunded credits a member may have rendered per day
    result_link_ttl: float = 3600.0
    health_port: int | None = None
    health_host: str = "127.0.0.1"
    health_provider_timeout: float = 3.0
    log_format: Literal["text", "json"] = "text"
    prompt_filter: PromptFilter = field(default_factory=PromptFilter)
    # Scale: progress-edit budgets and push completion; see README "Push completion".
    edit_budget: EditBudget = field(default_factory=EditBudget)
    public_base_url: str | None = None
    hook_host: str = "0.0.0.0"
    hook_port: int = 8090
    # Which servers the bot serves (empty: any) and the ceilings of what their
    # managers may set; see README "Operator's toolkit". ``None`` ceilings follow
    # the bot-wide setting (see the ``*_ceiling`` properties).
    allowed_guild_ids: tuple[int, ...] = ()
    server_max_daily_limit: int | None = None
    server_max_extra_credits: int = 0
    server_max_budget_credits: int | None = None
    server_max_budget_micros: int | None = None
    # Delivery and reconciliation: served videos (bot/media/served.py), the reconciler.
    media_link_hours: float = 24.0
    media_dir: str | None = None  # default: "media" beside the database file
    media_max_bytes: int = 2 * 1024**3
    reconcile_interval: float = 60.0
    # How long a job's lease lasts without renewal: a dead process's jobs are resumed
    # elsewhere within it (README "Running on several machines" > "Jobs and leases").
    job_lease_seconds: float = 30.0
    # Several providers (PROVIDERS), in order of preference; empty: just ``provider``.
    providers: tuple[ProviderSettings, ...] = ()
    # Shard clusters (README "Running on several machines"): ``None`` is discord.py's
    # automatic sharding; ``shard_ids`` ``None`` with a count: every shard of the count.
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None

    @property
    def syncs_commands(self) -> bool:
        """Whether this process syncs slash commands: only the one holding shard 0 does."""
        return self.shard_ids is None or 0 in self.shard_ids

    @property
    def database_location(self) -> str:
        """What ``Store.open`` takes: the PostgreSQL URL when set, else the SQLite file."""
        return self.database_url or self.database_path

    @property
    def all_providers(self) -> tuple[ProviderSettings, ...]:
        """Every configured provider, the preferred first."""
        return self.providers or (self.provider,)

    @property
    def daily_limit_ceiling(self) -> int:
        """Most daily credits a server may give a member, role or itself (``QUOTA_PER_DAY``)."""
        ceiling = self.server_max_daily_limit
        return self.quota_per_day if ceiling is None else ceiling

    @property
    def budget_credits_ceiling(self) -> int | None:
        """Most credits a server's own daily budget may be (``None``: no ceiling)."""
        ceiling = self.server_max_budget_credits
        return self.budget_server_daily_credits if ceiling is None else ceiling

    @property
    def budget_micros_ceiling(self) -> int | None:
        """Most money (micros) a server's own daily budget may be (``None``: no ceiling)."""
        ceiling = self.server_max_budget_micros
        return self.budget_server_daily_micros if ceiling is None else ceiling

    @property
    def limits(self) -> Limits:
        """The numbers :mod:`bot.rules.policy` applies: daily limits, ceilings, caps."""
        return Limits(
            quota_per_day=self.quota_per_day,
            daily_limit_ceiling=self.daily_limit_ceiling,
            server_max_extra_credits=self.server_max_extra_credits,
            budget_daily_credits=self.budget_daily_credits,
            budget_daily_micros=self.budget_daily_micros,
            budget_server_daily_credits=self.budget_server_daily_credits,
            budget_server_daily_micros=self.budget_server_daily_micros,
            budget_credits_ceiling=self.budget_credits_ceiling,
            budget_micros_ceiling=self.budget_micros_ceiling,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting; raises ConfigError naming the first bad one."""
        source = os.environ if environ is None else environ
        env = _Env(source)
        token = env.text("DISCORD_TOKEN")
        guild_ids = env.ids("DISCORD_GUILD_IDS", "server ids")
        api_base = env.optional("DISCORD_API_BASE_URL")
        if api_base:
            api_base = api_base.rstrip("/")
            if not api_base.startswith(("http://", "https://")):
                raise ConfigError("DISCORD_API_BASE_URL must start with http:// or https://")
        gateway = env.optional("DISCORD_GATEWAY_URL")
        if gateway and not gateway.startswith(("ws://", "wss://")):
            raise ConfigError("DISCORD_GATEWAY_URL must start with ws:// or wss://")
        providers = providers_from_env(source)
        return cls(
            discord_token=token,
            provider=providers[0],
            providers=providers if len(providers) > 1 else (),
            database_path=env.text("DATABASE_PATH", "data/sora-bot.sqlite3"),
            database_url=_database_url(env.optional("DATABASE_URL")),
            database_pool_size=env.integer("DATABASE_POOL_SIZE", 10, minimum=1, maximum=200),
            quota_per_day=env.integer("QUOTA_PER_DAY", 3),
            guild_ids=guild_ids,
            max_concurrent_jobs=env.integer("JOBS_MAX_CONCURRENT", 3, minimum=1, maximum=1000),
            max_jobs_per_user=env.integer("JOBS_MAX_PER_USER", 1, minimum=1, maximum=100),
            prompt_max_length=env.integer("PROMPT_MAX_LENGTH", 1000, minimum=1, maximum=4000),
            progress_interval=env.number("PROGRESS_EDIT_INTERVAL", 2.0, minimum=0.01),
            log_level=env.choice(
                "LOG_LEVEL", ("debug", "info", "warning", "error"), "info"
            ).upper(),
            discord_api_base_url=api_base,
            discord_gateway_url=gateway,
            **_operator_settings(env, providers),
            **_push_settings(env),
            **_server_settings(env, guild_ids),
            **_shard_settings(env),
        )


def _shard_settings(env: _Env) -> dict[str, Any]:
    """``SHARD_COUNT`` and ``SHARD_IDS``, and this process's share of the global edit budget."""
    ids = env.ids("SHARD_IDS", "shard ids")
    if env.optional("SHARD_COUNT") is None:
        if ids:
            raise ConfigError(
                "SHARD_IDS needs SHARD_COUNT (the number of shards of all processes together)"
            )
        return {}
    count = env.integer("SHARD_COUNT", 1, minimum=1, maximum=65536)
    for shard in ids:
        if shard >= count:
            raise ConfigError(
                f"SHARD_IDS lists shard {shard}, but SHARD_COUNT={count} numbers shards "
                f"0 to {count - 1}"
            )
        if ids.count(shard) > 1:
            raise ConfigError(f"SHARD_IDS lists shard {shard} twice")
    held = len(ids) if ids else count
    return {
        "shard_count": count,
        "shard_ids": ids or None,
        "edit_budget": EditBudget().shared(held, count),
    }


def _server_settings(env: _Env, guild_ids: tuple[int, ...]) -> dict[str, Any]:
    """Which servers the bot serves, and the ceilings of what their managers may set."""
    allowed = env.ids("ALLOWED_GUILD_IDS", "server ids")
    stray = [g for g in guild_ids if allowed and g not in allowed]
    if stray:
        raise ConfigError(
            f"DISCORD_GUILD_IDS lists server {stray[0]}, which is not in ALLOWED_GUILD_IDS "
            "(its commands would be refused there): add it to ALLOWED_GUILD_IDS or remove it"
        )
    return {
        "allowed_guild_ids": allowed,
        "server_max_daily_limit": env.optional_integer("SERVER_MAX_DAILY_LIMIT"),
        "server_max_extra_credits": env.integer("SERVER_MAX_EXTRA_CREDITS", 0),
        "server_max_budget_credits": env.optional_integer("SERVER_MAX_BUDGET_CREDITS"),
        "server_max_budget_micros": env.money("SERVER_MAX_BUDGET_MONEY"),
    }


def _push_settings(env: _Env) -> dict[str, Any]:
    """``PUBLIC_BASE_URL`` (push completion and served videos), its listener, the reconciler."""
    public = env.optional("PUBLIC_BASE_URL")
    if public is not None:
        public = public.rstrip("/")
        if not public.startswith(("http://", "https://")):
            raise ConfigError(
                f"PUBLIC_BASE_URL must start with http:// or https:// (got {public!r})"
            )
    return {
        "public_base_url": public,
        "hook_host": env.text("HOOK_HOST", "0.0.0.0"),
        "hook_port": env.integer("HOOK_PORT", 8090, minimum=0, maximum=65535),
        "media_link_hours": env.number("MEDIA_LINK_HOURS", 24.0, minimum=0.01),
        "media_dir": env.optional("MEDIA_DIR"),
        "media_max_bytes": env.integer("MEDIA_MAX_BYTES", 2 * 1024**3, minimum=0),
        "reconcile_interval": env.number("RECONCILE_INTERVAL", 60.0, minimum=0.01),
        "job_lease_seconds": env.number("JOB_LEASE_SECONDS", 30.0, minimum=0.5, maximum=3600),
    }


# The models the sora protocols (videos, generations) offer when PROVIDER_MODELS is
# empty: their providers' DEFAULT_MODELS (tests/test_config.py keeps the two in step).
SORA_MODELS = ("sora-2", "sora-2-pro")


def offered_models(provider: ProviderSettings) -> tuple[str, ...] | None:
    """The model names members may pick, as the provider will offer them.

    ``None`` when the provider's catalogue decides at run time (``openrouter``
    without ``PROVIDER_MODELS`` offers every suitable model it lists).
    """
    configured = tuple(m for m in (provider.model, *provider.models) if m)
    if provider.protocol == "chat":
        return provider.models or (provider.model,)
    if provider.protocol == "openrouter":
        return tuple(dict.fromkeys(configured)) if provider.models else None
    return tuple(dict.fromkeys(configured if provider.models else (provider.model, *SORA_MODELS)))


def _check_prices(prices: PriceTable, providers: tuple[ProviderSettings, ...]) -> None:
    """Fail closed: a model with no price would cost 0 and pass every money cap.

    An ``openrouter`` provider's models are checked once its catalogue is read
    (its ``pricing_skus`` price them, see :mod:`bot.providers.registry`): a model
    priced by neither is then not offered.
    """
    named = [p for p in providers if p.protocol != "openrouter"]
    missing = prices.unpriced(m for p in named for m in offered_models(p) or ())
    if missing == ["*"]:
        raise ConfigError(
            "PRICE_PER_SECOND has no '*' default, but the provider's catalogue decides which "
            "models members may pick (PROVIDER_MODELS is empty): add a rule like '*:0.10'"
        )
    if missing:
        names = ", ".join(repr(m) for m in missing)
        raise ConfigError(
            f"PRICE_PER_SECOND has no price for {names}, which members may pick: add a rule "
            f"like '{missing[0]}:0.10' or a '*' default (a missing price would count as 0)"
        )


def _operator_settings(env: _Env, providers: tuple[ProviderSettings, ...]) -> dict[str, Any]:
    """The operator's toolkit settings: owners, costs, budgets, health, logs, prompt filter."""
    try:
        cost_table = CostTable.parse(env.env.get("COST_TABLE", ""))
        prices = env.optional("PRICE_PER_SECOND")
        price_table = PriceTable.parse(prices) if prices else PriceTable()
        _check_prices(price_table, providers)
        prompt_filter = PromptFilter.from_settings(
            env.env.get("BLOCKED_PROMPT_PATTERNS", ""), env.optional("BLOCKED_PROMPT_FILE")
        )
    except (RuleError, FilterError) as exc:
        raise ConfigError(str(exc)) from None
    port = env.optional("HEALTH_PORT")
    return {
        "owner_ids": env.ids("BOT_OWNER_IDS", "user ids"),
        "cost_table": cost_table,
        "price_table": price_table,
        "currency": env.text("PRICE_CURRENCY", "USD"),
        "budget_daily_credits": env.optional_integer("BUDGET_DAILY_CREDITS"),
        "budget_daily_micros": env.money("BUDGET_DAILY_MONEY"),
        "budget_server_daily_credits": env.optional_integer("BUDGET_SERVER_DAILY_CREDITS"),
        "budget_server_daily_micros": env.money("BUDGET_SERVER_DAILY_MONEY"),
        "refund_allowance_per_day": env.integer("REFUND_ALLOWANCE_PER_DAY", 2, maximum=1000),
        "result_link_ttl": env.number("RESULT_LINK_HOURS", 1, maximum=24 * 365) * 3600,
        "health_port": None if port is None else env.integer("HEALTH_PORT", 0, maximum=65535),
        "health_host": env.text("HEALTH_HOST", "127.0.0.1"),
        "health_provider_timeout": env.number("HEALTH_PROVIDER_TIMEOUT", 3, minimum=0.1),
        "log_format": env.choice("LOG_FORMAT", ("text", "json"), "text"),
        "prompt_filter": prompt_filter,
    }
