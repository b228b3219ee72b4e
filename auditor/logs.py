"""Logging for the CLI: to a file at the chosen level, with known secrets redacted as a last line of defence."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from auditor.errors import InputError

_secrets: set[str] = set()
_lock = threading.Lock()
_log_file: Path | None = None  # where `--log-file` sends the log, once configured
MAX_LOGGED_CHARS = 16 * 1024  # per log message


def register_secret(value: str) -> None:
    """Never let `value` reach a log line, whatever library formats it."""
    if len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """`text` with every registered secret masked."""
    with _lock:
        secrets = tuple(_secrets)
    for secret in secrets:
        text = text.replace(secret, "********")
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message or record.exc_info:
            record.msg, record.args = redacted, None
            if record.exc_info:
                text = redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info, record.exc_text = None, None
                record.msg = f"{redacted}\n{text}"
        return True


class BoundingFilter(logging.Filter):
    """pypsrp logs every WS-Man message whole at DEBUG, megabytes each: a log line keeps its
    start and says how much it left out."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if len(message) > MAX_LOGGED_CHARS:
            left_out = len(message) - MAX_LOGGED_CHARS
            record.msg = f"{message[:MAX_LOGGED_CHARS]} [... {left_out} more characters not logged]"
            record.args = None
        return True


def configure(level: str, path: Path | None) -> None:
    """Warnings to stderr by default; `--log-file` gets everything at `--log-level`."""
    global _log_file
    try:
        handler: logging.Handler = (
            logging.FileHandler(path, encoding="utf-8") if path else logging.StreamHandler()
        )
    except OSError as exc:  # a folder, a missing parent, no permission
        raise InputError(f"{path}: --log-file: cannot write the log: {exc.strerror}") from None
    _log_file = path
    root = logging.getLogger()
    root.setLevel(level.upper())
    for old in list(root.handlers):
        root.removeHandler(old)
    if path is None:
        handler.setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    handler.addFilter(BoundingFilter())  # after redaction: a cut must not leave half a secret
    root.addHandler(handler)
    # pyspnego logs every authentication token at DEBUG. An NTLM AUTHENTICATE message next to
    # the server's CHALLENGE is enough to crack the password offline: never let them reach a log.
    logging.getLogger("spnego").setLevel(max(logging.INFO, root.level))


def log_traceback(exc: BaseException) -> Path | None:
    """Write `exc`'s traceback (secrets masked) to the `--log-file`, if any: its path, or None."""
    if _log_file is None:
        return None
    logging.getLogger("auditor").error("internal error", exc_info=exc)
    return _log_file
