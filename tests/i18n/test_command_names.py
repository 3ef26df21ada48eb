"""Every command's localizations, as discord.py would sync them, fit Discord's rules.

The payloads are built by discord.py itself (``get_translated_payload``) with our
translator, from the real cogs: `/video-admin` (with `refresh-models`), `/history`
and `/quota`. A translation Discord would reject is dropped by the translator, so
"present for every language" also means "valid"; sibling names must also stay
distinct in each language (Discord refuses a sync with two options of one name).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import discord
import pytest
from discord import app_commands

from bot.i18n.translator import NAME_LIMIT, TEXT_LIMIT, CatalogueTranslator, valid_name
from cogs.admin import AdminCog
from cogs.history import HistoryCog
from cogs.models import ModelsCog
from cogs.quota import QuotaCog

# Discord's codes for our catalogues (es-419 reads the Spanish one too).
DISCORD_LOCALES = ("zh-CN", "es-ES", "es-419", "pt-BR")
DEFAULT_DESCRIPTION = "…"  # discord.py's description of an undescribed option


def _stub_bot() -> Any:
    """What the cogs' constructors read (nothing here talks to a store or a provider)."""
    return SimpleNamespace(store=None, settings=None)


async def _payloads() -> list[dict[str, Any]]:
    client = discord.Client(intents=discord.Intents.none())
    tree = app_commands.CommandTree(client)
    translator = CatalogueTranslator()
    bot = _stub_bot()
    group = AdminCog(bot).__cog_app_commands_group__
    assert group is not None
    group.add_command(ModelsCog(bot).command)
    commands: list[Any] = [group]
    for cog in (HistoryCog(bot), QuotaCog(bot)):
        commands.extend(cog.__cog_app_commands__)
    try:
        return [await c.get_translated_payload(tree, translator) for c in commands]
    finally:
        await client.close()


def _nodes(payload: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """The command and, depth first, its subcommands, groups and options."""
    here = f"{path} {payload['name']}".strip()
    found = [(here, payload)]
    for option in payload.get("options", []):
        found.extend(_nodes(option, here))
    return found


@pytest.fixture
async def payloads() -> list[dict[str, Any]]:
    return await _payloads()


async def test_every_name_and_description_is_translated_within_discords_limits(
    payloads: list[dict[str, Any]],
) -> None:
    names = {p["name"] for p in payloads}
    assert names == {"video-admin", "history", "quota"}
    checked = 0
    for payload in payloads:
        for path, node in _nodes(payload):
            localized = node.get("name_localizations") or {}
            assert set(localized) == set(DISCORD_LOCALES), (path, localized)
            for locale, name in localized.items():
                assert valid_name(name) and len(name) <= NAME_LIMIT, (path, locale, name)
            if node["description"] != DEFAULT_DESCRIPTION:
                texts = node.get("description_localizations") or {}
                assert set(texts) == set(DISCORD_LOCALES), (path, texts)
                assert all(1 <= len(text) <= TEXT_LIMIT for text in texts.values()), path
            checked += 1
    assert checked > 40  # the whole group: 14 subcommands, 2 groups, their options


async def test_sibling_names_stay_distinct_in_every_language(
    payloads: list[dict[str, Any]],
) -> None:
    admin = next(p for p in payloads if p["name"] == "video-admin")
    assert admin["name_localizations"]["zh-CN"] == "视频管理"
    for path, node in _nodes(admin):
        children = node.get("options", [])
        if not children:
            continue
        for locale in DISCORD_LOCALES:
            shown = [c.get("name_localizations", {}).get(locale, c["name"]) for c in children]
            assert len(shown) == len(set(shown)), (path, locale, shown)


async def test_the_admin_groups_read_in_each_language(payloads: list[dict[str, Any]]) -> None:
    admin = next(p for p in payloads if p["name"] == "video-admin")
    children = {o["name"]: o for o in admin["options"]}
    stats = children["stats"]
    assert stats["name_localizations"]["pt-BR"] == "estatísticas"
    assert stats["description_localizations"]["zh-CN"] == "任务数、成功率、花费和生成时间"
    (all_servers,) = stats["options"]
    assert all_servers["name_localizations"]["es-419"] == "todos_los_servidores"
    budget = {o["name"]: o for o in children["budget"]["options"]}
    assert budget["clear"]["name_localizations"]["es-ES"] == "borrar"
    assert "refresh-models" in children
