"""Logging for the CLI: to a file at the chosen level, with known secrets redacted as a last line of defence."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Never let `value` reach a log line, whatever library formats it."""
    if len(value) >= 4:
        with _lock:
            _secrets.add(value)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in _secrets:
            redacted = redacted.replace(secret, "********")
        if redacted != message or record.exc_info:
            record.msg, record.args = redacted, None
            if record.exc_info:
                text = logging.Formatter().formatException(record.exc_info)
                for secret in _secrets:
                    text = text.replace(secret, "********")
                record.exc_info, record.exc_text = None, None
                record.msg = f"{redacted}\n{text}"
        return True


def configure(level: str, path: Path | None) -> None:
    """Warnings to stderr by default; `--log-file` gets everything at `--log-level`."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    for old in list(root.handlers):
        root.removeHandler(old)
    handler: logging.Handler = (
        logging.FileHandler(path, encoding="utf-8") if path else logging.StreamHandler()
    )
    if path is None:
        handler.setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    # pyspnego logs every authentication token at DEBUG. An NTLM AUTHENTICATE message next to
    # the server's CHALLENGE is enough to crack the password offline: never let them reach a log.
    logging.getLogger("spnego").setLevel(max(logging.INFO, root.level))
