"""auditor.lab.connections with a real loopback server: stopping hangs up on idle clients."""

from __future__ import annotations

import asyncio

from auditor.lab.connections import Connections


async def _server_hangs_up_on_an_idle_client() -> tuple[bytes, list[str]]:
    connections = Connections()
    started = asyncio.Event()
    ended: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with connections.track():
            started.set()
            try:
                await reader.read(1)  # the client never sends: only hang_up ends this
            except asyncio.CancelledError:
                ended.append("cancelled")
            finally:
                writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await started.wait()
    server.close()
    await connections.hang_up()
    # Generous bound: without the hang-up the client would wait for ever.
    received = await asyncio.wait_for(reader.read(1), 30)
    writer.close()
    await server.wait_closed()
    return received, ended


def test_hang_up_ends_every_open_connection() -> None:
    received, ended = asyncio.run(asyncio.wait_for(_server_hangs_up_on_an_idle_client(), 60))
    assert received == b""  # EOF: the server closed the connection
    assert ended == ["cancelled"]
