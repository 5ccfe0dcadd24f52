#!/usr/bin/env python3
"""Prints the peer benchmark's last run as Markdown tables, one per group.

Reads bench/peers/target/criterion/<group>/<id>/new/{benchmark,estimates}.json as written by
`cargo bench --manifest-path bench/peers/Cargo.toml`. For each benchmark the figure is
criterion's headline estimate (the slope where criterion fitted one, else the mean):

- groups without throughput (peers_rtt): time per call, lower is better;
- groups with throughput (peers_pipelined, peers_stream): elements per second, higher is better.

Each figure is also given as a ratio to roam's and to the raw TCP floor's (where the group has
one), as "peer's figure / roam's figure", separately for ct and mt.

Usage: python3 bench/peers/report.py [CRITERION_DIR]
"""

import json
import sys
from pathlib import Path

FLAVORS = ["ct", "mt"]
PEER_ORDER = ["roam", "tarpc", "tonic", "raw"]
GROUP_ORDER = ["peers_rtt", "peers_pipelined", "peers_stream"]
TITLES = {
    "peers_rtt": "Unary round trip, 32-byte Vec<u8> echoed, sequential (time per call, lower is better)",
    "peers_pipelined": "Pipelined echo calls, 64 in flight on one connection (calls/s, higher is better)",
    "peers_stream": "Server streaming, 20,000 u64 items on one stream (items/s, higher is better)",
}
FLOOR = "raw"
BASE = "roam"


def load(root: Path):
    """{group: {(flavor, peer): (value, is_rate)}}"""
    groups = {}
    for bench in sorted(root.glob("*/*/new/benchmark.json")):
        meta = json.loads(bench.read_text())
        est = json.loads((bench.parent / "estimates.json").read_text())
        stat = est.get("slope") or est["mean"]
        ns = stat["point_estimate"]
        flavor, _, peer = meta["function_id"].partition("/")
        throughput = meta.get("throughput")
        if throughput:
            (elements,) = throughput.values()
            value, is_rate = elements / (ns * 1e-9), True
        else:
            value, is_rate = ns, False
        groups.setdefault(meta["group_id"], {})[(flavor, peer)] = (value, is_rate)
    return groups


def fmt_time(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


def fmt_rate(per_s):
    if per_s >= 1e6:
        return f"{per_s / 1e6:.2f} M/s"
    if per_s >= 1e3:
        return f"{per_s / 1e3:.1f} k/s"
    return f"{per_s:.0f} /s"


def ratio(a, b):
    return "—" if a is None or b is None else f"{a / b:.2f}"


def table(group, rows):
    peers = sorted(
        {peer for _, peer in rows},
        key=lambda p: (PEER_ORDER.index(p) if p in PEER_ORDER else len(PEER_ORDER), p),
    )
    has_floor = any(peer == FLOOR for _, peer in rows)
    lines = [f"### {group}: {TITLES.get(group, group)}", ""]
    header = ["peer"]
    for flavor in FLAVORS:
        header += [flavor, f"{flavor} / roam"]
        if has_floor:
            header.append(f"{flavor} / raw")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join([" --- "] + [" ---: "] * (len(header) - 1)) + "|")
    for peer in peers:
        cells = [peer]
        for flavor in FLAVORS:
            entry = rows.get((flavor, peer))
            base = rows.get((flavor, BASE))
            floor = rows.get((flavor, FLOOR))
            value = entry[0] if entry else None
            if entry is None:
                cells.append("—")
            elif entry[1]:
                cells.append(fmt_rate(value))
            else:
                cells.append(fmt_time(value))
            cells.append(ratio(value, base[0] if base else None))
            if has_floor:
                cells.append(ratio(value, floor[0] if floor else None))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    here = Path(__file__).resolve().parent
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else here / "target" / "criterion"
    groups = load(root)
    if not groups:
        sys.exit(f"no criterion results under {root}: run "
                 "`cargo bench --manifest-path bench/peers/Cargo.toml` first")
    order = [g for g in GROUP_ORDER if g in groups] + sorted(set(groups) - set(GROUP_ORDER))
    print("\n\n".join(table(g, groups[g]) for g in order))


if __name__ == "__main__":
    main()
