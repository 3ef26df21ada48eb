"""INTERACTION_CREATE payloads for slash commands and component clicks.

Shapes follow what Discord sends to a guild-installed bot in API v10:
options typed from the registered command (so a test writes
``{"prompt": "a cat", "image": upload}``), ``resolved`` data for attachments,
users and channels, the member with resolved ``permissions``, and
``app_permissions`` for the channel. The id can carry an old timestamp:
discord.py computes ``Interaction.expires_at`` from it.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import time
from typing import TYPE_CHECKING, Any

from . import payloads
from .models import (
    DEFAULT_PERMISSIONS,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    FakeRole,
    FakeUser,
    StoredFile,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

_SCALARS: dict[int, tuple[type, ...]] = {3: (str,), 4: (int,), 5: (bool,), 10: (int, float)}


def new_interaction(
    fake: FakeDiscord,
    *,
    type_: int,
    data: dict[str, Any],
    user: FakeUser,
    guild: FakeGuild | None,
    channel: FakeChannel,
    created_at: dt.datetime | None,
    locale: str,
    attachment_size_limit: int | None,
    message: FakeMessage | None = None,
) -> FakeInteraction:
    """Build the payload and the record of one interaction (not yet dispatched)."""
    ix_id = fake.ids.next(created_at)
    # Real tokens are long opaque url-safe strings that start with the id in base64.
    token = base64.urlsafe_b64encode(f"interaction:{ix_id}:".encode()).decode().rstrip("=")
    token += secrets.token_urlsafe(96)
    limit = attachment_size_limit or (guild.upload_limit if guild else fake.attachment_size_limit)
    bot_perms = guild.member_permissions(fake.bot_user, channel) if guild else DEFAULT_PERMISSIONS
    channel_data = payloads.channel(channel, fake.bot_user)
    payload: dict[str, Any] = {
        "id": str(ix_id),
        "application_id": str(fake.application_id),
        "type": type_,
        "data": data,
        "token": token,
        "version": 1,
        "locale": locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "attachment_size_limit": limit,
        "app_permissions": str(bot_perms),
        "channel_id": str(channel.id),
        "channel": channel_data,
        "context": 0 if guild else 1,
        "authorizing_integration_owners": {"0": str(guild.id) if guild else "0"},
    }
    if guild is not None:
        channel_data["permissions"] = str(guild.member_permissions(user, channel))
        payload.update(
            guild_id=str(guild.id),
            guild={"id": str(guild.id), "locale": guild.locale, "features": []},
            guild_locale=guild.locale,
            member=payloads.member(guild, user, channel),
        )
    else:
        payload["user"] = payloads.user(user)
    if message is not None:
        payload["message"] = payloads.message(fake, message)
    return FakeInteraction(
        id=ix_id,
        token=token,
        type=type_,
        user=user,
        guild=guild,
        channel=channel,
        payload=payload,
        dispatched_at=time.monotonic(),
        message=message,
    )


def slash_data(
    fake: FakeDiscord,
    name: str,
    options: dict[str, Any],
    guild: FakeGuild | None,
    *,
    validate: bool,
) -> dict[str, Any]:
    """``data`` of a chat-input interaction; ``name`` may be ``"group sub"``."""
    top, *subs = name.split()
    command = fake.commands.find(top, guild.id if guild else None)
    level = command.get("options", [])
    chain = []
    for sub in subs:
        spec = next((o for o in level if o["name"] == sub and o["type"] in (1, 2)), None)
        if spec is None:
            raise LookupError(f"/{name}: no subcommand {sub!r}")
        chain.append(spec)
        level = spec.get("options", [])
    resolved: dict[str, dict[str, Any]] = {}
    built = _options(fake, level, options, resolved, guild, validate=validate)
    for spec in reversed(chain):
        built = [{"name": spec["name"], "type": spec["type"], "options": built}]
    data: dict[str, Any] = {"id": command["id"], "name": top, "type": 1}
    if built:
        data["options"] = built
    if resolved:
        data["resolved"] = resolved
    if "guild_id" in command:
        data["guild_id"] = command["guild_id"]
    return data


def _options(
    fake: FakeDiscord,
    schema: list[dict[str, Any]],
    values: dict[str, Any],
    resolved: dict[str, dict[str, Any]],
    guild: FakeGuild | None,
    *,
    validate: bool,
) -> list[dict[str, Any]]:
    specs = {o["name"]: o for o in schema if o["type"] not in (1, 2)}
    unknown = set(values) - set(specs)
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)}; the command has {sorted(specs)}")
    if validate:
        missing = [n for n, o in specs.items() if o.get("required") and n not in values]
        if missing:
            raise ValueError(f"required options missing: {missing}")
    out = []
    for name, value in values.items():
        spec = specs[name]
        otype = spec["type"]
        if validate:
            _check_value(name, spec, value)
        out.append(
            {"name": name, "type": otype, "value": _wire_value(otype, value, resolved, guild)}
        )
    return out


def _check_value(name: str, spec: dict[str, Any], value: Any) -> None:
    """What the Discord client enforces before it sends a command."""
    otype = spec["type"]
    expected = _SCALARS.get(otype)
    if expected and (not isinstance(value, expected) or (otype != 5 and isinstance(value, bool))):
        raise TypeError(f"option {name!r} (type {otype}) cannot take {value!r}")
    choices = [c["value"] for c in spec.get("choices") or []]
    if choices and value not in choices:
        raise ValueError(f"option {name!r} must be one of {choices}, not {value!r}")
    if otype == 11 and not isinstance(value, StoredFile):
        raise TypeError(f"option {name!r} needs a file from fake.upload(), not {value!r}")


def _wire_value(
    otype: int, value: Any, resolved: dict[str, dict[str, Any]], guild: FakeGuild | None
) -> Any:
    if isinstance(value, StoredFile):
        resolved.setdefault("attachments", {})[str(value.id)] = payloads.attachment(value)
        return str(value.id)
    if isinstance(value, FakeUser):
        resolved.setdefault("users", {})[str(value.id)] = payloads.user(value)
        if guild is not None:
            member = payloads.member(guild, value)
            member.pop("user")
            resolved.setdefault("members", {})[str(value.id)] = member
        return str(value.id)
    if isinstance(value, FakeRole):
        resolved.setdefault("roles", {})[str(value.id)] = payloads.role(value)
        return str(value.id)
    if isinstance(value, FakeChannel):
        entry = {"id": str(value.id), "name": value.name, "type": value.type, "permissions": "0"}
        resolved.setdefault("channels", {})[str(value.id)] = entry
        return str(value.id)
    return value


def click_data(message: FakeMessage, custom_id: str, values: list[str] | None) -> dict[str, Any]:
    """``data`` of a component interaction; the component must exist and be enabled."""
    component = _find_component(message.components, custom_id)
    if component is None:
        raise LookupError(
            f"message {message.id} has no component {custom_id!r}: {message.custom_ids()}"
        )
    if component.get("disabled"):
        raise ValueError(f"component {custom_id!r} is disabled; Discord would not send the click")
    data: dict[str, Any] = {
        "custom_id": custom_id,
        "component_type": component["type"],
        "id": component.get("id"),
    }
    if values is not None:
        data["values"] = values
    return data


def _find_component(items: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    for item in items:
        if item.get("custom_id") == custom_id:
            return item
        nested = list(item.get("components", []))
        if isinstance(item.get("accessory"), dict):
            nested.append(item["accessory"])
        found = _find_component(nested, custom_id)
        if found is not None:
            return found
    return None
