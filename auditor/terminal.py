"""Text bound for a terminal: control characters from scanned data are shown, never obeyed.

Host names, failure reasons and finding objects come from the hosts and the directory. Raw,
an ESC or C1 character in them clears the screen, retitles the window or plants a hyperlink.
Everything the CLI prints goes through `DataConsole`, `echo` or `json_text`; single values
that must stay on one line go through `visible` first.
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

# C0, DEL and C1: what terminals act on (ESC, CSI and OSC introducers, BEL, backspace, CR...).
_CONTROLS = (*range(0x20), *range(0x7F, 0xA0))
_ONE_LINE = {code: f"\\x{code:02x}" for code in _CONTROLS}
_LAID_OUT = {code: shown for code, shown in _ONE_LINE.items() if chr(code) not in "\n\t"}
# json.dumps escapes C0 itself; DEL and C1 become \u escapes, so the text stays valid JSON.
_JSON = {code: f"\\u{code:04x}" for code in range(0x7F, 0xA0)}


def visible(value: str) -> str:
    """One value from the data (a name, a reason), on one line: every control as `\\xNN`."""
    return value.translate(_ONE_LINE)


def visible_lines(text: str) -> str:
    """Text laid out in lines: line breaks and tabs kept, every other control as `\\xNN`."""
    return text.translate(_LAID_OUT)


def json_text(value: Any) -> str:
    """Indented JSON for a terminal: the same value, with no raw control character."""
    return json.dumps(value, indent=1, ensure_ascii=False).translate(_JSON)


def echo(text: str, *, err: bool = False, nl: bool = True) -> None:
    """`typer.echo` for text that holds data."""
    typer.echo(visible_lines(text), err=err, nl=nl)


class DataConsole(Console):
    """A rich console that neutralises every string it renders: printed text, table cells and
    titles alike (rich escapes markup on request, but passes ESC through)."""

    def render_str(self, text: str, **options: Any) -> Text:
        return super().render_str(visible_lines(text), **options)
