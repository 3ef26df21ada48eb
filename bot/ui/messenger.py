"""A job's public message, wherever it can live: nothing a member is owed gets lost.

Order of preference, falling to the next on failure:

1. the interaction's original response, through its webhook, while the 15-minute
   token has more than ``TOKEN_MARGIN`` left: the live interaction's, or the
   token stored with the job (:class:`StoredToken`), so a job resumed by another
   process or after a restart keeps its webhook edits;
2. the same message edited with the bot token (``channel_id`` + ``message_id`` is
   all that needs, so it also works after a restart);
3. a new message in the channel, mentioning only the member (the old one was
   deleted, or may not be edited);
4. a direct message to the member (the bot may not post in the channel).

Every call is bounded (a final message's requests each by ``REQUEST_TIMEOUT``)
and never retries a 401/403/404 in a loop. With a ``pacer`` (the job's
:class:`~bot.ui.edits.EditHandle`) each request first waits for its route's
rate budget, except the one the edit scheduler already counted for a progress
edit (``prepaid``): the final message, a re-post and the DM fallback stay
inside the budgets the progress edits share, ahead of them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import discord
from discord.http import handle_message_parameters
from discord.webhook.async_ import async_context

from bot.i18n import DEFAULT_LOCALE
from bot.ui.buttons import Buttons, job_view

log = logging.getLogger(__name__)

TOKEN_MARGIN = dt.timedelta(seconds=90)
TOKEN_LIFE = dt.timedelta(minutes=15)  # Discord's, from the interaction's creation
UPLOAD_HEADROOM = 64 * 1024  # the request's JSON part shares the upload limit
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
NO_MENTIONS = discord.AllowedMentions.none()
REQUEST_TIMEOUT = 30.0  # one request of a final message (an upload included), after its pacing

T = TypeVar("T")

Moved = Callable[[int, int], Awaitable[None]]  # (channel_id, message_id) of the new home


class Pacer(Protocol):
    """Paces a message's requests (:class:`~bot.ui.edits.EditHandle` is one)."""

    def slot(self, via_interaction: bool, channel: int | None) -> AbstractAsyncContextManager[None]:
        """Entered once one request fits the route's budgets (``channel`` None: no channel).

        The request is sent inside it; leaving it tells the pacer the answer came.
        """
        ...


class _Turn:
    """One delivery's requests: is the next one counted already, how long may each take."""

    __slots__ = ("prepaid", "timeout")

    def __init__(self, prepaid: bool = False, timeout: float | None = None) -> None:
        self.prepaid = prepaid
        self.timeout = timeout


class DeliveryFailed(Exception):
    """No way left to reach the member."""


def _too_large(exc: discord.HTTPException) -> bool:
    return exc.status == 413 or exc.code == 40005


@dataclass(frozen=True, slots=True)
class StoredToken:
    """An interaction's webhook credentials kept with its job, for any process to edit with.

    The token is a secret (it edits the message as the bot): it stays out of
    ``repr`` and therefore out of logs.
    """

    application_id: int
    token: str = field(repr=False)
    expires_at: dt.datetime

    @classmethod
    def issued(cls, application_id: int, token: str, at: dt.datetime) -> StoredToken:
        """The token of an interaction created at ``at``: it lives ``TOKEN_LIFE`` from then."""
        return cls(application_id, token, at + TOKEN_LIFE)


class JobMessenger:
    """Edits (and if need be re-creates) one job's message; see the module docstring."""

    def __init__(
        self,
        client: discord.Client,
        *,
        job_id: int,
        user_id: int,
        channel_id: int,
        message_id: int | None,
        interaction: discord.Interaction | None = None,
        token: StoredToken | None = None,
        claimed: bool = False,
        upload_limit: int | None = None,
        on_moved: Moved | None = None,
        locale: str = DEFAULT_LOCALE,
    ) -> None:
        self.client = client
        self.locale = locale  # the buttons' labels: the job's (the server's) language
        self.job_id = job_id
        self.user_id = user_id
        self.channel_id = channel_id
        self.message_id = message_id
        self.interaction = interaction
        # Without a live interaction (a resumed job): the token stored with the job.
        self.token = token if interaction is None else None
        #: Taken over from a process that died: the edit scheduler assumes its budgets spent.
        self.claimed = claimed
        self.on_moved = on_moved
        #: Set by the job's run: every request not counted by the scheduler waits here first.
        self.pacer: Pacer | None = None
        self._channel_usable = True
        self._dm: discord.Message | None = None
        limit = upload_limit
        if limit is None and interaction is not None:
            limit = interaction.filesize_limit
        self.upload_limit = max(0, (limit or DEFAULT_UPLOAD_LIMIT) - UPLOAD_HEADROOM)

    @property
    def via_interaction(self) -> bool:
        """Whether the interaction token can still be used (with a safety margin)."""
        if self.interaction is not None:
            expires_at = self.interaction.expires_at
        elif self.token is not None:
            expires_at = self.token.expires_at
        else:
            return False
        return expires_at - discord.utils.utcnow() > TOKEN_MARGIN

    async def edit(self, content: str, buttons: Buttons = None, *, prepaid: bool = False) -> None:
        """Show ``content`` (progress) with ``buttons``.

        ``prepaid``: the edit scheduler counted the first request (a progress
        edit it planned); a fallback after it is paced like any other.
        """
        await self._deliver(content, None, buttons, _Turn(prepaid))

    async def finish(
        self,
        content: str,
        video: Path | None,
        buttons: Buttons = None,
        *,
        without_video: str | None = None,
    ) -> bool:
        """Show the final message, with the mp4 when given; returns whether it was attached.

        When Discord refuses the upload as too large, ``without_video`` is sent instead.
        """
        if video is not None:
            try:
                await self._deliver(content, video, buttons, _Turn(timeout=REQUEST_TIMEOUT))
                return True
            except discord.HTTPException as exc:
                if not _too_large(exc):
                    raise
                log.info("job %s: upload refused as too large; sending the link", self.job_id)
        await self._deliver(
            without_video or content,
            None,
            buttons,
            _Turn(timeout=REQUEST_TIMEOUT),
            clear_files=True,
        )
        return False

    async def _request(
        self,
        turn: _Turn,
        via_interaction: bool,
        channel: int | None,
        make: Callable[[], Awaitable[T]],
    ) -> T:
        """One request: paced on its route (unless prepaid), then bounded by the turn's timeout.

        The pacing wait is not part of the timeout: it is bounded by the budgets.
        """
        if turn.prepaid or self.pacer is None:
            turn.prepaid = False
            return await asyncio.wait_for(make(), turn.timeout)
        async with self.pacer.slot(via_interaction, channel):
            return await asyncio.wait_for(make(), turn.timeout)

    async def _deliver(
        self,
        content: str,
        video: Path | None,
        buttons: Buttons,
        turn: _Turn,
        *,
        clear_files: bool = False,
    ) -> None:
        def edit_kwargs() -> dict[str, Any]:
            # Fresh each attempt: discord.py closes a File once it was sent.
            kwargs: dict[str, Any] = {
                "content": content,
                "view": job_view(self.job_id, buttons, self.locale),
                "allowed_mentions": NO_MENTIONS,
            }
            if video is not None:
                kwargs["attachments"] = [discord.File(video, filename=video.name)]
            elif clear_files:
                kwargs["attachments"] = []
            return kwargs

        if self.via_interaction:
            try:
                self.message_id = await self._request(
                    turn, True, self.channel_id, lambda: self._edit_original(edit_kwargs())
                )
                return
            except discord.NotFound as exc:
                if exc.code == 10008 and self.interaction is not None:
                    # The message was deleted: post a new one. (A stored token's job may
                    # have moved to a message the webhook cannot edit: the stored id is
                    # then the job's message, and the bot token finds out.)
                    log.info("job %s: progress message was deleted", self.job_id)
                    self.message_id = None
                # The webhook can only edit the original, which is gone (10008) or
                # unreachable (10015): keep to the bot token, or every edit posts anew.
                self.interaction = self.token = None
            except discord.HTTPException as exc:
                if _too_large(exc) or exc.status not in (401, 403):
                    raise
                log.info("job %s: interaction token refused (%s)", self.job_id, exc.code)
                self.interaction = self.token = None
        if self._channel_usable and await self._via_channel(turn, edit_kwargs, video):
            return
        await self._via_dm(turn, edit_kwargs, video)

    async def _edit_original(self, kwargs: dict[str, Any]) -> int:
        """Edit the interaction's original response through its webhook; the message's id."""
        if self.interaction is not None:
            return (await self.interaction.edit_original_response(**kwargs)).id
        stored = self.token
        assert stored is not None
        # The request Interaction.edit_original_response makes (PATCH .../@original),
        # with the stored credentials: the client's state makes the buttons acceptable.
        webhook = discord.Webhook.partial(stored.application_id, stored.token, client=self.client)
        with handle_message_parameters(
            previous_allowed_mentions=self.client.allowed_mentions, **kwargs
        ) as params:
            data = await async_context.get().edit_original_interaction_response(
                webhook.id,
                stored.token,
                session=webhook.session,
                proxy=webhook.proxy,
                proxy_auth=webhook.proxy_auth,
                payload=params.payload,
                multipart=params.multipart,
                files=params.files,
            )
        return int(data["id"])

    async def _via_channel(
        self, turn: _Turn, edit_kwargs: Callable[[], dict[str, Any]], video: Path | None
    ) -> bool:
        channel = self.client.get_partial_messageable(self.channel_id)
        if self.message_id is not None:
            message = channel.get_partial_message(self.message_id)
            try:
                await self._request(
                    turn, False, self.channel_id, lambda: message.edit(**edit_kwargs())
                )
                return True
            except discord.NotFound:
                log.info(
                    "job %s: message %s is gone; posting a new one", self.job_id, self.message_id
                )
            except discord.Forbidden:
                log.info("job %s: may not edit message %s", self.job_id, self.message_id)
        try:
            sent = await self._request(
                turn,
                False,
                self.channel_id,
                lambda: channel.send(**self._send_kwargs(edit_kwargs(), video)),
            )
        except (discord.Forbidden, discord.NotFound):
            log.info("job %s: may not post in channel %s; using DMs", self.job_id, self.channel_id)
            self._channel_usable = False
            return False
        await self._moved(sent)
        return True

    async def _via_dm(
        self, turn: _Turn, edit_kwargs: Callable[[], dict[str, Any]], video: Path | None
    ) -> None:
        try:
            dm = self._dm
            if dm is not None:
                await self._request(turn, False, dm.channel.id, lambda: dm.edit(**edit_kwargs()))
                return
            user = self.client.get_user(self.user_id)
            if user is None:
                user = await self._request(
                    turn, False, None, lambda: self.client.fetch_user(self.user_id)
                )
            dm_channel = user.dm_channel
            if dm_channel is None:
                dm_channel = await self._request(turn, False, None, user.create_dm)
            channel = dm_channel
            self._dm = await self._request(
                turn,
                False,
                channel.id,
                lambda: channel.send(**self._send_kwargs(edit_kwargs(), video)),
            )
        except discord.HTTPException as exc:
            if _too_large(exc):
                raise
            raise DeliveryFailed(f"job {self.job_id}: no way left to reach the member") from exc
        await self._moved(self._dm)

    def _send_kwargs(self, kwargs: dict[str, Any], video: Path | None) -> dict[str, Any]:
        """Edit arguments turned into send arguments; a new message pings only its member."""
        for file in kwargs.get("attachments", []):
            file.close()
        sent = {k: v for k, v in kwargs.items() if k != "attachments" and v is not None}
        sent["allowed_mentions"] = discord.AllowedMentions(
            everyone=False, roles=False, users=[discord.Object(self.user_id)]
        )
        if video is not None:
            sent["file"] = discord.File(video, filename=video.name)
        return sent

    async def _moved(self, message: discord.Message) -> None:
        self.channel_id, self.message_id = message.channel.id, message.id
        if self.on_moved is not None:
            await self.on_moved(self.channel_id, self.message_id)
