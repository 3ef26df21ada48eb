"""A throwaway PostgreSQL cluster on 127.0.0.1, for the tests and ``scripts/test``.

One helper for both: ``scripts/test`` starts a cluster with ``python -m
tests.support.postgres start DIR`` (printing its URL for ``TEST_DATABASE_URL``)
and removes it with ``... stop DIR`` on exit; a plain ``pytest`` run without
``TEST_DATABASE_URL`` starts one the same way for the session (the fixtures
in :mod:`tests.support.pg_fixtures`); ``python -m bench`` starts one too. The PostgreSQL variants of
the tests therefore always run against a real server, never a mock.

PostgreSQL refuses to run as root, so as root the cluster runs as the
``postgres`` system user, in a directory that user owns. The server binaries
come from ``/usr/lib/postgresql/*/bin`` or ``PATH``; as root with apt they are
installed (``apt-get install -y postgresql``) when missing. Durability is off
(``fsync``, ``synchronous_commit``): a test cluster is thrown away anyway.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
    " -c full_page_writes=off -c max_connections=300 -c shared_buffers=64MB"
)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here, and they could not be installed."""


def find_bin() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``; installs them as root with apt if needed."""
    for attempt in range(2):
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
        on_path = shutil.which("pg_ctl")
        if on_path:
            candidates.append(str(Path(on_path).parent))
        for folder in candidates:
            if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
                return Path(folder)
        if attempt == 0 and os.geteuid() == 0 and shutil.which("apt-get"):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(
                ["apt-get", "install", "-y", "-q", "postgresql"],
                check=False,
                env=env,
                stdout=subprocess.DEVNULL,
            )
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install PostgreSQL"
        " (e.g. apt-get install postgresql) or set TEST_DATABASE_URL"
    )


def free_port() -> int:
    """A TCP port nobody listens on right now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner(command: list[str]) -> list[str]:
    """``command`` run as the ``postgres`` user when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _quiet(command: list[str]) -> None:
    """Run ``command``; its error output is kept for the CalledProcessError."""
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@dataclass(frozen=True)
class Cluster:
    """A running cluster: its directory, port and the URL of its ``postgres`` database."""

    directory: Path
    port: int
    bin: Path

    @property
    def url(self) -> str:
        """The superuser's URL (trust authentication, 127.0.0.1 only)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        stop(self.directory)


def start(directory: Path | None = None) -> Cluster:
    """Create and start a cluster in ``directory`` (a new temporary one by default)."""
    bin_dir = find_bin()
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="sora-pg-"))
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / "data"
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
    _quiet(_as_owner([*initdb, "--no-sync", "-E", "UTF8"]))
    port = free_port()
    options = f"-p {port} -k {directory} {SERVER_OPTIONS}"
    ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(directory / "server.log")]
    _quiet(_as_owner([*ctl, "-o", options, "-w", "start"]))
    (directory / "port").write_text(str(port))
    return Cluster(directory, port, bin_dir)


def stop(directory: Path) -> None:
    """Stop the cluster in ``directory`` (if running) and delete the directory."""
    data = directory / "data"
    if (data / "postmaster.pid").exists():
        ctl = [str(find_bin() / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
        subprocess.run(_as_owner(ctl), check=False, stdout=subprocess.DEVNULL)
    shutil.rmtree(directory, ignore_errors=True)


def database_url(server_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``server_url``."""
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"


def fresh_name(prefix: str = "t") -> str:
    """A unique database name."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


@asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """A new, empty database on the server, dropped afterwards; yields its URL."""
    name = fresh_name()
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield database_url(server_url, name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def main(argv: list[str]) -> int:
    """``start DIR`` prints the URL of a new cluster in DIR; ``stop DIR`` removes it."""
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: python -m tests.support.postgres start|stop DIR", file=sys.stderr)
        return 2
    directory = Path(argv[1])
    if argv[0] == "stop":
        stop(directory)
        return 0
    try:
        cluster = start(directory)
    except PostgresUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        print(f"error: PostgreSQL did not start: {detail[-1] if detail else exc}", file=sys.stderr)
        return 3
    print(cluster.url)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
