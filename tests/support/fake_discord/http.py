"""Request plumbing shared by every REST route: body parsing, auth, rate limits, recording.

Each route is a plain ``async def handler(ctx) -> Reply`` registered with
:func:`route`; :func:`wrap` turns it into an aiohttp handler that parses JSON
or multipart bodies, checks the bot token, applies rate limits, renders
:class:`~.errors.ApiError` as Discord's JSON and records the exchange.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, hdrs, web
from multidict import MultiMapping

from . import errors

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"


@dataclass
class UploadedFile:
    """One ``files[n]`` part of a multipart request, exactly as received."""

    field: str
    filename: str
    content_type: str | None
    data: bytes

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)


@dataclass
class RecordedRequest:
    """One REST exchange, in arrival order on ``FakeDiscord.requests``."""

    method: str
    route: str  # the route template, e.g. "/channels/{channel_id}/messages"
    path: str  # the concrete path without the /api/v10 prefix
    params: dict[str, str]
    query: dict[str, str]
    json: Any
    files: list[UploadedFile]
    bot_auth: bool
    at: float = field(default_factory=time.monotonic)
    status: int = 0
    response: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def error_code(self) -> int | None:
        """Discord's error ``code`` when the answer was an error body."""
        if isinstance(self.response, dict) and self.status >= 400:
            return self.response.get("code")
        return None


@dataclass
class Ctx:
    """What a route handler gets: the parsed request and the fake."""

    fake: FakeDiscord
    method: str
    params: dict[str, str]
    query: MultiMapping[str]
    json: Any
    files: list[UploadedFile]
    bot_auth: bool

    def flag(self, name: str) -> bool:
        """A boolean query parameter (``1``/``true``) such as ``wait`` or ``with_response``."""
        return self.query.get(name, "").lower() in ("1", "true")


@dataclass
class Reply:
    """A handler's successful answer; ``body=None`` means 204 No Content."""

    body: Any = None
    status: int = 200


Handler = Callable[[Ctx], Awaitable[Reply]]


@dataclass
class RouteDef:
    """A REST route: method, template under ``/api/v10``, handler, whether it needs a bot token."""

    method: str
    path: str
    handler: Handler
    bot_auth: bool


def route(
    table: list[RouteDef], method: str, path: str, *, bot_auth: bool = True
) -> Callable[[Handler], Handler]:
    """Decorator adding a handler to a module's route table."""

    def decorate(handler: Handler) -> Handler:
        table.append(RouteDef(method, path, handler, bot_auth))
        return handler

    return decorate


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response whose Content-Type is exactly ``application/json``.

    discord.py only parses bodies whose Content-Type equals that string, and
    aiohttp's ``json_response`` would append ``; charset=utf-8``.
    """
    all_headers = {hdrs.CONTENT_TYPE: "application/json", **(headers or {})}
    return web.Response(body=json.dumps(body).encode(), status=status, headers=all_headers)


async def parse_body(request: web.Request) -> tuple[Any, list[UploadedFile]]:
    """Decode a JSON body or a multipart body of ``payload_json`` + ``files[n]``."""
    if request.content_type == "multipart/form-data":
        payload: Any = None
        files: list[UploadedFile] = []
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.name == "payload_json":
                payload = _loads(await part.text())
            elif part.filename is not None:
                data = bytes(await part.read(decode=False))
                ctype = part.headers.get(hdrs.CONTENT_TYPE)
                files.append(UploadedFile(part.name, part.filename, ctype, data))
        return payload, files
    raw = await request.read()
    if not raw:
        return None, []
    return _loads(raw.decode()), []


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise errors.ApiError(400, 50109, "The request body contains invalid JSON.") from None


def wrap(
    fake: FakeDiscord, definition: RouteDef
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Turn a route definition into an aiohttp handler bound to ``fake``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        params = dict(request.match_info)
        record = RecordedRequest(
            method=request.method,
            route=definition.path,
            path=request.path.removeprefix(API_PREFIX),
            params=params,
            query=dict(request.query),
            json=None,
            files=[],
            bot_auth=request.headers.get(hdrs.AUTHORIZATION) == f"Bot {fake.token}",
        )
        key = f"{request.method} {definition.path}"
        if fake.cut_connections.get(key, 0) > 0:
            fake.cut_connections[key] -= 1
            await fake.record(record)  # status 0: no answer
            if request.transport is not None:
                request.transport.close()
            raise ConnectionResetError(f"fake discord: connection cut on {key}")
        try:
            record.json, record.files = await parse_body(request)
            response = await _answer(fake, definition, record, request.query)
        except errors.ApiError as exc:
            response = json_response(exc.body(), exc.status)
            record.response = exc.body()
        except ConnectionError:
            # The client hung up mid-request (a bot closing during an upload): nobody
            # is left to answer, and it is no bug of the fake.
            log.debug("fake discord: client went away during %s %s", request.method, request.path)
            raise
        except Exception as exc:
            # A bug in the fake: answer 400 rather than 500 (discord.py retries
            # 5xx for ~25 s) and keep the error, which FakeDiscord.close() raises.
            log.exception("fake discord crashed on %s %s", request.method, request.path)
            fake.internal_errors.append(exc)
            body = {"message": f"fake discord internal error: {exc!r}", "code": 0}
            response = json_response(body, 400)
            record.response = body
        record.status = response.status
        record.headers = dict(response.headers)
        if record.status >= 400:
            log.debug(
                "fake discord: %s %s -> %s %s",
                record.method,
                record.path,
                record.status,
                record.response,
            )
        await fake.record(record)
        return response

    return handle


async def _answer(
    fake: FakeDiscord, definition: RouteDef, record: RecordedRequest, query: MultiMapping[str]
) -> web.Response:
    if definition.bot_auth and not record.bot_auth:
        raise errors.unauthorized()
    limited, rl_headers = fake.rate_limits.check(
        bot_auth=record.bot_auth, route=definition.path, method=record.method, params=record.params
    )
    if limited is not None:
        record.response = limited.body
        return json_response(limited.body, 429, limited.headers)
    ctx = Ctx(fake, record.method, record.params, query, record.json, record.files, record.bot_auth)
    reply = await definition.handler(ctx)
    record.response = reply.body
    if reply.body is None:
        return web.Response(status=204, headers=rl_headers)
    return json_response(reply.body, reply.status, rl_headers)
