#!/usr/bin/env python3
"""Turns the runs of tests/load/bench.sh into figures, a table and JSON.

    report.py RUNS_DIR --info INFO.json --json OUT.json --md OUT.md
    report.py render RESULT.json OUT.md      # the markdown again from a result file

RUNS_DIR holds one directory per measured run, written by bench.sh:
  meta     KEY=VALUE lines (workload, side, concurrency, tool, rc, CPU ticks of
           txgate / mariadbd / the client, MariaDB status counters, load average)
  cmd      the exact client command (the password replaced)
  out/err  the client's output: sysbench's text report (with --histogram=on)
           or ghz's JSON report
Prints the markdown tables; exits 1 when a run had errors (or measured nothing).
"""
import argparse
import json
import os
import re
import sys

PERCENTILES = (50, 95, 99)


def read_meta(path):
    meta = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" in line:
                k, v = line.split("=", 1)
                meta[k] = v
    return meta


def num(v, default=0.0):
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def parse_sysbench(text):
    """requests, rps, duration, percentiles (µs), retries from sysbench's report."""
    r = {}
    m = re.search(r"transactions:\s+(\d+)\s+\(([\d.]+) per sec", text)
    r["requests"] = int(m.group(1)) if m else 0
    r["rps"] = float(m.group(2)) if m else 0.0
    m = re.search(r"ignored errors:\s+(\d+)", text)
    r["retried"] = int(m.group(1)) if m else 0
    m = re.search(r"total time:\s+([\d.]+)s", text)
    r["duration_s"] = float(m.group(1)) if m else 0.0
    # Latency histogram: "       0.055 |*****     6152" (value in ms, count).
    buckets = []
    in_hist = False
    for line in text.splitlines():
        if line.startswith("Latency histogram"):
            in_hist = True
            continue
        if in_hist:
            hm = re.match(r"\s*([\d.]+)\s+\|[* ]*\s(\d+)\s*$", line)
            if hm:
                buckets.append((float(hm.group(1)), int(hm.group(2))))
            elif buckets:
                break
    total = sum(c for _, c in buckets)
    for p in PERCENTILES:
        r[f"p{p}_us"] = None
        if total:
            need, seen = total * p / 100.0, 0
            for v, c in buckets:
                seen += c
                if seen >= need:
                    r[f"p{p}_us"] = round(v * 1000.0, 1)
                    break
    r["errors"] = len(re.findall(r"^FATAL", text, re.M))
    return r


def parse_ghz(text):
    """requests, rps, duration, percentiles (µs), errors from ghz's JSON report."""
    r = {"requests": 0, "rps": 0.0, "duration_s": 0.0, "errors": 0, "retried": 0}
    for p in PERCENTILES:
        r[f"p{p}_us"] = None
    try:
        d = json.loads(text)
    except ValueError:
        return r
    r["requests"] = int(d.get("count", 0))
    r["rps"] = float(d.get("rps", 0.0))
    r["duration_s"] = float(d.get("total", 0)) / 1e9
    for item in d.get("latencyDistribution") or []:
        if item.get("percentage") in PERCENTILES:
            r[f"p{item['percentage']}_us"] = round(item["latency"] / 1000.0, 1)
    codes = d.get("statusCodeDistribution") or {}
    r["errors"] = r["requests"] - int(codes.get("OK", 0))
    r["status_codes"] = codes
    if d.get("errorDistribution"):
        r["error_messages"] = d["errorDistribution"]
    return r


def analyse(run_dir):
    meta = read_meta(os.path.join(run_dir, "meta"))
    with open(os.path.join(run_dir, "cmd")) as f:
        cmd = f.read().strip()
    with open(os.path.join(run_dir, "out"), errors="replace") as f:
        out = f.read()
    err_text = ""
    if os.path.exists(os.path.join(run_dir, "err")):
        with open(os.path.join(run_dir, "err"), errors="replace") as f:
            err_text = f.read()
    parsed = parse_sysbench(out + err_text) if meta["tool"] == "sysbench" else parse_ghz(out)
    rc = int(meta.get("rc", "1"))
    if rc != 0 or parsed["requests"] == 0:
        parsed["errors"] = max(parsed["errors"], 1)
        parsed["failure"] = (err_text.strip().splitlines() or ["exit status %d" % rc])[-1]
    clk = num(meta.get("clk_tck"), 100.0)
    n = parsed["requests"]

    def per_req(ticks):
        if ticks is None or n == 0:
            return None
        return round(num(ticks) * 1e6 / clk / n, 1)

    run = {
        "workload": meta["workload"],
        "side": meta["side"],
        "concurrency": int(meta["concurrency"]),
        "connections": int(meta.get("connections") or 0) or None,
        "tool": meta["tool"],
        "command": cmd,
        "exit_status": rc,
        "load_average_before": meta.get("loadavg_before"),
        "load_average_after": meta.get("loadavg_after"),
    }
    run.update(parsed)
    run["rps"] = round(run["rps"], 1)
    run["duration_s"] = round(run["duration_s"], 2)
    run["txgate_cpu_us_per_req"] = per_req(meta.get("txgate_ticks")) if meta["side"] == "txgate" else None
    run["mariadbd_cpu_us_per_req"] = per_req(meta.get("mariadbd_ticks"))
    run["txgate_context_switches_per_req"] = (
        round(num(meta["txgate_ctx_switches"]) / n, 1) if "txgate_ctx_switches" in meta and n else None)
    client_s = num(meta.get("client_user_s")) + num(meta.get("client_sys_s"))
    run["client_cpu_us_per_req"] = round(client_s * 1e6 / n, 1) if n else None
    # Commands mariadbd received per request (all protocol commands, so a
    # prepared statement's PREPARE/EXECUTE/CLOSE each count).
    db = {}
    for k, v in meta.items():
        if k.startswith("db_"):
            db[k[3:]] = round(num(v) / n, 2) if n else None
    run["db_commands_per_req"] = db
    return run


def ratio(a, b, digits=2):
    if a is None or b is None or b == 0:
        return None
    return round(a / b, digits)


def fmt(v, digits=0):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def build(runs, info):
    by_key = {(r["workload"], r["side"], r["concurrency"]): r for r in runs}
    comparisons = []
    for r in runs:
        if r["side"] != "txgate":
            continue
        d = by_key.get((r["workload"], "direct", r["concurrency"]))
        if d is None:
            continue
        server_cpu = None
        if r["txgate_cpu_us_per_req"] is not None and r["mariadbd_cpu_us_per_req"] is not None:
            server_cpu = round(r["txgate_cpu_us_per_req"] + r["mariadbd_cpu_us_per_req"], 1)
        comparisons.append({
            "workload": r["workload"],
            "concurrency": r["concurrency"],
            "rps_ratio": ratio(r["rps"], d["rps"]),
            "p50_ratio": ratio(r["p50_us"], d["p50_us"]),
            "p95_ratio": ratio(r["p95_us"], d["p95_us"]),
            "p99_ratio": ratio(r["p99_us"], d["p99_us"]),
            "p50_added_us": round(r["p50_us"] - d["p50_us"], 1)
            if r["p50_us"] is not None and d["p50_us"] is not None else None,
            "txgate_cpu_us_per_req": r["txgate_cpu_us_per_req"],
            "txgate_cpu_vs_direct_mariadbd": ratio(r["txgate_cpu_us_per_req"], d["mariadbd_cpu_us_per_req"]),
            "mariadbd_cpu_ratio": ratio(r["mariadbd_cpu_us_per_req"], d["mariadbd_cpu_us_per_req"]),
            "server_cpu_us_per_req": server_cpu,
            "server_cpu_vs_direct": ratio(server_cpu, d["mariadbd_cpu_us_per_req"]),
        })

    targets = []
    ps = [c for c in comparisons if c["workload"] == "point_select"]
    worst = max((c["txgate_cpu_us_per_req"] for c in ps if c["txgate_cpu_us_per_req"] is not None),
                default=None)
    targets.append({
        "target": "txgate CPU per point-select RPC <= 25 us (every concurrency)",
        "measured": worst, "met": worst is not None and worst <= 25})
    below = [c for c in ps if c["txgate_cpu_vs_direct_mariadbd"] is not None]
    targets.append({
        "target": "txgate CPU per point select below mariadbd's own CPU per query (direct run)",
        "measured": max((c["txgate_cpu_vs_direct_mariadbd"] for c in below), default=None),
        "met": bool(below) and all(c["txgate_cpu_vs_direct_mariadbd"] < 1 for c in below)})
    c1 = next((c for c in ps if c["concurrency"] == 1), None)
    added = c1["p50_added_us"] if c1 else None
    targets.append({
        "target": "added p50 latency at concurrency 1 <= 100 us over direct",
        "measured": added, "met": added is not None and added <= 100})
    errors = sum(r["errors"] for r in runs)
    targets.append({"target": "zero errors", "measured": errors, "met": errors == 0})

    result = dict(info)
    result["runs"] = runs
    result["comparisons"] = comparisons
    result["targets"] = targets
    return result


def markdown(res):
    lines = []
    m = res.get("machine", {})
    v = res.get("versions", {})
    lines.append(f"txgate load benchmark, {res.get('mode', '?')} mode, {res.get('date', '?')}")
    lines.append("")
    lines.append(f"- machine: {m.get('nproc')} CPUs ({m.get('cpu_model')}), kernel {m.get('kernel')}, "
                 f"load average before/after: {res.get('load_average_before')} / {res.get('load_average_after')}")
    lines.append(f"- versions: MariaDB {v.get('mariadb')}, gRPC {v.get('grpc')}, ghz {v.get('ghz')}, "
                 f"sysbench {v.get('sysbench')}; txgate {v.get('txgate')} ({res.get('server', {}).get('build')})")
    lines.append(f"- command: `{res.get('command')}`; {res.get('settings', {}).get('duration_s')} s per run")
    if res.get("note"):
        lines.append(f"- note: {res['note']}")
    lines.append("")
    lines.append("CPU µs/req: utime+stime of the process over the run / requests. DB cmds/req: commands "
                 "mariadbd received per request. load avg: the machine's 1-minute load average as the run began.")
    lines.append("")
    lines.append("| workload | side | c | req/s | p50 µs | p95 µs | p99 µs | errors | txgate CPU µs/req "
                 "| mariadbd CPU µs/req | client CPU µs/req | DB cmds/req | txgate ctx switches/req | load avg |")
    lines.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in res["runs"]:
        err = fmt(r["errors"]) + (f" (+{r['retried']} retried)" if r.get("retried") else "")
        lines.append(
            f"| {r['workload']} | {r['side']} | {r['concurrency']} | {fmt(r['rps'])} | {fmt(r['p50_us'])} "
            f"| {fmt(r['p95_us'])} | {fmt(r['p99_us'])} | {err} | {fmt(r['txgate_cpu_us_per_req'])} "
            f"| {fmt(r['mariadbd_cpu_us_per_req'])} | {fmt(r['client_cpu_us_per_req'])} "
            f"| {fmt(r['db_commands_per_req'].get('Queries'), 1)} "
            f"| {fmt(r['txgate_context_switches_per_req'], 1)} "
            f"| {(r.get('load_average_before') or '—').split()[0]} |")
    if res["comparisons"]:
        lines.append("")
        lines.append("txgate / direct:")
        lines.append("")
        lines.append("| workload | c | req/s | p50 (added µs) | p95 | p99 | mariadbd CPU | txgate CPU / direct mariadbd CPU "
                     "| txgate+mariadbd CPU / direct |")
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for c in res["comparisons"]:
            lines.append(
                f"| {c['workload']} | {c['concurrency']} | {fmt(c['rps_ratio'], 2)} "
                f"| {fmt(c['p50_ratio'], 2)} (+{fmt(c['p50_added_us'])}) | {fmt(c['p95_ratio'], 2)} "
                f"| {fmt(c['p99_ratio'], 2)} | {fmt(c['mariadbd_cpu_ratio'], 2)} "
                f"| {fmt(c['txgate_cpu_vs_direct_mariadbd'], 2)} | {fmt(c['server_cpu_vs_direct'], 2)} |")
    lines.append("")
    lines.append("Targets:")
    lines.append("")
    for t in res["targets"]:
        lines.append(f"- {'met' if t['met'] else 'NOT met'}: {t['target']} (measured: {fmt(t['measured'], 1)})")
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "render":
        # report.py render RESULT.json OUT.md: the markdown again, from a result file.
        with open(sys.argv[2]) as f:
            md = markdown(json.load(f))
        with open(sys.argv[3], "w") as f:
            f.write(md)
        print(md)
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("runs_dir")
    ap.add_argument("--json", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--info", required=True, help="JSON file with machine, versions, command, settings")
    args = ap.parse_args()
    with open(args.info) as f:
        info = json.load(f)
    runs = [analyse(os.path.join(args.runs_dir, d)) for d in sorted(os.listdir(args.runs_dir))]
    res = build(runs, info)
    md = markdown(res)
    with open(args.json, "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    with open(args.md, "w") as f:
        f.write(md)
    print(md)
    bad = [r for r in runs if r["errors"]]
    for r in bad:
        print(f"load: {r['workload']} {r['side']} c={r['concurrency']}: {r['errors']} errors "
              f"{r.get('failure') or r.get('error_messages') or r.get('status_codes')}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
