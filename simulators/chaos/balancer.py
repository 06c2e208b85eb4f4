"""A round-robin TCP balancer on 127.0.0.1 in front of a service's replicas: a Kubernetes Service.

The simulators send their webhooks to one address, as platforms do; the balancer hands each new
connection to the next replica that is up, skipping those the runner has killed (their endpoint
is removed, as Kubernetes removes a dead pod's) and those that refuse the connection (a replica
still starting). A connection already handed to a replica that then dies is cut, which the
sender sees as a failed delivery and retries, exactly as in production.

It runs an asyncio loop in a daemon thread; nothing here knows HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
from collections.abc import Callable

log = logging.getLogger("ecombus.chaos.balancer")

CONNECT_TIMEOUT_S = 1.0
CHUNK = 65536


class Balancer:
    """Listens on ``port`` and pipes each connection to one of ``backends()`` (ports).

    Args:
        name: for logs (``order-capture``).
        port: where it listens on 127.0.0.1.
        backends: the ports of the replicas that are up now (called for every connection).
    """

    def __init__(self, name: str, port: int, backends: Callable[[], list[int]]) -> None:
        self.name, self.port, self.backends = name, port, backends
        self._turn = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.refused = 0
        """Connections no replica took (every one down or refusing)."""
        self._serving: set[asyncio.Task[None]] = set()

    def start(self) -> Balancer:
        """Listen (returns once the port is open)."""
        self._thread = threading.Thread(target=self._run, name=f"balancer-{self.name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"the balancer of {self.name} did not open port {self.port}")
        return self

    def stop(self) -> None:
        """Stop listening and cut every connection."""
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        self._server = loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    async def _serve(self, client_reader: asyncio.StreamReader,
                     client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:  # held here: the server keeps only a weak reference to it
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)
        ports = self.backends()
        turn = next(self._turn)
        for offset in range(len(ports)):
            port = ports[(turn + offset) % len(ports)]
            try:
                connecting = asyncio.open_connection("127.0.0.1", port)
                upstream = await asyncio.wait_for(connecting, CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError):
                continue
            await _pipe_both(client_reader, client_writer, *upstream)
            return
        self.refused += 1
        client_writer.close()


async def _pipe_both(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter,
                     upstream_reader: asyncio.StreamReader, upstream_writer: asyncio.StreamWriter) -> None:
    """Copy both ways until the replica's side ends (the client's end of writing is passed on), then
    close both: an answer is never cut because the client finished sending first."""
    request = asyncio.ensure_future(_copy(client_reader, upstream_writer, pass_eof=True))
    try:
        await _copy(upstream_reader, client_writer, pass_eof=False)
    finally:
        request.cancel()
        for writer in (client_writer, upstream_writer):
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, pass_eof: bool) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()
        if pass_eof and writer.can_write_eof():
            writer.write_eof()
