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


FLAVORS = ["ct", "mt"]


def per_second(r) -> float:
    return r[1] / r[0] * 1e9


def runtime() -> None:
    print("| round trip | flavor | roam | floor | roam / floor |")
    print("|---|---|---|---|---|")
    for fl in FLAVORS:
        raw, floor = load("rtt", f"{fl}/tcp/raw"), load("rtt", f"{fl}/memory/floor")
        for link, base, base_name in [
            ("tcp", raw, "raw TCP ping-pong"),
            ("ws", raw, "raw TCP ping-pong"),
            ("memory", floor, "mpsc + oneshot"),
        ]:
            roam = load("rtt", f"{fl}/{link}/roam")
            if roam and base:
                print(
                    f"| {link} | {fl} | {fmt_time(roam[0])} | {fmt_time(base[0])} ({base_name}) "
                    f"| {roam[0] / base[0]:.2f} |"
                )
            else:
                print(f"| {link} | {fl} | {missing('rtt/' + fl + '/' + link)} | | |")
    print()
    print("| pipelined, 64 in flight on one TCP session | calls/s |")
    print("|---|---|")
    for fl in FLAVORS:
        p = load("pipelined", f"{fl}/tcp/64-in-flight")
        if p and p[1]:
            print(f"| {fl} | {per_second(p):,.0f} |")
        else:
            print(f"| {fl} | {missing('pipelined/' + fl)} |")
    print()
    print("| stream | flavor | memory items/s | TCP items/s | WebSocket items/s | raw TCP items/s (buffered both ends) | TCP / raw | WS / TCP |")
    print("|---|---|---|---|---|---|---|---|")
    for item in ["u64", "1KiB"]:
        for fl in FLAVORS:
            r = {k: load("stream", f"{fl}/{item}/{k}") for k in ["memory", "tcp", "ws", "raw"]}
            if all(v and v[1] for v in r.values()):
                m, t, w, raw = (per_second(r[k]) for k in ["memory", "tcp", "ws", "raw"])
                print(f"| {item} | {fl} | {m:,.0f} | {t:,.0f} | {w:,.0f} | {raw:,.0f} | {t / raw:.3f} | {w / t:.2f} |")
            else:
                print(f"| {item} | {fl} | {missing('stream/' + fl + '/' + item)} | | | | | |")
    print()
    idle = ROOT.parent / "roam-bench" / "idle_sessions.json"
    try:
        d = json.loads(idle.read_text())
        print(f"Idle TCP sessions ({d['sessions']}): **{d['ct_kib']:.1f} KiB** of server RSS per session (ct), **{d['mt_kib']:.1f} KiB** (mt).")
    except FileNotFoundError:
        missing("idle_sessions (cargo bench -p roam-runtime --bench idle_sessions)")


def security() -> None:
    """`cargo bench -p roam-runtime --bench security`: TLS against TCP, interceptor chains
    against none, each pair measured in the same run."""
    print("| case | flavor | with | without (same run) | ratio |")
    print("|---|---|---|---|---|")
    rows = [
        # (label, group, case, with, without, ratio name, items/s?)
        ("unary round trip", "tls", "rtt", "tls", "tcp", "tls / tcp (time)", False),
        ("u64 stream to the client, items/s", "tls", "stream", "tls", "tcp", "tls / tcp (items/s)", True),
        ("connect + Hello + drop", "tls", "handshake", "tls", "tcp", "tls / tcp (time)", False),
        ("unary round trip over TCP, 3 no-op server interceptors", "intercept", "rtt", "three-noop", "none",
         "three-noop / none (time)", False),
        ("unary round trip over TCP, 3 no-op client interceptors", "intercept", "rtt", "three-noop-client", "none",
         "three-noop-client / none (time)", False),
    ]
    for label, group, case, with_, without, ratio, rate in rows:
        for fl in FLAVORS:
            a, b = load(group, f"{fl}/{case}/{with_}"), load(group, f"{fl}/{case}/{without}")
            if not (a and b) or (rate and not (a[1] and b[1])):
                gone = f"{group}/{fl}/{case}/{with_ if not a else without}"
                print(f"| {label} | {fl} | {missing(gone)} | | |")
            elif rate:
                x, y = per_second(a), per_second(b)
                print(f"| {label} | {fl} | {x:,.0f} ({with_}) | {y:,.0f} ({without}) | {ratio} = **{x / y:.2f}** |")
            else:
                print(
                    f"| {label} | {fl} | {fmt_time(a[0])} ({with_}) | {fmt_time(b[0])} ({without}) "
                    f"| {ratio} = **{a[0] / b[0]:.2f}** |"
                )


def typescript() -> None:
    print("| what | server flavor | transport | Node client | Rust client | Node / Rust |")
    print("|---|---|---|---|---|---|")
    for fl in FLAVORS:
        for link in ["tcp", "ws"]:
            node, rust = load("ts_rtt", f"{fl}/{link}/node"), load("ts_rtt", f"{fl}/{link}/rust")
            if node and rust:
                print(f"| unary round trip | {fl} | {link} | {fmt_time(node[0])} | {fmt_time(rust[0])} | {node[0] / rust[0]:.2f} |")
            else:
                print(f"| unary round trip | {fl} | {link} | {missing('ts_rtt/' + fl + '/' + link)} | | |")
    for group, what in [("ts_count", "stream to the client, items/s"), ("ts_sum", "stream to the server, items/s")]:
        for fl in FLAVORS:
            for link in ["tcp", "ws"]:
                node, rust = load(group, f"{fl}/{link}/node"), load(group, f"{fl}/{link}/rust")
                if node and rust and node[1] and rust[1]:
                    n, r = per_second(node), per_second(rust)
                    print(f"| {what} | {fl} | {link} | {n:,.0f} | {r:,.0f} | {n / r:.2f} |")
                else:
                    print(f"| {what} | {fl} | {link} | {missing(group + '/' + fl + '/' + link)} | | |")


if __name__ == "__main__":
    if sys.argv[1:] == ["typescript"]:
        typescript()
        sys.exit(0)
    if sys.argv[1:] == ["security"]:
        security()
        sys.exit(0)
    print("## Codec\n")
    codec()
    print("\n## Runtime\n")
    runtime()
    print("\n## TLS and interceptors\n")
    security()
