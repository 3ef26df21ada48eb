"""What the operator's rules need from an interaction: roles, thread parent, the job's cost."""

from __future__ import annotations

import dataclasses

import discord

from bot.i18n import server_locale
from bot.jobs.request import JobRequest
from bot.rules.costs import CostTable


def role_ids(interaction: discord.Interaction) -> tuple[int, ...]:
    """The invoking member's role ids (``@everyone`` included); empty outside servers."""
    user = interaction.user
    if isinstance(user, discord.Member):
        return tuple(role.id for role in user.roles)
    return ()


def parent_channel_id(interaction: discord.Interaction) -> int | None:
    """The channel a thread belongs to (its rules apply to the thread), else None."""
    channel = interaction.channel
    if isinstance(channel, discord.Thread):
        return channel.parent_id
    return None


def for_member(
    request: JobRequest, interaction: discord.Interaction, costs: CostTable
) -> JobRequest:
    """``request`` with the member's roles, the thread's parent, the job's cost and language.

    The job's messages are public, so they are in the server's language.
    """
    return dataclasses.replace(
        request,
        locale=server_locale(interaction),
        role_ids=role_ids(interaction),
        parent_channel_id=parent_channel_id(interaction),
        cost=request.credits(costs),
    )
