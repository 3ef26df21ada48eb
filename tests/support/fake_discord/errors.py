"""Discord's JSON error responses, raised inside handlers and rendered by ``http.py``."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer: HTTP status plus Discord's ``{"message", "code"}`` body."""

    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        """The JSON body Discord sends for this error."""
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def unauthorized() -> ApiError:
    """401 for a missing or wrong bot token."""
    return ApiError(401, 0, "401: Unauthorized")


def invalid_webhook_token() -> ApiError:
    """401 / 50027: an expired (older than 15 minutes) or unknown interaction token."""
    return ApiError(401, 50027, "Invalid Webhook Token")


def unknown_webhook() -> ApiError:
    """404 / 10015: a webhook id that is not the application id."""
    return ApiError(404, 10015, "Unknown Webhook")


def unknown_interaction() -> ApiError:
    """404 / 10062: callback too late (over 3 s) or for an interaction Discord never sent."""
    return ApiError(404, 10062, "Unknown interaction")


def already_acknowledged() -> ApiError:
    """400 / 40060: a second callback for the same interaction."""
    return ApiError(400, 40060, "Interaction has already been acknowledged.")


def unknown_message() -> ApiError:
    """404 / 10008: a deleted or never existing message."""
    return ApiError(404, 10008, "Unknown Message")


def unknown_channel() -> ApiError:
    """404 / 10003."""
    return ApiError(404, 10003, "Unknown Channel")


def missing_access() -> ApiError:
    """403 / 50001: the bot cannot see the channel."""
    return ApiError(403, 50001, "Missing Access")


def missing_permissions() -> ApiError:
    """403 / 50013: the bot sees the channel but lacks e.g. Send Messages."""
    return ApiError(403, 50013, "Missing Permissions")


def cannot_dm() -> ApiError:
    """403 / 50007: the user closed their DMs."""
    return ApiError(403, 50007, "Cannot send messages to this user")


def cannot_edit_others() -> ApiError:
    """403 / 50005: editing a message another user wrote."""
    return ApiError(403, 50005, "Cannot edit a message authored by another user")


def empty_message() -> ApiError:
    """400 / 50006: no content, embeds, files or components."""
    return ApiError(400, 50006, "Cannot send an empty message")


def too_large() -> ApiError:
    """413 / 40005: a file over the upload limit."""
    return ApiError(413, 40005, "Request entity too large")


def invalid_form(field_errors: dict[str, tuple[str, str]]) -> ApiError:
    """400 / 50035 with Discord's nested ``errors`` tree.

    ``field_errors`` maps a dotted path (``"embeds.0.description"``) to
    ``(error_code, message)``.
    """
    tree: dict[str, Any] = {}
    for path, (code, message) in field_errors.items():
        node = tree
        for part in path.split("."):
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return ApiError(400, 50035, "Invalid Form Body", tree)


def not_found() -> ApiError:
    """Plain 404 for routes the fake does not implement."""
    return ApiError(404, 0, "404: Not Found")
