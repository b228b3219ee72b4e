"""The lab's hosts daemon: `python -m auditor.lab.hostd LAB_DIR` serves every emulated host."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from auditor.lab.runtime import LabState, host_configs, serve

READY_FILE = "hostd.ready"


def main(directory: Path) -> None:
    state = LabState.load(directory)
    password = state.password_file.read_text(encoding="utf-8").strip()
    winrm, rdp = host_configs(state, state.lab_definition(), password)
    ready = directory / READY_FILE
    ready.unlink(missing_ok=True)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

        def mark_ready() -> None:
            ready.write_text(f"{len(winrm)}\n", encoding="utf-8")

        await serve(winrm, rdp, stop, mark_ready)

    try:
        asyncio.run(run())
    finally:
        ready.unlink(missing_ok=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
