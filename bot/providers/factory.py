"""Build the configured provider."""

from __future__ import annotations

import aiohttp

from bot.config import ProviderSettings
from bot.providers.base import Provider


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
