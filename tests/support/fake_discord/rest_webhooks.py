"""Interaction endpoints: the callback and the interaction webhook (token) routes.

These need no bot token, only the interaction token, which Discord rejects
with 401 / 50027 once it is 15 minutes old (computed from the interaction
id's timestamp) or after ``FakeDiscord.expire_token()``. The callback has to
arrive within ``callback_deadline`` seconds of the dispatch (3 s on Discord).
"""

from __future__ import annotations

import time
from typing import Any

from . import content, errors, payloads
from .http import Ctx, Reply, RouteDef, route
from .models import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    Callback,
    FakeInteraction,
    FakeMessage,
    utcnow,
)

ROUTES: list[RouteDef] = []

_ALLOWED_CALLBACKS = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 5: {4, 5, 6, 7}}


@route(ROUTES, "POST", "/interactions/{interaction_id}/{token}/callback", bot_auth=False)
async def callback(ctx: Ctx) -> Reply:
    """Initial response: 4 reply, 5 defer, 6 deferred update, 7 update, 9 modal."""
    fake = ctx.fake
    ix = fake.interaction_by_id.get(int(ctx.params["interaction_id"]))
    if ix is None or ix.token != ctx.params["token"]:
        raise errors.unknown_interaction()
    if ix.callback is not None:
        raise errors.already_acknowledged()
    deadline = fake.callback_deadline
    if deadline is not None and time.monotonic() - ix.dispatched_at > deadline:
        raise errors.unknown_interaction()
    body = ctx.json if isinstance(ctx.json, dict) else {}
    kind = body.get("type")
    if kind not in _ALLOWED_CALLBACKS.get(ix.type, set()):
        raise errors.invalid_form({"type": ("INTERACTION_RESPONSE_TYPE_INVALID", "Invalid type")})
    data: dict[str, Any] = body.get("data") or {}
    msg: FakeMessage | None = None
    if kind in (4, 5):
        msg = fake.new_message(ix.channel, fake.bot_user, interaction=ix)
        msg.type = 20 if ix.type == 2 else 0
        flags = int(data.get("flags") or 0) & FLAG_EPHEMERAL
        if kind == 5:
            msg.flags = FLAG_LOADING | flags
        else:
            msg.flags = flags
            content.apply(
                fake,
                msg,
                data,
                ctx.files,
                creating=True,
                upload_limit=ix_limit(ix),
                ephemeral_files=bool(flags),
            )
        msg.snapshot("webhook")
        ix.original = msg
        await fake.publish(msg)
    elif kind in (6, 7):
        msg = ix.message
        assert msg is not None
        ix.original = msg
        ix.edit_base = len(msg.history)
        if kind == 7:
            await _edit(ctx, ix, msg, data)
    ix.callback = Callback(kind, data, time.monotonic())
    if not ctx.flag("with_response"):
        return Reply(None)
    answer: dict[str, Any] = {"interaction": {"id": str(ix.id), "type": ix.type}}
    if msg is not None:
        answer["interaction"].update(
            response_message_id=str(msg.id),
            response_message_loading=msg.loading,
            response_message_ephemeral=msg.ephemeral,
        )
        if kind != 6:
            answer["resource"] = {"type": kind, "message": payloads.message(fake, msg)}
    return Reply(answer)


def ix_limit(ix: FakeInteraction) -> int:
    """The upload limit for this interaction: its ``attachment_size_limit``."""
    return int(ix.payload["attachment_size_limit"])


def _interaction(ctx: Ctx) -> FakeInteraction:
    if ctx.params["app_id"] != str(ctx.fake.application_id):
        raise errors.unknown_webhook()
    ix = ctx.fake.interaction_by_token.get(ctx.params["token"])
    if ix is None or not ix.token_valid():
        raise errors.invalid_webhook_token()
    return ix


def _webhook_message(ix: FakeInteraction, message_id: str) -> FakeMessage:
    if message_id == "@original":
        msg = ix.original
    else:
        owned = [m for m in (ix.original, *ix.followups) if m is not None]
        msg = next((m for m in owned if str(m.id) == message_id), None)
    if msg is None or msg.deleted:
        raise errors.unknown_message()
    return msg


async def _edit(ctx: Ctx, ix: FakeInteraction, msg: FakeMessage, data: Any) -> None:
    content.apply(
        ctx.fake,
        msg,
        data,
        ctx.files,
        creating=False,
        upload_limit=ix_limit(ix),
        ephemeral_files=msg.ephemeral,
    )
    msg.edited_at = utcnow()
    msg.snapshot("webhook")
    await ctx.fake.publish(msg, edited=True)


@route(ROUTES, "GET", "/webhooks/{app_id}/{token}/messages/{message_id}", bot_auth=False)
async def get_message(ctx: Ctx) -> Reply:
    """``GET .../messages/@original`` or a followup."""
    msg = _webhook_message(_interaction(ctx), ctx.params["message_id"])
    return Reply(payloads.message(ctx.fake, msg))


@route(ROUTES, "PATCH", "/webhooks/{app_id}/{token}/messages/{message_id}", bot_auth=False)
async def edit_message(ctx: Ctx) -> Reply:
    """Edit the original response or a followup (JSON or multipart)."""
    ix = _interaction(ctx)
    msg = _webhook_message(ix, ctx.params["message_id"])
    await _edit(ctx, ix, msg, ctx.json)
    return Reply(payloads.message(ctx.fake, msg))


@route(ROUTES, "DELETE", "/webhooks/{app_id}/{token}/messages/{message_id}", bot_auth=False)
async def delete_message(ctx: Ctx) -> Reply:
    """Delete the original response or a followup."""
    msg = _webhook_message(_interaction(ctx), ctx.params["message_id"])
    await ctx.fake.delete_message(msg)
    return Reply(None)


@route(ROUTES, "POST", "/webhooks/{app_id}/{token}", bot_auth=False)
async def followup(ctx: Ctx) -> Reply:
    """A followup message; ``?wait=1`` answers with the message.

    Like Discord, the first followup after a defer (type 5) replaces the
    "thinking..." message instead of posting a new one, and keeps the defer's
    ephemerality.
    """
    fake = ctx.fake
    ix = _interaction(ctx)
    if ix.callback is None:
        raise errors.unknown_webhook()
    original = ix.original
    if (
        fake.followup_replaces_loading
        and original is not None
        and original.loading
        and not original.deleted
    ):
        await _edit(ctx, ix, original, ctx.json)
        ix.followups.append(original)
        msg = original
    else:
        msg = fake.new_message(ix.channel, fake.bot_user, interaction=ix)
        body = ctx.json if isinstance(ctx.json, dict) else {}
        ephemeral = bool(int(body.get("flags") or 0) & FLAG_EPHEMERAL)
        content.apply(
            fake,
            msg,
            body,
            ctx.files,
            creating=True,
            upload_limit=ix_limit(ix),
            ephemeral_files=ephemeral,
        )
        msg.snapshot("webhook")
        ix.followups.append(msg)
        await fake.publish(msg)
    return Reply(payloads.message(fake, msg) if ctx.flag("wait") else None)
