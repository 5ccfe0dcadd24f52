#!/usr/bin/env python3
"""Prints the peer comparison as Markdown tables from criterion's saved estimates.

Run after `cargo bench --manifest-path bench/peers/Cargo.toml`; reads
bench/peers/target/criterion/<group>/<flavor>_<peer>/new/{estimates,benchmark}.json. Missing
results are reported, never guessed.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent / "target" / "criterion"
FLAVORS = ["ct", "mt"]


def load(group, flavor, peer):
    base = ROOT / group / f"{flavor}_{peer}" / "new"
    try:
        est = json.loads((base / "estimates.json").read_text())
        meta = json.loads((base / "benchmark.json").read_text())
    except FileNotFoundError:
        print(f"missing: {group}/{flavor}/{peer}", file=sys.stderr)
        return None
    elements = (meta.get("throughput") or {}).get("Elements")
    return est["mean"]["point_estimate"], elements


def us(ns):
    return f"{ns / 1e3:.2f} µs"


def rtt():
    print("| unary round trip | flavor | time | / roam | / raw floor |")
    print("|---|---|---|---|---|")
    for fl in FLAVORS:
        roam, raw = load("peers_rtt", fl, "roam"), load("peers_rtt", fl, "raw")
        for peer in ["roam", "tarpc", "tonic", "raw"]:
            r = load("peers_rtt", fl, peer)
            if not r:
                continue
            vs_roam = f"{r[0] / roam[0]:.2f}" if roam else "—"
            vs_raw = f"{r[0] / raw[0]:.2f}" if raw else "—"
            print(f"| {peer} | {fl} | {us(r[0])} | {vs_roam} | {vs_raw} |")


def throughput(group, what, peers):
    print(f"| {what} | flavor | per second | / roam |")
    print("|---|---|---|---|")
    for fl in FLAVORS:
        roam = load(group, fl, "roam")
        for peer in peers:
            r = load(group, fl, peer)
            if not (r and r[1]):
                continue
            rate = r[1] / r[0] * 1e9
            vs = f"{rate / (roam[1] / roam[0] * 1e9):.2f}" if roam and roam[1] else "—"
            print(f"| {peer} | {fl} | {rate:,.0f} | {vs} |")


if __name__ == "__main__":
    rtt()
    print()
    throughput("peers_pipelined", "pipelined calls, 64 in flight", ["roam", "tarpc", "tonic"])
    print()
    throughput("peers_stream", "server-streamed u64 items", ["roam", "tonic", "raw"])
