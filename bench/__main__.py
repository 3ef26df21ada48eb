"""``python -m bench [--quick] [--out PATH]``: every measurement, a table and a JSON file.

What runs, in this order (each on fresh fakes and a fresh bot process):

1. the bot with N = 50, 200, 500 members asking at once (``videos`` protocol,
   polling with the provider's ``openai-poll-after-ms`` hint);
2. the same with push completion (``generations`` protocol, ``PUBLIC_BASE_URL``);
3. progress edits side by side: the scheduler against naive edits (one per
   progress event), on streamed ``chat`` jobs that report progress often;
4. polling side by side: our ``videos`` client against ``openai``'s
   ``videos.create_and_poll`` on the same fake server and job timings;
5. SQLite: credit reservations and settlements with 50 concurrent writers;
6. PostgreSQL: the same 50 writers spread over 4 processes, side by side
   with SQLite, the two taking turns for a few rounds (medians; ratios:
   PostgreSQL / SQLite);
7. two bot processes on one database with N = 500 jobs, one killed midway:
   from the kill to each of its jobs' next progress edit on the other
   process, against the lease (ratios), and Discord's 429s.

Numbers are whatever this machine measures; nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import botrun, failover, pg_bench, polling_cmp, sqlite_bench
from bench.botrun import BotRun
from bench.profile import FULL, QUICK, Profile
from bench.report import credit_ratios, edit_ratios, median_run, polling_ratios, render

DEFAULT_OUT = Path(__file__).resolve().parent / "results.json"


def say(text: str) -> None:
    """Progress of the bench itself, on stderr."""
    print(text, file=sys.stderr, flush=True)


async def run_all(profile: Profile) -> dict[str, Any]:
    """Every measurement of the profile."""
    started = time.monotonic()
    runs = []
    for n in profile.sizes:
        say(f"bot run: N={n} (videos, polling)...")
        runs.append(await botrun.execute(BotRun(f"videos N={n}", n), profile))
    say(f"bot run: N={profile.push_size} (generations, push)...")
    push = await botrun.execute(
        BotRun(f"push N={profile.push_size}", profile.push_size, "generations", push=True),
        profile,
    )
    n = profile.edit_compare_size
    edits = {}
    for strategy in ("scheduler", "naive"):
        say(f"edit comparison: N={n} streamed jobs, {strategy}...")
        edits[strategy] = await botrun.execute(
            BotRun(f"chat {strategy}", n, "chat", edits=strategy), profile
        )
    n_poll = profile.poll_compare_size
    polling = {}
    for client in ("ours", "openai"):
        say(f"polling comparison: N={n_poll}, {client} client...")
        polling[client] = await polling_cmp.client_run(client, n_poll, profile)
    workload = (
        profile.sqlite_writers,
        profile.sqlite_users,
        profile.sqlite_daily_limit,
        profile.sqlite_seconds,
    )
    # The two databases take turns, round after round, so that a slow spell of
    # the machine falls on both; each is reported by its median round.
    one_store, servers = [], []
    for round_ in range(1, profile.credit_rounds + 1):
        say(f"sqlite credits, round {round_}...")
        one_store.append(await sqlite_bench.credit_run(*workload, shared=True))
        say(f"postgresql credits ({profile.pg_processes} processes), round {round_}...")
        servers.append(await pg_bench.credit_run(*workload, processes=profile.pg_processes))
    say("sqlite credits, a connection per writer...")
    per_writer = await sqlite_bench.credit_run(*workload, shared=False)
    sqlite = [median_run(one_store), per_writer]
    postgresql = median_run(servers)
    credits = [*one_store, per_writer, *servers]
    say(f"two bot processes, N={profile.failover_size}, one killed midway...")
    takeover = await failover.run(profile.failover_size, profile)
    bot_runs = [*runs, push, edits["scheduler"]]
    invariants = {
        "every_job_finished": all(r["unfinished"] == 0 for r in [*bot_runs, edits["naive"]]),
        "every_job_succeeded": all(r["succeeded"] == r["n"] for r in bot_runs),
        "zero_429_with_scheduler": all(r["discord_429"] == 0 for r in bot_runs),
        "no_overspend": not any(s["overspent"] for s in credits),
        "ledger_exact": all(s["ledger_matches_jobs"] and s["unsettled_jobs"] == 0 for s in credits),
        "reference_completed_all": polling["openai"]["completed"] == n_poll,
        "ours_completed_all": polling["ours"]["completed"] == n_poll,
        "failover_every_job_ended": takeover["unfinished"] == 0,
        "failover_zero_429": takeover["discord_429"] == 0,
        "failover_one_submission_per_job": takeover["provider_submissions"] == takeover["n"],
    }
    return {
        "profile": asdict(profile),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "runs": runs,
        "push": push,
        "edit_comparison": {
            "n": n,
            "scheduler": edits["scheduler"],
            "naive": edits["naive"],
            "ratios": edit_ratios(edits["scheduler"], edits["naive"]),
        },
        "polling_comparison": {
            "n": n_poll,
            "ours": polling["ours"],
            "reference": polling["openai"],
            "ratios": polling_ratios(polling["ours"], polling["openai"]),
        },
        "sqlite": sqlite,
        "postgresql": postgresql,
        "credit_ratios": credit_ratios(sqlite[0], postgresql),
        "failover": takeover,
        "invariants": invariants,
        "bench_seconds": time.monotonic() - started,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the bench; exit status 1 when an invariant (not a timing) does not hold."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny N and short jobs (a smoke run)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON")
    args = parser.parse_args(argv)
    results = asyncio.run(run_all(QUICK if args.quick else FULL))
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))
    print(f"written to {args.out} in {results['bench_seconds']:.0f} s")
    return 0 if all(results["invariants"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
