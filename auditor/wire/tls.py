"""TLS versions by the names the facts and the lab use, and a context that may speak all of them."""

from __future__ import annotations

import ssl
import warnings

# Oldest first: the order the facts list them in and the order they are tried.
TLS_VERSIONS: dict[str, ssl.TLSVersion] = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


def permit_tls_versions(context: ssl.SSLContext, minimum: str, maximum: str | None = None) -> None:
    """Let `context` speak `minimum`..`maximum`; OpenSSL 3 refuses TLS 1.0/1.1 above level 0."""
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        # Offering TLS 1.0/1.1 on purpose is the point; Python's deprecation warning is noise.
        warnings.filterwarnings("ignore", r"ssl\.TLSVersion\.TLSv1", DeprecationWarning)
        context.minimum_version = TLS_VERSIONS[minimum]
        if maximum is not None:
            context.maximum_version = TLS_VERSIONS[maximum]
