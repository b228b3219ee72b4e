"""One domain's facts document from one DC: domain head, accounts, privileged groups, live tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from auditor.collectors.ldap.accounts import ACCOUNT_ATTRIBUTES, ACCOUNT_FILTER, AccountIndex
from auditor.collectors.ldap.connection import LdapSettings, open_session
from auditor.collectors.ldap.domain import (
    NamingContexts,
    read_domain_info,
    read_host_aliases,
    read_naming_contexts,
)
from auditor.collectors.ldap.live import live_checks
from auditor.collectors.ldap.membership import Membership, resolve_membership
from auditor.collectors.ldap.search import DirectoryReader, SearchError
from auditor.collectors.ldap.values import rdn_value
from auditor.credentials import Credentials
from auditor.facts.model import (
    Available,
    DocumentKind,
    Fact,
    FactDocument,
    Reason,
    Source,
    Target,
    Unavailable,
)

STREAM_FACTS = ("accounts", "computers", "domain.controllers", "domain.krbtgt", "groups.privileged")
_SHOWN_PROBLEMS = 5


def collect_domain(settings: LdapSettings, credentials: Credentials) -> FactDocument:
    """Everything the directory rules read, from one DC; a refused session raises LdapError."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with open_session(settings, credentials) as reader:
        contexts = read_naming_contexts(reader, settings.url)
        facts = collect_facts(reader, contexts, now)
    info = facts["domain.info"]
    dns_name = info.value["dns_name"] if isinstance(info, Available) else contexts.dns_name
    if settings.live_tests:
        facts["ldap.live"] = live_checks(settings, credentials, dns_name)
    collector = "auditor ldap" + "".join(f"; warning: {w}" for w in settings.warnings)
    return FactDocument(
        Target(DocumentKind.DOMAIN, dns_name, settings.dc),
        facts,
        now.isoformat().replace("+00:00", "Z"),
        collector,
    )


def collect_facts(
    reader: DirectoryReader, contexts: NamingContexts, now: dt.datetime
) -> dict[str, Fact]:
    """The directory facts; a failed search makes only the facts built from it unavailable."""
    try:
        domain_sid, info = read_domain_info(reader, contexts)
    except SearchError as exc:  # without the domain SID nothing below can be identified
        missing = Unavailable(exc.reason, exc.detail)
        return {"domain.info": missing, **dict.fromkeys(STREAM_FACTS, missing)}
    facts: dict[str, Fact] = {
        "domain.info": info if isinstance(info, Unavailable) else Available(info, Source.DIRECTORY)
    }
    groups = _membership(reader, contexts, domain_sid)
    index = AccountIndex(domain_sid, now, groups if isinstance(groups, Membership) else None)
    try:
        for dn, attributes in reader.search(contexts.domain_dn, ACCOUNT_FILTER, ACCOUNT_ATTRIBUTES):
            index.add(dn, attributes)
    except SearchError as exc:
        facts.update(dict.fromkeys(STREAM_FACTS, Unavailable(exc.reason, exc.detail)))
        return facts
    index.finish(read_host_aliases(reader, contexts))
    facts.update(_stream_facts(index, groups))
    return facts


def _membership(
    reader: DirectoryReader, contexts: NamingContexts, domain_sid: str
) -> Membership | Unavailable:
    """The privileged groups' members, or why they are unknown (accounts then omit privilege)."""
    try:
        return resolve_membership(reader, contexts.domain_dn, domain_sid)
    except SearchError as exc:
        return Unavailable(exc.reason, f"privileged groups: {exc.detail}")
    except ValueError as exc:  # a malformed SID or member value (DescriptorError included)
        return Unavailable(Reason.PROTOCOL_ERROR, f"privileged groups: {exc}")


def _stream_facts(index: AccountIndex, groups: Membership | Unavailable) -> dict[str, Fact]:
    facts: dict[str, Fact] = {}
    if index.krbtgt is None:
        facts["domain.krbtgt"] = Unavailable(
            Reason.NOT_COLLECTED, "no account with RID 502 (krbtgt) was returned by the DC"
        )
    else:
        krbtgt = index.records[index.krbtgt]
        facts["domain.krbtgt"] = Available(
            {
                "dn": krbtgt["dn"],
                "pwd_last_set": krbtgt["pwd_last_set"],
                "password_age_days": krbtgt["password_age_days"],
            },
            Source.DIRECTORY,
        )
    if index.unreadable:
        reason = index.unreadable[0][0]
        missing = Unavailable(
            reason,
            _summary(
                f"{len(index.unreadable)} account(s) could not be read",
                [text for _, text in index.unreadable],
            ),
        )
        facts.update({name: missing for name in STREAM_FACTS if name != "domain.krbtgt"})
        return facts
    facts["computers"] = Available(index.computers, Source.DIRECTORY)
    facts["domain.controllers"] = Available(index.controllers, Source.DIRECTORY)
    if index.malformed:
        facts["accounts"] = Unavailable(
            Reason.PROTOCOL_ERROR,
            _summary(f"{len(index.malformed)} account attribute(s) are malformed", index.malformed),
        )
    else:
        facts["accounts"] = Available(index.records, Source.DIRECTORY)
    if isinstance(groups, Unavailable):
        facts["groups.privileged"] = groups
    else:
        facts["groups.privileged"] = Available(_groups(groups, index), Source.DIRECTORY)
    return facts


def _groups(membership: Membership, index: AccountIndex) -> list[dict[str, Any]]:
    """Each watched group with its recursive members (accounts and other principals)."""
    out = []
    for watched, group in membership.found:
        vias = {
            sid: keys[watched.key] for sid, keys in membership.by_sid.items() if watched.key in keys
        }
        vias.update(index.group_members.get(watched.key, {}))
        members = [_member(sid, via, membership, index) for sid, via in vias.items()]
        members.sort(key=lambda m: (m["sam"] or m["dn"] or m["sid"]).casefold())
        out.append(
            {
                "key": watched.key,
                "sid": group.sid,
                "dn": group.dn,
                "name": group.sam or rdn_value(group.dn),
                "members": members,
                "member_count": len(members),
            }
        )
    return out


def _member(sid: str, via: str, membership: Membership, index: AccountIndex) -> dict[str, Any]:
    found = index.by_sid.get(sid)
    if found is not None:
        account = index.records[found]
        return {
            "sid": sid,
            "dn": account["dn"],
            "sam": account["sam"],
            "kind": account["kind"],
            "via": via,
        }
    dn = membership.member_dns.get(sid)
    foreign = dn is not None and ",cn=foreignsecurityprincipals," in dn.lower()
    return {
        "sid": sid,
        "dn": dn,
        "sam": None,
        "kind": "foreign_security_principal" if foreign else None,
        "via": via,
    }


def _summary(headline: str, problems: list[str]) -> str:
    shown = "; ".join(problems[:_SHOWN_PROBLEMS])
    more = len(problems) - _SHOWN_PROBLEMS
    return f"{headline}: {shown}" + (f"; and {more} more" if more > 0 else "")
