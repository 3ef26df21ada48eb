"""The bench's table (stdout) and its JSON (``bench/results.json``)."""

from __future__ import annotations

from typing import Any

from bench.stats import ratio, rounded

RUN_COLUMNS = (
    ("label", "run", "{}"),
    ("n", "N", "{}"),
    ("succeeded", "ok", "{}"),
    ("completion_delay_p50", "delay p50 s", "{:.3f}"),
    ("completion_delay_p99", "delay p99 s", "{:.3f}"),
    ("discord_requests_per_job", "discord req/job", "{:.1f}"),
    ("discord_429", "429s", "{}"),
    ("refresh_gap_max", "max gap s", "{:.1f}"),
    ("provider_requests_per_job", "provider req/job", "{:.1f}"),
    ("peak_rss_mib", "peak MiB", "{:.0f}"),
    ("memory_per_job_kib", "KiB/job", "{:.0f}"),
    ("cpu_ms_per_progress_event", "CPU ms/event", "{:.2f}"),
)


def cell(value: Any, fmt: str) -> str:
    """One table cell; ``-`` for a missing value."""
    return "-" if value is None else fmt.format(value)


def table(rows: list[dict[str, Any]], columns: tuple[tuple[str, str, str], ...]) -> str:
    """A plain text table."""
    head = [title for _, title, _ in columns]
    body = [[cell(row.get(key), fmt) for key, _, fmt in columns] for row in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines)


def polling_ratios(ours: dict[str, Any], ref: dict[str, Any]) -> dict[str, float | None]:
    """How many times better our client is than the reference (> 1: better)."""
    return {
        "provider_requests_per_job": rounded(
            ratio(ours["provider_requests_per_job"], ref["provider_requests_per_job"]), 2
        ),
        "completion_delay_p50": rounded(
            ratio(ours["completion_delay_p50"], ref["completion_delay_p50"]), 2
        ),
        "completion_delay_p99": rounded(
            ratio(ours["completion_delay_p99"], ref["completion_delay_p99"]), 2
        ),
    }


def edit_ratios(ours: dict[str, Any], naive: dict[str, Any]) -> dict[str, float | None]:
    """How many times better the scheduler is than naive edits (> 1: better)."""
    return {
        "discord_requests_per_job": rounded(
            ratio(ours["discord_requests_per_job"], naive["discord_requests_per_job"]), 2
        ),
        "discord_429": rounded(ratio(ours["discord_429"], naive["discord_429"]), 2),
        "refresh_gap_max": rounded(ratio(ours["refresh_gap_max"], naive["refresh_gap_max"]), 2),
    }


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median credit operations per second, with every run's rate beside it."""
    rates = [r["credit_operations_per_second"] for r in runs]
    ranked = sorted(runs, key=lambda r: r["credit_operations_per_second"])
    return {**ranked[(len(ranked) - 1) // 2], "rounds": [round(x) for x in rates]}


def credit_ratios(sqlite: dict[str, Any], postgresql: dict[str, Any]) -> dict[str, float]:
    """PostgreSQL's credit operations per second over SQLite's (> 1: PostgreSQL is faster)."""
    base = sqlite["credit_operations_per_second"] or 1.0
    return {"ops_per_second": round(postgresql["credit_operations_per_second"] / base, 3)}


def failover_lines(run: dict[str, Any]) -> list[str]:
    """Two processes, one killed: the takeover against the lease, and the 429s."""
    columns = (
        ("n", "N", "{}"),
        ("killed_jobs", "killed jobs", "{}"),
        ("taken_over", "taken over", "{}"),
        ("takeover_p50_seconds", "takeover p50 s", "{:.2f}"),
        ("takeover_max_seconds", "takeover max s", "{:.2f}"),
        ("lease_seconds", "lease s", "{:.1f}"),
        ("succeeded", "ok", "{}"),
        ("discord_429", "429s", "{}"),
    )
    title = f"== Two bot processes, N={run['n']}, one killed midway (SIGKILL) =="
    ratios = {k: run[k] for k in ("takeover_p50_over_lease", "takeover_max_over_lease")}
    return [title, table([run], columns), f"ratios (takeover / lease): {ratios}"]


def render(results: dict[str, Any]) -> str:
    """The whole report as text."""
    out = ["", "== The bot at N concurrent jobs (videos protocol, polling) and with push =="]
    out.append(table([*results["runs"], results["push"]], RUN_COLUMNS))
    cmp_edits = results["edit_comparison"]
    out += ["", f"== Progress edits, N={cmp_edits['n']} streamed jobs: scheduler vs naive =="]
    out.append(table([cmp_edits["scheduler"], cmp_edits["naive"]], RUN_COLUMNS))
    out.append(f"ratios (naive / scheduler; > 1: the scheduler is better): {cmp_edits['ratios']}")
    poll = results["polling_comparison"]
    out += ["", f"== Polling, N={poll['n']}: our videos client vs openai create_and_poll =="]
    columns = (
        ("client", "client", "{}"),
        ("completed", "ok", "{}"),
        ("completion_delay_p50", "delay p50 s", "{:.3f}"),
        ("completion_delay_p99", "delay p99 s", "{:.3f}"),
        ("provider_requests_per_job", "requests/job", "{:.1f}"),
        ("client_cpu_seconds", "client CPU s", "{:.2f}"),
    )
    out.append(table([poll["ours"], poll["reference"]], columns))
    out.append(f"ratios (reference / ours; > 1 means ours is better): {poll['ratios']}")
    writers = results["sqlite"][0]["writers"]
    out += ["", f"== SQLite credits: {writers} concurrent writers =="]
    columns = (
        ("connections", "connections", "{}"),
        ("credit_operations_per_second", "ops/s", "{:.0f}"),
        ("reserved", "reserved", "{}"),
        ("settled", "settled", "{}"),
        ("refused", "refused", "{}"),
        ("max_kept_credits_per_member", "max kept", "{}"),
        ("daily_limit", "limit", "{}"),
        ("overspent", "overspent", "{}"),
        ("ledger_matches_jobs", "ledger ok", "{}"),
    )
    out.append(table(results["sqlite"], columns))
    pg = results["postgresql"]
    out += [
        "",
        f"== PostgreSQL credits: {pg['writers']} writers over {pg['processes']} processes ==",
    ]
    out.append(table([pg], (("processes", "processes", "{}"), *columns[1:])))
    one_store = results["sqlite"][0]["rounds"]
    out.append(
        f"ops/s of each round, taking turns: SQLite one connection {one_store},"
        f" PostgreSQL {pg['rounds']} (the median round is shown)"
    )
    out.append(f"ratios (PostgreSQL / SQLite one connection): {results['credit_ratios']}")
    out.append(
        "reference (the same processes, SELECT 1 per pooled acquire):"
        f" {cell(pg.get('reference_round_trips_per_second'), '{:.0f}')} round trips/s;"
        f" credit ops / that ceiling: {pg.get('ops_over_round_trip_ceiling')}"
    )
    out += ["", *failover_lines(results["failover"])]
    out += ["", f"invariants: {results['invariants']}", ""]
    return "\n".join(out)
