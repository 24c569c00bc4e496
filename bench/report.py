"""The side-by-side table on stdout and the JSON file in bench/results/."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

KINDS = ("floor", "rawfloor", "phxpy")
RSS_TARGET_KIB = 20.0
CPU_RATIO_TARGET = 0.70

Row = tuple[str, Callable[[dict[str, Any]], str], Callable[[dict[str, Any]], float] | None]


def _ratio(phxpy: float | None, floor: float | None) -> str:
    if not phxpy or not floor:
        return ""
    return f"{phxpy / floor:.2f}x ({phxpy / floor:.0%})"


ROWS: list[Row] = [
    ("clients joined", lambda r: f"{r['connect']['joined']}/{r['connect']['requested']}", None),
    (
        "connect+join rate (clients/s)",
        lambda r: f"{r['connect']['rate']:,.0f}",
        lambda r: r["connect"]["rate"],
    ),
    (
        "connect+join p50 / p99 (ms)",
        lambda r: f"{r['connect']['join_p50_ms']:.1f} / {r['connect']['join_p99_ms']:.1f}",
        None,
    ),
    (
        "server CPU per connect+join (us)",
        lambda r: f"{r['connect']['server_cpu_us_per_join']:,.0f}",
        lambda r: r["connect"]["server_cpu_us_per_join"],
    ),
    (
        "server RSS before -> after (MiB)",
        lambda r: f"{r['rss']['before_kib'] / 1024:.1f} -> {r['rss']['after_kib'] / 1024:.1f}",
        None,
    ),
    (
        "RSS per idle joined conn (KiB)",
        lambda r: f"{r['rss']['per_conn_kib']:.1f}",
        lambda r: r["rss"]["per_conn_kib"],
    ),
    ("fan-out frame (bytes)", lambda r: f"{r['fanout']['frame_bytes']}", None),
    (
        "deliveries (expected)",
        lambda r: f"{r['fanout']['delivered']:,} ({r['fanout']['expected']:,})",
        None,
    ),
    ("fan-out wall time (s)", lambda r: f"{r['fanout']['seconds']:.2f}", None),
    (
        "deliveries / s",
        lambda r: f"{r['fanout']['deliveries_per_s']:,.0f}",
        lambda r: r["fanout"]["deliveries_per_s"],
    ),
    ("server CPU for fan-out (s)", lambda r: f"{r['fanout']['server_cpu_s']:.2f}", None),
    (
        "deliveries / server CPU-s",
        lambda r: f"{r['fanout']['deliveries_per_server_cpu_s']:,.0f}",
        lambda r: r["fanout"]["deliveries_per_server_cpu_s"],
    ),
    (
        "latency p50 / p99 / max (ms)",
        lambda r: (
            f"{r['fanout']['p50_ms']:.1f} / {r['fanout']['p99_ms']:.1f} / "
            f"{r['fanout']['max_ms']:.1f}"
        ),
        None,
    ),
    (
        "lost / dup / out-of-order / dropped",
        lambda r: (
            f"{r['fanout']['lost']} / {r['fanout']['duplicates']} / "
            f"{r['fanout']['out_of_order']} / {r['fanout']['dropped_clients']}"
        ),
        None,
    ),
    (
        "server core taken by others (noise)",
        lambda r: f"{r['fanout']['server_core_others']:.0%}",
        None,
    ),
    ("load generator busy (CPU/wall)", lambda r: f"{r['fanout']['loadgen_busy']:.0%}", None),
]


def fanout_table(results: dict[str, dict[str, Any]]) -> str:
    kinds = [k for k in KINDS if k in results]
    compare = "floor" in results and "phxpy" in results
    width = 38
    lines = [
        f"{'':<{width}}"
        + "".join(f"{k:>22}" for k in kinds)
        + (f"{'phxpy/floor':>22}" if compare else "")
    ]
    for label, show, value in ROWS:
        line = f"{label:<{width}}" + "".join(f"{show(results[k]):>22}" for k in kinds)
        if compare and value is not None:
            line += f"{_ratio(value(results['phxpy']), value(results['floor'])):>22}"
        lines.append(line)
    return "\n".join(lines)


def pooled(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per server, over all rounds: deliveries and CPU summed (so the ratio weighs every
    delivery once), RSS per connection averaged, losses summed."""
    summary: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        runs = [r[kind] for r in rounds if kind in r]
        if not runs:
            continue
        delivered = sum(r["fanout"]["expected"] - r["fanout"]["lost"] for r in runs)
        cpu = sum(r["fanout"]["server_cpu_s"] for r in runs)
        joins = sum(r["connect"]["joined"] for r in runs)
        join_cpu = sum(r["connect"]["server_cpu_s"] for r in runs)
        summary[kind] = {
            "rounds": len(runs),
            "deliveries": delivered,
            "server_cpu_s": cpu,
            "deliveries_per_server_cpu_s": delivered / cpu if cpu else 0.0,
            "per_round_deliveries_per_server_cpu_s": [
                r["fanout"]["deliveries_per_server_cpu_s"] for r in runs
            ],
            "rss_per_conn_kib": sum(r["rss"]["per_conn_kib"] for r in runs) / len(runs),
            "server_cpu_us_per_join": join_cpu * 1e6 / joins if joins else 0.0,
            "connect_rate": sum(r["connect"]["rate"] for r in runs) / len(runs),
            "p50_ms": [r["fanout"]["p50_ms"] for r in runs],
            "p99_ms": [r["fanout"]["p99_ms"] for r in runs],
            "lost": sum(r["fanout"]["lost"] for r in runs),
            "duplicates": sum(r["fanout"]["duplicates"] for r in runs),
            "out_of_order": sum(r["fanout"]["out_of_order"] for r in runs),
        }
    floor, phx = summary.get("floor"), summary.get("phxpy")
    if floor and phx and floor["deliveries_per_server_cpu_s"]:
        phx["cpu_efficiency_vs_floor"] = (
            phx["deliveries_per_server_cpu_s"] / floor["deliveries_per_server_cpu_s"]
        )
        phx["per_round_cpu_efficiency_vs_floor"] = [
            r["phxpy"]["fanout"]["deliveries_per_server_cpu_s"]
            / r["floor"]["fanout"]["deliveries_per_server_cpu_s"]
            for r in rounds
            if "phxpy" in r and "floor" in r and r["floor"]["fanout"]["deliveries_per_server_cpu_s"]
        ]
    return summary


def summary_lines(summary: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for kind, s in summary.items():
        per_round = ", ".join(f"{v:,.0f}" for v in s["per_round_deliveries_per_server_cpu_s"])
        out.append(
            f"{kind:>6}: {s['deliveries_per_server_cpu_s']:,.0f} deliveries per server CPU-s "
            f"(rounds: {per_round}); RSS {s['rss_per_conn_kib']:.1f} KiB per idle joined "
            f"connection; {s['server_cpu_us_per_join']:,.0f} us server CPU per connect+join; "
            f"p50/p99 ms per round {s['p50_ms']!r}/{s['p99_ms']!r}; "
            f"lost {s['lost']}, duplicated {s['duplicates']}"
        )
    phx = summary.get("phxpy")
    if phx is not None:
        rss = phx["rss_per_conn_kib"]
        ok = "PASS" if rss <= RSS_TARGET_KIB else "FAIL"
        out.append(
            f"target RSS per idle joined connection <= {RSS_TARGET_KIB:.0f} KiB: "
            f"{ok} ({rss:.1f} KiB)"
        )
        bad = phx["lost"] + phx["duplicates"] + phx["out_of_order"]
        out.append(f"target nothing lost, nothing duplicated: {'PASS' if bad == 0 else 'FAIL'}")
        ratio = phx.get("cpu_efficiency_vs_floor")
        if ratio is not None:
            ok = "PASS" if ratio >= CPU_RATIO_TARGET else "FAIL"
            rounds = ", ".join(f"{v:.0%}" for v in phx["per_round_cpu_efficiency_vs_floor"])
            out.append(
                f"target deliveries per server CPU-s >= {CPU_RATIO_TARGET:.0%} of the floor: "
                f"{ok} ({ratio:.0%} pooled; per round {rounds})"
            )
    return out


def presence_table(result: dict[str, Any]) -> str:
    lines = [
        f"presence burst: {result['clients']} clients join {result['topic']} "
        f"(server {result['server']}, every joiner tracked)"
    ]
    for key, label in (
        ("joined", "clients joined"),
        ("complete_clients", "clients whose list became complete"),
        ("connect_seconds", "time to connect+join everybody (s)"),
        ("seconds_to_complete", "time until every list is complete (s)"),
        ("settle_after_last_join_s", "... of which after the last join (s)"),
        ("exact_lists", "lists exactly right at the end"),
        ("frames_per_member_mean", "presence frames per member (mean)"),
        ("frames_per_member_max", "presence frames per member (max)"),
        ("diffs_per_member_mean", "presence_diff frames per member (mean)"),
        ("bytes_per_member_mean", "presence bytes per member (mean)"),
        ("server_cpu_s", "server CPU during the burst (s)"),
        ("loadgen_busy", "load generator busy (CPU/wall)"),
        ("timed_out", "timed out"),
    ):
        value = result.get(key)
        text = f"{value:,.2f}" if isinstance(value, float) else f"{value}"
        lines.append(f"  {label:<44}{text:>16}")
    return "\n".join(lines)


def write_json(directory: Path, document: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / time.strftime("bench-%Y%m%d-%H%M%S.json")
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
