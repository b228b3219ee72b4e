"""A real ticket from a lab KDC, as a user gets one with `kinit`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def kinit(krb5_conf: Path, principal: str, password: str, cache: Path) -> dict[str, str]:
    """A TGT for `principal` from the KDC `krb5_conf` names, kept in the file `cache`; returns
    the environment (KRB5_CONFIG, KRB5CCNAME) that finds it."""
    environment = {"KRB5_CONFIG": str(krb5_conf), "KRB5CCNAME": f"FILE:{cache}"}
    subprocess.run(
        ["kinit", principal],
        input=password + "\n",
        text=True,
        capture_output=True,
        env={**os.environ, **environment},
        check=True,
        timeout=30,
    )
    return environment
