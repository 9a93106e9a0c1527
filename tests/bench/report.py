#!/usr/bin/python3
"""Turn the raw records that run.sh collected into the markdown table and the JSON file.

Inputs, all in --dir:
  rounds.jsonl   one object per (round, proxy): {"proxy", "round", "slot", "cpu_ticks",
                 "clk_tck", "upstream_accepts", "wrk": {<the wrk Lua summary>}}
  memory.jsonl   one object per proxy: {"proxy", "rss_start_kib", "rss_after_load_kib",
                 "idle": {<idle_conns.py output>}}
  status.tsv     proxy <TAB> ok|unavailable|failed <TAB> reason
  meta.tsv       key <TAB> value (settings and versions)
"""
import argparse
import json
import os
import statistics
import sys

PROXIES = ("edge", "edge-keys", "nginx", "nginx-keys", "haproxy")
# (keyed variant, its plain proxy): the same binary with API-key auth + throttling on.
KEY_PAIRS = (("edge-keys", "edge"), ("nginx-keys", "nginx"))
KEYS_TARGET = 0.95  # issue 4: edge-keys throughput >= 0.95 x edge in the same run


def read_jsonl(path):
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    out.append(json.loads(line))
    return out


def read_tsv(path, fields):
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t", fields - 1)
                if len(parts) == fields:
                    out.append(parts)
    return out


def per_round(rec):
    w = rec["wrk"]
    duration_s = w["duration_us"] / 1e6
    reqs = w["requests"]
    cpu_s = rec["cpu_ticks"] / rec["clk_tck"]
    errors = sum(w[k] for k in ("err_connect", "err_read", "err_write", "err_timeout"))
    return {
        "proxy": rec["proxy"],
        "round": rec["round"],
        "slot": rec["slot"],
        "requests": reqs,
        "duration_s": round(duration_s, 3),
        "rps": round(reqs / duration_s, 1) if duration_s > 0 else 0.0,
        "p50_ms": w["p50_us"] / 1000.0,
        "p90_ms": w["p90_us"] / 1000.0,
        "p99_ms": w["p99_us"] / 1000.0,
        "max_ms": w["max_us"] / 1000.0,
        "cpu_s": round(cpu_s, 3),
        "cpu_us_per_req": round(cpu_s * 1e6 / reqs, 3) if reqs else None,
        "non_2xx_3xx": w["err_status"],
        "socket_errors": errors,
        "upstream_conns_opened": rec.get("upstream_accepts"),
        "backend_cpu_s": round(rec.get("backend_cpu_ticks", 0) / rec["clk_tck"], 3),
        "foreign_cpu_s": round(rec.get("foreign_server_core_ticks", 0) / rec["clk_tck"], 3),
    }


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def keys_cost(rounds, summary):
    """Per (keyed, plain) pair: throughput ratio and added CPU per request, from the medians
    and, paired by round, the median of the per-round ratios (the pair ran in the same round,
    so slow drifts of the machine cancel)."""
    out = {}
    for keyed, plain in KEY_PAIRS:
        if keyed not in summary or plain not in summary:
            continue
        k, p = summary[keyed], summary[plain]
        by_round = {}
        for r in rounds:
            if r["proxy"] in (keyed, plain):
                by_round.setdefault(r["round"], {})[r["proxy"]] = r
        ratios = [
            d[keyed]["rps"] / d[plain]["rps"]
            for d in by_round.values()
            if keyed in d and plain in d and d[plain]["rps"]
        ]
        added = [
            d[keyed]["cpu_us_per_req"] - d[plain]["cpu_us_per_req"]
            for d in by_round.values()
            if keyed in d and plain in d and d[keyed]["cpu_us_per_req"] is not None
            and d[plain]["cpu_us_per_req"] is not None
        ]
        cpu_k, cpu_p = k["cpu_us_per_req"], p["cpu_us_per_req"]
        out[keyed] = {
            "plain": plain,
            "rps_ratio": round(k["rps"] / p["rps"], 3) if p["rps"] else None,
            "rps_ratio_per_round_median": round(median(ratios), 3) if ratios else None,
            "rps_ratio_per_round_min": round(min(ratios), 3) if ratios else None,
            "rps_ratio_per_round_max": round(max(ratios), 3) if ratios else None,
            "added_cpu_us_per_req": round(cpu_k - cpu_p, 3)
            if cpu_k is not None and cpu_p is not None
            else None,
            "added_cpu_us_per_req_per_round_median": round(median(added), 3) if added else None,
            "p99_ms_plain": p["p99_ms"],
            "p99_ms_keyed": k["p99_ms"],
        }
    return out


def fmt(value, digits=0):
    if value is None:
        return "-"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--json", help="write the results here as JSON")
    args = ap.parse_args()

    rounds = [per_round(r) for r in read_jsonl(os.path.join(args.dir, "rounds.jsonl"))]
    memory = {m["proxy"]: m for m in read_jsonl(os.path.join(args.dir, "memory.jsonl"))}
    status = {p: (s, reason) for p, s, reason in read_tsv(os.path.join(args.dir, "status.tsv"), 3)}
    meta = dict(read_tsv(os.path.join(args.dir, "meta.tsv"), 2))

    summary = {}
    for proxy in PROXIES:
        mine = [r for r in rounds if r["proxy"] == proxy]
        if not mine:
            continue
        mem = memory.get(proxy, {})
        idle = mem.get("idle") or {}
        summary[proxy] = {
            "rounds": len(mine),
            "rps": median([r["rps"] for r in mine]),
            "rps_min": min(r["rps"] for r in mine),
            "rps_max": max(r["rps"] for r in mine),
            "foreign_cpu_s_median": median([r["foreign_cpu_s"] for r in mine]),
            "p50_ms": median([r["p50_ms"] for r in mine]),
            "p99_ms": median([r["p99_ms"] for r in mine]),
            "cpu_us_per_req": median([r["cpu_us_per_req"] for r in mine]),
            "rss_start_kib": mem.get("rss_start_kib"),
            "rss_idle_kib": idle.get("rss_before_kib"),
            "rss_with_idle_conns_kib": idle.get("rss_with_kib"),
            "rss_after_load_kib": mem.get("rss_after_load_kib"),
            "idle_conns_alive": idle.get("alive"),
            "idle_conns_opened": idle.get("opened"),
            "kib_per_idle_conn": idle.get("kib_per_conn"),
            "non_2xx_3xx": sum(r["non_2xx_3xx"] for r in mine),
            "socket_errors": sum(r["socket_errors"] for r in mine),
        }
    base = summary.get("nginx", {}).get("rps")
    for s in summary.values():
        s["x_nginx"] = round(s["rps"] / base, 3) if base and s["rps"] is not None else None

    print(
        f"\n## Results: medians of {meta.get('rounds', '?')} rounds x {meta.get('duration_s', '?')} s,"
        f" wrk {meta.get('connections', '?')} connections\n"
    )
    print("| proxy | req/s | p50 ms | p99 ms | x nginx | CPU-us/req | RSS idle KiB | KiB per idle conn |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for proxy, s in summary.items():
        print(
            f"| {proxy} | {fmt(s['rps'])} | {fmt(s['p50_ms'], 3)} | {fmt(s['p99_ms'], 3)} "
            f"| {fmt(s['x_nginx'], 2)} | {fmt(s['cpu_us_per_req'], 2)} | {fmt(s['rss_idle_kib'])} "
            f"| {fmt(s['kib_per_idle_conn'], 2)} |"
        )
    costs = keys_cost(rounds, summary)
    if costs:
        print("\n### API-key auth + throttle: keyed variant vs its plain proxy, same run\n")
        print(
            "| keyed / plain | req/s ratio (of medians) | per-round ratio: median (min..max) "
            "| p99 ms plain / keyed | CPU-us/req plain / keyed | added CPU-us/req (per-round median) |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for keyed, c in costs.items():
            s, p = summary[keyed], summary[c["plain"]]
            print(
                f"| {keyed} / {c['plain']} | {fmt(c['rps_ratio'], 3)} "
                f"| {fmt(c['rps_ratio_per_round_median'], 3)} ({fmt(c['rps_ratio_per_round_min'], 3)}"
                f"..{fmt(c['rps_ratio_per_round_max'], 3)}) "
                f"| {fmt(p['p99_ms'], 3)} / {fmt(s['p99_ms'], 3)} "
                f"| {fmt(p['cpu_us_per_req'], 2)} / {fmt(s['cpu_us_per_req'], 2)} "
                f"| {fmt(c['added_cpu_us_per_req'], 2)} ({fmt(c['added_cpu_us_per_req_per_round_median'], 2)}) |"
            )
        e = costs.get("edge-keys")
        if e and e["rps_ratio"] is not None:
            verdict = "meets" if e["rps_ratio"] >= KEYS_TARGET else "misses"
            print(
                f"\nedge-keys / edge = {e['rps_ratio']:.3f}: {verdict} the target >= {KEYS_TARGET}"
                " (issue 4). A ratio within the spread of the per-round ratios is noise."
            )
        summary_keys = costs
    else:
        summary_keys = {}
    print()
    for proxy in PROXIES:
        st, reason = status.get(proxy, ("skipped", "not in --only"))
        if st == "unavailable":
            print(f"{proxy}: not available ({reason})")
        elif st == "failed":
            print(f"{proxy}: failed during the run ({reason})")
    duration = float(meta.get("duration_s", 0) or 0)
    for proxy, s in summary.items():
        if duration and (s["foreign_cpu_s_median"] or 0) > 0.1 * duration:
            print(
                f"warning: {proxy}: other jobs took {s['foreign_cpu_s_median']:.1f} s of the server"
                f" core per {duration:.0f} s round (median); req/s ranged"
                f" {s['rps_min']:,.0f}..{s['rps_max']:,.0f}: re-run on a quiet machine"
            )
        if s["non_2xx_3xx"] or s["socket_errors"]:
            print(
                f"warning: {proxy}: {s['non_2xx_3xx']} non-2xx/3xx responses and "
                f"{s['socket_errors']} socket errors across its rounds: its figures are suspect"
            )
        alive, opened = s["idle_conns_alive"], s["idle_conns_opened"]
        if opened is not None and alive is not None and alive < int(meta.get("idle_conns", 0)):
            print(
                f"warning: {proxy}: only {alive} of {meta.get('idle_conns')} idle connections"
                f" were open at the memory sample ({opened} got a response)"
            )

    print("\n### Raw rounds (in the order they ran)\n")
    print(
        "| round | slot | proxy | req/s | p50 ms | p90 ms | p99 ms | max ms | CPU s "
        "| CPU-us/req | backend CPU s | other CPU s on server core | non-2xx | sock err "
        "| upstream conns opened |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted(rounds, key=lambda r: (r["round"], r["slot"])):
        print(
            f"| {r['round']} | {r['slot']} | {r['proxy']} | {fmt(r['rps'])} | {fmt(r['p50_ms'], 3)} "
            f"| {fmt(r['p90_ms'], 3)} | {fmt(r['p99_ms'], 3)} | {fmt(r['max_ms'], 2)} "
            f"| {fmt(r['cpu_s'], 2)} | {fmt(r['cpu_us_per_req'], 2)} | {fmt(r['backend_cpu_s'], 2)} "
            f"| {fmt(r['foreign_cpu_s'], 2)} | {r['non_2xx_3xx']} "
            f"| {r['socket_errors']} | {fmt(r['upstream_conns_opened'])} |"
        )

    if memory:
        print("\n### Memory (VmRSS sum of the proxy's processes, KiB)\n")
        print("| proxy | at start | idle, before the conns | with idle conns | conns alive | after all rounds |")
        print("|---|---:|---:|---:|---:|---:|")
        for proxy in PROXIES:
            if proxy not in memory:
                continue
            m = memory[proxy]
            idle = m.get("idle") or {}
            print(
                f"| {proxy} | {fmt(m.get('rss_start_kib'))} | {fmt(idle.get('rss_before_kib'))} "
                f"| {fmt(idle.get('rss_with_kib'))} | {fmt(idle.get('alive'))} "
                f"| {fmt(m.get('rss_after_load_kib'))} |"
            )

    if args.json:
        doc = {
            "meta": meta,
            "status": {p: {"status": s, "reason": r} for p, (s, r) in status.items()},
            "summary": summary,
            "keys_cost": summary_keys,
            "rounds": rounds,
            "memory": memory,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        print(f"\nJSON written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
