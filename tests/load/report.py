#!/usr/bin/env python3
"""Turns the runs of tests/load/bench.sh into figures, a table and JSON.

    report.py RUNS_DIR --info INFO.json --json OUT.json --md OUT.md [--check-ran]
    report.py render RESULT.json OUT.md      # the markdown again from a result file

RUNS_DIR holds one directory per measured run, written by bench.sh:
  meta     KEY=VALUE lines (workload, side, concurrency, round, tool, rc, CPU
           ticks and context switches of the serving process, CPU ticks of
           mariadbd and of the load client, MariaDB status counter deltas,
           load average)
  cmd      the exact client command (the password replaced)
  out/err  the client's output: sysbench's text report (with --histogram=on)
           or ghz's JSON report
Every figure "per call" divides by the calls the client completed. The
summary of a cell (workload, concurrency, side) is the median over rounds;
errors are summed. Prints the markdown; exits 1 when a run had errors or
measured nothing, and with --check-ran also when a serving process (txgate,
the gateway, mariadbd) did no work across its runs (CPU ticks and context
switches both zero, or no MariaDB command).
"""
import argparse
import json
import os
import re
import statistics
import sys

PERCENTILES = (50, 99)
SIDES = ("txgate", "gateway", "direct")


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
    """calls, calls/s, duration, percentiles (µs), retries from sysbench's report."""
    r = {}
    m = re.search(r"transactions:\s+(\d+)\s+\(([\d.]+) per sec", text)
    r["calls"] = int(m.group(1)) if m else 0
    r["calls_per_s"] = float(m.group(2)) if m else 0.0
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
    """calls, calls/s, duration, percentiles (µs), errors from ghz's JSON report."""
    r = {"calls": 0, "calls_per_s": 0.0, "duration_s": 0.0, "errors": 0, "retried": 0}
    for p in PERCENTILES:
        r[f"p{p}_us"] = None
    try:
        d = json.loads(text)
    except ValueError:
        return r
    codes = d.get("statusCodeDistribution") or {}
    r["calls"] = int(codes.get("OK", 0))
    r["errors"] = int(d.get("count", 0)) - r["calls"]
    r["duration_s"] = float(d.get("total", 0)) / 1e9
    r["calls_per_s"] = r["calls"] / r["duration_s"] if r["duration_s"] else 0.0
    for item in d.get("latencyDistribution") or []:
        if item.get("percentage") in PERCENTILES:
            r[f"p{item['percentage']}_us"] = round(item["latency"] / 1000.0, 1)
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
    if rc != 0 or parsed["calls"] == 0:
        parsed["errors"] = max(parsed["errors"], 1)
        parsed["failure"] = (err_text.strip().splitlines() or ["exit status %d" % rc])[-1]
    clk = num(meta.get("clk_tck"), 100.0)
    n = parsed["calls"]

    def per_call(ticks):
        if ticks is None or n == 0:
            return None
        return round(num(ticks) * 1e6 / clk / n, 1)

    run = {
        "workload": meta["workload"],
        "side": meta["side"],
        "concurrency": int(meta["concurrency"]),
        "round": int(meta.get("round", 1)),
        "tool": meta["tool"],
        "command": cmd,
        "exit_status": rc,
        "load_average_before": meta.get("loadavg_before"),
        "load_average_after": meta.get("loadavg_after"),
    }
    run.update(parsed)
    run["calls_per_s"] = round(run["calls_per_s"], 1)
    run["duration_s"] = round(run["duration_s"], 2)
    run["server_cpu_ticks"] = int(num(meta["server_ticks"])) if "server_ticks" in meta else None
    run["server_context_switches"] = int(num(meta["server_ctx_switches"])) if "server_ctx_switches" in meta else None
    run["server_cpu_us_per_call"] = per_call(meta.get("server_ticks"))
    run["server_context_switches_per_call"] = (
        round(num(meta["server_ctx_switches"]) / n, 2) if "server_ctx_switches" in meta and n else None)
    run["mariadbd_cpu_us_per_call"] = per_call(meta.get("mariadbd_ticks"))
    client_s = num(meta.get("client_user_s")) + num(meta.get("client_sys_s"))
    run["client_cpu_us_per_call"] = round(client_s * 1e6 / n, 1) if n else None
    # Commands mariadbd received per call: Questions counts every statement
    # and protocol command a client sent (PREPARE, EXECUTE, CLOSE, BEGIN, ...).
    run["db_counters"] = {k[3:]: int(num(v)) for k, v in meta.items() if k.startswith("db_")}
    run["db_per_call"] = {k: round(v / n, 2) if n else None for k, v in run["db_counters"].items()}
    return run


def median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def summarize(runs):
    cells = {}
    for r in runs:
        cells.setdefault((r["workload"], r["concurrency"], r["side"]), []).append(r)
    order = []
    for r in runs:  # first-seen order: workloads and concurrencies as bench.sh ran them
        key = (r["workload"], r["concurrency"])
        if key not in order:
            order.append(key)
    summary = []
    for workload, c in order:
        for side in SIDES:
            rs = cells.get((workload, c, side))
            if not rs:
                continue
            summary.append({
                "workload": workload, "concurrency": c, "side": side, "rounds": len(rs),
                "calls": sum(r["calls"] for r in rs),
                "calls_per_s": median(r["calls_per_s"] for r in rs),
                "calls_per_s_range": [min(r["calls_per_s"] for r in rs), max(r["calls_per_s"] for r in rs)],
                "p50_us": median(r["p50_us"] for r in rs),
                "p99_us": median(r["p99_us"] for r in rs),
                "errors": sum(r["errors"] for r in rs),
                "retried": sum(r.get("retried", 0) for r in rs),
                "server_cpu_us_per_call": median(r["server_cpu_us_per_call"] for r in rs),
                "mariadbd_cpu_us_per_call": median(r["mariadbd_cpu_us_per_call"] for r in rs),
                "client_cpu_us_per_call": median(r["client_cpu_us_per_call"] for r in rs),
                "db_commands_per_call": median(r["db_per_call"].get("Questions") for r in rs),
                "server_context_switches_per_call": median(r["server_context_switches_per_call"] for r in rs),
                "load_average_1min": median(num((r.get("load_average_before") or "0").split()[0]) for r in rs),
            })
    return summary


def ratio(a, b, digits=2):
    if a is None or b is None or b == 0:
        return None
    return round(a / b, digits)


def compare(summary):
    """txgate / gateway per cell, and the targets of issue 13."""
    by = {(s["workload"], s["concurrency"], s["side"]): s for s in summary}
    out = []
    for s in summary:
        if s["side"] != "txgate":
            continue
        g = by.get((s["workload"], s["concurrency"], "gateway"))
        if not g:
            continue
        out.append({
            "workload": s["workload"], "concurrency": s["concurrency"],
            "calls_per_s": ratio(s["calls_per_s"], g["calls_per_s"]),
            "p50": ratio(s["p50_us"], g["p50_us"]),
            "p99": ratio(s["p99_us"], g["p99_us"]),
            "server_cpu": ratio(s["server_cpu_us_per_call"], g["server_cpu_us_per_call"]),
            "mariadbd_cpu": ratio(s["mariadbd_cpu_us_per_call"], g["mariadbd_cpu_us_per_call"]),
        })
    targets = []

    def cmp(workload, c):
        return next((x for x in out if x["workload"] == workload and x["concurrency"] == c), None)

    def target(text, measured, ok):
        targets.append({"target": text, "measured": measured, "met": bool(ok) if measured is not None else None})

    for c in (8, 32):
        x = cmp("point_select", c)
        if x:
            target(f"point select c={c}: txgate calls/s >= 1.3x the gateway's", x["calls_per_s"],
                   x["calls_per_s"] is not None and x["calls_per_s"] >= 1.3)
            target(f"point select c={c}: txgate CPU per call <= 0.7x the gateway's", x["server_cpu"],
                   x["server_cpu"] is not None and x["server_cpu"] <= 0.7)
    x = cmp("point_select", 1)
    if x:
        target("point select c=1: txgate p50 <= the gateway's", x["p50"], x["p50"] is not None and x["p50"] <= 1.0)
    for x in out:
        if x["workload"] == "transfer":
            target(f"transfer c={x['concurrency']}: txgate calls/s >= 1.0x the gateway's", x["calls_per_s"],
                   x["calls_per_s"] is not None and x["calls_per_s"] >= 1.0)
        if x["workload"].startswith("transfer@"):
            target(f"{x['workload']} c={x['concurrency']}: txgate calls/s >= 2x the gateway's", x["calls_per_s"],
                   x["calls_per_s"] is not None and x["calls_per_s"] >= 2.0)
    worst = max((s["server_context_switches_per_call"] for s in summary
                 if s["workload"] == "point_select" and s["side"] == "txgate"
                 and s["server_context_switches_per_call"] is not None), default=None)
    target("point select: txgate context switches per call <= 2.5 (every concurrency)", worst,
           worst is not None and worst <= 2.5)
    return out, targets


def check_ran(runs):
    """Problems: a serving process that did no work across all its runs."""
    problems = []
    for side in ("txgate", "gateway"):
        rs = [r for r in runs if r["side"] == side]
        if not rs:
            problems.append(f"{side}: no runs")
            continue
        ticks = sum(r["server_cpu_ticks"] or 0 for r in rs)
        switches = sum(r["server_context_switches"] or 0 for r in rs)
        if ticks == 0 or switches == 0:
            problems.append(f"{side}: CPU ticks {ticks}, context switches {switches} over its runs")
    for r in runs:
        if r["workload"] != "health" and r["db_counters"].get("Questions", 0) <= 0:
            problems.append(f"{r['workload']} {r['side']} c={r['concurrency']}: MariaDB received no command")
    if sum(1 for r in runs if r["side"] == "direct") == 0:
        problems.append("direct (sysbench): no runs")
    return problems


def fmt(v, digits=0):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def markdown(res):
    lines = []
    m = res.get("machine", {})
    v = res.get("versions", {})
    st = res.get("settings", {})
    lines.append(f"txgate load benchmark, {res.get('mode', '?')} mode, {res.get('date', '?')}")
    lines.append("")
    if res.get("note"):
        lines.append(f"**{res['note']}**")
        lines.append("")
    lines.append(f"- machine: {m.get('nproc')} CPUs ({m.get('cpu_model')}), kernel {m.get('kernel')}; "
                 f"load average (1, 5, 15 min) before / after: {res.get('load_average_before')} / "
                 f"{res.get('load_average_after')}")
    lines.append(f"- versions: MariaDB {v.get('mariadb')}, gRPC {v.get('grpc')}, ghz {v.get('ghz')}, "
                 f"sysbench {v.get('sysbench')}; txgate {v.get('txgate')} ({res.get('server', {}).get('build')}); "
                 f"gateway: {v.get('gateway')}")
    per_run = (f"{st.get('duration_s')} s per run" if st.get("duration_s") is not None
               else f"{st.get('calls_per_run')} calls per run")
    lines.append(f"- command: `{res.get('command')}`; {per_run}, {st.get('rounds')} round(s), interleaved; "
                 f"pool {res.get('server', {}).get('flags')}")
    lines.append("")
    lines.append("Medians over rounds. server CPU and ctx sw: txgate's or the gateway's process (— for direct "
                 "sysbench). CPU µs/call: utime+stime over the run / calls. DB cmds/call: MariaDB `Questions` "
                 "per call. load: 1-minute load average as the runs began. `@N ms`: every MariaDB reply "
                 "delayed N ms by toxiproxy.")
    lines.append("")
    lines.append("| workload | c | side | calls/s | p50 µs | p99 µs | errors | server CPU µs/call "
                 "| mariadbd CPU µs/call | DB cmds/call | ctx sw/call | ghz/sysbench CPU µs/call | load |")
    lines.append("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for s in res["summary"]:
        err = fmt(s["errors"]) + (f" (+{s['retried']} retried)" if s.get("retried") else "")
        lines.append(
            f"| {s['workload']} | {s['concurrency']} | {s['side']} | {fmt(s['calls_per_s'], 0)} "
            f"| {fmt(s['p50_us'], 0)} | {fmt(s['p99_us'], 0)} | {err} | {fmt(s['server_cpu_us_per_call'], 0)} "
            f"| {fmt(s['mariadbd_cpu_us_per_call'], 0)} | {fmt(s['db_commands_per_call'], 1)} "
            f"| {fmt(s['server_context_switches_per_call'], 1)} | {fmt(s['client_cpu_us_per_call'], 0)} "
            f"| {fmt(s['load_average_1min'], 1)} |")
    if res.get("comparisons"):
        lines.append("")
        lines.append("txgate / gateway (below 1 is better for latency and CPU, above 1 for calls/s):")
        lines.append("")
        lines.append("| workload | c | calls/s | p50 | p99 | server CPU/call | mariadbd CPU/call |")
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for c in res["comparisons"]:
            lines.append(f"| {c['workload']} | {c['concurrency']} | {fmt(c['calls_per_s'], 2)} | {fmt(c['p50'], 2)} "
                         f"| {fmt(c['p99'], 2)} | {fmt(c['server_cpu'], 2)} | {fmt(c['mariadbd_cpu'], 2)} |")
    if res.get("targets") and res.get("mode") != "smoke":  # a smoke's figures judge nothing
        lines.append("")
        lines.append("Targets of issue 13:")
        lines.append("")
        for t in res["targets"]:
            word = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
            lines.append(f"- {word}: {t['target']} (measured: {fmt(t['measured'], 2)})")
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "render":
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
    ap.add_argument("--check-ran", action="store_true", help="fail when a serving process did no work")
    args = ap.parse_args()
    with open(args.info) as f:
        res = json.load(f)
    runs = [analyse(os.path.join(args.runs_dir, d)) for d in sorted(os.listdir(args.runs_dir))]
    res["summary"] = summarize(runs)
    res["comparisons"], res["targets"] = compare(res["summary"])
    res["runs"] = runs
    problems = check_ran(runs) if args.check_ran else []
    if args.check_ran:
        res["ran_check"] = problems or "every serving process did work"
    md = markdown(res)
    with open(args.json, "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    with open(args.md, "w") as f:
        f.write(md)
    print(md)
    bad = [r for r in runs if r["errors"]]
    for r in bad:
        print(f"load: {r['workload']} {r['side']} c={r['concurrency']} round {r['round']}: {r['errors']} errors "
              f"{r.get('failure') or r.get('error_messages') or r.get('status_codes')}", file=sys.stderr)
    for p in problems:
        print(f"load: {p}", file=sys.stderr)
    return 1 if bad or problems else 0


if __name__ == "__main__":
    sys.exit(main())
