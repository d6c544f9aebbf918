"""Prints the benchmark's figures side by side, with the targets of issue 4
(and the noisy-tenant row of issue 9).

With --html FILE, also writes them as a self-contained HTML page with bar charts
(scripts/bench_html.py), linking each run's own report found in OUT_DIR.

Usage: python3 scripts/bench-report.py OUT_DIR CORES [SERVER_THREADS] [--html FILE]
"""
import json
import re
import sys
from pathlib import Path

args = sys.argv[1:]
html_path = None
if "--html" in args:
    at = args.index("--html")
    if at + 1 >= len(args):
        sys.exit("--html: a file name must follow")
    html_path = args[at + 1]
    del args[at:at + 2]
out = Path(args[0])
cores = args[1]
server_threads = args[2] if len(args) > 2 else "default"
fenliu = json.loads((out / "fenliu.json").read_text())
baseline = json.loads((out / "baseline.json").read_text())
hot = json.loads((out / "fenliu-hot-shop.json").read_text())
fenliu_open = json.loads((out / "fenliu-open.json").read_text())
baseline_open = json.loads((out / "baseline-open.json").read_text())
memory = json.loads((out / "memory.json").read_text())
fenliu_auth = json.loads((out / "fenliu-auth.json").read_text())
fenliu_tls = json.loads((out / "fenliu-tls.json").read_text())
fenliu_observed = json.loads((out / "fenliu-observed.json").read_text())
baseline_tls = json.loads((out / "baseline-tls.json").read_text())
noisy_quiet = json.loads((out / "noisy-quiet.json").read_text())
noisy_flood = json.loads((out / "noisy-flood.json").read_text())
drain = json.loads((out / "drain.txt").read_text().strip().splitlines()[-1])
burst = json.loads((out / "drain-burst.txt").read_text().strip().splitlines()[-1])


def lat(report, q):
    return report["route_latency_ms"][q]


def verdict(ok):
    return "met" if ok else "MISSED"


rows = [
    ("Route decisions/s at 64 in flight", f'{fenliu["decisions_per_second"]:.0f}', f'{baseline["decisions_per_second"]:.0f}',
     fenliu["decisions_per_second"] / baseline["decisions_per_second"], "≥ 0.9"),
    ("Route p50 (ms)", f'{lat(fenliu, "p50"):.2f}', f'{lat(baseline, "p50"):.2f}', lat(fenliu, "p50") / lat(baseline, "p50"), ""),
    ("Route p99 (ms)", f'{lat(fenliu, "p99"):.2f}', f'{lat(baseline, "p99"):.2f}', lat(fenliu, "p99") / lat(baseline, "p99"), "≤ 1.2"),
    ("Route p99.9 (ms)", f'{lat(fenliu, "p99_9"):.2f}', f'{lat(baseline, "p99_9"):.2f}', lat(fenliu, "p99_9") / lat(baseline, "p99_9"), ""),
]
rate = fenliu_open["rps"]
open_rows = [
    (f"answered/s at {rate:.0f}/s offered", f'{fenliu_open["decisions_per_second"]:.0f}', f'{baseline_open["decisions_per_second"]:.0f}',
     fenliu_open["decisions_per_second"] / baseline_open["decisions_per_second"], ""),
    ("Route p50 (ms)", f'{lat(fenliu_open, "p50"):.2f}', f'{lat(baseline_open, "p50"):.2f}', lat(fenliu_open, "p50") / lat(baseline_open, "p50"), ""),
    ("Route p99 (ms)", f'{lat(fenliu_open, "p99"):.2f}', f'{lat(baseline_open, "p99"):.2f}', lat(fenliu_open, "p99") / lat(baseline_open, "p99"), ""),
]
print()
print(f"fenliu vs the speed-of-light chain — one run, {cores} cores shared by every process,")
print(f"{server_threads} runtime thread(s) per server process")
print(f'{"":38} {"fenliu":>10} {"baseline":>10} {"ratio":>7}  target')
for name, a, b, ratio, target in rows:
    print(f"{name:38} {a:>10} {b:>10} {ratio:>7.2f}  {target}")
print(f"open loop, the same offered rate for both (latency from each call's scheduled time)")
for name, a, b, ratio, target in open_rows:
    print(f"{name:38} {a:>10} {b:>10} {ratio:>7.2f}  {target}")
throughput_ok = rows[0][3] >= 0.9
p99_ok = rows[2][3] <= 1.2
hot_ratio = hot["decisions_per_second"] / fenliu["decisions_per_second"]
drain_ok = drain["p99_ms"] <= 5
rss_mib = memory["rss_kib_after"] / 1024
print()
print(f'throughput ≥ 0.9 × baseline: {verdict(throughput_ok)}; p99 ≤ 1.2 × baseline: {verdict(p99_ok)}')
print(f'one hot shop: {hot["decisions_per_second"]:.0f} decisions/s = {hot_ratio:.2f} × many shops (target ≥ 0.5: {verdict(hot_ratio >= 0.5)})')
print(f'queued session assigned after its slot frees: p50 {drain["p50_ms"]} ms, p99 {drain["p99_ms"]} ms over {drain["samples"]} (target p99 ≤ 5 ms: {verdict(drain_ok)})')
print(f'  … when 100 shops free a slot in the same millisecond: p50 {burst["p50_ms"]} ms, p99 {burst["p99_ms"]} ms')
print(f'worker RSS with {memory["shops"]} shops of 20 accounts: {rss_mib:.0f} MiB (target ≤ 300 MB: {verdict(rss_mib * 1.048576 <= 300)})')

def calls_and_errors(report):
    calls = sum(row["ok"] + row["errors"] for row in report["calls"].values())
    return calls, sum(row["errors"] for row in report["calls"].values())


flood = noisy_flood["flood"]
others_calls, others_errors = calls_and_errors(noisy_flood)
quiet_p99 = lat(noisy_quiet, "p99")
flood_p99 = lat(noisy_flood, "p99")
p99_ratio = flood_p99 / quiet_p99
print()
print(f'noisy tenant: {noisy_flood["shops"]} shops at {noisy_flood["rps"]:.0f} Route/s; one more flooding at '
      f'{flood["rps"]:.0f}/s, 10 × its limit of {flood["limit"]}/s')
print(f'  the others\' errors with the flood: {others_errors} of {others_calls} calls '
      f'({100 * others_errors / max(others_calls, 1):.2f}%; target 0: {verdict(others_errors == 0)})')
print(f'  the others\' Route p99: {flood_p99:.2f} ms with the flood, {quiet_p99:.2f} ms without: '
      f'{p99_ratio:.2f} × (target ≤ 1.5: {verdict(p99_ratio <= 1.5)})')
print(f'  the flood shop: {flood["sent"]} sent, {flood["ok"]} answered, {flood["rate_limited"]} refused '
      f'RESOURCE_EXHAUSTED ({flood["with_retry_after"]} with the time to retry), {flood["other_errors"]} other errors')
print()
print("CPU per call answered, µs (what limits throughput on shared cores)")
print(f'{"":38} {"fenliu":>10} {"baseline":>10} {"ratio":>7}')
for key, name in (("front", "front: dispatcher | bare proxy"), ("server", "server: worker | bare server"), ("redis", "redis")):
    ours = fenliu.get("cpu", {}).get(key, {}).get("us_per_call")
    theirs = baseline.get("cpu", {}).get(key, {}).get("us_per_call")
    if ours is not None and theirs:
        print(f"{name:38} {ours:>10.1f} {theirs:>10.1f} {ours / theirs:>7.2f}")
errors = sum(e["count"] for report in (fenliu, baseline, fenliu_open, baseline_open, noisy_quiet, noisy_flood)
             for e in report["errors"])
print(f"errors during the load runs: {errors}")

auth_ratio = fenliu_auth["decisions_per_second"] / fenliu["decisions_per_second"]
print()
print("authentication: the same load at 64 in flight, every call with a platform token (ES256)")
print(f'{"":38} {"auth off":>10} {"auth on":>10} {"ratio":>7}  target')
print(f'{"Route decisions/s":38} {fenliu["decisions_per_second"]:>10.0f} {fenliu_auth["decisions_per_second"]:>10.0f} {auth_ratio:>7.2f}  ≥ 0.9: {verdict(auth_ratio >= 0.9)}')
for q in ("p50", "p99"):
    print(f'{"Route " + q + " (ms)":38} {lat(fenliu, q):>10.2f} {lat(fenliu_auth, q):>10.2f} {lat(fenliu_auth, q) / lat(fenliu, q):>7.2f}')
for key, name in (("front", "CPU per call: dispatcher (µs)"), ("server", "CPU per call: worker (µs)")):
    off = fenliu.get("cpu", {}).get(key, {}).get("us_per_call")
    on = fenliu_auth.get("cpu", {}).get(key, {}).get("us_per_call")
    if off and on:
        print(f"{name:38} {off:>10.1f} {on:>10.1f} {on / off:>7.2f}")
auth_errors = sum(e["count"] for e in fenliu_auth["errors"])
print(f"errors with authentication on: {auth_errors}")

tls_cost = fenliu_tls["decisions_per_second"] / fenliu["decisions_per_second"]
tls_vs_baseline = fenliu_tls["decisions_per_second"] / baseline_tls["decisions_per_second"]
print()
print("TLS on every hop (callers to dispatcher or proxy; mutual TLS to worker or server; TLS to Redis), 64 in flight")
print(f'{"":38} {"fenliu TLS":>10} {"plaintext":>10} {"ratio":>7}  target')
print(f'{"Route decisions/s":38} {fenliu_tls["decisions_per_second"]:>10.0f} {fenliu["decisions_per_second"]:>10.0f} {tls_cost:>7.2f}  ≥ 0.85: {verdict(tls_cost >= 0.85)}')
print(f'{"Route p99 (ms)":38} {lat(fenliu_tls, "p99"):>10.2f} {lat(fenliu, "p99"):>10.2f} {lat(fenliu_tls, "p99") / lat(fenliu, "p99"):>7.2f}')
print(f'{"":38} {"fenliu TLS":>10} {"base TLS":>10} {"ratio":>7}  target')
print(f'{"Route decisions/s":38} {fenliu_tls["decisions_per_second"]:>10.0f} {baseline_tls["decisions_per_second"]:>10.0f} {tls_vs_baseline:>7.2f}  ≥ 1.2: {verdict(tls_vs_baseline >= 1.2)}')
print(f'{"Route p99 (ms)":38} {lat(fenliu_tls, "p99"):>10.2f} {lat(baseline_tls, "p99"):>10.2f} {lat(fenliu_tls, "p99") / lat(baseline_tls, "p99"):>7.2f}')
for key, name in (("front", "CPU per call: front (µs)"), ("server", "CPU per call: server (µs)")):
    ours = fenliu_tls.get("cpu", {}).get(key, {}).get("us_per_call")
    theirs = baseline_tls.get("cpu", {}).get(key, {}).get("us_per_call")
    if ours and theirs:
        print(f"{name:38} {ours:>10.1f} {theirs:>10.1f} {ours / theirs:>7.2f}")
tls_errors = sum(e["count"] for report in (fenliu_tls, baseline_tls) for e in report["errors"])
print(f"errors with TLS: {tls_errors}")

observed_ratio = fenliu_observed["decisions_per_second"] / fenliu["decisions_per_second"]
sink = (out / "otlp-sink.log").read_text().strip().splitlines() if (out / "otlp-sink.log").exists() else []
print()
print("observed: Prometheus scraping both nodes every second, traces of 1% of calls exported over OTLP, 64 in flight")
print(f'{"":38} {"observed":>10} {"plain":>10} {"ratio":>7}  target')
print(f'{"Route decisions/s":38} {fenliu_observed["decisions_per_second"]:>10.0f} {fenliu["decisions_per_second"]:>10.0f} {observed_ratio:>7.2f}  ≥ 0.95: {verdict(observed_ratio >= 0.95)}')
for q in ("p50", "p99"):
    print(f'{"Route " + q + " (ms)":38} {lat(fenliu_observed, q):>10.2f} {lat(fenliu, q):>10.2f} {lat(fenliu_observed, q) / lat(fenliu, q):>7.2f}')
for key, name in (("front", "CPU per call: dispatcher (µs)"), ("server", "CPU per call: worker (µs)")):
    on = fenliu_observed.get("cpu", {}).get(key, {}).get("us_per_call")
    off = fenliu.get("cpu", {}).get(key, {}).get("us_per_call")
    if on and off:
        print(f"{name:38} {on:>10.1f} {off:>10.1f} {on / off:>7.2f}")
observed_errors = sum(e["count"] for e in fenliu_observed["errors"])
print(f"errors while observed: {observed_errors}; {sink[-1] if sink else 'otlp sink: no count'}")

unloaded = json.loads((out / "unloaded.json").read_text())
overload = json.loads((out / "overload.json").read_text())
# The overload pair's own capacity: pinned to one core, the generator on the other.
capacity = json.loads((out / "overload-capacity.json").read_text())
goodput_ratio = overload["decisions_per_second"] / capacity["decisions_per_second"]
p99_ratio = lat(overload, "p99") / lat(unloaded, "p99")
retryable = {"RESOURCE_EXHAUSTED", "UNAVAILABLE", "ResourceExhausted", "Unavailable"}
refusals = {}
for e in overload["errors"]:
    refusals[e["code"]] = refusals.get(e["code"], 0) + e["count"]
not_retryable = sum(n for code, n in refusals.items() if code not in retryable)
print()
print(f'overload (servers pinned to one core, the load generator to the other): open loop at {overload["rps"]:.0f} Route/s (1.5 × the {capacity["decisions_per_second"]:.0f}/s answered at 64 in flight) for 20 s')
print(f'  goodput {overload["decisions_per_second"]:.0f}/s = {goodput_ratio:.2f} × capacity (target ≥ 0.9: {verdict(goodput_ratio >= 0.9)})')
print(f'  admitted Route p50 {lat(overload, "p50"):.2f} ms, p99 {lat(overload, "p99"):.2f} ms; unloaded (1,000/s) p99 {lat(unloaded, "p99"):.2f} ms: '
      f'{p99_ratio:.1f} × (target ≤ 10: {verdict(p99_ratio <= 10)})')
print(f'  refusals by code: {refusals or "none"}; not retryable: {not_retryable} (target 0: {verdict(not_retryable == 0)})')

if html_path:
    sys.dont_write_bytecode = True  # no __pycache__ in scripts/
    import bench_html

    def pair(measure, a, b, target="", met=None):
        return {"measure": measure, "a": a, "b": b, "ratio": a / b if b else None, "target": target, "met": met}

    def cpu_rows(ours, theirs, names):
        return [pair(name, ours["cpu"][key]["us_per_call"], theirs["cpu"][key]["us_per_call"])
                for key, name in names
                if ours.get("cpu", {}).get(key, {}).get("us_per_call") is not None
                and theirs.get("cpu", {}).get(key, {}).get("us_per_call")]

    fronts = (("front", "CPU per call: front (µs)"), ("server", "CPU per call: server (µs)"),
              ("redis", "CPU per call: redis (µs)"))
    comparisons = [
        {"title": "fenliu vs the speed-of-light chain, 64 in flight", "names": ("fenliu", "baseline"),
         "rows": [{"measure": name, "a": float(a), "b": float(b), "ratio": ratio, "target": target,
                   "met": {0: throughput_ok, 2: p99_ok}.get(index)}
                  for index, (name, a, b, ratio, target) in enumerate(rows)] + cpu_rows(fenliu, baseline, fronts)},
        {"title": f"Open loop at {rate:.0f} calls/s offered to both", "names": ("fenliu", "baseline"),
         "note": "Latency from each call's scheduled time.",
         "rows": [{"measure": name, "a": float(a), "b": float(b), "ratio": ratio, "target": target}
                  for name, a, b, ratio, target in open_rows]},
        {"title": "Authentication: every call with a platform token", "names": ("auth on", "auth off"),
         "rows": [pair("Route decisions/s", fenliu_auth["decisions_per_second"], fenliu["decisions_per_second"],
                       "≥ 0.9", auth_ratio >= 0.9)]
         + [pair(f"Route {q} (ms)", lat(fenliu_auth, q), lat(fenliu, q)) for q in ("p50", "p99")]
         + cpu_rows(fenliu_auth, fenliu, fronts[:2])},
        {"title": "TLS on every hop: fenliu with TLS against plaintext", "names": ("fenliu TLS", "plaintext"),
         "rows": [pair("Route decisions/s", fenliu_tls["decisions_per_second"], fenliu["decisions_per_second"],
                       "≥ 0.85", tls_cost >= 0.85),
                  pair("Route p99 (ms)", lat(fenliu_tls, "p99"), lat(fenliu, "p99"))]},
        {"title": "TLS on every hop: fenliu against the baseline, both with TLS", "names": ("fenliu TLS", "baseline TLS"),
         "rows": [pair("Route decisions/s", fenliu_tls["decisions_per_second"], baseline_tls["decisions_per_second"],
                       "≥ 1.2", tls_vs_baseline >= 1.2),
                  pair("Route p99 (ms)", lat(fenliu_tls, "p99"), lat(baseline_tls, "p99"))]
         + cpu_rows(fenliu_tls, baseline_tls, fronts[:2])},
        {"title": "Observed: metrics scraped every second, 1% of calls traced", "names": ("observed", "plain"),
         "rows": [pair("Route decisions/s", fenliu_observed["decisions_per_second"], fenliu["decisions_per_second"],
                       "≥ 0.95", observed_ratio >= 0.95)]
         + [pair(f"Route {q} (ms)", lat(fenliu_observed, q), lat(fenliu, q)) for q in ("p50", "p99")]},
        {"title": "Noisy tenant: the other shops without and with the flood", "names": ("with flood", "without"),
         "rows": [pair("Route p99 (ms)", flood_p99, quiet_p99, "≤ 1.5", flood_p99 / quiet_p99 <= 1.5),
                  pair("Route decisions/s", noisy_flood["decisions_per_second"], noisy_quiet["decisions_per_second"])]},
    ]
    verdicts = [
        ("Route decisions/s, fenliu / baseline", f"{rows[0][3]:.2f} ×", "≥ 0.9", throughput_ok),
        ("Route p99, fenliu / baseline", f"{rows[2][3]:.2f} ×", "≤ 1.2", p99_ok),
        ("one hot shop / many shops, decisions/s", f"{hot_ratio:.2f} ×", "≥ 0.5", hot_ratio >= 0.5),
        ("queued session assigned after its slot frees, p99", f'{drain["p99_ms"]} ms', "≤ 5 ms", drain_ok),
        ("… 100 shops in the same millisecond, p99", f'{burst["p99_ms"]} ms', "", None),
        (f'worker RSS with {memory["shops"]} shops of 20 accounts', f"{rss_mib:.0f} MiB", "≤ 300 MB",
         rss_mib * 1.048576 <= 300),
        ("noisy tenant: the others' errors with the flood", f"{others_errors} of {others_calls}", "0",
         others_errors == 0),
        ("errors during the load runs", str(errors), "", None),
    ]
    overload_rows = [
        ("offered (open loop)", f'{overload["rps"]:.0f} Route/s', "1.5 × capacity", None),
        ("capacity at 64 in flight", f'{capacity["decisions_per_second"]:.0f}/s', "", None),
        ("goodput", f'{overload["decisions_per_second"]:.0f}/s = {goodput_ratio:.2f} × capacity', "≥ 0.9",
         goodput_ratio >= 0.9),
        ("admitted Route p50", f'{lat(overload, "p50"):.2f} ms', "", None),
        ("admitted Route p99 / unloaded p99", f'{lat(overload, "p99"):.2f} / {lat(unloaded, "p99"):.2f} ms = '
         f"{p99_ratio:.1f} ×", "≤ 10", p99_ratio <= 10),
    ] + [(f"refused {code}", str(n), "", None) for code, n in sorted(refusals.items())] + [
        ("refusals not retryable", str(not_retryable), "0", not_retryable == 0),
    ]
    bench_html.write(
        html_path, out,
        "fenliu benchmark: fenliu against the speed-of-light chain",
        f"One run, {cores} cores shared by every process, {server_threads} runtime thread(s) per server "
        f"process; figures from the load tests' JSON reports in {out}.",
        comparisons, verdicts,
        {"title": f'Overload: servers pinned to one core, open loop at {overload["rps"]:.0f} Route/s for 20 s',
         "rows": overload_rows},
    )
    print(f"HTML report: {html_path}")
