"""Benchmark: rendering a 1,000-host result in every format, and the HTML report's first render.

The estate is tests/unit/reports/sample.py's make_large_result (1,000 hosts x 60 rules, ~15%
failing, object lists). Each format is rendered --runs times (best kept) and its size noted.
The HTML report is then opened in headless Chromium: a wrapper page served from a loopback HTTP
server loads it in a 1280x900 iframe and reads the report's own Navigation and Paint Timing
(same origin, so the report's strict CSP is untouched) once a frame has been drawn after the
load event (two requestAnimationFrame callbacks), and POSTs them back. These in-page figures
start at the report's navigation, so browser start-up is excluded; the process wall time from
launch to that POST is printed too, against a near-empty page as the start-up baseline.
Why not --dump-dom alone: its wall time is mostly browser start-up and it cannot see paints.
Every figure is printed with its ratio to rendering the JSON report.
Run: python bench/report_render.py [--hosts 1000] [--rules 60] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.unit.reports.sample

from auditor.reports.formats import OutputFormat
from auditor.results.model import ScanResult
from tests.unit.reports.sample import make_large_result

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1320,1000",
)
# The wrapper: load the report in an iframe, wait for a drawn frame after `load`, send timings.
MEASURE_PAGE = """<!doctype html><meta charset="utf-8"><title>measure</title><body><script>
const frame = document.createElement("iframe");
frame.style.cssText = "width:1280px;height:900px;border:0";
let sent = false;
const send = (how) => {
  if (sent) return;
  sent = true;
  const w = frame.contentWindow, p = w.performance;
  const nav = p.getEntriesByType("navigation")[0];
  const paint = Object.fromEntries(p.getEntriesByType("paint").map((e) => [e.name, e.startTime]));
  fetch("/result", {method: "POST", body: JSON.stringify({
    how, response_end: nav.responseEnd, dom_interactive: nav.domInteractive,
    dom_content_loaded: nav.domContentLoadedEventEnd, load_end: nav.loadEventEnd,
    first_paint: paint["first-paint"] ?? null,
    first_contentful_paint: paint["first-contentful-paint"] ?? null,
    drawn_after_load: p.now(), elements: w.document.getElementsByTagName("*").length,
  })});
};
frame.addEventListener("load", () => {
  frame.contentWindow.requestAnimationFrame(() =>
    frame.contentWindow.requestAnimationFrame(() => send("raf")));
  setTimeout(() => send("timeout"), 10000);  // headless without frames: do not hang
});
frame.src = "report.html";
document.body.appendChild(frame);
</script>"""
BLANK_REPORT = b"<!doctype html><meta charset='utf-8'><title>blank</title><p>blank"


def render_formats(result: ScanResult, runs: int) -> dict[str, tuple[float, bytes]]:
    """Best-of-`runs` render seconds and the bytes, per format."""
    out = {}
    for fmt in OutputFormat:
        best, data = float("inf"), b""
        for _ in range(runs):
            renderer = fmt.renderer()
            started = time.perf_counter()
            data = renderer.render(result)
            best = min(best, time.perf_counter() - started)
        out[fmt.value] = (best, data)
    return out


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the report directory; POST /result hands the page's timings to the benchmark."""

    results: queue.Queue[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.results.put(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: one line per request would bury the figures


@contextmanager
def loopback_server(directory: Path) -> Iterator[tuple[str, queue.Queue[dict[str, Any]]]]:
    results: queue.Queue[dict[str, Any]] = queue.Queue()
    handler = type("Handler", (_Handler,), {"results": results})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(handler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", results
    finally:
        server.shutdown()
        server.server_close()


def browser_run(
    chromium: str, url: str, results: queue.Queue[dict[str, Any]], scratch: Path
) -> dict[str, Any]:
    """One fresh headless Chromium on the wrapper page: its timings plus launch-to-POST wall."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=scratch)
    started = time.perf_counter()
    process = subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        timings = results.get(timeout=180)
        timings["wall_ms"] = 1000 * (time.perf_counter() - started)
    except queue.Empty:
        raise SystemExit(f"bench/report_render.py: Chromium sent no timings for {url}") from None
    finally:
        stop_browser(process)
        shutil.rmtree(profile, ignore_errors=True)
    return timings


def stop_browser(process: subprocess.Popen[bytes]) -> None:
    """End the browser and its children: it runs in its own session, so its group is ours."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def browser_timings(html: bytes, runs: int) -> tuple[dict[str, float], dict[str, float]]:
    """Best of `runs` for each figure: the report's, and a near-empty page's (start-up)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("bench/report_render.py: Debian chromium is not installed")
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        root = Path(tmp)
        (root / "measure.html").write_text(MEASURE_PAGE, encoding="utf-8")
        best: dict[str, dict[str, float]] = {}
        with loopback_server(root) as (base, results):
            for name, page in (("blank", BLANK_REPORT), ("report", html)):
                (root / "report.html").write_bytes(page)
                for _ in range(runs):
                    timings = browser_run(chromium, f"{base}/measure.html", results, root)
                    if timings["how"] != "raf":
                        print(f"note: no animation frame after load for {name}; timed out")
                    mine = best.setdefault(name, {})
                    for key, value in timings.items():
                        if isinstance(value, (int, float)) and key != "elements":
                            mine[key] = min(mine.get(key, float("inf")), float(value))
                        elif key == "elements":
                            mine[key] = float(value)
    return best["report"], best["blank"]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--rules", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3, help="best of N, renders and browser")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium part")
    args = parser.parse_args()
    started = time.perf_counter()
    result = make_large_result(hosts=args.hosts, rules=args.rules)
    print(
        f"estate: {args.hosts} hosts x {args.rules} rules = {len(result.results):,} results "
        f"(built in {time.perf_counter() - started:.1f}s); best of {args.runs}"
    )
    rendered = render_formats(result, args.runs)
    json_s, json_bytes = rendered["json"][0], len(rendered["json"][1])
    print(f"{'format':8} {'render s':>9} {'x JSON':>7} {'size MB':>8} {'x JSON':>7} {'MB/s':>7}")
    for name, (seconds, data) in rendered.items():
        print(
            f"{name:8} {seconds:>9.3f} {seconds / json_s:>7.2f} {len(data) / 1e6:>8.2f} "
            f"{len(data) / json_bytes:>7.2f} {len(data) / 1e6 / seconds:>7.1f}"
        )
    if args.no_browser:
        return
    report, blank = browser_timings(rendered["html"][1], args.runs)
    print(
        f"\nHTML in headless Chromium ({report['elements']:,.0f} elements; ms from the report's "
        "navigation start, best of each):"
    )
    rows = (
        ("bytes received (responseEnd)", "response_end"),
        ("DOM parsed (domInteractive)", "dom_interactive"),
        ("report.js run (DOMContentLoaded end)", "dom_content_loaded"),
        ("first contentful paint (first render)", "first_contentful_paint"),
        ("load event end", "load_end"),
        ("frame drawn after load (complete render)", "drawn_after_load"),
    )
    print(f"{'':48} {'ms':>8} {'x JSON render':>13} {'blank page ms':>13}")
    for label, key in rows:
        value, base = report.get(key), blank.get(key)
        if value is None or value == float("inf"):
            print(f"{label:48} {'n/a':>8}")
            continue
        base_text = "n/a" if base is None or base == float("inf") else f"{base:.0f}"
        print(f"{label:48} {value:>8.0f} {value / 1000 / json_s:>13.2f} {base_text:>13}")
    wall = report["wall_ms"] - blank["wall_ms"]
    print(
        f"{'launch to timings POSTed, minus the blank page':48} {wall:>8.0f} "
        f"{wall / 1000 / json_s:>13.2f} {blank['wall_ms']:>13.0f}"
    )
    html_s = rendered["html"][0]
    for label, key in (
        ("first render", "first_contentful_paint"),
        ("complete render", "drawn_after_load"),
    ):
        if report.get(key) is not None:
            total = html_s + report[key] / 1000
            print(
                f"HTML render + browser to {label}: {total:.2f}s = {total / json_s:.2f}x the JSON render"
            )


if __name__ == "__main__":
    main()
