"""Typed provider errors. The type decides retry, refund and what the user is told.

``user_message`` is always safe to show a Discord member; ``str(error)`` is for
logs and the terminal and never contains the API key (see :func:`redact`).
"""

from __future__ import annotations

import re
from typing import ClassVar

from bot.errors import BotError
from bot.i18n import N_, Msg, msg


class ProviderError(BotError):
    """Base of every provider failure. Refunded, never retried unless ``retryable``."""

    retryable = False
    # The fixed texts are catalogue messages: BotError.localized translates them.
    user_message = N_("The video service failed to make this video.")

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def reason(self) -> str:
        """The human reason (the exception's message)."""
        return str(self)


class Detailed(ProviderError):
    """An error whose member-facing text carries the provider's own ``{reason}``.

    ``template`` is a catalogue message, translated where it is shown; the
    reason is the provider's words and stays as they wrote them.
    """

    template: ClassVar[str]

    @property
    def member_text(self) -> Msg:
        """The text and its reason, ready to render in the reader's locale."""
        return msg(self.template, reason=str(self))

    @property
    def user_message(self) -> str:  # type: ignore[override]
        """What the member reads, in English."""
        return str(self.member_text)

    def localized(self, locale: str) -> str:
        """What the member reads, in ``locale``."""
        return self.member_text.render(locale)


class UnsupportedOption(ProviderError):
    """The option combination is not supported by the configured provider/model.

    ``message`` may be a :class:`~bot.i18n.Msg` (the model and choices as its
    parameters) so the member reads it in their language; ``str()`` is English.
    """

    def __init__(self, message: str | Msg, *, status: int | None = None) -> None:
        super().__init__(str(message), status=status)
        self.message = message

    @property
    def user_message(self) -> str:  # type: ignore[override]
        """What the member reads."""
        return str(self)

    def localized(self, locale: str) -> str:
        """What the member reads, in ``locale``."""
        if isinstance(self.message, Msg):
            return self.message.render(locale)
        return super().localized(locale)


class BadRequest(Detailed):
    """400: the provider refused the request as malformed."""

    template = N_("The video service refused the request: {reason}")


class ContentRejected(Detailed):
    """Content policy: the image, prompt or result was refused by moderation."""

    template = N_("The video service refused this content: {reason}")


class ProviderAuthError(ProviderError):
    """401: key missing or invalid. Operators must act; members see 'misconfigured'."""

    user_message = N_(
        "The bot is misconfigured (the video service rejected its key). An admin has to fix it."
    )


class ProviderOutOfCredit(ProviderError):
    """403: no permission or insufficient balance at the provider."""

    user_message = N_("The video service is out of credit. Please tell the server's admins.")


class ProviderRateLimited(ProviderError):
    """429: wait ``retry_after`` seconds and try again (bounded)."""

    retryable = True
    user_message = N_("The video service is busy. Please try again later.")

    def __init__(
        self, message: str, *, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """5xx, connection failures and timeouts talking to the provider."""

    retryable = True
    user_message = N_("The video service is busy or unreachable. Please try again later.")

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ProviderProtocolError(ProviderError):
    """The provider answered something we cannot understand (bad JSON, no URL...)."""

    user_message = N_("The video service sent an answer the bot could not understand.")


class GenerationFailed(Detailed):
    """The provider reports the job as failed (not a policy refusal we can recognise)."""

    template = N_("The video could not be made: {reason}")


class ProviderTimeout(ProviderError):
    """The job did not end within the overall time limit."""

    user_message = N_("The video took too long to make and was abandoned.")


class JobCancelled(ProviderError):
    """The job was cancelled at the provider."""

    user_message = N_("The video was cancelled.")


_POLICY_WORDS = re.compile(
    r"policy|moderation|safety|violat|inappropriate|sensitive|blocked|nsfw|celebrit|"
    r"real person|copyright|违规|审核|敏感",
    re.IGNORECASE,
)


def looks_like_policy(text: str) -> bool:
    """Whether a failure text is a content-policy refusal."""
    return bool(_POLICY_WORDS.search(text))


def failure_from_text(text: str) -> ProviderError:
    """A job-level failure message, typed: policy refusals become ContentRejected."""
    text = text.strip() or "the provider gave no reason"
    if looks_like_policy(text):
        return ContentRejected(text)
    return GenerationFailed(text)


def error_for_status(
    status: int, message: str, *, retry_after: float | None = None
) -> ProviderError:
    """Map an HTTP error status and the provider's message to a typed error."""
    if status == 401:
        return ProviderAuthError(f"HTTP 401: {message}", status=status)
    if status in {402, 403}:
        return ProviderOutOfCredit(f"HTTP {status}: {message}", status=status)
    if status == 429:
        return ProviderRateLimited(f"HTTP 429: {message}", retry_after=retry_after)
    if status == 503 and looks_like_policy(message):
        # Some vendors send 503 for policy refusals, "actually 400".
        return ContentRejected(message, status=status)
    if status >= 500 or status in (408, 409):
        return ProviderUnavailable(
            f"HTTP {status}: {message}", status=status, retry_after=retry_after
        )
    if looks_like_policy(message):
        return ContentRejected(message, status=status)
    if status in {400, 422}:
        return BadRequest(message, status=status)
    return ProviderError(f"HTTP {status}: {message}", status=status)


def redact(text: str, *secrets: str | None) -> str:
    """Replace every occurrence of each secret (and Bearer tokens) in ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return re.sub(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}", r"\1***", text)


def refused_submission(error: ProviderError) -> bool:
    """Whether the provider answered a job's submission with a refusal (an HTTP error).

    Such a job was never taken, so the provider does not bill it. A gateway
    timeout (504) is the exception: the upstream may have started the job.
    Call it only for a failure before the provider gave the job an id; errors
    without a status (a timeout, a dropped connection) may hide an accepted job.
    """
    return error.status is not None and error.status != 504
