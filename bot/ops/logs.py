"""Logging that can never print a secret, as text or as JSON lines with the job id.

Every line about a job carries its id in JSON logs: :func:`bind_job` stores the
id in a context variable, which asyncio copies into every task created
afterwards from that task (so a job's background task, started after
``bind_job``, logs with the id too). :class:`JobLogAdapter` does the same for one
logger when binding the context is not convenient.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from bot.providers.errors import redact

job_id_var: ContextVar[int | None] = ContextVar("job_id", default=None)


def bind_job(job_id: int | None) -> None:
    """Mark the current task (and the tasks it creates from now on) as working on ``job_id``."""
    job_id_var.set(job_id)


@contextmanager
def job_context(job_id: int | None) -> Iterator[None]:
    """Tag log lines with ``job_id`` inside the block; the previous id comes back after."""
    token = job_id_var.set(job_id)
    try:
        yield
    finally:
        job_id_var.reset(token)


class JobLogAdapter(logging.LoggerAdapter[logging.Logger]):
    """A logger whose every record carries ``job_id``: ``JobLogAdapter(log, job.id)``."""

    def __init__(self, logger: logging.Logger, job_id: int) -> None:
        super().__init__(logger, {"job_id": job_id})

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        """Add ``job_id`` to the record's extras."""
        kwargs["extra"] = {**(kwargs.get("extra") or {}), **(self.extra or {})}
        return msg, kwargs


class RedactSecrets(logging.Filter):
    """Replaces the bot token and provider key in every record, whatever logged it."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the secrets from the message and the traceback; always keep the record."""
        message = record.getMessage()
        clean = redact(message, *self.secrets)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, *self.secrets)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, job_id when known, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line (no newlines inside: they are escaped)."""
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        job_id = getattr(record, "job_id", None)
        if job_id is None:
            job_id = job_id_var.get()
        if job_id is not None:
            data["job_id"] = job_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exception"] = record.exc_text
        if record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, ensure_ascii=False, default=str)


def make_handler(*secrets: str, json_format: bool = False, stream: Any = None) -> logging.Handler:
    """A stream handler (stderr by default) with the chosen format and secrets filtered out."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"
            )
        )
    handler.addFilter(RedactSecrets(*secrets))
    return handler


def setup_logging(level: str, *secrets: str, json_format: bool = False) -> None:
    """One stderr handler, text with timestamps or JSON lines, secrets filtered out."""
    root = logging.getLogger()
    root.handlers[:] = [make_handler(*secrets, json_format=json_format)]
    root.setLevel(level)
    logging.getLogger("discord").setLevel(max(logging.getLevelName(level), logging.INFO))
