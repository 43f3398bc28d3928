"""What a limited key costs a request, counted in instructions under valgrind (callgrind).

Time on a shared 2-core VM moves by 10-30% between phases; instruction counts do not. One gateway
(one worker) runs under `valgrind --tool=callgrind`; the load generator sends the same number of
requests with the plain key and with the limited key, in alternating phases, and callgrind's
counters are dumped after each phase. The result is instructions per request, all gateway
threads, for each key; the dumps can be opened with callgrind_annotate to see where they go.

    .venv/bin/python bench/limits_instr.py [--requests 1500] [--phases 3] [--versus all]
    .venv/bin/python bench/limits_instr.py --configs auth,on     # two gateways, one after the other

`--configs A,B` runs one gateway per `bench.py --limits` config instead (say `auth`: a plain key,
and `on`: the same key with a budget, rpm, tpm and models, plus a gateway budget), one after the
other: what `make bench --limits` compares, without its noise. Counts repeat to within ~0.5%.

Instructions are not time (cache misses are not in them), so this finds and checks the cost;
`bench/limits_cost.py` and `bench.py --limits` measure it in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import (  # bench/ is not a package: found through sys.path above
    BENCH_GATEWAY_KEY,
    BENCH_LIMITED_KEY,
    PROVIDER_KEYS,
    ROOT,
    SCENARIOS,
    Fake,
    Load,
    Sample,
    free_port,
    write_config,
)

TOTALS = re.compile(rb"^(?:summary|totals): (\d+)", re.M)


def dump_total(folder: Path, before: set[Path]) -> tuple[int, set[Path]]:
    """Ask callgrind to dump every traced process; the instructions in the new dump files."""
    subprocess.run(["callgrind_control", "-d"], check=True, capture_output=True)
    files = set(folder.glob("callgrind.out.*"))
    total = 0
    for f in files - before:
        m = TOTALS.search(f.read_bytes())
        if m:
            total += int(m.group(1))
    return total, files


async def phase(load: Load, n: int, concurrency: int) -> None:
    sample = Sample()
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await load.one(sample)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if sample.errors:
        raise RuntimeError(sample.first_error)


async def drive(
    url: str, folder: Path, args: argparse.Namespace, plan: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Warm up with every key of `plan`, then send `args.requests` requests per (name, key)
    phase, dumping callgrind's counters after each."""
    sc = next(s for s in SCENARIOS if s.name == args.scenario)
    out: list[dict[str, Any]] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        loads: dict[str, Load] = {}
        for _, key in plan:
            if key not in loads:
                loads[key] = Load(session, url, sc, sc.gateway_path(), keyed=True)
                loads[key].headers = sc.headers() | {"x-api-key": key}
                await phase(loads[key], args.requests, args.concurrency)  # warm-up, not counted
        _, seen = dump_total(folder, set())
        for i, (name, key) in enumerate(plan):
            await phase(loads[key], args.requests, args.concurrency)
            await asyncio.sleep(0.7)  # let the writer flush and the reconcile run inside the phase
            total, seen = dump_total(folder, seen)
            out.append({"phase": i // 2, "key": name, "instructions_per_request": total / args.requests})
            print(f"{name}: {total / args.requests:,.0f} instructions a request", flush=True)
    return out


def counted(args: argparse.Namespace, limits: str, plan: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """One gateway under callgrind with `bench.py`'s `limits` config, driven through `plan`."""
    folder = Path(tempfile.mkdtemp(prefix="ekai-limits-instr-"))
    fake = Fake(20, None).start()
    port = free_port()
    config = write_config(folder, fake, port, limits)
    slow = f"port: {port}, timeouts: {{connect: 600, first_byte: 600}}}}"  # valgrind is ~50x slower
    config.write_text(config.read_text().replace(f"port: {port}}}", slow))
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env |= PROVIDER_KEYS | {"PYTHONUNBUFFERED": "1", "PYTHONPATH": str(args.gateway_src.resolve())}
    env["EKAI_BENCH_GATEWAY_KEY"] = BENCH_GATEWAY_KEY
    env["EKAI_BENCH_LIMITED_KEY"] = BENCH_LIMITED_KEY
    for part in ("budget", "rate", "models"):
        env[f"EKAI_BENCH_LIMITED_KEY_{part.upper()}"] = f"{BENCH_LIMITED_KEY}-{part}"
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--trace-children=yes",
        "--separate-threads=yes",  # one dump per thread: where the instructions go
        f"--callgrind-out-file={folder}/callgrind.out.%p",
    ]
    cmd += [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port", str(port)]
    log = open(folder / "gateway.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=args.gateway_src, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((folder / "gateway.log").read_text()[-3000:])
            try:
                with urllib.request.urlopen(url + "/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        return asyncio.run(drive(url, folder, args, plan))
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        fake.stop()
        if args.keep:
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            for f in folder.glob("callgrind.out.*"):
                shutil.copy(f, Path(args.keep) / f"{limits}.{f.name}")
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1500, help="requests per phase (default 1500)")
    parser.add_argument("--phases", type=int, default=3, help="phase pairs (default 3)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--scenario", default="openai", choices=[s.name for s in SCENARIOS])
    parser.add_argument("--versus", default="all", choices=["all", "budget", "rate", "models"])
    parser.add_argument("--configs", metavar="A,B", help="two bench.py --limits configs, one gateway each")
    parser.add_argument("--gateway-src", type=Path, default=ROOT)
    parser.add_argument("--keep", metavar="DIR", help="keep the callgrind dumps in DIR")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    if args.configs:
        names = args.configs.split(",")
        rows = []
        for name in names:  # the same key, the bench key, in both
            rows += counted(args, name, [(name, BENCH_GATEWAY_KEY)] * args.phases)
        what = f"{names[0]} vs {names[1]} (one gateway each)"
    else:
        limited = BENCH_LIMITED_KEY if args.versus == "all" else f"{BENCH_LIMITED_KEY}-{args.versus}"
        names = ["plain", "limited"]
        plan: list[tuple[str, str]] = []
        for i in range(args.phases):
            pair = [("plain", BENCH_GATEWAY_KEY), ("limited", limited)]
            plan += pair if i % 2 == 0 else pair[::-1]
        rows = counted(args, "pair", plan)
        what = f"plain vs limited = {args.versus} (one gateway)"
    by = {k: [r["instructions_per_request"] for r in rows if r["key"] == k] for k in names}
    first = sum(by[names[0]]) / len(by[names[0]])
    second = sum(by[names[1]]) / len(by[names[1]])
    print(
        f"limits_instr ({args.scenario}, {what}, {args.phases} x {args.requests} requests each): "
        f"{first:,.0f} vs {second:,.0f} instructions a request ({100 * (second / first - 1):+.2f}%; "
        f"phases {' '.join(f'{v:,.0f}' for v in by[names[0]])} vs "
        f"{' '.join(f'{v:,.0f}' for v in by[names[1]])})"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"phases": rows, names[0]: first, names[1]: second}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
