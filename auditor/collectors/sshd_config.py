"""OpenSSH's sshd_config read as sshd reads it: first value wins, Include inlined, Match apart."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# sshd's own limit on nested Include (READCONF_MAX_DEPTH in servconf.c).
MAX_INCLUDE_DEPTH = 16
_KEYWORD = re.compile(r"\s*([^\s=]+)(?:\s*=\s*|\s+|$)(.*)")
_TOKEN = re.compile(r'"([^"]*)"|([^\s"]+)')


class SshdConfigError(ValueError):
    """The files do not let us say what sshd does: a value sshd refuses, an Include not read."""


@dataclass(frozen=True)
class Directive:
    keyword: str  # lower case: sshd compares keywords case-insensitively
    args: tuple[str, ...]
    where: str  # "file:line", for the evidence


@dataclass
class MatchBlock:
    """The lines after a Match line, up to the next Match or the end of the file holding it."""

    criteria: str
    where: str
    directives: list[Directive] = field(default_factory=list)


@dataclass
class SshdConfig:
    """Global directives (before any Match) and Match blocks, each in file order."""

    directives: list[Directive] = field(default_factory=list)
    blocks: list[MatchBlock] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # every file read, in the order sshd reads

    def first(self, keyword: str) -> Directive | None:
        """The value sshd uses when no Match block applies: the first one it reads."""
        return next((d for d in self.directives if d.keyword == keyword), None)

    def first_in_blocks(self, keyword: str) -> list[tuple[MatchBlock, Directive]]:
        """Each Match block's own first value: it overrides the global one where it matches."""
        found = (
            (b, next((d for d in b.directives if d.keyword == keyword), None)) for b in self.blocks
        )
        return [(block, directive) for block, directive in found if directive is not None]

    def anywhere(self, keyword: str) -> list[Directive]:
        """Every line of `keyword`, global or in a Match block."""
        inside = (d for b in self.blocks for d in b.directives)
        return [d for d in (*self.directives, *inside) if d.keyword == keyword]


def _words(text: str) -> list[str]:
    """Arguments as sshd's argv_split sees them: quotes group, a word starting with # ends."""
    words = []
    for quoted, bare in _TOKEN.findall(text):
        if bare.startswith("#"):
            break
        words.append(quoted or bare)
    return words


def _lines(text: str, name: str) -> list[Directive | tuple[str, str]]:
    out: list[Directive | tuple[str, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        match = _KEYWORD.match(raw)
        if not raw.strip() or match is None or match.group(1).startswith("#"):
            continue
        where = f"{name}:{number}"
        keyword, rest = match.group(1).lower(), match.group(2)
        if keyword == "match":  # the criteria are kept as written, not parsed
            out.append((rest.split(" #", 1)[0].strip(), where))
        else:
            out.append(Directive(keyword, tuple(_words(rest)), where))
    return out


def _lookup(includes: Mapping[str, Sequence[str]], pattern: str) -> Sequence[str] | None:
    """What the host's glob matched; Windows paths compare without case."""
    if pattern in includes:
        return includes[pattern]
    folded = {k.casefold(): v for k, v in includes.items()}
    return folded.get(pattern.casefold())


def parse(main: str, texts: Mapping[str, str], includes: Mapping[str, Sequence[str]]) -> SshdConfig:
    """sshd_config at `main` with the files it includes; `includes` maps each Include argument,
    as written, to the paths the host's glob matched (read in sorted order, as glob(3) does)."""
    config = SshdConfig()

    def read(path: str, block: MatchBlock | None, depth: int) -> None:
        if depth > MAX_INCLUDE_DEPTH:
            raise SshdConfigError(f"{path}: Include nested deeper than {MAX_INCLUDE_DEPTH}")
        if path not in texts:
            raise SshdConfigError(f"{path}: named by Include but not read by the collector")
        config.files.append(path)
        current = block  # an included file starts in its includer's Match state
        for item in _lines(texts[path], path):
            if isinstance(item, tuple):
                current = MatchBlock(*item)
                config.blocks.append(current)
            elif item.keyword == "include":
                for pattern in item.args:
                    matched = _lookup(includes, pattern)
                    if matched is None:
                        raise SshdConfigError(
                            f"{item.where}: Include {pattern}: not expanded by the collector"
                        )
                    for found in sorted(matched):
                        read(found, current, depth + 1)
            elif current is None:
                config.directives.append(item)
            else:
                current.directives.append(item)

    read(main, None, 0)
    return config


def flag(directive: Directive) -> bool:
    """A yes/no value; sshd refuses to start on anything else."""
    value = directive.args[0].lower() if directive.args else ""
    if value not in ("yes", "no"):
        raise SshdConfigError(
            f"{directive.where}: {directive.keyword} {value!r} is neither yes nor no"
            " (sshd refuses to start)"
        )
    return value == "yes"
