"""The client connections a lab server has open, so that stopping it hangs up on every one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Connections:
    """Tasks serving clients; `track` in each connection handler, `hang_up` when stopping.

    A stopped Windows host answers nothing: closing the listening socket alone would leave
    accepted clients talking to it.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    @contextmanager
    def track(self) -> Iterator[None]:
        """Count the current task as an open connection for the length of the block."""
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            yield
        finally:
            self._tasks.discard(task)

    async def hang_up(self) -> None:
        """Cancel every open connection and wait until each handler has ended."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
