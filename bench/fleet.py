"""Benchmark: a fleet scan of lab hosts on loopback: hosts/s, peak RSS, CPU per host, round trips.

The hosts daemon (`auditor lab up --no-dc`, its own process) serves N emulated hosts, the
shipped profiles cloned round-robin, on 127.21.x.y. The scanner runs in a fresh subprocess per
concurrency level, so peak RSS is per run, and does what `auditor scan host` does: probes +
WinRM collection of every host, then the rule evaluation (build_result). CPU per host is split into auth, XML/PSRP/HTTP, rule evaluation,
probes and other by single-threaded passes over a sample of hosts: a SIGPROF sampler (no per-call
overhead, so the shares are right) and cProfile on the CPU clock (call counts, per-function
evidence). The lab is then restarted with `faults: {latency_ms: L}` on every host, and the same
scans show whether wall time follows hosts x round trips x latency / concurrency or the CPU.
Round trips are counted, not assumed, by wrapping the client (HTTP responses, X.224 confirms).
One file, like the other benchmarks, hence its length: the parent, its two child modes and the
profile attribution belong together.
Run: python bench/fleet.py [--hosts 500] [--concurrency 50,100,200] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import json
import os
import pstats
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from auditor import netmap
from auditor.collectors.host import HostScanSettings, HostTarget, collect_host
from auditor.credentials import Credentials
from auditor.engine.result import build_result
from auditor.lab import manager
from auditor.lab.runtime import LabState
from auditor.pipeline import plan
from auditor.pipeline.config import load_config
from auditor.pipeline.hosts import collect_hosts, wanted_by
from auditor.rules.model import Rule

# Self time of these modules is charged to their category; everything else (stdlib, builtins,
# cryptography, hashlib, our model code) to the nearest categorised caller, so that e.g. x509
# parsing counts as probes when the TLS probe does it and as auth when spnego does it.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("auth", ("spnego", "ntlm", "pypsrp.negotiate", "pypsrp.spnego", "requests_ntlm")),
    ("rules", ("auditor.engine", "cel", "celpy")),
    ("probes", ("auditor.collectors.probes",)),
    (
        "xml_psrp",
        (
            "xml.",
            "pyexpat",
            "psrpcore",
            "pypsrp",
            "requests",
            "urllib3",
            "http.client",
            "auditor.collectors.winrm",
        ),
    ),
)
# Functions whose inclusive sampled CPU is printed: the places a fix would pay, if any.
WATCHED = (
    "auditor.collectors.probes.collector:Probes.collect",
    "auditor.collectors.probes.tls:probe_tls",
    "auditor.collectors.probes.tls:reading_context",
    "auditor.collectors.probes.tls:_verifying_context",
    "auditor.collectors.winrm.client:WinRMCollector.collect",
    "pypsrp.powershell:RunspacePool.open",
    "pypsrp.powershell:PowerShell.invoke",
    "spnego._ntlm:NTLMProxy.step",
    "requests.utils:resolve_proxies",
    "urllib3.util.ssl_:ssl_wrap_socket",
    "ssl:SSLSocket.do_handshake",
    "ssl:SSLContext.__new__",
    "auditor.engine.evaluate:evaluate",
    "auditor.engine.cel:run",
    "auditor.facts.model:FactDocument.get_registry",
)
COLUMNS = ("auth", "xml_psrp", "rules", "probes", "other")
LATENCY_KINDS = ("http", "x224")  # the exchanges the lab delays by latency_ms
ADDRESS_PREFIX = "127.21."  # hosts on 127.21.0.1-250, 127.21.1.1-250, ...


# ---------------------------------------------------------------- the scanner side (children)


class RoundTrips:
    """Counts the scanner's network exchanges by wrapping the client libraries, per phase.

    `http`: HTTP responses read (WS-Man messages, the NTLM legs, the probes' requests); `x224`:
    RDP Connection Confirms; `tcp`: connects; `tls`: handshakes. The phase is `probe` inside
    Probes.collect and `winrm` otherwise (per thread, so it works under concurrency).
    """

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._phase = threading.local()

    def add(self, kind: str) -> None:
        with self._lock:
            self.counts[(getattr(self._phase, "name", "winrm"), kind)] += 1

    def install(self) -> None:
        import http.client
        import socket
        import ssl

        from auditor.collectors.probes import rdp
        from auditor.collectors.probes.collector import Probes

        def counting(kind: str, function: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                self.add(kind)
                return function(*args, **kwargs)

            return wrapper

        socket.socket.connect = counting("tcp", socket.socket.connect)  # type: ignore[method-assign]
        ssl.SSLSocket.do_handshake = counting("tls", ssl.SSLSocket.do_handshake)  # type: ignore[method-assign]
        http.client.HTTPConnection.getresponse = counting(  # type: ignore[method-assign]
            "http", http.client.HTTPConnection.getresponse
        )
        rdp.read_connection_pdu = counting("x224", rdp.read_connection_pdu)
        run_probes = Probes.collect

        def probing(*args: Any, **kwargs: Any) -> Any:
            self._phase.name = "probe"
            try:
                return run_probes(*args, **kwargs)
            finally:
                self._phase.name = "winrm"

        Probes.collect = probing  # type: ignore[method-assign]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {f"{phase}.{kind}": n for (phase, kind), n in self.counts.items()}


@dataclass(frozen=True)
class Scanner:
    """What `auditor scan host -c LAB/scan.yaml` sets up before collecting: its plan."""

    plan: plan.ScanPlan
    hosts: plan.HostCollection
    credentials: Credentials

    @classmethod
    def for_lab(cls, lab: Path, limit: int | None) -> Scanner:
        """The scanner for the first `limit` hosts of the lab (all when None)."""
        config = load_config(lab / manager.SCAN_CONFIG)
        netmap.install(config.names)
        # Definition order: profiles round-robin, so the first 7k hosts are k of each profile.
        definition = LabState.load(lab).lab_definition()
        names = [definition.fqdn(h) for h in definition.hosts][:limit]
        scan = plan.build(plan.Command.HOST, plan.Flags(hosts=tuple(names)), config)
        assert scan.hosts is not None
        assert scan.hosts.credentials is not None
        return cls(scan, scan.hosts, scan.hosts.credentials.resolve())

    @property
    def rules(self) -> list[Rule]:
        return list(self.plan.rules)

    @property
    def targets(self) -> tuple[HostTarget, ...]:
        return self.hosts.targets

    @property
    def settings(self) -> HostScanSettings:
        return self.hosts.settings


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_scan(lab: Path, concurrency: int, limit: int | None) -> dict[str, Any]:
    """One timed fleet scan: collection at `concurrency`, then build_result, as the CLI does."""
    trips = RoundTrips()
    trips.install()
    scan = Scanner.for_lab(lab, limit)
    messages: list[int] = []
    cpu0, started = _cpu(), time.perf_counter()
    outcome = collect_hosts(
        scan.targets,
        scan.settings,
        scan.credentials,
        scan.rules,
        concurrency,
        lambda doc, info: messages.append(info["messages"]),
    )
    collected, cpu1 = time.perf_counter(), _cpu()
    result = build_result(
        scan.rules, outcome.documents, "scan host", params_for=scan.plan.parameters.for_document
    )
    finished, cpu2 = time.perf_counter(), _cpu()
    return {
        "concurrency": concurrency,
        "hosts": len(scan.targets),
        "collect_s": collected - started,
        "evaluate_s": finished - collected,
        "wall_s": finished - started,
        "cpu_collect_s": cpu1 - cpu0,
        "cpu_s": cpu2 - cpu0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "failures": [
            f"{d.target.name}: {d.failure.reason.value}: {d.failure.detail}"
            for d in outcome.documents
            if d.failure is not None
        ],
        "statuses": Counter(t.status.value for t in result.targets),
        "results": len(result.results),
        "wsman_messages": sum(messages),
        "trips": trips.snapshot(),
    }


def child_profile(lab: Path, sample: int, passes: int) -> dict[str, Any]:
    """Sequential passes over `sample` hosts: warm-up, sampled (SIGPROF), then cProfile."""
    scan = Scanner.for_lab(lab, sample)
    wanted = wanted_by(scan.rules)
    params = scan.plan.parameters.for_document

    def scan_all() -> float:
        cpu0 = _cpu()
        for target in scan.targets:
            doc, _ = collect_host(target, scan.settings, scan.credentials, wanted)
            if doc.failure is not None:
                raise SystemExit(f"{target.name}: {doc.failure.reason.value}: {doc.failure.detail}")
            build_result(scan.rules, [doc], "scan host", params_for=params)
        return _cpu() - cpu0

    first = scan_all()  # the warm-up: CEL programs compiled, modules imported, caches filled
    sampler = CpuSampler()
    with sampler:
        warm = sum(scan_all() for _ in range(passes))
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    scan_all()
    profiler.disable()
    return {
        "hosts": len(scan.targets),
        "passes": passes,
        "first_cpu_s": first,
        "warm_cpu_s": warm,
        "samples": dict(sampler.samples),
        "cprofile_s": categorise(profiler),
        "innermost": sampler.innermost.most_common(12),
        "watched": {name: sampler.inclusive[name] for name in WATCHED},
        "top": top_functions(profiler, 15),
    }


class CpuSampler:
    """A statistical profiler: on each SIGPROF (every ~tick of process CPU time) the main
    thread's stack is charged to its nearest categorised frame. Unlike cProfile it adds ~no
    per-call overhead, so shares are not skewed towards call-heavy Python code."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.samples: Counter[str] = Counter()
        self.inclusive: Counter[str] = Counter()  # samples with the function anywhere on the stack
        self.innermost: Counter[str] = Counter()  # the running Python function (C calls: caller)
        self._codes: dict[Any, str | None] = {}

    def _sample(self, signum: int, frame: Any) -> None:
        charged = False
        seen = set()
        if frame is not None:
            self.innermost[
                f"{frame.f_globals.get('__name__', '?')}:{frame.f_code.co_qualname}"
            ] += 1
        while frame is not None:
            code = frame.f_code
            if code not in self._codes:
                self._codes[code] = _module_category(str(frame.f_globals.get("__name__", "")))
            category = self._codes[code]
            if category is not None and not charged:
                self.samples[category] += 1
                charged = True
            seen.add(f"{frame.f_globals.get('__name__', '?')}:{code.co_qualname}")
            frame = frame.f_back
        if not charged:
            self.samples["other"] += 1
        self.inclusive.update(seen)

    def __enter__(self) -> CpuSampler:
        signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, signal.SIG_DFL)


# ---------------------------------------------------------------- profile attribution


def _module(func: tuple[str, int, str]) -> str:
    """Dotted module of a profile entry; builtins ('~') by the C module named in the entry."""
    filename, _, name = func
    if filename == "~":
        return name  # e.g. "<method 'do_handshake' of '_ssl._SSLSocket' objects>"
    path = Path(filename)
    for root in sorted({p for p in sys.path if p}, key=len, reverse=True):
        if filename.startswith(root.rstrip("/") + "/"):
            rel = Path(filename[len(root.rstrip("/")) + 1 :])
            return ".".join(rel.with_suffix("").parts)
    return path.stem


def _module_category(module: str) -> str | None:
    for category, prefixes in CATEGORIES:
        if any(
            module == p.rstrip(".") or module.startswith(p if p.endswith(".") else p + ".")
            for p in prefixes
        ):
            return category
    return None


def _own_category(func: tuple[str, int, str]) -> str | None:
    module = _module(func)
    if func[0] == "~":
        return "xml_psrp" if "pyexpat" in module or "xml.etree" in module else None
    return _module_category(module)


def categorise(profiler: cProfile.Profile) -> dict[str, float]:
    """Self CPU time per category; uncategorised self time goes to the nearest categorised
    callers, split by how much cumulative time each caller spent in it."""
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    memo: dict[Any, dict[str, float]] = {}

    def mix(func: Any, depth: int) -> dict[str, float]:
        """Share of each category among the callers of a neutral function."""
        own = _own_category(func)
        if own is not None:
            return {own: 1.0}
        if func in memo:
            return memo[func]
        memo[func] = {"other": 1.0}  # a cycle, or too deep: other
        callers = stats[func][4] if func in stats else {}
        total = sum(edge[3] for edge in callers.values())
        if not callers or total <= 0 or depth > 40:
            return memo[func]
        shares: Counter[str] = Counter()
        for caller, edge in callers.items():
            for category, share in mix(caller, depth + 1).items():
                shares[category] += share * edge[3] / total
        memo[func] = dict(shares)
        return memo[func]

    out: Counter[str] = Counter()
    for func, (_, _, tottime, _, callers) in stats.items():
        own = _own_category(func)
        if own is not None:
            out[own] += tottime
            continue
        edge_total = sum(edge[2] for edge in callers.values())
        if not callers or edge_total <= 0:
            out["other"] += tottime
            continue
        for caller, edge in callers.items():  # edge[2]: this function's self time from caller
            for category, share in mix(caller, 1).items():
                out[category] += tottime * (edge[2] / edge_total) * share
    return {c: out.get(c, 0.0) for c in COLUMNS}


def top_functions(profiler: cProfile.Profile, count: int) -> list[tuple[str, float, int]]:
    """The functions with the most self CPU time: where a fix would pay."""
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    ranked = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:count]
    return [(f"{_module(f)}:{f[2]}" if f[0] != "~" else f[2], v[2], v[1]) for f, v in ranked]


# ---------------------------------------------------------------- the lab and the parent


def raise_open_files(needed: int) -> int:
    """The soft open-file limit, raised towards `needed` (children and the daemon inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def fleet_definition(directory: Path, count: int, latency_ms: int) -> Path:
    """The shipped lab's host profiles cloned round-robin to `count` hosts on this benchmark's
    own loopback range (a hand-run lab uses 127.10/127.20, tests and the LDAP benchmark
    127.14/15/22/23: they may be running), with `faults: {latency_ms: N}` when N > 0."""
    lab = resources.files("auditor.lab")
    data = yaml.safe_load(lab.joinpath("default_domain.yaml").read_text("utf-8"))
    profiles = yaml.safe_load(lab.joinpath("default_hosts.yaml").read_text("utf-8"))["hosts"]
    hosts = []
    for n in range(count):
        host = copy.deepcopy(profiles[n % len(profiles)])
        if n >= len(profiles):
            host["name"] = f"H{n:05d}"
        host["address"] = f"{ADDRESS_PREFIX}{n // 250}.{n % 250 + 1}"
        if latency_ms:
            host["faults"] = {**host.get("faults", {}), "latency_ms": latency_ms}
        if host["name"] == data["domain"]["dc"]["name"]:
            data["domain"]["dc"]["address"] = host["address"]
        hosts.append(host)
    data["hosts"] = hosts
    path = directory / f"fleet-{count}-hosts-{latency_ms}ms.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


@contextmanager
def lab_running(directory: Path, definition: Path | None, hosts: int) -> Iterator[float]:
    """The hosts daemon up for the block (torn down even on failure); yields start-up seconds."""
    started = time.perf_counter()
    try:
        manager.up(directory, definition, hosts=hosts, with_dc=False, timeout=900)
        yield time.perf_counter() - started
    finally:
        manager.down(directory)


def daemon_cpu(directory: Path) -> float:
    """CPU seconds the hosts daemon has used so far (its share of the 2 cores matters here)."""
    pid = (directory / manager.PID_FILE).read_text().strip()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_child(*args: str) -> dict[str, Any]:
    """This script in a fresh interpreter: its own peak RSS, CPU and imports per measurement."""
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"bench/fleet.py child {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.splitlines()[-1]))


def timed_scan(lab: Path, concurrency: int, limit: int | None) -> dict[str, Any]:
    """One fleet scan in a child, with the hosts daemon's CPU over the same span."""
    before = daemon_cpu(lab)
    run = run_child(
        "--child",
        "scan",
        "--lab",
        str(lab),
        "--concurrency",
        str(concurrency),
        *(["--limit", str(limit)] if limit else []),
    )
    run["lab_cpu_s"] = daemon_cpu(lab) - before
    return run


def latency_trips(run: dict[str, Any]) -> float:
    """Exchanges per host that the lab delays (HTTP responses and X.224 confirms)."""
    trips: dict[str, int] = run["trips"]
    delayed = sum(n for key, n in trips.items() if key.split(".")[1] in LATENCY_KINDS)
    return delayed / int(run["hosts"])


# ---------------------------------------------------------------- printing


def cpu_floor(run: dict[str, Any]) -> float:
    """The least wall time the CPU allows: the scanner's threads share one core (the GIL), and
    scanner and hosts daemon share the machine's cores."""
    scanner, lab = float(run["cpu_collect_s"]), float(run["lab_cpu_s"])
    return max(scanner, (scanner + lab) / (os.cpu_count() or 1))


def round_trip_bound(run: dict[str, Any], latency_ms: int) -> float:
    """hosts x delayed round trips per host x latency / concurrency, in seconds."""
    return int(run["hosts"]) * latency_trips(run) * latency_ms / 1000 / int(run["concurrency"])


def print_runs(title: str, runs: list[dict[str, Any]], latency_ms: int) -> None:
    print(f"\n{title}")
    print(
        f"{'conc':>5} {'hosts':>5} {'wall s':>7} {'collect':>7} {'eval':>5} {'hosts/s':>8} "
        f"{'CPU ms/host':>11} {'lab ms/host':>11} {'peak MB':>7} {'fail':>4} {'CPU floor':>9}"
        + (f" {'RT/host':>7} {'RT bound':>8} {'collect/max':>11}" if latency_ms else "")
    )
    for r in runs:
        n = r["hosts"]
        line = (
            f"{r['concurrency']:>5} {n:>5} {r['wall_s']:>7.2f} {r['collect_s']:>7.2f} "
            f"{r['evaluate_s']:>5.2f} {n / r['wall_s']:>8.1f} {1000 * r['cpu_s'] / n:>11.1f} "
            f"{1000 * r['lab_cpu_s'] / n:>11.1f} {r['peak_rss_mb']:>7.0f} "
            f"{len(r['failures']):>4} {cpu_floor(r):>9.2f}"
        )
        if latency_ms:
            bound = round_trip_bound(r, latency_ms)
            line += (
                f" {latency_trips(r):>7.1f} {bound:>8.2f} "
                f"{r['collect_s'] / max(bound, cpu_floor(r)):>11.2f}"
            )
        print(line)
        for failure in r["failures"][:20]:
            print(f"  FAILED {failure}")
        if r["failures"]:
            print(f"  ({len(r['failures'])} hosts failed; statuses {dict(r['statuses'])})")
    print(
        "(collect: probes + WinRM of every host; eval: build_result after it; CPU: the scanner "
        "process, collect + eval; lab: the hosts daemon; CPU floor: collect-phase CPU over the "
        "cores it can use"
        + (
            "; RT bound: hosts x RT/host x latency / concurrency; collect/max: collect time over "
            "the larger of the two bounds, ~1 when that bound is what limits)"
            if latency_ms
            else ")"
        )
    )


def print_trips(run: dict[str, Any]) -> None:
    n, t = run["hosts"], run["trips"]
    per = {key: value / n for key, value in t.items()}
    print(f"\nround trips per host (counted in the client, {n} hosts, mean):")
    print(
        f"  probes: {per.get('probe.http', 0):.1f} HTTP + {per.get('probe.x224', 0):.1f} X.224 "
        f"(delayed by the lab), {per.get('probe.tcp', 0):.1f} TCP connects, "
        f"{per.get('probe.tls', 0):.1f} TLS handshakes"
    )
    wsman = run["wsman_messages"] / n
    print(
        f"  WinRM:  {per.get('winrm.http', 0):.1f} HTTP = {wsman:.1f} WS-Man messages + "
        f"{per.get('winrm.http', 0) - wsman:.1f} NTLM handshake legs; "
        f"{per.get('winrm.tcp', 0):.1f} TCP connects, {per.get('winrm.tls', 0):.1f} TLS handshakes"
    )
    handshakes = sum(
        per.get(f"{phase}.{kind}", 0) for phase in ("probe", "winrm") for kind in ("tcp", "tls")
    )
    print(
        f"  delayed by the lab's latency_ms: {latency_trips(run):.1f} per host; on a real network "
        f"the TCP and TLS handshakes cost at least one more each: "
        f">= {latency_trips(run) + handshakes:.1f} round trips per host"
    )


def print_profile(profile: dict[str, Any], scan: dict[str, Any]) -> None:
    n, passes = profile["hosts"], profile["passes"]
    samples: dict[str, int] = profile["samples"]
    counted = sum(samples.values()) or 1
    warm_ms = 1000 * profile["warm_cpu_s"] / (n * passes)
    cprof: dict[str, float] = profile["cprofile_s"]
    cprof_total = sum(cprof.values())
    print(f"\nCPU per host by part, single thread over {n} hosts (one of each profile in turn):")
    print(f"{'ms of CPU per host':26}" + "".join(f"{c:>9}" for c in COLUMNS) + f"{'total':>9}")
    print(
        f"{'sampled (SIGPROF)':26}"
        + "".join(f"{warm_ms * samples.get(c, 0) / counted:>9.1f}" for c in COLUMNS)
        + f"{warm_ms:>9.1f}"
        + f"   {counted} samples over {passes} warm passes"
    )
    print(
        f"{'  share':26}" + "".join(f"{100 * samples.get(c, 0) / counted:>8.0f}%" for c in COLUMNS)
    )
    print(
        f"{'cProfile (instrumented)':26}"
        + "".join(f"{1000 * cprof[c] / n:>9.1f}" for c in COLUMNS)
        + f"{1000 * cprof_total / n:>9.1f}   per-call overhead inflates call-heavy code"
    )
    print(f"{'  share':26}" + "".join(f"{100 * cprof[c] / cprof_total:>8.0f}%" for c in COLUMNS))
    print(
        f"first pass (cold: imports, CEL compiles) {1000 * profile['first_cpu_s'] / n:.1f} ms/host;"
        f" the concurrency-{scan['concurrency']} scan used {1000 * scan['cpu_s'] / scan['hosts']:.1f}"
        " ms/host (threads, GIL hand-offs)"
    )
    print("sampled, by the Python function running (a C call is charged to its caller):")
    for name, hits in profile["innermost"]:
        print(f"  {warm_ms * hits / counted:6.2f} ms/host {100 * hits / counted:5.1f}%  {name}")
    print("sampled, inclusive (the function anywhere on the stack), for the usual suspects:")
    for name, hits in profile["watched"].items():
        print(f"  {warm_ms * hits / counted:6.2f} ms/host {100 * hits / counted:5.1f}%  {name}")
    print("top self CPU in the cProfile pass:")
    for name, seconds, calls in profile["top"]:
        print(f"  {1000 * seconds / n:7.2f} ms/host {calls / n:8.1f} calls/host  {name}")


# ---------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument(
        "--concurrency", default="50,100,200", help="comma-separated concurrency levels"
    )
    parser.add_argument("--latency-ms", type=int, default=50, help="0 skips the latency runs")
    parser.add_argument(
        "--latency-concurrency",
        default="10,50,100,200",
        help="concurrency levels of the latency runs (a low one shows the latency-bound regime)",
    )
    parser.add_argument(
        "--profile-hosts",
        type=int,
        default=35,
        help="hosts in the profiled pass (a multiple of 7: every profile alike; 0 skips it)",
    )
    parser.add_argument(
        "--passes",
        type=int,
        default=3,
        help="sampled passes over the profiled hosts (more: more samples)",
    )
    parser.add_argument(
        "--lab-dir",
        type=Path,
        help="lab directory (default: a temporary one; reusing one skips "
        "issuing the certificates again)",
    )
    parser.add_argument("--child", choices=["scan", "profile"], help=argparse.SUPPRESS)
    parser.add_argument("--lab", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def measure(args: argparse.Namespace, lab: Path, workdir: Path) -> None:
    """Both labs in turn, one at a time: they share the addresses, and the latency lab reuses
    the first one's certificates (same names, same directory)."""
    levels = [int(c) for c in args.concurrency.split(",")]
    with lab_running(lab, fleet_definition(workdir, args.hosts, 0), args.hosts) as startup:
        print(
            f"lab: {args.hosts} hosts up in {startup:.1f}s (hosts daemon pid "
            f"{(lab / manager.PID_FILE).read_text().strip()})",
            flush=True,
        )
        runs = [timed_scan(lab, c, None) for c in levels]
        print_runs("no added latency", runs, 0)
        if args.profile_hosts > 0:
            profile = run_child(
                "--child",
                "profile",
                "--lab",
                str(lab),
                "--limit",
                str(args.profile_hosts),
                "--passes",
                str(args.passes),
            )
            print_profile(profile, runs[0])
    print_trips(runs[0])
    if not args.latency_ms:
        return
    definition = fleet_definition(workdir, args.hosts, args.latency_ms)
    with lab_running(lab, definition, args.hosts) as startup:
        print(f"\nlab restarted with latency_ms={args.latency_ms} in {startup:.1f}s", flush=True)
        serial = timed_scan(lab, 1, 7)
        slow = [timed_scan(lab, int(c), None) for c in args.latency_concurrency.split(",")]
    print_runs(
        f"latency_ms={args.latency_ms} on every WinRM and RDP response", slow, args.latency_ms
    )
    n = serial["hosts"]
    waits = latency_trips(serial) * args.latency_ms
    cpu = 1000 * (serial["cpu_collect_s"] + serial["lab_cpu_s"]) / n
    print(
        f"serial check (concurrency 1, one host of each profile): "
        f"{1000 * serial['collect_s'] / n:.0f} ms/host measured; {latency_trips(serial):.1f} "
        f"delayed round trips x {args.latency_ms} ms = {waits:.0f} ms, + {cpu:.0f} ms of "
        f"scanner and lab CPU = {waits + cpu:.0f} ms"
    )
    for r in slow:
        bound, floor = round_trip_bound(r, args.latency_ms), cpu_floor(r)
        limit = "round trips" if bound >= floor else "CPU"
        print(
            f"  concurrency {r['concurrency']:>4}: collect {r['collect_s']:6.2f}s; round-trip "
            f"bound {bound:6.2f}s, CPU floor {floor:5.2f}s (scanner {r['cpu_collect_s']:.2f}s, "
            f"lab {r['lab_cpu_s']:.2f}s): bound by {limit}"
        )


def main() -> None:
    args = parse_args()
    if args.child == "scan":
        print(json.dumps(child_scan(args.lab, int(args.concurrency), args.limit)))
        return
    if args.child == "profile":
        print(json.dumps(child_profile(args.lab, args.limit, args.passes)))
        return
    levels = [int(c) for c in args.concurrency.split(",")]
    # Each host: ~3 listening sockets in the daemon; each worker: a few sockets in flight on
    # both sides, plus TIME_WAIT-free slack.
    levels += [int(c) for c in args.latency_concurrency.split(",")]
    limit = raise_open_files(4 * args.hosts + 8 * max(levels) + 256)
    print(
        f"fleet scan: {args.hosts} lab hosts, concurrency {args.concurrency}; latency "
        f"{args.latency_ms} ms at concurrency {args.latency_concurrency}; open-file limit "
        f"{limit}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        lab = (args.lab_dir or Path(tmp) / "lab").resolve()
        measure(args, lab, Path(tmp))


if __name__ == "__main__":
    main()
