"""The bench runs end to end with tiny N: every field is there and the invariants hold.

Only a smoke run: it checks what the bench reports exists and that the bot
finished every job without overspending or a 429, never how fast anything was.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN_FIELDS = {
    "label", "n", "succeeded", "failed", "unfinished", "completion_delay_p50",
    "completion_delay_p99", "discord_requests_per_job", "discord_429", "refresh_gap_max",
    "provider_requests_per_job", "peak_rss_mib", "memory_per_job_kib", "cpu_seconds",
    "cpu_ms_per_progress_event", "progress_events", "max_jobs_in_flight",
}  # fmt: skip
POLL_FIELDS = {
    "client", "n", "completed", "completion_delay_p50", "completion_delay_p99",
    "provider_requests_per_job", "status_polls_per_job",
}  # fmt: skip
SQLITE_FIELDS = {
    "connections", "writers", "reserved", "settled", "refused",
    "credit_operations_per_second", "max_kept_credits_per_member", "daily_limit",
    "overspent", "ledger_matches_jobs", "unsettled_jobs",
}  # fmt: skip


async def test_quick_bench_reports_every_field_and_keeps_the_invariants(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench", "--quick", "--out", str(out), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 110)
    assert proc.returncode == 0, stderr.decode()[-3000:]
    results = json.loads(out.read_text())

    runs = [*results["runs"], results["push"]]
    edits = results["edit_comparison"]
    for run in [*runs, edits["scheduler"], edits["naive"]]:
        assert set(run) >= RUN_FIELDS, RUN_FIELDS - set(run)
        assert run["unfinished"] == 0 and run["succeeded"] == run["n"]
    for run in [*runs, edits["scheduler"]]:
        assert run["discord_429"] == 0  # the scheduler keeps inside Discord's limits
        assert run["completion_delay_p99"] is not None or run["protocol"] == "chat"
    assert results["push"]["hooks_accepted"] == results["push"]["n"]  # completed by push
    assert set(edits["ratios"]) == {"discord_requests_per_job", "discord_429", "refresh_gap_max"}
    # Each side of the comparison ran the strategy it names, not the bot's default.
    assert edits["scheduler"]["edit_strategy"] == "EditScheduler"
    assert edits["naive"]["edit_strategy"] == "NaiveEdits"

    failover = results["failover"]  # process 0 killed: process 1 carried every job of it on
    assert failover["killed_jobs"] > 0 and failover["taken_over"] == failover["killed_jobs"]
    assert failover["discord_429"] == 0 and failover["unfinished"] == 0

    polling = results["polling_comparison"]
    for client in (polling["ours"], polling["reference"]):
        assert set(client) >= POLL_FIELDS, POLL_FIELDS - set(client)
        assert client["completed"] == polling["n"]
    assert set(polling["ratios"]) == {
        "provider_requests_per_job", "completion_delay_p50", "completion_delay_p99",
    }  # fmt: skip

    for db in results["sqlite"]:
        assert set(db) >= SQLITE_FIELDS, SQLITE_FIELDS - set(db)
        assert db["reserved"] > 0 and db["settled"] == db["reserved"]
        assert not db["overspent"] and db["max_kept_credits_per_member"] <= db["daily_limit"]
        assert db["ledger_matches_jobs"] and db["unsettled_jobs"] == 0
    pg = results["postgresql"]  # beside its reference: bare round trips on the same processes
    assert set(pg) >= SQLITE_FIELDS - {"connections"} | {"processes"}
    assert pg["reference_round_trips_per_second"] > 0
    assert pg["ops_over_round_trip_ceiling"] is not None
    assert set(results["credit_ratios"]) == {"ops_per_second"}
    rounds = results["profile"]["credit_rounds"]
    for median in (results["sqlite"][0], pg):  # the median of rounds taken in turn
        assert len(median["rounds"]) == rounds
        assert round(median["credit_operations_per_second"]) in median["rounds"]
    assert all(results["invariants"].values()), results["invariants"]
    assert "ratios" in stdout.decode()  # the table was printed
