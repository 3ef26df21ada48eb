"""Application command registry: what ``tree.sync()`` uploads and the fake answers.

Commands keep their id across re-syncs of the same name, like Discord, and
payloads are checked against the limits Discord enforces (names, description
lengths, 25 choices, required options first) so a bad schema fails here too.
"""

from __future__ import annotations

import re
from typing import Any

from . import errors
from .models import Snowflakes

_NAME = re.compile(r"^[-_\w]{1,32}$")
_SUBCOMMAND_TYPES = (1, 2)


class CommandRegistry:
    """Global and per-guild commands of the one application the fake hosts."""

    def __init__(self, application_id: int, ids: Snowflakes) -> None:
        self._app_id = application_id
        self._ids = ids
        # scope None is global, otherwise a guild id; name -> stored command
        self._scopes: dict[int | None, dict[str, dict[str, Any]]] = {}
        self.syncs: list[tuple[int | None, list[dict[str, Any]]]] = []

    def registered(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """Stored commands of one scope."""
        return list(self._scopes.get(guild_id, {}).values())

    def names(self, guild_id: int | None = None) -> set[str]:
        """Names of the commands registered in one scope."""
        return set(self._scopes.get(guild_id, {}))

    def replace(self, guild_id: int | None, payload: Any) -> list[dict[str, Any]]:
        """Bulk overwrite (``PUT``): validate, keep ids of known names, store."""
        if not isinstance(payload, list):
            raise errors.invalid_form({"_root": ("LIST_TYPE_CONVERT", "Must be a list.")})
        problems: dict[str, tuple[str, str]] = {}
        for index, cmd in enumerate(payload):
            _check_command(cmd, str(index), problems)
        if problems:
            raise errors.invalid_form(problems)
        old = self._scopes.get(guild_id, {})
        stored: dict[str, dict[str, Any]] = {}
        for cmd in payload:
            previous = old.get(cmd["name"])
            stored[cmd["name"]] = self._store(cmd, guild_id, previous)
        self._scopes[guild_id] = stored
        self.syncs.append((guild_id, list(stored.values())))
        return list(stored.values())

    def find(self, name: str, guild_id: int | None) -> dict[str, Any]:
        """The command a user would pick: a guild command shadows a global one."""
        if guild_id is not None and name in self._scopes.get(guild_id, {}):
            return self._scopes[guild_id][name]
        if name in self._scopes.get(None, {}):
            return self._scopes[None][name]
        raise LookupError(f"/{name} is not registered (did the bot sync its command tree?)")

    def _store(
        self, cmd: dict[str, Any], guild_id: int | None, previous: dict[str, Any] | None
    ) -> dict[str, Any]:
        stored = {
            "id": previous["id"] if previous else str(self._ids.next()),
            "application_id": str(self._app_id),
            "version": str(self._ids.next()),
            "type": cmd.get("type", 1),
            "name": cmd["name"],
            "name_localizations": cmd.get("name_localizations"),
            "description": cmd.get("description", ""),
            "description_localizations": cmd.get("description_localizations"),
            "default_member_permissions": cmd.get("default_member_permissions"),
            "nsfw": cmd.get("nsfw", False),
            "contexts": cmd.get("contexts"),
            "integration_types": cmd.get("integration_types", [0]),
            "options": cmd.get("options", []),
        }
        if guild_id is not None:
            stored["guild_id"] = str(guild_id)
        else:
            stored["dm_permission"] = cmd.get("dm_permission", True)
        return stored


def _check_command(cmd: Any, path: str, problems: dict[str, tuple[str, str]]) -> None:
    if not isinstance(cmd, dict):
        problems[path] = ("DICT_TYPE_CONVERT", "Must be an object.")
        return
    ctype = cmd.get("type", 1)
    name = cmd.get("name", "")
    if not _NAME.match(name) or (ctype == 1 and name != name.lower()):
        problems[f"{path}.name"] = ("APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    if ctype == 1:
        description = cmd.get("description", "")
        if not 1 <= len(description) <= 100:
            problems[f"{path}.description"] = (
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        _check_options(cmd.get("options", []), f"{path}.options", problems)


def _check_options(options: list[Any], path: str, problems: dict[str, tuple[str, str]]) -> None:
    if len(options) > 25:
        problems[path] = ("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen_optional = False
    names: set[str] = set()
    for index, option in enumerate(options):
        here = f"{path}.{index}"
        name = option.get("name", "")
        if not _NAME.match(name) or name != name.lower() or name in names:
            problems[f"{here}.name"] = ("APPLICATION_COMMAND_INVALID_NAME", "Invalid option name")
        names.add(name)
        if not 1 <= len(option.get("description", "")) <= 100:
            problems[f"{here}.description"] = (
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        if option.get("type") in _SUBCOMMAND_TYPES:
            _check_options(option.get("options", []), f"{here}.options", problems)
            continue
        if option.get("required"):
            if seen_optional:
                problems[f"{here}.required"] = (
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        if len(option.get("choices") or []) > 25:
            problems[f"{here}.choices"] = ("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
