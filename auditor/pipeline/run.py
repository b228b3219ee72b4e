"""The one pipeline every scan runs: collect what the plan says, evaluate, apply waivers and
history, write the reports, and say how it ended as an exit code."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor import netmap
from auditor.collectors.host import save_document
from auditor.collectors.ldap import collect_domain
from auditor.collectors.winrm.offline import load_any
from auditor.credentials import Credentials
from auditor.engine.result import build_result
from auditor.errors import ExitCode, InputError
from auditor.facts.model import Available, DocumentKind, FactDocument
from auditor.pipeline.after import after_scan
from auditor.pipeline.hosts import collect_hosts
from auditor.pipeline.inventory import Inventory, select_computers
from auditor.pipeline.journal import Journal, check_same_scan, read_journal, scan_header
from auditor.pipeline.plan import CredentialRef, DomainCollection, HostCollection, ScanPlan
from auditor.reports.console import print_summary
from auditor.reports.progress import host_progress
from auditor.reports.write import write_reports
from auditor.results.model import ScanResult
from auditor.results.vocabulary import Severity
from auditor.terminal import DataConsole


def run(plan: ScanPlan) -> ExitCode:
    """The scan `plan` describes, from collection to reports; returns its exit code."""
    warnings: list[str] = []
    if plan.journal is None:  # scan facts: the documents are given
        documents = load_fact_files(plan.facts)
    else:
        documents, warnings = _Collection(plan).run(plan.journal)
    result = build_result(
        plan.rules,
        documents,
        command=plan.command.value,
        options={**plan.options, "fail_on": plan.reports.threshold.value},
        started_at=plan.started_at,
        params_for=plan.parameters.for_document,
        warnings=[*plan.warnings, *warnings],
    )
    after = plan.after
    result = after_scan(
        result,
        after.store,
        after.waivers,
        after.summary_json,
        dt.date.today(),
        rule_ids={r.id for r in plan.rules},
    )
    written = write_reports(result, plan.reports.directory, plan.reports.formats)
    if not plan.reports.quiet:
        print_summary(result, written, DataConsole())
    return exit_code(result, plan.reports.threshold)


def exit_code(result: ScanResult, fail_on: Severity) -> ExitCode:
    """3 when anything could not be decided, else 1 when a failure reaches `fail_on`, else 0."""
    if result.incomplete:
        return ExitCode.INCOMPLETE
    worst = result.worst_failure()
    if worst is not None and worst.rank >= fail_on.rank:
        return ExitCode.FINDINGS
    return ExitCode.CLEAN


def load_fact_files(files: tuple[Path, ...]) -> list[FactDocument]:
    """Every input's targets, each once: an empty file or a target given twice is an input
    error, not a clean scan of nothing or a target counted twice."""
    documents: list[FactDocument] = []
    seen: dict[str, str] = {}
    for path in files:
        loaded = load_any(path)
        if not loaded:
            raise InputError(f"{path}: no targets: the file holds an empty list of facts documents")
        for i, doc in enumerate(loaded):  # names were bounded as each document was read
            where = f"{path}[{i}]" if len(loaded) > 1 else str(path)
            if doc.target.id in seen:
                raise InputError(
                    f"{where}: target {doc.target.id} is also in {seen[doc.target.id]}: "
                    "give each target once"
                )
            seen[doc.target.id] = where
            documents.append(doc)
    return documents


@dataclass
class _Collection:
    """One scan's collection: the journal first, so that whatever lands is kept."""

    plan: ScanPlan
    already: dict[str, FactDocument] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    _credentials: Credentials | None = None

    def run(self, journal_path: Path) -> tuple[list[FactDocument], list[str]]:
        plan = self.plan
        if plan.names:
            netmap.install(plan.names)
        if not plan.resume and plan.credentials is not None:
            self._logon(plan.credentials)  # no password: ended before the journal exists
        journal = self._open(journal_path)
        try:
            documents = []
            if plan.domain is not None:
                documents.append(self._domain(plan.domain, journal))
            if plan.hosts is not None:
                names = None if plan.domain is None else self._domain_hosts(plan, documents[0])
                documents.extend(self._hosts(plan.hosts, names, journal))
        finally:
            journal.close()
        return documents, self.warnings

    def _logon(self, reference: CredentialRef) -> Credentials:
        """Read once, when first needed: a prompt asks once for the directory and the hosts."""
        if self._credentials is None:
            self._credentials = reference.resolve()
        return self._credentials

    def _open(self, path: Path) -> Journal:
        """A fresh journal, or the one being resumed with what it already holds."""
        plan = self.plan
        named = plan.hosts.targets if plan.hosts is not None and plan.domain is None else None
        header = scan_header(
            plan.command.value,
            plan.started_at,
            plan.options,
            plan.config_digest,
            [t.name for t in named] if named is not None else None,
        )
        if plan.resume:
            contents = read_journal(path)
            check_same_scan(path, contents.header, header)
            self.already = dict(contents.documents)
            return Journal(path, None)
        if path.exists() and path.stat().st_size:
            path.rename(path.with_suffix(f".{int(path.stat().st_mtime)}.jsonl"))
        return Journal(path, header)

    def _domain(self, domain: DomainCollection, journal: Journal) -> FactDocument:
        """From the journal when resuming, else collected now (an LDAP refusal ends the scan)."""
        for doc in self.already.values():
            if doc.target.kind is DocumentKind.DOMAIN:
                return doc
        ldap = domain.ldap
        doc = collect_domain(ldap, self._logon(domain.credentials))
        journal.add(doc, {"dc": ldap.dc, "mode": ldap.mode, "bind": ldap.bind})
        return doc

    def _hosts(
        self, hosts: HostCollection, names: list[str] | None, journal: Journal
    ) -> list[FactDocument]:
        """Every host's document: the journal's, or collected now and journaled as each lands.
        `names`: the hosts the directory named (a domain scan), else the plan's targets."""
        targets = hosts.targets if names is None else tuple(hosts.target(n) for n in names)
        missing = [t for t in targets if f"host:{t.name}" not in self.already]
        logon = hosts.credentials
        with host_progress(len(missing), self.plan.reports.quiet) as progress:

            def done(doc: FactDocument, info: dict[str, Any]) -> None:
                journal.add(doc, info)
                progress.done(doc, info)
                if hosts.save_facts is not None:
                    save_document(doc, hosts.save_facts)

            outcome = collect_hosts(
                missing,
                hosts.settings,
                self._logon(logon) if missing and logon is not None else None,
                self.plan.rules,  # wanted_by keeps the host rules
                hosts.concurrency,
                done,
                hosts.deadline,
            )
        if outcome.interrupted:
            self.warnings.append(f"scan interrupted: resume with --resume {journal.path}")
        collected = {d.target.id: d for d in outcome.documents}
        ids = [f"host:{t.name}" for t in targets]
        return [self.already.get(i) or collected[i] for i in ids]

    def _domain_hosts(self, plan: ScanPlan, domain_doc: FactDocument) -> list[str]:
        """The domain's selected computers plus the configuration's hosts."""
        inventory = plan.domain.inventory if plan.domain is not None else Inventory()
        names = list(plan.hosts.also) if plan.hosts is not None else []
        if not inventory.from_domain:
            return sorted(dict.fromkeys(names))
        computers = domain_doc.get("computers")
        if isinstance(computers, Available):
            selection = select_computers(computers.value, inventory, dt.datetime.now(dt.UTC))
            names = selection.hosts + [n for n in names if n not in selection.hosts]
            if selection.skipped:
                reasons = sorted({why for why in selection.skipped.values()})
                self.warnings.append(
                    f"{len(selection.skipped)} computers left out by the inventory filters "
                    f"({'; '.join(reasons)[:300]})"
                )
        else:
            self.warnings.append(
                "the domain's computers could not be read: only the configured hosts were scanned"
            )
        return sorted(dict.fromkeys(names))
