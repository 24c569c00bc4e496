"""The side-by-side table on stdout and the JSON file in bench/results/."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
        "send loops / read tail (s)",
        lambda r: f"{r['fanout']['trigger_s']:.2f} / {r['fanout']['tail_s']:.2f}",
        None,
    ),
    ("load generator busy (CPU/wall)", lambda r: f"{r['fanout']['loadgen_busy']:.0%}", None),
]


def fanout_table(results: dict[str, dict[str, Any]]) -> str:
    kinds = [k for k in ("floor", "phxpy") if k in results]
    width = 38
    lines = [
        f"{'':<{width}}"
        + "".join(f"{k:>22}" for k in kinds)
        + (f"{'phxpy/floor':>22}" if len(kinds) == 2 else "")
    ]
    for label, show, value in ROWS:
        line = f"{label:<{width}}" + "".join(f"{show(results[k]):>22}" for k in kinds)
        if len(kinds) == 2 and value is not None:
            line += f"{_ratio(value(results['phxpy']), value(results['floor'])):>22}"
        lines.append(line)
    return "\n".join(lines)


def verdicts(results: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    phx = results.get("phxpy")
    floor = results.get("floor")
    if phx is not None:
        rss = phx["rss"]["per_conn_kib"]
        ok = "PASS" if rss <= RSS_TARGET_KIB else "FAIL"
        out.append(
            f"target RSS per idle joined connection <= {RSS_TARGET_KIB:.0f} KiB: "
            f"{ok} ({rss:.1f} KiB)"
        )
        lost = phx["fanout"]["lost"] + phx["fanout"]["duplicates"]
        out.append(f"target nothing lost, nothing duplicated: {'PASS' if lost == 0 else 'FAIL'}")
    if phx is not None and floor is not None:
        mine = phx["fanout"]["deliveries_per_server_cpu_s"]
        base = floor["fanout"]["deliveries_per_server_cpu_s"]
        if base:
            ratio = mine / base
            ok = "PASS" if ratio >= CPU_RATIO_TARGET else "FAIL"
            out.append(
                f"target deliveries per server CPU-s >= {CPU_RATIO_TARGET:.0%} of the "
                f"floor: {ok} ({ratio:.0%})"
            )
    return out


def presence_table(result: dict[str, Any]) -> str:
    lines = [
        f"presence burst: {result['clients']} clients join {result['topic']} (twin, "
        "every joiner tracked)"
    ]
    for key, label in (
        ("joined", "clients joined"),
        ("complete_clients", "clients whose list became complete"),
        ("seconds_to_complete", "time until every list is complete (s)"),
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
