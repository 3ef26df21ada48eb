"""Running ``sora-bot`` as a real subprocess, with only the settings a test gives it."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

#: Settings of the developer's own environment that must not leak into a run.
SETTING_PREFIXES = ("PROVIDER_", "DISCORD_")


@dataclass
class Result:
    """What the command printed, and its exit status."""

    code: int
    stdout: str
    stderr: str

    @property
    def last_out(self) -> str:
        """The last line of standard output."""
        return self.stdout.strip().splitlines()[-1]

    @property
    def last_err(self) -> str:
        """The last line of standard error."""
        return self.stderr.strip().splitlines()[-1]


def phone_photo(path: Path) -> Path:
    """A 4000x3000 JPEG at ``path``: a phone photo, not the size any provider wants."""
    Image.new("RGB", (4000, 3000), (30, 120, 200)).save(path, quality=80)
    return path


async def sora_bot(
    *args: str,
    cwd: Path,
    env: dict[str, str],
    timeout: float = 60,
    drop: Iterable[str] = SETTING_PREFIXES,
) -> Result:
    """``python -m bot.cli ARGS`` in ``cwd`` with ``env`` over this environment.

    Variables starting with one of ``drop`` are removed first, so only the
    test's settings apply.
    """
    prefixes = tuple(drop)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    environ.update(env)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args,
        cwd=cwd, env=environ,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())
