"""``sora-bot setup``: ask for the settings, check them, write ``.env``, print the invite link.

Plain prompts with the default in brackets; the token and the API key are read
without echo. A bad answer gets its question again with a one-line reason.
Nothing is written until the end, and an existing ``.env`` is replaced only
when the operator says so (its other settings are kept).
"""

from __future__ import annotations

import asyncio
import getpass
import io
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from dotenv import dotenv_values

from bot.config import OPENROUTER_MODEL, OPENROUTER_POLL, PROTOCOLS, normalize_base_url
from bot.onboarding import validate
from bot.onboarding.checks import run_checks, secrets_of
from bot.onboarding.envfile import render, write_env
from bot.onboarding.invite import invite_url
from bot.onboarding.report import Report, marks_for
from bot.onboarding.report import render as render_line

Checker = Callable[[Mapping[str, str]], Report]
DEFAULT_PROTOCOL = "videos"
# Where each protocol's best-known provider lives; resellers have their own addresses.
DEFAULT_BASE_URLS = {"openrouter": "https://openrouter.ai", "videos": "https://api.openai.com"}
PROTOCOL_HELP = (
    "  chat         POST /v1/chat/completions, streamed (GPTProto, AITRE, ...)",
    "  generations  the /v2/videos/generations task API",
    "  videos       OpenAI-style /v1/videos",
    "  openrouter   OpenRouter's /api/v1/videos (Veo, Seedance, Wan, Kling...)",
)


class Prompter(Protocol):
    """How the wizard talks: a question answered in clear, one answered hidden, a line."""

    def ask(self, prompt: str) -> str:
        """Show ``prompt`` and return the typed answer."""
        ...

    def secret(self, prompt: str) -> str:
        """Show ``prompt`` and return the answer typed without echo."""
        ...

    def say(self, text: str) -> None:
        """Show a line."""
        ...


class Terminal:
    """The real terminal: ``input``, ``getpass`` (no echo) and ``print``."""

    def ask(self, prompt: str) -> str:
        """Read a line."""
        return input(prompt)

    def secret(self, prompt: str) -> str:
        """Read a line without echoing it."""
        return getpass.getpass(prompt)

    def say(self, text: str) -> None:
        """Print a line."""
        print(text, flush=True)


def _run_checks(env: Mapping[str, str]) -> Report:
    return asyncio.run(run_checks(env))


class Wizard:
    """One run of the setup conversation in ``directory`` (where ``.env`` goes)."""

    def __init__(
        self,
        prompter: Prompter,
        directory: Path,
        *,
        checker: Checker = _run_checks,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.io = prompter
        self.path = directory / ".env"
        self.example = directory / ".env.example"
        self.checker = checker
        self.environ = dict(os.environ if environ is None else environ)

    def run(self) -> int:
        """The whole conversation; 0 once ``.env`` is written, 1 when nothing was."""
        say = self.io.say
        say("This asks for the bot's settings, checks them, and writes them to .env.")
        say(f"Nothing is written before the end (to {self.path}). Ctrl+C stops.")
        template = ""
        if self.path.exists():
            if not self._yes(".env already exists here. Replace it (its other settings are kept)?"):
                say("Left .env as it is. Run `sora-bot check` to test it.")
                return 1
            template = self.path.read_text(encoding="utf-8")
        elif self.example.is_file():
            template = self.example.read_text(encoding="utf-8")
        current = {k: v for k, v in dotenv_values(stream=io.StringIO(template)).items() if v}
        answers = {k: v for k, v in current.items() if k in _ASKED}
        while True:
            answers = self._questions(answers)
            env = {**current, **self.environ, **answers}
            say("\nChecking...")
            report = self.checker(env)
            marks = marks_for(sys.stdout)
            for line in report.lines:
                say(render_line(line, marks, secrets_of(env)))
            if report.passed or self._yes("Some checks failed. Save these settings anyway?"):
                break
            say("\nAgain, then (Enter keeps each answer):")
        write_env(self.path, render(template, answers))
        say(f"\nWrote {self.path} (readable by you only).")
        if report.application_id:
            say(f"Add the bot to your server: {invite_url(report.application_id)}")
        say("Start the bot with ./scripts/run; test the settings any time with `sora-bot check`.")
        return 0

    def _questions(self, old: Mapping[str, str]) -> dict[str, str]:
        """Every question once, each defaulting to the previous answer."""
        new = dict(old)
        new["DISCORD_TOKEN"] = self._ask(
            "Discord bot token (Developer Portal: your application, Bot, Reset Token)",
            old.get("DISCORD_TOKEN"),
            validate.token_problem,
            secret=True,
        )
        self.io.say("Provider protocols:\n" + "\n".join(PROTOCOL_HELP))
        protocol = self._ask(
            f"Protocol ({', '.join(PROTOCOLS)})",
            old.get("PROVIDER_PROTOCOL") or DEFAULT_PROTOCOL,
            validate.protocol_problem,
        ).lower()
        same = protocol == old.get("PROVIDER_PROTOCOL")
        url = self._ask(
            "Provider address (its origin, like https://api.example.com)",
            (old.get("PROVIDER_BASE_URL") if same else None) or DEFAULT_BASE_URLS.get(protocol),
            lambda value: validate.base_url_problem(value, protocol),
        )
        new["PROVIDER_PROTOCOL"] = protocol
        new["PROVIDER_BASE_URL"] = normalize_base_url(url)
        new["PROVIDER_API_KEY"] = self._ask(
            "Provider API key", old.get("PROVIDER_API_KEY"), validate.api_key_problem, secret=True
        )
        default_model = OPENROUTER_MODEL if protocol == "openrouter" else "sora-2"
        new["PROVIDER_MODEL"] = self._ask(
            "Model",
            (old.get("PROVIDER_MODEL") if same else None) or default_model,
            validate.model_problem,
        )
        if protocol == "openrouter":  # OpenRouter asks for 10-30 s between polls
            new["PROVIDER_POLL_INTERVAL"], new["PROVIDER_POLL_MAX_INTERVAL"] = (
                f"{OPENROUTER_POLL[0]:g}",
                f"{OPENROUTER_POLL[1]:g}",
            )
        else:  # back to the template's values, should an earlier pass have set them
            new.pop("PROVIDER_POLL_INTERVAL", None)
            new.pop("PROVIDER_POLL_MAX_INTERVAL", None)
        new["DISCORD_GUILD_IDS"] = self._ask(
            "Your server id, for instant command updates (optional; Developer Mode, "
            "right-click the server, Copy Server ID)",
            old.get("DISCORD_GUILD_IDS"),
            validate.guild_ids_problem,
            optional=True,
        ).replace(" ", "")
        return new

    def _ask(
        self,
        question: str,
        default: str | None,
        problem: Callable[[str], str | None],
        *,
        secret: bool = False,
        optional: bool = False,
    ) -> str:
        """Ask until the answer is fine; Enter takes ``default``."""
        if default and secret:
            question += " [Enter keeps the current one]"
        elif default:
            question += f" [{default}]"
        while True:
            typed = (self.io.secret if secret else self.io.ask)(question + ": ").strip()
            value = typed or default or ""
            if not value and optional:
                return ""
            reason = problem(value)
            if reason is None:
                return value
            self.io.say(f"  {reason}")

    def _yes(self, question: str) -> bool:
        while True:
            answer = self.io.ask(f"{question} [y/N]: ").strip().lower()
            if answer in ("", "n", "no"):
                return False
            if answer in ("y", "yes"):
                return True
            self.io.say("  answer y or n")


# The settings the wizard asks about (others in an existing .env are kept as they are).
_ASKED = {
    "DISCORD_TOKEN",
    "PROVIDER_PROTOCOL",
    "PROVIDER_BASE_URL",
    "PROVIDER_API_KEY",
    "PROVIDER_MODEL",
    "DISCORD_GUILD_IDS",
}


def main() -> int:
    """``sora-bot setup`` in the current directory."""
    try:
        return Wizard(Terminal(), Path.cwd()).run()
    except (KeyboardInterrupt, EOFError):
        print("\nsetup stopped; nothing was written.", file=sys.stderr)
        return 1
