"""The ``chat`` protocol: one streamed chat completion per video (Sora-2 resellers).

The request is a multimodal user message; the answer is Server-Sent Events
whose free text narrates the job and ends with a link to the video. A stream
cannot be resumed, so a cut connection or a restart fails the job.

Options go in the prompt (``PROVIDER_CHAT_OPTIONS=prompt``) or as
model-name suffixes (``model``, AITRE-style: ``sora_video2-hd-portrait-15s``).
Such gateways document only the bare ``sora_video2``, stating no defaults, and a
gateway answers an unknown name with 503 "no available channel"; so a request
for the bare model's defaults sends ``PROVIDER_MODEL`` exactly as configured.
Those defaults are assumed to be **portrait, 10 s, not HD** (portrait is the
Sora app's default; 10 s is the shortest offered, the suffixes seen being
``-15s``/``-25s``, never ``-10s``). Any other choice makes a suffixed name that
always names the orientation, as every combined suffix seen in the wild does.

A URL found in the member's prompt or image link is never taken as the result,
even when the gateway echoes it back (see :mod:`bot.providers.textparse`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AsyncExitStack, aclosing
from typing import Any

import aiohttp

from bot.config import ProviderSettings
from bot.providers.base import (
    ASPECT_RATIOS,
    END_EVENTS,
    SIZES_720P,
    Capabilities,
    Completed,
    Event,
    Failed,
    ModelSpec,
    Orientation,
    Progress,
    Queued,
    VideoRequest,
)
from bot.providers.errors import (
    ContentRejected,
    ProviderError,
    ProviderOutOfCredit,
    ProviderProtocolError,
    ProviderTimeout,
    ProviderUnavailable,
    error_for_status,
    failure_from_text,
    looks_like_policy,
)
from bot.providers.http import ProviderHTTP
from bot.providers.sse import SSEDecoder, SSEError, SSEEvent
from bot.providers.textparse import StreamTranscript, extract_video_url, failure_text

log = logging.getLogger(__name__)

PATH = "/v1/chat/completions"
SIZES = SIZES_720P
RATIOS = ASPECT_RATIOS
PROMPT_DURATIONS = (5, 10, 15)  # options in the prompt: at most 15 s
MODEL_DURATIONS = (10, 15, 25)  # model suffixes "-15s"/"-25s"; none means 10 s
MODEL_BASE_DURATION = 10
MODEL_BASE_ORIENTATION: Orientation = "portrait"  # assumed for the bare name: see above
IDLE_TIMEOUT = 120.0  # gateways go quiet for a while between progress lines
_OUT_OF_CREDIT = re.compile(r"quota|balance|credit|insufficient", re.IGNORECASE)


class ChatProvider:
    """A chat-completions gateway that streams a video job as prose."""

    name = "chat"

    def __init__(self, session: aiohttp.ClientSession, settings: ProviderSettings) -> None:
        self.settings = settings
        self.http = ProviderHTTP(session, settings)
        in_model = settings.chat_options == "model"
        self.capabilities = Capabilities(
            models=tuple(
                ModelSpec(
                    name=name,
                    durations=MODEL_DURATIONS if in_model else PROMPT_DURATIONS,
                    sizes=SIZES,
                    hd=in_model,
                )
                for name in settings.models or (settings.model,)
            ),
            resumable=False,
            cancellable=False,
        )

    def model_name(self, request: VideoRequest) -> str:
        """The model to send; in ``model`` mode options other than the defaults become suffixes.

        The bare model (portrait, 10 s, not HD) goes out exactly as configured;
        anything else becomes e.g. ``sora_video2-landscape`` or ``sora_video2-hd-portrait-15s``.
        """
        model = request.model or self.settings.model
        if self.settings.chat_options != "model":
            return model
        bare = (
            not request.hd
            and request.orientation == MODEL_BASE_ORIENTATION
            and request.duration == MODEL_BASE_DURATION
        )
        if bare:
            return model
        parts = [model, *(["hd"] if request.hd else []), request.orientation]
        if request.duration != MODEL_BASE_DURATION:
            parts.append(f"{request.duration}s")
        return "-".join(parts)

    def prompt_text(self, request: VideoRequest) -> str:
        """The text part; in ``prompt`` mode it also carries duration and orientation."""
        if self.settings.chat_options == "model":
            return request.prompt
        ratio = RATIOS[request.orientation]
        return (
            f"{request.prompt}\n\nduration: {request.duration} seconds\n"
            f"orientation: {request.orientation} ({ratio})"
        )

    def image_url(self, request: VideoRequest) -> str | None:
        """The image as the gateway should fetch it: inline, or the original URL."""
        image = request.image
        if image is None:
            return None
        if self.settings.image_mode == "url" and image.source_url:
            return image.source_url
        return image.data_url()

    def echoed(self, request: VideoRequest) -> tuple[str, ...]:
        """What the member put in the request, which a gateway may echo: never the result."""
        texts = [request.prompt, self.prompt_text(request)]
        if request.image is not None and request.image.source_url:
            texts.append(request.image.source_url)
        return tuple(texts)

    def build_body(self, request: VideoRequest) -> dict[str, Any]:
        """The JSON body of the chat completion request."""
        content: list[dict[str, Any]] = [{"type": "text", "text": self.prompt_text(request)}]
        url = self.image_url(request)
        if url is not None:
            content.append({"type": "image_url", "image_url": {"url": url}})
        return {
            "model": self.model_name(request),
            "stream": True,
            "messages": [{"role": "user", "content": content}],
        }

    async def generate(self, request: VideoRequest) -> AsyncIterator[Event]:
        """Stream the job; always ends with exactly one Completed or Failed."""
        try:
            async with aclosing(self._stream(request)) as events:
                async for event in events:
                    yield event
                    if isinstance(event, END_EVENTS):
                        return
        except ProviderError as exc:
            log.warning("chat job failed: %s: %s", type(exc).__name__, exc)
            yield Failed(exc)
            return
        except Exception as exc:  # a bug must still end the job (and refund it)
            log.exception("chat job crashed")
            yield Failed(ProviderError(f"unexpected error: {type(exc).__name__}"))
            return
        yield Failed(ProviderProtocolError("the chat stream ended without a result"))

    async def resume(self, task_id: str) -> AsyncIterator[Event]:
        """A chat stream cannot be picked up again: the job has failed (and is refunded)."""
        yield Failed(ProviderError("a chat job cannot be resumed after a restart"))

    async def cancel(self, task_id: str) -> None:
        """Nothing to do: closing the stream is all a chat gateway offers."""

    async def _stream(self, request: VideoRequest) -> AsyncGenerator[Event, None]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.job_timeout
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=self.settings.request_timeout,
            sock_read=max(self.settings.request_timeout, IDLE_TIMEOUT),
        )
        body = self.build_body(request)
        log.info("chat: submitting model=%s duration=%ss", body["model"], request.duration)
        reader = _ChatReader(self.http.redact, echoed=self.echoed(request))
        async with AsyncExitStack() as stack:
            try:
                async with asyncio.timeout_at(deadline):
                    resp = await stack.enter_async_context(
                        self.http.open("POST", PATH, json=body, timeout=timeout)
                    )
                    whole = None
                    if resp.content_type == "application/json":  # stream ignored: one answer
                        whole = await resp.text(errors="replace")
            except TimeoutError:
                raise self._timeout() from None
            if whole is not None:
                reader.payload(whole)
                yield reader.final()
                return
            decoder = SSEDecoder()
            chunks = resp.content.iter_any()
            finished = False
            while not finished:
                chunk = await self._next_chunk(chunks, deadline)
                try:
                    sse_events = decoder.feed(chunk) if chunk is not None else decoder.flush()
                except SSEError as exc:
                    raise ProviderProtocolError(str(exc)) from None
                finished = chunk is None
                progress: list[Event] = []
                error: ProviderError | None = None
                try:
                    for sse in sse_events:  # one at a time: a read may hold queued and generating
                        finished = reader.event(sse) or finished
                        progress += reader.progress()
                        if finished:
                            break
                except ProviderError as exc:
                    error = exc  # still report the progress read before it
                for event in progress:
                    yield event
                if error is not None:
                    raise error
            yield reader.final()

    async def _next_chunk(self, chunks: AsyncIterator[bytes], deadline: float) -> bytes | None:
        """The next bytes of the stream, None at its end; typed errors for cuts and time."""
        try:
            async with asyncio.timeout_at(deadline):
                return await anext(chunks, None)
        except TimeoutError as exc:
            if asyncio.get_running_loop().time() >= deadline:
                raise self._timeout() from None
            raise ProviderUnavailable(f"the stream went quiet: {exc!r}") from None
        except (aiohttp.ClientError, ConnectionError) as exc:
            # Never retried: a chat stream cannot be resumed, and resubmitting would pay twice.
            message = f"the stream was cut before the video was ready: {exc!r}"
            raise ProviderUnavailable(self.http.redact(message)) from None

    def _timeout(self) -> ProviderTimeout:
        return ProviderTimeout(f"no video within {self.settings.job_timeout:g} s")


class _ChatReader:
    """Turns chat completion chunks into progress events and one final event."""

    def __init__(self, redact: Callable[[str], str], echoed: tuple[str, ...] = ()) -> None:
        self.redact = redact
        self.echoed = echoed  # the request's own texts: a URL found there is not the answer
        self.content = StreamTranscript()
        self.reasoning = StreamTranscript()  # some proxies narrate progress here
        self.last_percent = 0.0
        self.queued = False
        self.generating = False

    def event(self, sse: SSEEvent) -> bool:
        """Read one SSE event; True when it ends the stream."""
        if sse.is_done:
            return True
        return self.payload(sse.data)

    def payload(self, data: str) -> bool:
        """Read one ``data`` payload (a chunk, or a whole completion); True when it ends."""
        try:
            objects: list[Any] = [json.loads(data)]
        except ValueError:
            lines = [line for line in data.splitlines() if line.strip()]
            if not all(line.lstrip().startswith("{") for line in lines):
                self.content.add(data)  # some proxies stream bare text
                return False
            objects = []  # several JSON lines glued into one event, or garbage
            for line in lines:
                try:
                    objects.append(json.loads(line))
                except ValueError:
                    log.debug("chat: skipping a malformed chunk (%d chars)", len(line))
        return any([self._chunk(obj) for obj in objects])  # a list: read every object

    def _chunk(self, obj: Any) -> bool:
        if not isinstance(obj, dict):
            return False
        if obj.get("error"):
            raise self._error(obj["error"])
        finished = False
        for choice in (obj.get("choices") or [])[:1]:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or choice.get("message")
            delta = delta if isinstance(delta, dict) else {}
            channels = ((self.content, "content"), (self.reasoning, "reasoning_content"))
            for transcript, key in channels:
                text = delta.get(key)
                if isinstance(text, list):  # content parts instead of a string
                    text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
                if isinstance(text, str) and text:
                    transcript.add(text)
            reason = choice.get("finish_reason")
            if reason == "content_filter":
                raise ContentRejected(self._reason() or "the provider's content filter refused it")
            finished = finished or bool(reason) or "message" in choice
        return finished

    def _error(self, error: Any) -> ProviderError:
        """The typed error for an ``{"error": {...}}`` object sent inside the stream."""
        if not isinstance(error, dict):
            return failure_from_text(self.redact(str(error)))
        message = self.redact(str(error.get("message") or error.get("type") or error))
        for key in ("status", "code", "type"):
            status = str(error.get(key, ""))
            if status.isdigit() and 400 <= int(status) < 600:
                return error_for_status(int(status), message)
        kind = " ".join(str(error.get(key) or "") for key in ("type", "code"))
        if _OUT_OF_CREDIT.search(kind):
            return ProviderOutOfCredit(message)
        if looks_like_policy(kind):
            return ContentRejected(message)
        return failure_from_text(message)

    def progress(self) -> list[Event]:
        """The Queued/Progress events the text read so far calls for (deduplicated)."""
        events: list[Event] = []
        status = self.content.status or self.reasoning.status
        percents = [p for p in (self.content.percent, self.reasoning.percent) if p is not None]
        if status == "queued" and not self.queued and not self.generating:
            self.queued = True
            events.append(Queued())
        if percents and max(percents) > self.last_percent:
            self.last_percent = max(percents)
            self.generating = True
            events.append(Progress(self.last_percent))
        elif status == "generating" and not self.generating:
            self.generating = True
            events.append(Progress(None))
        return events

    def _reason(self) -> str:
        return self.redact(failure_text(self.content.text) or failure_text(self.reasoning.text))

    def final(self) -> Event:
        """Completed with the video link, or Failed with the text as the reason."""
        url = extract_video_url(self.content.text, self.echoed) or extract_video_url(
            self.reasoning.text, self.echoed
        )
        if url is not None:
            log.info("chat: video ready at %s", self.redact(url))
            return Completed(url=url)
        return Failed(failure_from_text(self._reason() or "the stream ended without a video link"))
