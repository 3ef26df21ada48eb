"""Fake ``chat`` gateway: ``POST /v1/chat/completions`` streaming a video job.

Speaks like the real Sora-2 resellers: the job is narrated as free text
in ``chat.completion.chunk`` events, in one of several house styles
(``Scenario.chat_style``), and ends with a link to the video on this same server
(``/files/{task}.mp4``, served by the fake app). Faults come from the scenario.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
import uuid
from typing import Any

from aiohttp import web

from bot.fake_provider.common import (
    check_auth,
    error_response,
    image_size,
    injected_error,
    record,
)
from bot.fake_provider.scenario import Recorder, Scenario

log = logging.getLogger(__name__)

PATH = "/v1/chat/completions"
SIZES = {(720, 1280), (1280, 720)}
NO_URL_TEXT = "Sorry, I couldn't create a video from this request. Please try again later."
TOKEN = 3  # characters per content chunk when Scenario.token_chunks is set


def _message_parts(body: Any) -> tuple[str, str, str | None] | str:
    """``(model, text, image_url)`` from a chat request, or why it is refused."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    model = body.get("model")
    messages = body.get("messages")
    if not isinstance(model, str) or not model:
        return "model is required"
    if not isinstance(messages, list) or not messages:
        return "messages is required"
    content = messages[-1].get("content") if isinstance(messages[-1], dict) else None
    if isinstance(content, str):
        return model, content, None
    if not isinstance(content, list):
        return "messages[].content must be a string or an array"
    parts = [p for p in content if isinstance(p, dict)]
    texts = [str(p.get("text", "")) for p in parts if p.get("type") == "text"]
    images = [p.get("image_url") for p in parts if p.get("type") == "image_url"]
    urls = [i.get("url") for i in images if isinstance(i, dict)]
    image = urls[0] if urls and isinstance(urls[0], str) else None
    return model, "\n".join(texts), image


def _image_problem(url: str | None) -> str | None:
    """Why an inline image is refused (wrong size), the check the bot's fitting must pass."""
    if url is None or not url.startswith("data:"):
        return None  # a gateway fetches remote images itself; nothing to check here
    try:
        data = base64.b64decode(url.split(",", 1)[1], validate=True)
    except (IndexError, binascii.Error):
        return "Invalid image data URL"
    size = image_size(data)
    if size is None:
        return "Invalid image"
    if size not in SIZES:
        return f"Image must be 720x1280 or 1280x720 (got {size[0]}x{size[1]})"
    return None


class _Stream:
    """Writes ``chat.completion.chunk`` events the way the scenario says."""

    def __init__(self, resp: web.StreamResponse, scenario: Scenario, model: str) -> None:
        self.resp = resp
        self.scenario = scenario
        self.model = model
        self.id = "chatcmpl-" + uuid.uuid4().hex[:24]
        self.eol = "\r\n" if scenario.crlf else "\n"

    async def raw(self, text: str) -> None:
        """Write raw event-stream text."""
        data = text.encode()
        if not self.scenario.token_chunks:
            await self.resp.write(data)
            return
        # Split each event across writes at awkward points (mid-line, mid-character).
        cuts = sorted({1, len(data) // 3, len(data) // 2 + 1, len(data) - 1} - {0, len(data)})
        for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
            await self.resp.write(data[start:end])
            await asyncio.sleep(0)  # let each piece leave as its own write

    async def data(self, payload: str) -> None:
        """Write one ``data:`` event."""
        await self.raw(f"data: {payload}{self.eol}{self.eol}")

    async def chunk(self, delta: dict[str, Any], finish: str | None = None) -> None:
        """Write one ``chat.completion.chunk`` event carrying ``delta``."""
        obj = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        await self.data(json.dumps(obj, ensure_ascii=False))

    async def say(self, text: str, field: str = "content") -> None:
        """Send ``text`` in ``delta[field]``, in tiny pieces when the scenario wants."""
        size = TOKEN if self.scenario.token_chunks else len(text) or 1
        for start in range(0, len(text), size):
            await self.chunk({"role": "assistant", field: text[start : start + size]})

    async def comment(self, text: str) -> None:
        """Write an SSE comment (gateways send these as keep-alives)."""
        await self.raw(f": {text}{self.eol}{self.eol}")

    async def finish(self) -> None:
        """End the stream properly: ``finish_reason`` stop, then ``[DONE]``."""
        await self.chunk({}, finish="stop")
        await self.data("[DONE]")


def _echo(model: str, text: str, image: str | None) -> str:
    shown = image if image is None or not image.startswith("data:") else image[:48] + "..."
    echo = {"prompt": text, "model": model, "image_urls": [shown] if shown else []}
    return "```json\n" + json.dumps(echo, indent=2, ensure_ascii=False) + "\n```\n\n"


def _opening(style: str, echo: str, task: str) -> list[tuple[str, str]]:
    """``(field, text)`` pieces before the first progress step."""
    if style == "gptproto":
        head = [("content", echo), ("content", f"> ID: `{task}`\n\n"), ("content", "> 排队中")]
        dots = [("content", ".")] * 3
        return [*head, *dots, ("content", "\n\n> 生成中\n\n"), ("content", ">🏃 进度 ")]
    if style == "aitre":
        return [("content", "⌛️ Task queued, waiting for a free slot...\n")]
    if style == "reasoning":
        return [("reasoning_content", "**Video Generation Progress**: 0% (queued)\n")]
    if style == "html":
        return [("content", "> 排队中\n")]
    return [("content", "queued\n")]


def _progress(style: str, percent: int) -> tuple[str, str]:
    """``(field, text)`` of one progress step."""
    return {
        "gptproto": ("content", f"{percent}.."),
        "aitre": ("content", f"🏃 Progress: {percent}%\n"),
        "reasoning": (
            "reasoning_content",
            f"**Video Generation Progress**: {percent}% (processing)\n",
        ),
        "html": ("content", f"> 生成中 {percent}%\n"),
    }.get(style, ("content", f"{percent}%\n"))


def _success(style: str, url: str) -> str:
    if style == "gptproto":
        return f"\n\n> ✅ Video generated successfully, [click here]({url}) to view video~~~\n\n"
    if style == "aitre":
        return f"\n\nvideo generated successful,[click here]({url})"
    if style == "reasoning":
        preview = url.rsplit(".", 1)[0] + ".webp"
        return f"> 生成完成 ✅\n\n![preview]({preview})\n\n[在线播放▶️]({url})\n"
    if style == "html":
        return f"```html\n<video src='{url}' controls></video>\n```"
    return f"\nDone: {url}\n"


def _failure(style: str, reason: str) -> str:
    return f"\n\n> ❌ 生成失败: {reason}\n\n" if style == "gptproto" else f"\n\n{reason}\n"


async def _narrate(out: _Stream, scenario: Scenario, echo: str, url: str, task: str) -> str:
    """Play the job on the stream; returns how it ended (for the recorder)."""
    style = scenario.chat_style

    async def step(percent: int) -> None:
        field, text = _progress(style, percent)
        await out.say(text, field)

    await out.comment("keep-alive")
    for field, text in _opening(style, echo, task):
        if text == ".":
            await asyncio.sleep(scenario.step_delay)  # the queue takes a while
        await out.say(text, field)
    steps = max(scenario.steps, 1)
    percents = [round(100 * i / (steps + 1)) for i in range(1, steps + 1)]
    limits = [p for p in (scenario.fail_at, scenario.cut_stream_at) if p is not None]
    stop = min(limits) if limits else None
    for percent in percents:
        if stop is not None and percent >= stop:
            break
        await asyncio.sleep(scenario.step_delay)
        await step(percent)
    if stop is not None:
        await asyncio.sleep(scenario.step_delay)
        await step(stop)
        if stop == scenario.cut_stream_at:
            return "cut"  # the caller drops the connection: no finish, no [DONE]
        await out.say(_failure(style, scenario.fail_reason))
        await out.finish()
        return "failed"
    if scenario.never_finish:
        percent = percents[-1]
        while True:  # until the client goes away and a write fails
            await asyncio.sleep(scenario.step_delay)
            if percent < 99:
                percent += 1
                await step(percent)
            else:
                await out.comment("keep-alive")
    await asyncio.sleep(scenario.step_delay)
    await out.say("\n\n" + NO_URL_TEXT if scenario.no_url else _success(style, url))
    await out.finish()
    return "no_url" if scenario.no_url else "completed"


def add_routes(app: web.Application, scenario: Scenario, recorder: Recorder) -> None:
    """Serve the chat protocol on ``app``, driven by ``scenario``.

    Each request is recorded with its JSON and, once parsed, ``model``, ``text``
    and ``image_url`` (how the bot encoded its options) and, when the stream
    ends, ``outcome``: completed, failed, no_url, cut or disconnected.
    """

    async def completions(request: web.Request) -> web.StreamResponse:
        entry = await record(request, recorder, "json")
        refusal = check_auth(request, scenario) or injected_error(scenario, scenario.submit_errors)
        if refusal is not None:
            return refusal
        if scenario.insufficient_balance:
            return error_response(403, type_="insufficient_user_quota")
        parts = _message_parts(entry["json"])
        if isinstance(parts, str):
            return error_response(400, parts, type_="invalid_request_error")
        model, text, image = parts
        entry.update(model=model, text=text, image_url=image)
        problem = _image_problem(image) if scenario.check_image_size else None
        if problem is not None:
            return error_response(400, problem, type_="invalid_request_error")
        recorder.submissions += 1
        task = "task_" + uuid.uuid4().hex[:26]
        url = f"{request.url.origin()}/files/{task}.mp4"
        if entry["json"].get("stream") is not True:
            # Without streaming a gateway answers once, when the job is over.
            await asyncio.sleep(scenario.steps * scenario.step_delay)
            entry["outcome"] = "no_url" if scenario.no_url else "completed"
            answer = "\n\n" + NO_URL_TEXT if scenario.no_url else _success(scenario.chat_style, url)
            message = {"role": "assistant", "content": answer}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return web.json_response(
                {"id": task, "object": "chat.completion", "model": model, "choices": [choice]}
            )
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        try:
            outcome = await _narrate(
                _Stream(resp, scenario, model), scenario, _echo(model, text, image), url, task
            )
        except ConnectionError:  # the client went away (expected with never_finish)
            entry["outcome"] = "disconnected"
            return resp
        entry["outcome"] = outcome
        if outcome == "cut" and request.transport is not None:
            request.transport.close()
        return resp

    app.router.add_post(PATH, completions)
