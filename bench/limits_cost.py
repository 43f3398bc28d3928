"""What budgets, rate limits and an allowlist cost a request, measured inside ONE gateway.

`bench.py --limits auth` vs `--limits on` compares two gateway processes started one after the
other; on a shared 2-core VM their CPU per request differs by 10-15% from run to run with the same
code, more than the effect looked for. Here one gateway holds two keys: `bench` (no limits) and
`limited` (a daily and monthly budget, rpm, tpm and a models allowlist, none ever reached). The
load generator sends 32 concurrent requests with one key for a short phase, then with the other,
alternating, so both keys run in the same process, warmed up alike, seconds apart. The gateway's
CPU per request (all its threads, /proc) is compared phase pair by phase pair.

    .venv/bin/python bench/limits_cost.py [--phases 16] [--seconds 2.5] [--scenario openai]

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
    BENCH_LIMITED_KEY,
    SCENARIOS,
    Fake,
    GatewayProc,
    Load,
    run_concurrent,
)


async def phases(
    gw: GatewayProc, fake: Fake, scenario: str, n: int, seconds: float, versus: str
) -> list[dict[str, Any]]:
    sc = next(s for s in SCENARIOS if s.name == scenario)
    connector = aiohttp.TCPConnector(limit=32, limit_per_host=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        plain = Load(session, gw.url, sc, sc.gateway_path(), keyed=True)
        limited = Load(session, gw.url, sc, sc.gateway_path(), keyed=True)
        key = BENCH_LIMITED_KEY if versus == "all" else f"{BENCH_LIMITED_KEY}-{versus}"
        limited.headers = sc.headers() | {"x-api-key": key}
        for load in (plain, limited):  # warm-up
            warm = await run_concurrent(load, 32, 1500, 30, {})
            if warm.errors:
                raise RuntimeError(f"warm-up failed: {warm.first_error}")
        gc.collect()
        out = []
        for i in range(n):
            for name, load in (("plain", plain), ("limited", limited)) if i % 2 == 0 else (
                ("limited", limited), ("plain", plain)
            ):
                sample = await run_concurrent(load, 32, 100_000, seconds, {"gateway": gw.pids})
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
    parser.add_argument("--gateway-src", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {1})
    folder = Path(tempfile.mkdtemp(prefix="ekai-limits-cost-"))
    fake = Fake(20, {1})
    gw = GatewayProc(folder, 1, {0}, args.gateway_src.resolve(), "pair")
    try:
        fake.start()
        gw.start(fake)
        try:
            import uvloop

            rows = uvloop.run(phases(gw, fake, args.scenario, args.phases, args.seconds, args.versus))
        except ImportError:  # pragma: no cover
            rows = asyncio.run(phases(gw, fake, args.scenario, args.phases, args.seconds, args.versus))
    finally:
        gw.stop()
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
        f"limits_cost ({args.scenario}, limited = {args.versus}, {args.phases} phase pairs of "
        f"{args.seconds:g} s, one gateway, "
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
