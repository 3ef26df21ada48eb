"""The ``sora-bot`` command: ``generate``, ``fake-provider`` and ``run``.

``generate`` runs one job with the configured provider and needs only the
``PROVIDER_*`` settings (with ``PROVIDERS``, ``--provider NAME`` picks one, the
first by default; a catalogue, where the provider has one, is read first):
progress goes to stderr, the result (a URL, or the path of the saved mp4) is
the last line of stdout. On failure nothing is printed on stdout and the last
line of stderr is a one-line reason. It runs the bot's own pipeline
(:mod:`bot.jobs.pipeline`): the same image preparation, event handling and
result fetch. ``--output`` never overwrites a file without ``--force`` and
never leaves a partial file behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import TextIO

import aiohttp
from dotenv import load_dotenv

from bot.config import PROTOCOLS, ConfigError, ProviderSettings, providers_from_env
from bot.errors import UserError
from bot.jobs import pipeline
from bot.media.download import DownloadError
from bot.ops.stats_cli import add_stats_parser, stats_command
from bot.providers.base import ORIENTATIONS, Completed, Failed, Orientation, VideoRequest
from bot.providers.errors import (
    ContentRejected,
    ProviderAuthError,
    ProviderError,
    ProviderOutOfCredit,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    UnsupportedOption,
    redact,
)
from bot.providers.factory import make_provider
from bot.ui.progress import ProgressState, format_elapsed, format_percent, render_bar

log = logging.getLogger(__name__)

MAX_VIDEO_BYTES = 1024 * 1024 * 1024


class CLIError(Exception):
    """A failure with a one-line reason for the operator."""


def cli_reason(error: ProviderError) -> str:
    """A one-line reason for the terminal: what happened and what to check."""
    if isinstance(error, ProviderAuthError):
        return (
            f"the provider rejected the API key ({error}); "
            "check PROVIDER_API_KEY and PROVIDER_AUTH_SCHEME"
        )
    if isinstance(error, ProviderOutOfCredit):
        return f"the provider refused: no permission or insufficient balance ({error})"
    if isinstance(error, UnsupportedOption):
        return str(error)
    if isinstance(error, ContentRejected):
        return f"the provider refused the content: {error}"
    if isinstance(error, ProviderRateLimited | ProviderUnavailable):
        return f"the provider is busy or unreachable: {error}"
    if isinstance(error, ProviderTimeout):
        return f"the job did not finish within PROVIDER_JOB_TIMEOUT: {error}"
    return f"the provider failed: {error}"


class StderrProgress:
    """Live progress on stderr: redrawn in place on a terminal, one line per change otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.last = ""

    def show(self, state: ProgressState) -> None:
        """Draw ``state`` if it differs from what is shown."""
        status = state.status or state.stage
        line = f"[{render_bar(state.percent, 30)}] {format_percent(state.percent)} {status}"
        if line == self.last:
            return
        self.last = line
        elapsed = format_elapsed(time.monotonic() - self.started)
        if self.tty:
            self.stream.write(f"\r\x1b[2K{line} ({elapsed})")
        else:
            self.stream.write(f"{line} ({elapsed})\n")
        self.stream.flush()

    def close(self) -> None:
        """End the in-place line so later output starts on a fresh one."""
        if self.tty and self.last:
            self.stream.write("\n")
            self.stream.flush()


class CliWatcher:
    """Follows the job for :func:`bot.jobs.pipeline.follow`: progress on stderr, the task id."""

    def __init__(self, display: StderrProgress) -> None:
        self.display = display
        self.task_id: str | None = None

    async def submitted(self, task_id: str, provider: str | None = None) -> None:
        """Say which task the provider made (handy when asking the provider about it)."""
        self.task_id = task_id
        where = f" at {provider}" if provider else ""
        self.display.stream.write(f"submitted: task {task_id}{where}\n")

    def show(self, state: ProgressState) -> None:
        """Draw the state."""
        self.display.show(state)


async def generate(args: argparse.Namespace, settings: ProviderSettings) -> str:
    """Run one job; returns the line to print on stdout (a URL or a file path)."""
    image_path = Path(args.image)
    try:
        raw = await asyncio.to_thread(image_path.read_bytes)
    except OSError as exc:
        raise CLIError(f"cannot read the image {str(image_path)!r}: {exc.strerror}") from None
    if args.output:  # refuse before anything is spent
        _refuse_existing(Path(args.output), args.force)
    orientation: Orientation = args.orientation

    async with aiohttp.ClientSession() as session:
        provider = make_provider(session, settings)
        await _read_catalogue(provider)
        try:
            spec, duration = provider.capabilities.validate(
                model=args.model or settings.model,
                duration=args.duration,
                orientation=orientation,
                hd=args.hd,
            )
            image = await pipeline.prepare(raw, spec, orientation, args.hd, settings)
        except (UnsupportedOption, UserError) as exc:
            raise CLIError(str(exc)) from None
        request = VideoRequest(
            prompt=args.prompt,
            image=image,
            duration=duration,
            orientation=orientation,
            model=spec.name,
            hd=args.hd,
        )
        watcher = CliWatcher(StderrProgress(sys.stderr))
        try:
            end = await pipeline.follow(provider.generate(request), watcher)
            if isinstance(end, Failed):
                raise CLIError(cli_reason(end.error))
            watcher.show(ProgressState("finishing", 100.0, "completed"))
        except pipeline.StreamEnded:  # a provider bug: the stream ended without an end event
            raise CLIError("the provider stream ended without a result") from None
        finally:
            watcher.display.close()
        return await _deliver(session, end, args, watcher.task_id, settings.base_url)


async def _read_catalogue(provider: object) -> None:
    """Read the provider's model catalogue first, when it has one (``openrouter``)."""
    load = getattr(provider, "load_catalogue", None)
    if load is None:
        return
    try:
        await load()
    except ProviderError as exc:
        sys.stderr.write(
            f"warning: the model catalogue could not be read ({exc}); "
            "using the configured models' defaults\n"
        )


def pick_provider(name: str | None) -> ProviderSettings:
    """The provider ``--provider`` names among ``PROVIDERS`` (default: the first)."""
    providers = providers_from_env(os.environ)
    if name is None:
        return providers[0]
    for settings in providers:
        if settings.label == name or settings.name.lower() == name.lower():
            return settings
    names = ", ".join(p.label for p in providers)
    raise ConfigError(f"--provider {name!r} is not configured; PROVIDERS has: {names}")


def _refuse_existing(path: Path, force: bool) -> None:
    if path.exists() and not path.is_dir() and not force:
        raise CLIError(f"{str(path)!r} already exists; pass --force to overwrite it")


def _destination(output: str | None, task_id: str | None) -> Path:
    """Where to save: ``--output`` as given, inside it when it is a directory, else here."""
    stamped = Path(f"sora-{time.strftime('%Y%m%d-%H%M%S')}.mp4")
    if output is None:
        return stamped
    path = Path(output)
    if not path.is_dir():
        return path
    if not task_id:
        return path / stamped
    return path / f"sora-{re.sub(r'[^A-Za-z0-9._-]', '_', task_id)[:80]}.mp4"


async def _deliver(
    session: aiohttp.ClientSession,
    result: Completed,
    args: argparse.Namespace,
    task_id: str | None,
    provider_url: str,
) -> str:
    """The stdout line: the URL, or where the video was saved."""
    if result.url and not args.output:
        return result.url
    dest = _destination(args.output, task_id)
    _refuse_existing(dest, args.force)
    try:
        saved = await pipeline.fetch_video(
            session, result, dest, max_bytes=MAX_VIDEO_BYTES, provider_url=provider_url
        )
    except DownloadError as exc:
        raise CLIError(str(exc)) from None
    if not saved:
        raise CLIError(f"the video is larger than {MAX_VIDEO_BYTES} bytes; not saved")
    return str(dest)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sora-bot", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="make one video with the configured provider")
    gen.add_argument("--image", required=True, help="path of the input image")
    gen.add_argument("--prompt", required=True, help="what should happen in the video")
    gen.add_argument("--duration", type=int, help="seconds (default: the model's shortest)")
    gen.add_argument("--orientation", choices=ORIENTATIONS, default="portrait")
    gen.add_argument("--model", help="model name (default: PROVIDER_MODEL)")
    gen.add_argument("--hd", action="store_true", help="HD output, where the model has it")
    gen.add_argument(
        "--output",
        help="save the mp4 to this file (or, for a directory, inside it as sora-<task>.mp4) "
        "instead of printing its URL",
    )
    gen.add_argument("--force", action="store_true", help="overwrite an existing --output file")
    gen.add_argument(
        "--provider", help="which of PROVIDERS to use (default: the first, or the one PROVIDER_*)"
    )

    fake = sub.add_parser("fake-provider", help="run a local fake provider for trying the bot")
    fake.add_argument("--protocol", choices=PROTOCOLS, required=True)
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=8089)
    fake.add_argument("--api-key", default="test-key", help="the key clients must send")
    fake.add_argument("--step-delay", type=float, default=1.0, help="seconds per progress step")
    fake.add_argument("--steps", type=int, default=10)
    fake.add_argument("--fail-at", type=int, help="fail with a policy refusal at this percent")
    fake.add_argument(
        "--chat-style",
        default="gptproto",
        choices=("gptproto", "aitre", "reasoning", "html", "plain"),
    )

    add_stats_parser(sub)
    migrate = sub.add_parser(
        "migrate-db", help="copy every table into an empty database (e.g. SQLite to PostgreSQL)"
    )
    migrate.add_argument("--from", dest="source", required=True, help="sqlite:PATH or a URL")
    migrate.add_argument(
        "--to", dest="target", required=True, help="postgresql://... or sqlite:PATH"
    )
    sub.add_parser("run", help="start the Discord bot (same as python -m bot)")
    sub.add_parser("check", help="check the settings, Discord token, database and providers")
    sub.add_parser("setup", help="first run: ask for the settings, check them, write .env")
    return parser


def _fake_provider(args: argparse.Namespace) -> int:
    from bot.fake_provider.app import serve
    from bot.fake_provider.scenario import Scenario

    scenario = Scenario(
        api_key=args.api_key,
        steps=args.steps,
        step_delay=args.step_delay,
        fail_at=args.fail_at,
        chat_style=args.chat_style,
    )
    print(
        f"fake {args.protocol} provider on http://{args.host}:{args.port} "
        f"(key {args.api_key!r}); Ctrl+C stops it",
        file=sys.stderr,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.protocol, args.port, scenario, host=args.host))
    return 0


def _migrate_db(args: argparse.Namespace) -> int:
    from bot.db.errors import StoreError
    from bot.db.transfer import transfer

    try:
        copied = asyncio.run(transfer(args.source, args.target))
    except StoreError as exc:  # refused or failed: nothing was written to the target
        return _fail(str(exc))
    print(f"copied {copied.summary()}")
    return 0


def _fail(message: str, code: int = 1) -> int:
    sys.stdout.flush()
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sora-bot`` console script."""
    args = _parser().parse_args(argv)
    if args.command in ("check", "setup"):  # they read (or write) ./.env themselves
        from bot.onboarding.command import run as onboarding

        return onboarding(args.command)
    load_dotenv(override=False)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "run":
        from bot.__main__ import main as run_bot

        return run_bot()
    if args.command == "fake-provider":
        return _fake_provider(args)
    if args.command == "stats":
        return stats_command(args)
    if args.command == "migrate-db":
        return _migrate_db(args)
    try:
        settings = pick_provider(args.provider)
    except ConfigError as exc:
        return _fail(str(exc), 2)
    try:
        line = asyncio.run(generate(args, settings))
    except CLIError as exc:
        return _fail(redact(str(exc), settings.api_key))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:  # a bug: still one line for the operator, details in debug log
        log.debug("generate failed", exc_info=True)
        return _fail(redact(f"unexpected {type(exc).__name__}: {exc}", settings.api_key))
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
