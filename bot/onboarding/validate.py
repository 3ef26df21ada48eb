"""Pure checks of what an operator types: each returns a one-line reason, or None when fine."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from bot.config import PROTOCOLS

# A bot token is three base64url parts joined by dots: the bot's id, a timestamp
# and a signature. Anything else cannot be a token, whatever Discord would say.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# A trailing /v1 or /v2 is tolerated by the settings (and dropped); openrouter's
# paths start at /api/v1, so its address must be the bare origin.
TOLERATED_PATHS = {"chat": ("/v1",), "generations": ("/v1", "/v2"), "videos": ("/v1",)}


def token_problem(token: str) -> str | None:
    """Why ``token`` cannot be a Discord bot token, or None."""
    token = token.strip()
    if not token:
        return "the token is empty: copy it from the Developer Portal (Bot, Reset Token)"
    if token.lower().startswith("bot "):
        return "paste the token alone, without 'Bot ' in front"
    if token[0] in "'\"" or token[-1] in "'\"":
        return "paste the token without quotes"
    if not TOKEN_SHAPE.fullmatch(token):
        return (
            "that is not a bot token: a token is three parts of letters, digits, '-' and '_' "
            "joined by dots (copy it from the Bot tab, not the Client Secret or Public Key)"
        )
    return None


def protocol_problem(protocol: str) -> str | None:
    """Why ``protocol`` is not one the bot speaks, or None."""
    if protocol.strip().lower() in PROTOCOLS:
        return None
    return f"{protocol.strip()!r} is not a protocol the bot speaks: choose {', '.join(PROTOCOLS)}"


def base_url_problem(url: str, protocol: str) -> str | None:
    """Why ``url`` is not the provider's origin (``scheme://host[:port]``), or None."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        return f"{url!r} is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "give the provider's address with its scheme, like https://api.example.com"
    if parts.username or parts.password:
        return "leave credentials out of the URL: the API key is asked for next"
    if parts.query or parts.fragment:
        return "give only the origin, without ?query or #fragment"
    path = parts.path.rstrip("/")
    if path and path not in TOLERATED_PATHS.get(protocol, ()):
        return (
            f"give only the origin, like {parts.scheme}://{parts.netloc} "
            "(the bot adds each endpoint's path itself)"
        )
    return None


def api_key_problem(key: str) -> str | None:
    """Why ``key`` cannot be an API key, or None."""
    if not key.strip():
        return "the API key is empty: copy it from your provider's dashboard"
    if any(ch.isspace() for ch in key.strip()):
        return "an API key has no spaces: paste the key alone"
    if "${" in key:  # .env would expand it as a variable (python-dotenv, even when quoted)
        return (
            "a key containing '${' cannot be kept in .env; set PROVIDER_API_KEY in the environment"
        )
    return None


def model_problem(model: str) -> str | None:
    """Why ``model`` cannot be a model name, or None."""
    if not model.strip():
        return "the model name is empty"
    if any(ch.isspace() or ch == "," for ch in model.strip()):
        return "give one model name, without spaces or commas"
    return None


def guild_ids_problem(raw: str) -> str | None:
    """Why ``raw`` is not a comma-separated list of server ids (empty is fine), or None."""
    for part in (p.strip() for p in raw.split(",")):
        if part and not part.isdigit():
            return f"{part!r} is not a server id: server ids are numbers (Copy Server ID)"
    return None
