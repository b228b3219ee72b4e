"""Local and domain accounts of an emulated host, matched by every name form Windows accepts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Account:
    """One account: `netbios_domain` None means a local account of the host.

    `key` is the name the account was configured under, used for group membership.
    """

    key: str
    name: str
    password: str
    netbios_domain: str | None
    dns_domain: str | None

    @property
    def is_local(self) -> bool:
        return self.netbios_domain is None


class AccountBook:
    """The accounts a host knows, looked up as `DOMAIN\\user`, `user@dns.domain` or `user`."""

    def __init__(self, hostname: str, users: Mapping[str, str]) -> None:
        labels = hostname.split(".")
        self.computer_name = labels[0].upper()[:15]
        self.dns_domain = ".".join(labels[1:]).lower() or None
        self.netbios_domain = labels[1].upper() if len(labels) > 1 else None
        self._accounts = [self._parse(key, password) for key, password in users.items()]

    def _parse(self, key: str, password: str) -> Account:
        if "\\" in key:
            domain, name = key.split("\\", 1)
            if domain in (".", "") or domain.upper() == self.computer_name:
                return Account(key, name, password, None, None)
            dns = self.dns_domain if domain.upper() == self.netbios_domain else None
            return Account(key, name, password, domain.upper(), dns)
        if "@" in key:
            name, suffix = key.split("@", 1)
            return Account(key, name, password, suffix.split(".")[0].upper(), suffix.lower())
        return Account(key, key, password, None, None)

    def find(self, presented: str) -> Account | None:
        """The account a logon name designates; a bare name tries local accounts first."""
        if "\\" in presented:
            domain, name = presented.split("\\", 1)
            if domain in (".", "") or domain.upper() == self.computer_name:
                return self._match(name, local=True)
            return self._match(name, netbios=domain.upper())
        if "@" in presented:
            name, suffix = presented.split("@", 1)
            return self._match(name, dns=suffix.lower())
        return self._match(presented, local=True) or self._match(
            presented, netbios=self.netbios_domain
        )

    def _match(
        self,
        name: str,
        *,
        local: bool = False,
        netbios: str | None = None,
        dns: str | None = None,
    ) -> Account | None:
        for account in self._accounts:
            if account.name.lower() != name.lower():
                continue
            if local and account.is_local:
                return account
            if netbios is not None and account.netbios_domain == netbios:
                return account
            if dns is not None and account.dns_domain == dns:
                return account
        return None

    def verify(self, presented: str, password: str) -> Account | None:
        """The account when `password` is its password, as a Basic logon checks it."""
        account = self.find(presented)
        if account is None or account.password != password:
            return None
        return account

    def display_name(self, account: Account) -> str:
        """DOMAIN\\user as Windows shows a shell owner."""
        return f"{account.netbios_domain or self.computer_name}\\{account.name}"

    def ntlm_credential_lines(self) -> Iterator[str]:
        """`DOMAIN:USER:PASSWORD` lines for pyspnego's NTLM acceptor, one per accepted name form.

        The acceptor matches the domain and user of the AUTHENTICATE message
        literally, so every spelling a client may send gets its own line; local
        accounts come first so that a bare name resolves as `find` resolves it.
        """
        for account in sorted(self._accounts, key=lambda a: not a.is_local):
            if account.is_local:
                for domain in ("", ".", self.computer_name):
                    yield f"{domain}:{account.name}:{account.password}"
                continue
            yield f"{account.netbios_domain}:{account.name}:{account.password}"
            if account.dns_domain:
                yield f":{account.name}@{account.dns_domain}:{account.password}"
                yield f"{account.dns_domain}:{account.name}:{account.password}"
            if account.netbios_domain == self.netbios_domain:
                yield f":{account.name}:{account.password}"
