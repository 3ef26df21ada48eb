"""What the fake provider does: timings, quirks and injected faults, per server.

One :class:`Scenario` configures a fake server; tests mutate it between jobs and
read :class:`Recorder` to see what the bot sent. Everything here is plain data so
the CLI (``sora-bot fake-provider``) can set it from flags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ChatStyle = Literal["gptproto", "aitre", "reasoning", "html", "plain"]


@dataclass
class Scenario:
    """Behaviour of a fake provider. Defaults: a well-behaved, fast provider."""

    api_key: str = "test-key"
    auth_scheme: Literal["bearer", "raw", "any"] = "any"
    # Timing: the job takes ``steps`` progress steps of ``step_delay`` seconds each.
    steps: int = 4
    step_delay: float = 0.05
    queued_polls: int = 1  # task APIs: how many polls answer "queued" first
    # Faults.
    submit_errors: list[int] = field(default_factory=list)  # HTTP statuses, one per attempt
    poll_errors: list[int] = field(default_factory=list)  # statuses for the first status polls
    retry_after: float | None = None  # sent with 429/503 answers
    error_forever: int | None = None  # every request answers this status
    fail_at: int | None = None  # percent at which the job fails
    fail_reason: str = "This content may violate our content policies."
    insufficient_balance: bool = False  # 403 on submit
    never_finish: bool = False  # progress stalls below 100 forever
    malformed_json: bool = False  # status polls answer broken JSON once
    malformed_polls: int = 0  # the first N status polls of each job answer broken JSON
    # Seconds to wait before answering the next submits / status polls, one per request. A
    # client that gave up meanwhile (its timeout fired) gets nothing and no job is created.
    submit_delays: list[float] = field(default_factory=list)
    poll_delays: list[float] = field(default_factory=list)
    cut_poll_at: int | None = None  # drop the connection mid-answer on each job's Nth status poll
    unknown_status: str | None = None  # task APIs: this status value instead of "running"
    expired_files: int | None = None  # /files/... answers this status (404, 403): the link expired
    files_redirect: str | None = None  # /files/... redirects (302) here
    files_body: bytes | None = None  # /files/... answers these bytes (labelled video/mp4)
    check_image_size: bool = True  # reject an input image whose size is not the video size
    # chat protocol quirks
    chat_style: ChatStyle = "gptproto"
    crlf: bool = False
    token_chunks: bool = False  # split every event's text into tiny pieces
    cut_stream_at: int | None = None  # drop the connection at this percent
    no_url: bool = False  # stream ends (with [DONE]) without any video URL
    # generations protocol quirks
    lowercase_status: bool = False  # "in_progress"/"succeeded" instead of upper case
    numeric_progress: bool = False  # progress as a number rather than "36%"
    # The result URL handed out instead of the fake's own /files link (e.g. an internal host).
    result_url_override: str | None = None
    url_field: Literal["data.output", "data.outputs", "output", "video_url", "url"] = "data.output"
    # videos protocol quirks
    content_json: bool = False  # /content answers JSON {"url"} instead of bytes
    sora_video_url: bool = False  # the video object carries soraVideoUrl
    string_timestamps: bool = False
    poll_after_ms: int | None = None  # openai-poll-after-ms header on status answers
    expired_content: bool = False  # /content answers 404 (the download expired)
    # openrouter protocol knobs
    openrouter_end: Literal["completed", "cancelled", "expired"] = "completed"  # instead of success
    no_signed_urls: bool = False  # completed jobs carry no ``urls`` (only the content proxy)
    catalogue_body: str | None = None  # /videos/models answers this raw text instead
    catalogue_delay: float = 0.0  # seconds before /videos/models answers
    callback_origin: str | None = None  # deliver callbacks here (a reverse proxy's backend)


@dataclass
class Recorder:
    """What the fake provider saw, for assertions."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    submissions: int = 0
    deleted: list[str] = field(default_factory=list)

    def count(self, method: str, path_prefix: str) -> int:
        """How many requests matched ``method`` and started with ``path_prefix``."""
        return sum(
            1 for r in self.requests if r["method"] == method and r["path"].startswith(path_prefix)
        )
