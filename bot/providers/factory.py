"""Build the configured provider, or every configured provider as one set."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiohttp

from bot.config import ProviderSettings
from bot.providers.base import Provider

if TYPE_CHECKING:
    from bot.providers.registry import ProviderSet


def make_provider(
    session: aiohttp.ClientSession,
    settings: ProviderSettings,
    *,
    notify_hook: str | None = None,
) -> Provider:
    """The provider for ``settings.protocol`` on ``session``.

    An ``openrouter`` provider starts with its configured models' defaults; its
    ``load_catalogue()``/``refresh()`` reads the real capabilities (see
    :mod:`bot.providers.openrouter`).
    """
    if settings.protocol == "chat":
        from bot.providers.chat import ChatProvider

        return ChatProvider(session, settings)
    if settings.protocol == "generations":
        from bot.providers.generations import GenerationsProvider

        return GenerationsProvider(session, settings, notify_hook=notify_hook)
    if settings.protocol == "openrouter":
        from bot.providers.openrouter import OpenRouterProvider

        return OpenRouterProvider(session, settings)
    from bot.providers.videos import VideosProvider

    return VideosProvider(session, settings)


def make_providers(
    session: aiohttp.ClientSession,
    providers: Sequence[ProviderSettings],
    **breaker: Any,
) -> ProviderSet:
    """Every configured provider (``Settings.all_providers``) as one :class:`ProviderSet`."""
    from bot.providers.registry import ProviderSet

    return ProviderSet.of(((s, make_provider(session, s)) for s in providers), **breaker)
