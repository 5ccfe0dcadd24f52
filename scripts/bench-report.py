#!/usr/bin/env python3
"""Prints the tables of docs/benchmarks.md from criterion's saved estimates.

Run after `cargo bench -p roam-codec` and `cargo bench -p roam-runtime`; it reads
target/criterion/*/*/new/{estimates,benchmark}.json and prints Markdown with the ratios
against the baselines measured in the same run. Missing benchmarks are reported, not guessed.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "target" / "criterion"


def load(group: str, function: str):
    """Mean time in ns and throughput elements per iteration (or None)."""
    base = ROOT / group / function.replace("/", "_") / "new"
    try:
        est = json.loads((base / "estimates.json").read_text())
        meta = json.loads((base / "benchmark.json").read_text())
    except FileNotFoundError:
        return None
    elements = (meta.get("throughput") or {}).get("Elements")
    return est["mean"]["point_estimate"], elements


def fmt_time(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def missing(what: str) -> str:
    print(f"missing benchmark: {what} (run cargo bench first)", file=sys.stderr)
    return "—"


def codec() -> None:
    print("| case | op | plan (roam-codec) | serde-postcard | facet-postcard | plan / serde | plan / facet-postcard |")
    print("|---|---|---|---|---|---|---|")
    for case in ["a_point", "b_mixed", "c_bytes_64k", "d_f64_1024"]:
        for op in ["encode", "decode"]:
            group = f"{case}_{op}"
            plan, serde, facet = (load(group, f) for f in ["plan", "serde-postcard", "facet-postcard"])
            if not (plan and serde and facet):
                print(f"| {case} | {op} | {missing(group)} | | | | |")
                continue
            print(
                f"| {case} | {op} | {fmt_time(plan[0])} | {fmt_time(serde[0])} | {fmt_time(facet[0])} "
                f"| {plan[0] / serde[0]:.2f} | {plan[0] / facet[0]:.3f} |"
            )
    print()
    print("| translated decode (b_mixed-like struct) | time | / plain plan decode |")
    print("|---|---|---|")
    plain = load("e_mixed_translated_decode", "plan")
    for name in ["plan", "identity-translation", "evolved-translation"]:
        r = load("e_mixed_translated_decode", name)
        if r and plain:
            print(f"| {name} | {fmt_time(r[0])} | {r[0] / plain[0]:.2f} |")
    compile_ = load("e_mixed_translated_compile", "evolved")
    if compile_:
        print(f"| compiling the evolved translation (once per peer schema) | {fmt_time(compile_[0])} | |")


def runtime() -> None:
    print("| round trip | roam | raw tokio ping-pong, same bytes | roam / raw |")
    print("|---|---|---|---|")
    for link in ["memory", "tcp"]:
        roam, raw = load("rtt", f"{link}/roam"), load("rtt", f"{link}/raw")
        if roam and raw:
            print(f"| {link} | {fmt_time(roam[0])} | {fmt_time(raw[0])} | {roam[0] / raw[0]:.2f} |")
        else:
            print(f"| {link} | {missing('rtt/' + link)} | | |")
    print()
    p = load("pipelined", "tcp/64-in-flight")
    if p and p[1]:
        print(f"Pipelined, 64 calls in flight on one TCP session: **{p[1] / p[0] * 1e9:,.0f} calls/s**.")
    print()
    print("| stream over TCP | roam items/s | raw TCP items/s (same bytes) | roam / raw |")
    print("|---|---|---|---|")
    for item in ["u64", "1KiB"]:
        roam, raw = load("stream", f"{item}/roam"), load("stream", f"{item}/raw")
        if roam and raw and roam[1] and raw[1]:
            r = roam[1] / roam[0] * 1e9
            w = raw[1] / raw[0] * 1e9
            print(f"| {item} | {r:,.0f} | {w:,.0f} | {r / w:.3f} |")
        else:
            print(f"| {item} | {missing('stream/' + item)} | | |")


if __name__ == "__main__":
    print("## Codec\n")
    codec()
    print("\n## Runtime\n")
    runtime()
