"""What budgets, rate limits and an allowlist cost a request, measured inside ONE gateway.

`bench.py --limits auth` vs `--limits on` compares two gateway processes started one after the
other; on a shared 2-core VM their CPU per request differs by 10-15% from run to run with the same
code, more than the effect looked for. Here one gateway holds two keys: `bench` (no limits) and
`limited` (a daily and monthly budget, rpm, tpm and a models allowlist, none ever reached). The
load generator sends 32 concurrent requests with one key for a short phase, then with the other,
alternating, so both keys run in the same process, warmed up alike, seconds apart. The gateway's
CPU per request (all its threads, /proc) is compared phase pair by phase pair.

    .venv/bin/python bench/limits_cost.py [--phases 16] [--seconds 2.5] [--scenario openai]
    .venv/bin/python bench/limits_cost.py --configs auth,on   # two gateways, driven in turns

`--configs A,B` runs two gateways at once instead, with `bench.py --limits` configs A and B (say
`auth`, a plain key, and `on`, the same key with every limit plus a gateway budget): what
`bench.py --limits` compares, in alternating phases of seconds rather than runs minutes apart, so
that what costs every request once any budget is set (the spend book, its reconcile) is in the
difference too.

The gateway is pinned to core 0, the fake and this process to core 1 (as `bench.py --pin`).
Note: a budget being configured at all starts the spend reconcile (every 0.5 s, in a thread) for
both phases alike; its cost is not in the difference (it is ~1 us a request at 3,000 req/s).
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
                out.append({"phase": i, "key": name, "requests": done, "rps": done / sample.elapsed_s,
                            "cpu_us": cpu_s / done * 1e6})
        return out


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
        help="instead: two gateways with bench.py --limits configs A and B (say auth,on), both "
        "running, driven in alternating phases with the bench key",
    )
    parser.add_argument("--gateway-src", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {1})
    folder = Path(tempfile.mkdtemp(prefix="ekai-limits-cost-"))
    fake = Fake(20, {1})
    src = args.gateway_src.resolve()
    if args.configs:  # one gateway per config; only one is driven at a time, both on core 0
        first, second = args.configs.split(",")
        (folder / "a").mkdir()
        (folder / "b").mkdir()
        gws = {"plain": GatewayProc(folder / "a", 1, {0}, src, first),
               "limited": GatewayProc(folder / "b", 1, {0}, src, second)}
        keys = {"plain": BENCH_GATEWAY_KEY, "limited": BENCH_GATEWAY_KEY}
        what = f"{first} vs {second}, two gateways"
    else:
        gw = GatewayProc(folder, 1, {0}, src, "pair")
        gws = {"plain": gw, "limited": gw}
        limited = BENCH_LIMITED_KEY if args.versus == "all" else f"{BENCH_LIMITED_KEY}-{args.versus}"
        keys = {"plain": BENCH_GATEWAY_KEY, "limited": limited}
        what = f"limited = {args.versus}, one gateway"
    try:
        fake.start()
        for gw in set(gws.values()):
            gw.start(fake)
        try:
            import uvloop

            rows = uvloop.run(phases(gws, keys, args.scenario, args.phases, args.seconds))
        except ImportError:  # pragma: no cover
            rows = asyncio.run(phases(gws, keys, args.scenario, args.phases, args.seconds))
    finally:
        for gw in set(gws.values()):
            gw.stop()
        fake.stop()
        os.sched_setaffinity(0, before)
        shutil.rmtree(folder, ignore_errors=True)
    by = {k: [r for r in rows if r["key"] == k] for k in ("plain", "limited")}
    ratios = [lim["cpu_us"] / pl["cpu_us"] for pl, lim in zip(by["plain"], by["limited"], strict=True)]
    rps = [lim["rps"] / pl["rps"] for pl, lim in zip(by["plain"], by["limited"], strict=True)]
    summary = {
        "scenario": args.scenario,
        "versus": args.configs or args.versus,
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
        f"limits_cost ({args.scenario}, {what}, {args.phases} phase pairs of {args.seconds:g} s, "
        f"load {summary['load_average']:.1f}): gateway CPU per request, plain key "
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
