"""Collecting many targets at once: bounded concurrency, per-target deadlines, clean Ctrl-C."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.clock import utc_now
from auditor.collectors.cutoff import HostConnections
from auditor.collectors.host import HostTarget
from auditor.facts.model import DocumentKind, FactDocument, Reason, Target, Unavailable

log = logging.getLogger(__name__)
Collected = tuple[FactDocument, dict[str, Any]]
Collect = Callable[[HostTarget], Collected]
OnDone = Callable[[FactDocument, dict[str, Any]], None]


@dataclass(frozen=True)
class FleetOutcome:
    documents: list[FactDocument]  # one per target, in the order given
    interrupted: bool


@dataclass(eq=False)
class _Run:
    """One target being collected in its own thread."""

    target: HostTarget
    connections: HostConnections
    started: float = field(default_factory=time.monotonic)


def failed_document(target: HostTarget, reason: Reason, detail: str) -> FactDocument:
    return FactDocument(
        Target(DocumentKind.HOST, target.name, target.address, target.extra_roles),
        {},
        utc_now(),
        failure=Unavailable(reason, detail),
    )


def collect_all(
    targets: Sequence[HostTarget],
    collect: Collect,
    concurrency: int,
    deadline: float | None,
    on_done: OnDone,
) -> FleetOutcome:
    """Every target collected once; a slow, broken or crashing one never stops the others.

    Each target runs in its own daemon thread, at most `concurrency` at a time. A target still
    running `deadline` seconds after it started is recorded as timed out there and then, and
    its connections are cut (see HostConnections): its thread ends within moments without
    sending anything more, its late answer is discarded, and its slot goes to the next target.
    The threads are daemons so that nothing outside a socket (a DNS lookup, Kerberos in C)
    can keep the process alive after the scan. Ctrl-C stops starting new targets, cuts the
    running ones, keeps everything gathered, and marks the rest as not collected.
    """
    waiting = deque(targets)
    running: set[_Run] = set()
    finished: queue.Queue[tuple[_Run, Collected]] = queue.Queue()
    done: dict[str, FactDocument] = {}
    interrupted = False

    def finish(target: HostTarget, doc: FactDocument, info: dict[str, Any]) -> None:
        if target.name not in done:
            done[target.name] = doc
            on_done(doc, info)

    try:
        while waiting or running:
            while waiting and len(running) < max(1, concurrency):
                running.add(_start(waiting.popleft(), collect, finished))
            try:
                run, (doc, info) = finished.get(timeout=_until_next_deadline(running, deadline))
            except queue.Empty:
                pass
            else:
                if run in running:  # else its deadline passed: the late answer is discarded
                    running.discard(run)
                    finish(run.target, doc, info)
            for run in _overdue(running, deadline):
                running.discard(run)
                run.connections.cut()
                detail = (
                    f"{run.target.name}: still being collected when its host_deadline of "
                    f"{deadline:g} s passed; its connections were closed"
                )
                finish(run.target, failed_document(run.target, Reason.TIMEOUT, detail), {})
    except KeyboardInterrupt:
        interrupted = True
        for run in running:
            run.connections.cut()
        for target in targets:
            # Not passed to on_done: the journal must not hold it, so --resume collects it.
            done.setdefault(
                target.name,
                failed_document(target, Reason.NOT_COLLECTED, "scan interrupted (Ctrl-C)"),
            )
    return FleetOutcome([done[t.name] for t in targets], interrupted)


def _start(
    target: HostTarget, collect: Collect, finished: queue.Queue[tuple[_Run, Collected]]
) -> _Run:
    run = _Run(target, HostConnections(target.name))

    def work() -> None:
        try:
            with run.connections.tracked():
                outcome = collect(target)
        except Exception as exc:  # a collector bug must not stop the other hosts
            log.exception("collector failed on %s", target.name)
            detail = f"{type(exc).__name__}: {exc}"[:500]
            outcome = (failed_document(target, Reason.COLLECTOR_ERROR, detail), {})
        finished.put((run, outcome))

    threading.Thread(target=work, name=f"collect {target.name[:64]}", daemon=True).start()
    return run


def _until_next_deadline(running: set[_Run], deadline: float | None) -> float | None:
    """How long to wait for an answer before the next deadline passes (None: no deadline)."""
    if deadline is None or not running:
        return None
    return max(0.0, min(r.started for r in running) + deadline - time.monotonic())


def _overdue(running: set[_Run], deadline: float | None) -> list[_Run]:
    if deadline is None:
        return []
    now = time.monotonic()
    return [r for r in running if now - r.started >= deadline]
