"""Benchmark: collect_domain against `ldapsearch -E pr=1000/noprompt` on a bulk-seeded Samba DC.

Provisions a lab DC on its own loopback address, seeds 50,000 users and 50,000 computers with
seed_bulk, then times collect_domain and ldapsearch fetching the same objects with the same
attributes (the account stream and the group list: the two paged searches the collector makes),
best of 3 each. Also times the privileged-group walk against one LDAP_MATCHING_RULE_IN_CHAIN
search per watched group. Prints the figures, the ratio and peak RSS, then removes the DC.
Run: python bench/ldap_collect.py [--users N] [--computers N] [--runs N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ldap3.utils.conv import escape_filter_chars

from auditor import netmap
from auditor.collectors.ldap import LdapSettings, collect_domain
from auditor.collectors.ldap.accounts import ACCOUNT_ATTRIBUTES, ACCOUNT_FILTER
from auditor.collectors.ldap.connection import open_session
from auditor.collectors.ldap.domain import read_domain_info, read_naming_contexts
from auditor.collectors.ldap.membership import GROUP_ATTRIBUTES, GROUP_FILTER, resolve_membership
from auditor.credentials import Credentials, Secret
from auditor.lab.directory_seed import seed_bulk
from auditor.lab.samba import SambaDC

ADDRESS_PREFIX = "127.14.1."  # the LDAP tests use 127.14.0.N
IN_CHAIN = "1.2.840.113556.1.4.1941"


def best_of_each(runs: int, *actions: Callable[[], object]) -> list[float]:
    """Best wall time of each action, the runs interleaved so that load drift hits all alike."""
    best = [float("inf")] * len(actions)
    for _ in range(runs):
        for i, action in enumerate(actions):
            started = time.perf_counter()
            action()
            best[i] = min(best[i], time.perf_counter() - started)
    return best


def ldapsearch(dc: SambaDC, password_file: Path, page_size: int) -> None:
    """The baseline: OpenLDAP's client, output discarded, same filters and attributes.

    It cannot be told to connect to the address while checking the certificate against the
    DC's name (no DNS here), so it skips certificate validation; that changes one handshake.
    """
    environment = {**os.environ, "LDAPTLS_REQCERT": "never"}
    for ldap_filter, attributes in (
        (GROUP_FILTER, GROUP_ATTRIBUTES),
        (ACCOUNT_FILTER, ACCOUNT_ATTRIBUTES),
    ):
        subprocess.run(
            [
                "ldapsearch",
                "-LLL",
                "-o",
                "ldif-wrap=no",
                "-H",
                f"ldaps://{dc.address}",
                "-x",
                "-D",
                dc.admin.user_principal_name,
                "-y",
                str(password_file),
                "-b",
                dc.base_dn,
                "-E",
                f"pr={page_size}/noprompt",
                ldap_filter,
                *attributes,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=environment,
            check=True,
        )


def membership_walk_vs_in_chain(settings: LdapSettings, admin: Credentials) -> tuple[float, float]:
    """Seconds for the collector's graph walk, and for one IN_CHAIN search per watched group."""
    with open_session(settings, admin) as reader:
        contexts = read_naming_contexts(reader, settings.url)
        domain_sid, _ = read_domain_info(reader, contexts)
        started = time.perf_counter()
        membership = resolve_membership(reader, contexts.domain_dn, domain_sid)
        walk = time.perf_counter() - started
        started = time.perf_counter()
        for _, group in membership.found:
            query = f"(memberOf:{IN_CHAIN}:={escape_filter_chars(group.dn)})"
            for _ in reader.search(contexts.domain_dn, query, ["objectSid"]):
                pass
        return walk, time.perf_counter() - started


@contextmanager
def bench_dc(keep: Path | None, users: int, computers: int) -> Iterator[SambaDC]:
    """A seeded DC; with --keep it is reused (seeded on the first run) and left running."""
    with ExitStack() as stack:
        if keep is not None and (keep / "lab-dc.json").is_file():
            dc = SambaDC.open(keep)
            if not dc.is_running():
                dc.start(max_runtime=7200)
            yield dc
            return
        directory = keep or Path(tempfile.mkdtemp(prefix="ldapbench-", dir="/tmp"))
        if keep is None:
            stack.callback(shutil.rmtree, directory, ignore_errors=True)
        dc = SambaDC(
            directory / "dc" if keep is None else directory,
            realm="bench.auditor.test",
            netbios="BENCH",
            address=free_address(stack),
        )
        if keep is None:
            stack.callback(dc.stop)
        started = time.perf_counter()
        dc.provision()
        dc.start(max_runtime=7200)
        result = seed_bulk(dc, users, computers)
        print(
            f"provisioned and seeded {result.objects} objects in "
            f"{time.perf_counter() - started:.0f}s",
            flush=True,
        )
        yield dc


def free_address(stack: ExitStack) -> str:
    for n in range(1, 50):
        address = f"{ADDRESS_PREFIX}{n}"
        handle = os.open(f"/tmp/auditor-ldap-bench-{address}.lock", os.O_CREAT | os.O_RDWR)
        stack.callback(os.close, handle)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue
        return address
    raise RuntimeError("no free 127.14.1.N address for the benchmark DC")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--computers", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="reuse (or create and keep) the DC there")
    args = parser.parse_args()
    with bench_dc(args.keep, args.users, args.computers) as dc, netmap.mapped(dc.host_map):
        admin = Credentials(dc.admin.user_principal_name, Secret(dc.admin.password), "bench")
        settings = LdapSettings(
            dc.fqdn, ca_bundle=dc.ca_bundle, page_size=args.page_size, live_tests=False
        )
        password_file = dc.directory / "bench-password"
        password_file.write_text(dc.admin.password, encoding="utf-8")
        password_file.chmod(0o600)
        counts: dict[str, int] = {}

        def collect() -> None:
            document = collect_domain(settings, admin)
            counts.update(
                {
                    k: len(v.value)
                    for k, v in document.facts.items()  # type: ignore[union-attr]
                    if isinstance(getattr(v, "value", None), list)
                }
            )

        ours, baseline = best_of_each(
            args.runs, collect, lambda: ldapsearch(dc, password_file, args.page_size)
        )
        walk, in_chain = membership_walk_vs_in_chain(settings, admin)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"objects: {counts}")
    print(f"collect_domain (best of {args.runs}):       {ours:8.2f} s")
    print(f"ldapsearch -E pr={args.page_size}/noprompt (best of {args.runs}): {baseline:8.2f} s")
    print(f"ratio collect_domain / ldapsearch:   {ours / baseline:8.2f} (target <= 1.30)")
    print(f"peak RSS of this process:            {peak:8.0f} MB (target < 500)")
    print(f"privileged groups: graph walk {walk:.2f} s, IN_CHAIN searches {in_chain:.2f} s")
    return 0 if ours / baseline <= 1.3 and peak < 500 else 1


if __name__ == "__main__":
    sys.exit(main())
