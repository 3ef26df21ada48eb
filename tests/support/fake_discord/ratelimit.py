"""Switchable rate limits that answer like Discord: 429 bodies and ``X-RateLimit-*``.

Every bucket is off until a test turns it on, e.g.::

    fake.rate_limits.webhook_edit = Bucket(limit=5, period=2.0)
    fake.rate_limits.global_ = Bucket(limit=50, period=1.0)

A bucket with ``headers=False`` hides its state (no ``X-RateLimit-*`` on
successes), like Discord's shared and sub-limits: discord.py cannot pace itself
against it and has to take the 429 and retry, which is what tests of retry
behaviour want.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

# discord.py treats a 429 without Via as a Cloudflare ban, so every 429 carries it.
VIA = "1.1 google"


@dataclass
class Bucket:
    """A fixed-window bucket: ``limit`` requests per ``period`` seconds, per key."""

    limit: int
    period: float
    headers: bool = True
    _windows: dict[str, tuple[float, int]] = field(default_factory=dict, repr=False)
    hits: int = 0  # how many requests this bucket answered with 429

    def take(self, key: str) -> tuple[bool, int, float]:
        """Count one request; returns (allowed, remaining, seconds until reset)."""
        now = time.monotonic()
        start, count = self._windows.get(key, (now, 0))
        if now >= start + self.period:
            start, count = now, 0
        reset_after = max(start + self.period - now, 0.001)
        if count >= self.limit:
            self.hits += 1
            return False, 0, reset_after
        self._windows[key] = (start, count + 1)
        return True, self.limit - count - 1, reset_after

    def state_headers(self, name: str, remaining: int, reset_after: float) -> dict[str, str]:
        """``X-RateLimit-*`` headers describing this bucket after a request.

        ``name`` becomes the bucket hash: like Discord's, it names the route's
        bucket, not the key (discord.py appends the major parameters itself).
        """
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": name,
        }


@dataclass
class Limited:
    """A 429 answer the HTTP layer renders."""

    body: dict[str, Any]
    headers: dict[str, str]

    def encoded(self) -> bytes:
        """The JSON body as bytes."""
        return json.dumps(self.body).encode()


@dataclass
class RateLimits:
    """The fake's buckets; ``None`` means off."""

    global_: Bucket | None = None  # all bot-token routes; interaction endpoints exempt
    webhook_edit: Bucket | None = None  # PATCH of interaction webhook messages, per token
    channel_messages: Bucket | None = None  # create/edit/delete channel messages, per channel
    responses_429: int = 0

    def check(
        self, *, bot_auth: bool, route: str, method: str, params: dict[str, str]
    ) -> tuple[Limited | None, dict[str, str]]:
        """Apply the buckets a request falls in; returns (429 or None, headers)."""
        interaction_route = route.startswith(("/webhooks/", "/interactions/"))
        if self.global_ is not None and bot_auth and not interaction_route:
            ok, _, reset_after = self.global_.take("global")
            if not ok:
                return self._limited(reset_after, scope="global"), {}
        name, key = self._route_bucket(route, method, params)
        bucket: Bucket | None = getattr(self, name) if name else None
        if bucket is None:
            return None, {}
        ok, remaining, reset_after = bucket.take(key)
        if not ok:
            extra = bucket.state_headers(name, 0, reset_after) if bucket.headers else {}
            scope = "user" if bucket.headers else "shared"
            return self._limited(reset_after, scope=scope, **extra), {}
        return None, bucket.state_headers(name, remaining, reset_after) if bucket.headers else {}

    @staticmethod
    def _route_bucket(route: str, method: str, params: dict[str, str]) -> tuple[str, str]:
        if method == "PATCH" and route.startswith("/webhooks/{app_id}/{token}/messages/"):
            return "webhook_edit", params["token"]
        if route.startswith("/channels/{channel_id}/messages") and method in (
            "POST",
            "PATCH",
            "DELETE",
        ):
            return "channel_messages", params["channel_id"]
        return "", ""

    def _limited(self, retry_after: float, *, scope: str, **extra: str) -> Limited:
        self.responses_429 += 1
        is_global = scope == "global"
        headers = {
            "Via": VIA,
            "Retry-After": str(max(1, round(retry_after))),
            "X-RateLimit-Scope": scope,
            **extra,
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": round(retry_after, 3),
            "global": is_global,
        }
        return Limited(body=body, headers=headers)
