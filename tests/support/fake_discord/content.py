"""Applying a create/edit body to a message, with Discord's validation.

Catches what real Discord rejects, so a bot bug fails in tests rather than in
production: content over 2000 characters, more than 10 embeds or 6000 embed
characters, empty messages, bad custom_ids, and files over the upload limit
(413 / 40005).
"""

from __future__ import annotations

import io
import mimetypes
import re
from typing import TYPE_CHECKING, Any

from . import errors
from .http import UploadedFile
from .models import (
    FLAG_COMPONENTS_V2,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    FLAG_SUPPRESS_EMBEDS,
    FLAG_SUPPRESS_NOTIFICATIONS,
    FakeMessage,
    StoredFile,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

REQUEST_SIZE_LIMIT = 25 * 1024 * 1024
_CREATE_FLAGS = (
    FLAG_SUPPRESS_EMBEDS | FLAG_EPHEMERAL | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_COMPONENTS_V2
)
_EDIT_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_COMPONENTS_V2
_USER_MENTION = re.compile(r"<@!?(\d+)>")
_UNSAFE = re.compile(r"[^\w.\-]")


def image_size(data: bytes) -> tuple[int | None, int | None]:
    """Width and height of an image, like Discord reports for image attachments."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            return img.width, img.height
    except Exception:
        return None, None


def store_file(
    fake: FakeDiscord,
    channel_id: int,
    filename: str,
    data: bytes,
    content_type: str | None = None,
    **extra: Any,
) -> StoredFile:
    """Keep bytes on the fake's CDN and describe them as Discord would.

    Discord rewrites file names (spaces and most punctuation become ``_``);
    the stored name is the rewritten one, as in the attachment object.
    """
    filename = _UNSAFE.sub("_", filename) or "unknown"
    file_id = fake.ids.next()
    ctype = content_type or mimetypes.guess_type(filename)[0]
    width, height = extra.pop("width", None), extra.pop("height", None)
    if width is None and ctype and ctype.startswith("image/"):
        width, height = image_size(data)
    url = f"{fake.base_url}/attachments/{channel_id}/{file_id}/{filename}"
    stored = StoredFile(file_id, filename, data, ctype, url, width, height, **extra)
    fake.cdn[file_id] = stored
    return stored


def apply(
    fake: FakeDiscord,
    msg: FakeMessage,
    body: Any,
    files: list[UploadedFile],
    *,
    creating: bool,
    upload_limit: int,
    ephemeral_files: bool = False,
) -> None:
    """Validate ``body``/``files`` and write them into ``msg``; raises ApiError.

    Nothing in ``msg`` changes when validation fails.
    """
    body = body if isinstance(body, dict) else {}
    _validate(body, files, upload_limit)
    attachments = _attachments(fake, msg, body, files, creating, ephemeral_files)
    # A key left out of an edit keeps its value; ``null`` clears it.
    content = body.get("content", None if creating else msg.content)
    embeds = body.get("embeds", None if creating else msg.embeds)
    components = body.get("components", msg.components)
    # Discord refuses an edit that would leave the message empty as well.
    if not (content or embeds or attachments or components or body.get("poll")):
        raise errors.empty_message()
    msg.content = content or ""
    msg.embeds = list(embeds or [])
    msg.components = _with_ids(list(components or []))
    msg.attachments = attachments
    if "flags" in body and body["flags"] is not None:
        allowed = _CREATE_FLAGS if creating else _EDIT_FLAGS
        msg.flags = (msg.flags & ~allowed) | (int(body["flags"]) & allowed)
    if not creating:
        msg.flags &= ~FLAG_LOADING
    msg.tts = bool(body.get("tts", msg.tts))
    if "allowed_mentions" in body or creating:
        msg.allowed_mentions = body.get("allowed_mentions")
    if body.get("message_reference"):
        msg.message_reference = body["message_reference"]
    _mentions(fake, msg)


def _validate(body: dict[str, Any], files: list[UploadedFile], upload_limit: int) -> None:
    if any(f.size > upload_limit for f in files) or sum(f.size for f in files) > REQUEST_SIZE_LIMIT:
        raise errors.too_large()
    problems: dict[str, tuple[str, str]] = {}
    if len(body.get("content") or "") > 2000:
        problems["content"] = ("BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        problems["embeds"] = ("BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    for index, embed in enumerate(embeds):
        for key, limit in (("title", 256), ("description", 4096)):
            size = len(embed.get(key) or "")
            total += size
            if size > limit:
                problems[f"embeds.{index}.{key}"] = (
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {limit} or fewer in length.",
                )
        for field in embed.get("fields") or []:
            total += len(field.get("name") or "") + len(field.get("value") or "")
        total += len((embed.get("footer") or {}).get("text") or "")
        total += len((embed.get("author") or {}).get("name") or "")
    if total > 6000:
        problems["embeds"] = ("MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
    _validate_components(body.get("components") or [], "components", problems)
    if problems:
        raise errors.invalid_form(problems)


def _validate_components(
    items: list[dict[str, Any]], path: str, problems: dict[str, tuple[str, str]]
) -> None:
    for index, item in enumerate(items):
        here = f"{path}.{index}"
        if "custom_id" in item and not 1 <= len(item["custom_id"] or "") <= 100:
            problems[f"{here}.custom_id"] = (
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        if item.get("type") == 2 and len(item.get("label") or "") > 80:
            problems[f"{here}.label"] = ("BASE_TYPE_MAX_LENGTH", "Must be 80 or fewer in length.")
        if item.get("type") == 1 and len(item.get("components") or []) > 5:
            problems[f"{here}.components"] = (
                "BASE_TYPE_MAX_LENGTH",
                "Must be 5 or fewer in length.",
            )
        _validate_components(item.get("components") or [], f"{here}.components", problems)


def _attachments(
    fake: FakeDiscord,
    msg: FakeMessage,
    body: dict[str, Any],
    files: list[UploadedFile],
    creating: bool,
    ephemeral: bool,
) -> list[StoredFile]:
    """Resolve the ``attachments`` array: kept ids plus new ``files[n]`` uploads."""
    by_index = {int(f.field[6:-1]): f for f in files if f.field.startswith("files[")}
    others = [f for f in files if not f.field.startswith("files[")]
    declared = body.get("attachments")
    result: list[StoredFile] = []
    used: set[int] = set()
    if declared is None:
        result = [] if creating else list(msg.attachments)
    else:
        existing = {a.id: a for a in msg.attachments}
        for entry in declared:
            key = int(entry["id"])
            if key in by_index:
                used.add(key)
                upload = by_index[key]
                result.append(_store_upload(fake, msg, upload, entry, ephemeral))
            elif key in existing:
                result.append(existing[key])
    for index, upload in sorted(by_index.items()):
        if index not in used:
            result.append(_store_upload(fake, msg, upload, {}, ephemeral))
    result.extend(_store_upload(fake, msg, upload, {}, ephemeral) for upload in others)
    return result


def _store_upload(
    fake: FakeDiscord,
    msg: FakeMessage,
    upload: UploadedFile,
    entry: dict[str, Any],
    ephemeral: bool,
) -> StoredFile:
    return store_file(
        fake,
        msg.channel_id,
        entry.get("filename") or upload.filename,
        upload.data,
        description=entry.get("description"),
        ephemeral=ephemeral,
        upload_content_type=upload.content_type,
    )


def _with_ids(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Number components like Discord does (``id`` 1, 2, ... in tree order)."""
    counter = 0

    def walk(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        nonlocal counter
        out = []
        for item in items:
            counter += 1
            copy = {**item, "id": item.get("id") or counter}
            if "components" in item:
                copy["components"] = walk(item["components"])
            out.append(copy)
        return out

    return walk(components)


def _mentions(fake: FakeDiscord, msg: FakeMessage) -> None:
    """Who would be pinged, honouring ``allowed_mentions`` like Discord.

    ``mention_everyone`` ignores whether the bot has Mention Everyone: a test
    should catch a missing ``allowed_mentions`` even where the permission
    would have saved it.
    """
    allowed = msg.allowed_mentions
    parse = set(allowed.get("parse", [])) if allowed is not None else {"everyone", "users", "roles"}
    explicit_users = {int(u) for u in (allowed or {}).get("users", [])}
    mass = "@everyone" in msg.content or "@here" in msg.content
    msg.mention_everyone = mass and "everyone" in parse
    ids = [int(m) for m in _USER_MENTION.findall(msg.content)]
    msg.mention_ids = [i for i in dict.fromkeys(ids) if "users" in parse or i in explicit_users]
    if msg.message_reference and (allowed is None or allowed.get("replied_user", True)):
        ref = fake.messages.get(int(msg.message_reference.get("message_id", 0)))
        if ref is not None and ref.author.id not in msg.mention_ids:
            msg.mention_ids.append(ref.author.id)
