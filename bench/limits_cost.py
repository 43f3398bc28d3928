"""What budgets, rate limits and an allowlist cost a request, measured in time.

Two ways, both comparing the gateway's own CPU per request (all its threads, /proc):

    .venv/bin/python bench/limits_cost.py --configs auth,on [--runs 4] [--phases 10] [--scenario openai]
    .venv/bin/python bench/limits_cost.py --configs on,on --sources ../base,.   # two checkouts
    .venv/bin/python bench/limits_cost.py [--phases 16] [--seconds 2.5]         # one gateway, two keys

`--configs A,B` (the one to use): two gateways, with `bench.py --limits` configs A and B (say
`auth`, a plain key, and `on`, the same key with a budget, rpm, tpm and models, plus a gateway
budget), both on core 0, are driven AT THE SAME TIME, 16 requests in flight each, by this process
and the fake on core 1. Each phase compares their CPU per request (nanosecond schedstat), so both
see the same moments of a shared machine: one phase's ratio moves by 1-2% where two runs minutes
apart move by 15%. A pair of processes still has a bias of its own (memory layout, hash seed: up to
~2%), so `--runs` starts new pairs, swapping which gateway gets which port and folder, and the
result is the mean of the runs' median ratios, with their spread. `--sources A,B` runs config A
from checkout A and B from checkout B (a before/after of the same config). Everything a config
costs is in the difference: the checks, the spend book, its reconcile, the window files.

Without `--configs`: ONE gateway holds two keys, `bench` (no limits) and `limited` (a daily and
monthly budget, rpm, tpm and a models allowlist, none ever reached), and is sent one key's
requests for a short phase, then the other's, alternating; the phase pairs are compared. It
leaves out what every request pays once any budget is set (the spend book's reconcile), and
alternating phases see more of the machine's noise.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import (  # bench/ is not a package: found through sys.path above
    BENCH_GATEWAY_KEY,
    BENCH_LIMITED_KEY,
    SCENARIOS,
    Fake,
    GatewayProc,
    Load,
    Sample,
    run_concurrent,
)


async def phases(
    gws: dict[str, GatewayProc], keys: dict[str, str], scenario: str, n: int, seconds: float
) -> list[dict[str, Any]]:
    """`n` phase pairs: each of the two (gateway, key) in turn, in alternating order."""
    sc = next(s for s in SCENARIOS if s.name == scenario)
    connector = aiohttp.TCPConnector(limit=64, limit_per_host=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        loads: dict[str, Load] = {}
        for name, gw in gws.items():
            loads[name] = Load(session, gw.url, sc, sc.gateway_path(), keyed=True)
            loads[name].headers = sc.headers() | {"x-api-key": keys[name]}
            warm = await run_concurrent(loads[name], 32, 1500, 30, {})  # warm-up
            if warm.errors:
                raise RuntimeError(f"warm-up failed: {warm.first_error}")
        gc.collect()
        names = list(gws)
        out = []
        for i in range(n):
            for name in names if i % 2 == 0 else names[::-1]:
                sample = await run_concurrent(loads[name], 32, 100_000, seconds, {"gateway": gws[name].pids})
                if sample.errors:
                    raise RuntimeError(f"{name}: {sample.first_error}")
                done = len(sample.total_ms)
                cpu_s = sample.cpu["gateway"] / 100 * sample.elapsed_s
                out.append(
                    {
                        "phase": i,
                        "key": name,
                        "requests": done,
                        "rps": done / sample.elapsed_s,
                        "cpu_us": cpu_s / done * 1e6,
                    }
                )
        return out


def cpu_ns(pids: list[int]) -> int:
    """CPU time of the processes, all threads, in nanoseconds (schedstat; /proc/PID/stat counts ticks)."""
    total = 0
    for pid in pids:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):  # a thread that just ended
                pass
    return total


async def together(
    gws: list[GatewayProc], scenario: str, n: int, seconds: float
) -> list[tuple[float, float]]:
    """`n` phases of `seconds` (after one to warm up), both gateways driven at once with 16
    requests in flight each: (CPU us per request of the first, of the second) per phase."""
    sc = next(s for s in SCENARIOS if s.name == scenario)
    connector = aiohttp.TCPConnector(limit=128, limit_per_host=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        loads = [Load(session, gw.url, sc, sc.gateway_path(), keyed=True) for gw in gws]
        out = []
        for i in range(n + 1):
            samples = [Sample(), Sample()]
            until = time.perf_counter() + seconds

            async def drive(load: Load, sample: Sample, until: float = until) -> None:
                while time.perf_counter() < until:
                    await load.one(sample)

            before = [cpu_ns(gw.pids) for gw in gws]
            await asyncio.gather(*(drive(loads[j], samples[j]) for j in (0, 1) for _ in range(16)))
            after = [cpu_ns(gw.pids) for gw in gws]
            for sample in samples:
                if sample.errors:
                    raise RuntimeError(sample.first_error)
            if i:  # phase 0 warms up
                a, b = ((after[j] - before[j]) / 1e3 / samples[j].count for j in (0, 1))
                out.append((a, b))
        return out


def run_pairs(args: argparse.Namespace, folder: Path, fake: Fake) -> dict[str, Any]:
    """`args.runs` pairs of gateways (configs A and B), each driven together; the slots swap
    every run. Returns the summary, B against A."""
    names = args.configs.split(",")
    sources = [args.gateway_src.resolve()] * 2
    if args.sources:
        sources = [Path(p).resolve() for p in args.sources.split(",")]
    runs = []
    for r in range(args.runs):
        order = (0, 1) if r % 2 == 0 else (1, 0)  # which of A, B goes in slot 0
        gws = []
        try:
            for slot, which in enumerate(order):
                (folder / f"{r}-{slot}").mkdir()
                gw = GatewayProc(folder / f"{r}-{slot}", args.workers, {0}, sources[which], names[which])
                gws.append(gw.start(fake))
            phases = run_loop(together(gws, args.scenario, args.phases, args.seconds))
        finally:
            for gw in gws:
                gw.stop()
        a_at, b_at = order.index(0), order.index(1)
        ratios = [row[b_at] / row[a_at] for row in phases]
        runs.append(
            {
                "a_cpu_us": statistics.median(row[a_at] for row in phases),
                "b_cpu_us": statistics.median(row[b_at] for row in phases),
                "ratio_median": statistics.median(ratios),
                "ratios": ratios,
            }
        )
        run = runs[-1]
        print(
            f"  run {r + 1}: {names[0]} {run['a_cpu_us']:.0f} us, {names[1]} {run['b_cpu_us']:.0f} us "
            f"a request (median of {len(phases)} phases); {names[1]} / {names[0]} "
            f"{100 * (run['ratio_median'] - 1):+.2f}%",
            flush=True,
        )
    medians = [run["ratio_median"] for run in runs]
    pooled = [x for run in runs for x in run["ratios"]]
    return {
        "scenario": args.scenario,
        "a": f"{names[0]}@{sources[0]}",
        "b": f"{names[1]}@{sources[1]}",
        "runs": runs,
        "ratio_mean_of_runs": statistics.mean(medians),
        "ratio_sd_of_runs": statistics.stdev(medians) if len(medians) > 1 else 0.0,
        "ratio_pooled_median": statistics.median(pooled),
        "load_average": os.getloadavg()[0],
    }


def run_loop(coro: Any) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phases", type=int, default=16, help="phase pairs (default 16)")
    parser.add_argument("--seconds", type=float, default=2.5, help="seconds per phase (default 2.5)")
    parser.add_argument("--scenario", default="openai", choices=[s.name for s in SCENARIOS])
    parser.add_argument(
        "--versus",
        default="all",
        choices=["all", "budget", "rate", "models"],
        help="the limited key: all of them (default), or only its budget, rpm+tpm, or models",
    )
    parser.add_argument(
        "--configs",
        metavar="A,B",
        help="two gateways with bench.py --limits configs A and B (say auth,on), driven at the same time",
    )
    parser.add_argument("--runs", type=int, default=4, help="--configs: gateway pairs in turn (default 4)")
    parser.add_argument("--sources", metavar="A,B", help="--configs: A from one checkout, B from another")
    parser.add_argument("--workers", type=int, default=1, help="--configs: workers a gateway (default 1)")
    parser.add_argument("--gateway-src", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    pairs = [v for v in (args.configs, args.sources) if v]
    if any(len(v.split(",")) != 2 for v in pairs):
        parser.error("--configs and --sources take two values: A,B")
    if args.configs and args.phases == 16:  # the default is for alternating phases
        args.phases = 10
    if args.configs and args.seconds == 2.5:
        args.seconds = 2.0
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {1})
    folder = Path(tempfile.mkdtemp(prefix="ekai-limits-cost-"))
    fake = Fake(20, {1})
    try:
        fake.start()
        if args.configs:
            print(
                f"limits_cost: {args.configs} driven together, {args.scenario}, {args.runs} runs of "
                f"{args.phases} phases of {args.seconds:g} s",
                flush=True,
            )
            out = run_pairs(args, folder, fake)
            a, b = args.configs.split(",")
            print(
                f"limits_cost ({args.scenario}, load {out['load_average']:.1f}): {b} against {a}: "
                f"gateway CPU per request {100 * (out['ratio_mean_of_runs'] - 1):+.2f}% (mean of "
                f"{args.runs} runs' medians, sd {100 * out['ratio_sd_of_runs']:.2f}; pooled median of "
                f"phases {100 * (out['ratio_pooled_median'] - 1):+.2f}%)"
            )
            if args.json:
                Path(args.json).write_text(json.dumps(out, indent=1))
            return 0
        gw = GatewayProc(folder, 1, {0}, args.gateway_src.resolve(), "pair").start(fake)
        limited = BENCH_LIMITED_KEY if args.versus == "all" else f"{BENCH_LIMITED_KEY}-{args.versus}"
        keys = {"plain": BENCH_GATEWAY_KEY, "limited": limited}
        try:
            both = {"plain": gw, "limited": gw}
            rows = run_loop(phases(both, keys, args.scenario, args.phases, args.seconds))
        finally:
            gw.stop()
    finally:
        fake.stop()
        os.sched_setaffinity(0, before)
        shutil.rmtree(folder, ignore_errors=True)
    by = {k: [r for r in rows if r["key"] == k] for k in ("plain", "limited")}
    ratios = [lim["cpu_us"] / pl["cpu_us"] for pl, lim in zip(by["plain"], by["limited"], strict=True)]
    rps = [lim["rps"] / pl["rps"] for pl, lim in zip(by["plain"], by["limited"], strict=True)]
    summary = {
        "scenario": args.scenario,
        "versus": args.versus,
        "phases": args.phases,
        "seconds": args.seconds,
        "load_average": os.getloadavg()[0],
        "plain_cpu_us_median": statistics.median(r["cpu_us"] for r in by["plain"]),
        "limited_cpu_us_median": statistics.median(r["cpu_us"] for r in by["limited"]),
        "cpu_ratio_median": statistics.median(ratios),
        "rps_ratio_median": statistics.median(rps),
        "plain_rps_median": statistics.median(r["rps"] for r in by["plain"]),
        "limited_rps_median": statistics.median(r["rps"] for r in by["limited"]),
    }
    print(
        f"limits_cost ({args.scenario}, limited = {args.versus}, one gateway, {args.phases} phase pairs of "
        f"{args.seconds:g} s, load {summary['load_average']:.1f}): gateway CPU per request, plain key "
        f"{summary['plain_cpu_us_median']:.0f} us, limited key {summary['limited_cpu_us_median']:.0f} us "
        f"(median of pair ratios {100 * (summary['cpu_ratio_median'] - 1):+.1f}%); req/s "
        f"{summary['plain_rps_median']:.0f} vs {summary['limited_rps_median']:.0f} "
        f"({100 * (summary['rps_ratio_median'] - 1):+.1f}%)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "phases": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
