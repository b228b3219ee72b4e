"""Collecting many targets at once: bounded concurrency, per-target deadlines, clean Ctrl-C."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from auditor.clock import utc_now
from auditor.collectors.host import HostTarget
from auditor.facts.model import DocumentKind, FactDocument, Reason, Target, Unavailable

log = logging.getLogger(__name__)
Collect = Callable[[HostTarget], tuple[FactDocument, dict[str, Any]]]
OnDone = Callable[[FactDocument, dict[str, Any]], None]


@dataclass(frozen=True)
class FleetOutcome:
    documents: list[FactDocument]  # one per target, in the order given
    interrupted: bool


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

    A target past its deadline is reported failed and its late answer discarded (its thread
    ends by itself through the transport timeouts). Ctrl-C stops starting new targets, keeps
    everything gathered, and marks the rest as not collected.
    """
    started: dict[str, float] = {}
    done: dict[str, FactDocument] = {}
    interrupted = False

    def run(target: HostTarget) -> tuple[FactDocument, dict[str, Any]]:
        started[target.name] = time.monotonic()
        return collect(target)

    def finish(target: HostTarget, doc: FactDocument, info: dict[str, Any]) -> None:
        if target.name not in done:
            done[target.name] = doc
            on_done(doc, info)

    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="collect")
    pending: dict[Future[tuple[FactDocument, dict[str, Any]]], HostTarget] = {
        pool.submit(run, t): t for t in targets
    }
    try:
        while pending:
            finished, _ = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            for future in finished:
                target = pending.pop(future)
                try:
                    doc, info = future.result()
                except Exception as exc:
                    log.exception("collector failed on %s", target.name)
                    doc, info = (
                        failed_document(
                            target, Reason.COLLECTOR_ERROR, f"{type(exc).__name__}: {exc}"[:500]
                        ),
                        {},
                    )
                finish(target, doc, info)
            if deadline is not None:
                now = time.monotonic()
                for future, target in list(pending.items()):
                    begun = started.get(target.name)
                    if begun is not None and now - begun > deadline:
                        pending.pop(future)
                        finish(
                            target,
                            failed_document(
                                target,
                                Reason.TIMEOUT,
                                f"{target.name}: per-host deadline of {deadline:.0f}s exceeded",
                            ),
                            {},
                        )
    except KeyboardInterrupt:
        interrupted = True
        for future, target in pending.items():
            future.cancel()
            # Not passed to on_done: the journal must not hold it, so --resume collects it.
            done.setdefault(
                target.name,
                failed_document(target, Reason.NOT_COLLECTED, "scan interrupted (Ctrl-C)"),
            )
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)
    return FleetOutcome([done[t.name] for t in targets], interrupted)
