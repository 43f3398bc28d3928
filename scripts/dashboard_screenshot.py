"""Screenshot the dashboard as `marimo run` serves it, in headless Chromium.

    python scripts/dashboard_screenshot.py [--rows 200000] [--out var/dashboard.png]
    (--rows 0: the first-run page of an empty database; --db MISSING: before the gateway ran)
                                           [--db PATH] [--width 1400] [--height 2200]

Builds a temporary ekai.yaml, price tables and a usage database with `--rows` rows from
bench/gen_usage.py (coding-agent sessions, keys, clients; or uses `--db`), starts `marimo run
analytics/dashboard.py --headless` on a free port, and opens it in Debian's `chromium` (install it
with `apt-get install -y chromium`).

Why the DevTools protocol and not `chromium --screenshot --virtual-time-budget=...`: marimo run
renders nothing until the page's websocket connects and the kernel has run every cell, which
takes real seconds; virtual time races ahead of that, the frontend gives up on the socket
("kernel not found") and the screenshot shows an empty page. So the script starts chromium with
`--remote-debugging-port`, navigates, polls the page in real time until the last section's
heading is there and the charts have drawn, checks the text for marimo's error markers, and
saves `Page.captureScreenshot`: one PNG of the first `--height` pixels and one `-full.png` of
the whole app. The protocol's websocket is spoken with the `websockets` package (a dependency
of marimo's server). Not run by CI.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from websockets.sync.client import ClientConnection, connect  # noqa: E402

sys.path.append(str(ROOT / "bench"))
from gen_usage import generate, write_pricing  # noqa: E402

# What a finished page shows: the last section's heading and all ten charts (spend over time,
# token mix, cost by model, provider, key and client, the session timeline's two, two latency
# panels); with no rows, the first-run message and no chart.
READY = ("Latest requests", 10)
READY_EMPTY = ("No requests recorded yet", 0)
READY_MISSING = ("No usage database yet", 0)
ERROR_MARKERS = ("An internal error occurred", "Traceback (most recent call last)", "MarimoError")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"marimo did not answer at {url} within {timeout:.0f} s")


class DevTools:
    """The smallest DevTools protocol client: send a command, wait for its answer."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0

    def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def screenshot_part(self, path: Path, width: int, top: int, height: int) -> None:
        """The page from `top` down, `height` pixels (after `screenshot` of the whole page)."""
        shot = self.call(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": top, "width": width, "height": height, "scale": 1},
        )
        path.write_bytes(base64.b64decode(shot["data"]))

    def screenshot(self, path: Path, width: int, height: int) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        time.sleep(1.5)  # let the charts re-lay out to the new size
        shot = self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))


def start_chromium(profile: Path, size: tuple[int, int]) -> tuple[subprocess.Popen, str]:
    """Headless chromium with a DevTools port; returns the process and a page's websocket URL."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium not found: apt-get update && apt-get install -y chromium")
    port = free_port()
    process = subprocess.Popen(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}",
         f"--window-size={size[0]},{size[1]}", f"--remote-debugging-port={port}",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            if pages:
                return process, pages[0]["webSocketDebuggerUrl"]
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("chromium's DevTools port never answered")


# Text of the page, including what marimo renders inside web components' shadow roots.
PAGE_TEXT = """
(() => {
  const parts = [];
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) parts.push(child.textContent);
      else walk(child);
    }
  };
  walk(document.body);
  return parts.join(" ");
})()
"""

# Charts drawn so far (vega-embed renders into a canvas or an svg inside each chart).
CHARTS_DRAWN = """
(() => {
  let n = 0;
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.children || []) {
      if (child.classList && child.classList.contains("vega-embed")) n += 1;
      walk(child);
    }
  };
  walk(document.body);
  return n;
})()
"""

APP_HEIGHT = "document.getElementById('App') ? document.getElementById('App').scrollHeight : 0"


def render(
    url: str, work: Path, out: Path, size: tuple[int, int], timeout: float, ready: tuple[str, int]
) -> list[str]:
    """Open `url`, wait for the dashboard, save the PNGs; returns error markers found."""
    browser, ws_url = start_chromium(work / "profile", size)
    try:
        with connect(ws_url, max_size=None, open_timeout=20) as ws:
            return capture(DevTools(ws), url, out, size, timeout, ready)
    finally:
        os.killpg(browser.pid, signal.SIGTERM)
        browser.wait(timeout=10)


def capture(
    tools: DevTools,
    url: str,
    out: Path,
    size: tuple[int, int],
    timeout: float,
    ready: tuple[str, int],
) -> list[str]:
    tools.call("Page.enable")
    tools.call("Page.navigate", url=url)
    started = time.monotonic()
    text = ""
    charts = 0
    while time.monotonic() - started < timeout:
        text = str(tools.evaluate(PAGE_TEXT) or "")
        charts = int(tools.evaluate(CHARTS_DRAWN) or 0)
        if ready[0] in text and charts >= ready[1]:
            break
        time.sleep(0.5)
    else:
        print(f"timed out after {timeout:.0f} s ({charts} charts drawn)")
    print(f"rendered in {time.monotonic() - started:.1f} s, {charts} charts")
    time.sleep(2)  # last paints
    out.parent.mkdir(parents=True, exist_ok=True)
    tools.screenshot(out, *size)
    full_height = int(tools.evaluate(APP_HEIGHT) or size[1])
    full = out.with_name(out.stem + "-full.png")
    tools.screenshot(full, size[0], max(size[1], full_height + 40))
    parts = []
    for i, top in enumerate(range(size[1], full_height, size[1] // 2)):
        part = out.with_name(f"{out.stem}-part{i + 2}.png")  # part 1 is `out` itself
        tools.screenshot_part(part, size[0], top, min(size[1] // 2, full_height - top))
        parts.append(part.name)
    print(f"screenshots: {out} and {full} (page height {full_height} px); below the first "
          f"screen, in halves: {', '.join(parts)}")  # fmt: skip
    return [marker for marker in ERROR_MARKERS if marker in text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--db", type=Path, help="use this database instead of demo rows")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "dashboard.png")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=2200)
    parser.add_argument("--period", default="30d", help="the dashboard's --period")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for render")
    parser.add_argument(
        "--charts", type=int, default=READY[1],
        help="charts to wait for (8: a first start of 1M rows or more, latency still loading)",
    )  # fmt: skip
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="ekai-shot-"))
    config = work / "ekai.yaml"
    db = args.db.resolve() if args.db else work / "usage.db"
    config.write_text(
        f"usage:\n  database: {db}\npricing:\n  files: [pricing/*.yaml]\n", encoding="utf-8"
    )
    write_pricing(work / "pricing")
    if not args.db:
        started = time.perf_counter()
        generate(db, args.rows)
        print(f"{args.rows} rows in {time.perf_counter() - started:.1f} s -> {db}")

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    marimo = Path(sys.executable).with_name("marimo")
    server = subprocess.Popen(
        [str(marimo), "run", "analytics/dashboard.py", "--headless", "--no-token",
         "--port", str(port), "--", "--config", str(config), "--period", args.period,
         "--cache", str(work / "cache")],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_http(url, 60)
        if args.db:
            ready = (READY[0], args.charts) if args.db.exists() else READY_MISSING
        else:
            ready = (READY[0], args.charts) if args.rows else READY_EMPTY
        size = (args.width, args.height)
        problems = render(url, work, args.out.resolve(), size, args.timeout, ready)
        if problems:
            print(f"the page shows errors: {problems}")
            return 1
        return 0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
